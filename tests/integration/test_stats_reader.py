"""LbStatsReader reads only the counter entries it is asked for (docs/performance.md, "Profile at
5,000 VIPs"); its sums must equal what vpp_papi's own whole-vector read gives, on every thread."""

from __future__ import annotations

from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    ADD_AS,
    ADD_VIP,
    Op,
    VipKey,
    VipSpec,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.stats import LB_COUNTERS, ROUTE_COUNTER, LbStatsReader
from vpp_papi.vpp_stats import VPPStats

VIPS = [VipKey(f"192.0.2.{i}/32", 6, 80) for i in range(1, 6)]


def test_selective_read_equals_vpp_papis_whole_vector_read_on_every_thread(vppsim_factory):
    sim = vppsim_factory("--threads", "3")
    with VppLbClient(sim.api_socket) as client:
        ops = []
        for n, key in enumerate(VIPS):
            ops.append(Op(ADD_VIP, key, spec=VipSpec("gre4", new_flows_table_length=1024)))
            ops.append(Op(ADD_AS, key, address=f"198.51.100.{n + 1}", weight=100))
        client.apply(ops)
        # Different traffic on different threads and VIPs, so a wrong index or thread shows.
        for n, key in enumerate(VIPS[:4]):
            client.cli(f"sim traffic {key.prefix} protocol tcp port 80 flows {10 * (n + 1)} packets {n + 2}"
                       f" seed {n} thread {n % 3}")
        state = client.dump()
        pools = {key: vip.index for key, vip in state.vips.items()}
        routes = {key: client.route_stats_index(key.prefix) for key in VIPS}
    whole = VPPStats(socketname=sim.stats_socket)
    whole.connect()
    try:
        expected_lb = {key: {field: sum(row[index] for row in whole[name] if index < len(row))
                             for name, field in LB_COUNTERS.items()} for key, index in pools.items()}
        route_rows = whole[ROUTE_COUNTER]
        expected_routes = {key: (sum(row[i][0] for row in route_rows), sum(row[i][1] for row in route_rows))
                           for key, i in routes.items()}
    finally:
        whole.disconnect()
    with LbStatsReader(sim.stats_socket) as reader:
        assert reader.vip_counters(pools) == expected_lb
        assert reader.route_counters(routes) == expected_routes
        # An index past every thread's vector (a VIP VPP has not counted yet) reads as zero.
        assert reader.vip_counters({"late": 10_000})["late"] == dict.fromkeys(LB_COUNTERS.values(), 0)
        assert reader.route_counters({"late": 10_000})["late"] == (0, 0)
    assert expected_lb[VIPS[3]]["first_packets"] == 40 and expected_lb[VIPS[3]]["next_packets"] == 40 * 4
    assert expected_routes[VIPS[2]][0] == 30 * 4
