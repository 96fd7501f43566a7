"""The README's main job on the embedded default: vppsim as the VPP.

Starts vppsim, validates the sample `maglev_lb` state, plans and pushes it through the core's VPP
client, shows that a second plan is empty, sends simulated traffic, prints the resulting LB state
(from the API dumps, the CLI and the stats segment) and stops vppsim.
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402

conftest.ensure_collection_link()  # the checkout as ansible_collections.maglev.vpp
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import (  # noqa: E402
    desired,
    planner,
    schema,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import address_sort_key  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.stats import LbStatsReader  # noqa: E402

from vppsim import launcher  # noqa: E402

DEFAULT_VARS = os.path.join(ROOT, "playbooks", "vars", "demo_maglev_lb.yml")


def pool_roles(config: schema.LbConfig) -> dict:
    """(VIP, AS address) -> "pool p (active)" / "pool p (standby)": later pools wait for failover."""
    roles = {}
    for frontend in config.frontends.values():
        for position, pool in enumerate(frontend.pools):
            role = "active" if position == 0 else "standby"
            for name in pool.members:
                roles[(frontend.key, config.backends[name].address)] = f"pool {pool.name} ({role})"
    return roles


def show_state(client: VppLbClient, stats: LbStatsReader, roles: dict) -> None:
    state = client.dump()
    c = state.conf
    print(f"lb_conf: ip4-src {c.ip4_src_address}  ip6-src {c.ip6_src_address}  "
          f"buckets {c.sticky_buckets_per_core}  timeout {c.flow_timeout}s")
    counters = stats.vip_counters({key: vip.index for key, vip in state.vips.items()})
    routes = stats.route_counters({
        key: idx for key in state.vips
        if (idx := client.route_stats_index(key.prefix)) is not None
    })
    for key in sorted(state.vips, key=lambda k: k.sort_key()):
        vip = state.vips[key]
        s = vip.spec
        print(f"VIP [{vip.index}] {key}  encap {s.encap}  table {s.new_flows_table_length}"
              f"  src_ip_sticky {s.src_ip_sticky}")
        ctr = counters[key]
        pkts, octets = routes.get(key, (0, 0))
        print(f"    counters: first {ctr['first_packets']}  existing {ctr['next_packets']}  "
              f"untracked {ctr['untracked_packets']}  no-server {ctr['no_server_packets']}  "
              f"route {pkts} pkts / {octets} bytes")
        for address in sorted(vip.ases, key=address_sort_key):
            a = vip.ases[address]
            role = roles.get((key, address), "not declared")
            share = f"{a.num_buckets / s.new_flows_table_length:.0%}" if a.num_buckets is not None else "?"
            print(f"    AS {address:<16} weight {a.weight:>3}  buckets {a.num_buckets} ({share} of new flows)"
                  f"  {role}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vars", default=DEFAULT_VARS, help="YAML file with a maglev_lb variable")
    args = parser.parse_args()
    with open(args.vars) as f:
        maglev_lb = yaml.safe_load(f)["maglev_lb"]

    config = schema.parse_config(maglev_lb)  # raises ConfigError listing every problem
    want = desired.desired_state(config)  # no agent yet: every backend counts as up

    with launcher.start() as sim:
        print(f"vppsim pid {sim.pid}: API {sim.api_socket}, stats {sim.stats_socket}\n")
        with VppLbClient(sim.api_socket) as client, LbStatsReader(sim.stats_socket) as stats:
            caps = client.capabilities
            source = "fetched from VPP itself (get_api_json)" if caps.api_from_vpp else "read from an API directory"
            print(f"connected: {client.show_version()}, LB API {caps.lb_api_version}; "
                  f"API message definitions {source}\n")
            ops = planner.plan(want, client.dump())
            print(f"plan: {len(ops)} operations")
            for op in ops:
                print("   ", op.describe())
            client.apply(ops)
            again = planner.plan(want, client.dump())
            print(f"\nre-plan after apply: {len(again)} operations (idempotent)\n")

            print("Simulated traffic. In each reply, `flows:` per AS counts the flows of this batch sent to it;\n"
                  "`untracked` packets found their 4-entry sticky-table bucket full, so they were balanced\n"
                  "without being remembered.\n")
            for frontend in config.frontends.values():
                key = frontend.key
                target = key.prefix if key.is_all_port else (
                    f"{key.prefix} protocol {'tcp' if key.protocol == 6 else 'udp'} port {key.port}")
                print(f"sim traffic {target} flows 1000 packets 3")
                print(client.cli(f"sim traffic {target} flows 1000 packets 3 seed 1"))
            print("The LB state (counters summed over threads; `route` is the VIP's FIB counter). An AS of\n"
                  "a standby pool has weight 0 and no buckets until every backend of the pools before it is down.")
            show_state(client, stats, pool_roles(config))
            print("\nshow lb vips verbose. Here `flows:` per AS is the sticky entries pointing at it now (with\n"
                  "src_ip_sticky, the flows of one client share one entry). A VIP or AS that was deleted or\n"
                  "recreated stays listed as `removed` until VPP's garbage collector frees it.")
            print(client.cli("show lb vips verbose"))
    print("vppsim stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
