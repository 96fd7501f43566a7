"""The core client on both LB API generations (1.2.0 = VPP master, 1.1.0 = releases up to v26.06).

On 1.1.0 the client works around the handler bugs of vpp-facts Part 1 "Handler bugs": IPv4
prefixes with the ip46 length, lb_vip_details decoded raw, the CLI for encaps the API misreads.
Both generations create NODEPORT VIPs through the CLI (the API truncates the type).
"""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils import lb_module, lb_results
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import planner
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.cli_parser import parse_vips_verbose
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.errors import ApplyError
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    ADD_VIP,
    AsState,
    LbConf,
    LbState,
    Op,
    VipKey,
    VipSpec,
    VipState,
)

from vppsim.launcher import start as start_vppsim

WWW = VipKey("192.0.2.1/32", 6, 80)
NET = VipKey("192.0.2.16/28")
DSR = VipKey("192.0.2.32/32")
NODEPORT = VipKey("192.0.2.40/32", 17, 53)
CLUSTER = VipKey("192.0.2.41/32", 6, 443)
V6 = VipKey("2001:db8::10/128")
V6_GRE4 = VipKey("2001:db8::20/128")
NAT6 = VipKey("2001:db8::30/128", 6, 8080)

# Every VIP kind the schema can declare, with the type VPP must print for it.
KINDS = {
    WWW: (VipSpec("gre4", src_ip_sticky=True), "ip4-gre4", ("198.51.100.11", "198.51.100.12")),
    NET: (VipSpec("gre4", new_flows_table_length=256), "ip4-gre4", ("198.51.100.11",)),
    DSR: (VipSpec("l3dsr", dscp=10, new_flows_table_length=64), "ip4-l3dsr", ("198.51.100.13",)),
    NODEPORT: (VipSpec("nat4", srv_type="nodeport", target_port=5353, new_flows_table_length=128), "ip4-nat4",
               ("198.51.100.11",)),
    CLUSTER: (VipSpec("nat4", srv_type="clusterip", target_port=8443), "ip4-nat4", ("198.51.100.12",)),
    V6: (VipSpec("gre6", new_flows_table_length=512), "ip6-gre6", ("2001:db8:1::1", "2001:db8:1::2")),
    V6_GRE4: (VipSpec("gre4"), "ip6-gre4", ("198.51.100.14",)),
    NAT6: (VipSpec("nat6", srv_type="nodeport", target_port=80), "ip6-nat6", ("2001:db8:1::3",)),
}
CONF = LbConf("192.0.2.254", "2001:db8::fe", 1024, 40)


def desired(weight_of=lambda address: 100) -> LbState:
    return LbState(conf=CONF, vips={
        key: VipState(key, spec, {a: AsState(a, weight_of(a)) for a in ases})
        for key, (spec, _vip_type, ases) in KINDS.items()
    })


@pytest.fixture(params=["asyncio", "sync"])
def client(request, vppsim_lb):
    api_dir = vppsim_lb.api_dir if request.param == "sync" else None
    if request.param == "sync" and not api_dir:
        pytest.skip("the sync transport needs API definitions: set VPP_API_DIR")
    with VppLbClient(vppsim_lb.api_socket, api_dir=api_dir, timeout=5) as c:
        yield c


def test_capabilities_detected_from_message_table(vppsim_lb, lb_api):
    master = lb_api == "1.2.0"
    with VppLbClient(vppsim_lb.api_socket) as c:
        caps = c.capabilities
        assert caps.lb_api_version == lb_api
        assert (caps.as_weights, caps.conf_get, caps.as_v2_dump) == (master, master, master)
        assert caps.route_lookup
        assert caps.api_from_vpp is True  # definitions came from get_api_json
    if vppsim_lb.api_dir:
        with VppLbClient(vppsim_lb.api_socket, api_dir=vppsim_lb.api_dir) as c:
            assert c.capabilities.api_from_vpp is False
            assert c.capabilities.lb_api_version == lb_api


def test_every_vip_kind_is_created_as_declared_and_a_rerun_plans_nothing(client, lb_api):
    assert client.capabilities.lb_api_version == lb_api
    as_weights = client.capabilities.as_weights
    want = desired()
    client.apply(planner.plan(want, client.dump(), as_weights=as_weights))

    # VPP itself prints every VIP with the declared family, encap and prefix (no ip6-gre4 ::/32).
    printed = {(p.prefix, p.protocol, p.port): p for p in parse_vips_verbose(client.cli("show lb vips verbose"))}
    assert len(printed) == len(KINDS)
    for key, (_spec, vip_type, ases) in KINDS.items():
        vip = printed[(key.prefix, key.protocol, key.port)]
        assert (vip.vip_type, vip.removed) == (vip_type, False), key
        assert sorted(a.address for a in vip.ases if a.used) == sorted(ases), key
    assert printed[(NODEPORT.prefix, NODEPORT.protocol, NODEPORT.port)].srv_type == "nodeport"

    state = client.dump()
    assert {key: vip.spec for key, vip in state.vips.items()} == {key: kind[0] for key, kind in KINDS.items()}
    assert (state.conf.ip4_src_address, state.conf.ip6_src_address) == (CONF.ip4_src_address, CONF.ip6_src_address)
    assert planner.plan(want, state, as_weights=as_weights) == []


def test_unequal_weights_converge_on_both_generations(client, lb_api):
    """1.1.0 has no weights: weight 0 is an absent AS, any other weight a present one."""
    as_weights = client.capabilities.as_weights
    want = desired(lambda address: {"198.51.100.11": 30, "198.51.100.12": 0}.get(address, 100))
    client.apply(planner.plan(want, client.dump(), as_weights=as_weights))
    state = client.dump()
    assert planner.plan(want, state, as_weights=as_weights) == []
    www = state.vips[WWW].ases
    if lb_api == "1.2.0":
        assert {a: s.weight for a, s in www.items()} == {"198.51.100.11": 30, "198.51.100.12": 0}
    else:
        assert {a: s.weight for a, s in www.items()} == {"198.51.100.11": 100}
        assert lb_module.compose.unhonoured_weights(desired(lambda a: 30 if a.endswith("11") else 100))


def test_a_refused_cli_create_reports_vpps_error(client):
    op = Op(ADD_VIP, NODEPORT, spec=KINDS[NODEPORT][0])
    client.apply([op])
    with pytest.raises(ApplyError) as info:
        client.apply([op])
    assert info.value.cause.retval == -81 and info.value.cause.error_name == "VALUE_EXIST"
    assert "type nodeport" in str(info.value)


def _comparable(state: LbState):
    return (
        (state.conf.ip4_src_address, state.conf.ip6_src_address),
        {key: (vip.spec, {a: s.weight for a, s in vip.ases.items()}) for key, vip in state.vips.items()},
    )


@pytest.mark.parametrize("lb_api", ["1.2.0", "1.1.0"])
def test_rendered_commands_pasted_into_the_cli_build_the_state_the_api_builds(lb_api):
    """Every rendered line is VPP CLI: fed through cli_inband into a fresh VPP it builds exactly
    what applying the same plan through the API builds."""
    want = desired(lambda address: {"198.51.100.11": 30, "198.51.100.12": 0}.get(address, 100))
    rendered = lb_results.render_commands(want, lb_api)["rendered"]
    assert not any("#" in line for line in rendered)
    with start_vppsim("--lb-api", lb_api) as by_api, start_vppsim("--lb-api", lb_api) as by_cli:
        with VppLbClient(by_api.api_socket) as c:
            c.apply(planner.plan(want, c.dump(), as_weights=c.capabilities.as_weights))
            through_api = c.dump()
        with VppLbClient(by_cli.api_socket) as c:
            for line in rendered:
                c.cli(line)  # raises on any line VPP refuses
            through_cli = c.dump()
            assert planner.plan(want, through_cli, as_weights=c.capabilities.as_weights) == []
    assert _comparable(through_cli) == _comparable(through_api)
