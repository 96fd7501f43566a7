"""Facts: live state rendered in the modules' schema (and fed back without a change), parsed CLI
text, and the plain before/after form."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import Dict, List

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import (
    cli_parser,
    desired,
    facts,
    model,
    planner,
    schema,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    AsState,
    LbConf,
    LbState,
    VipCounters,
    VipKey,
    VipSpec,
    VipState,
)
from hypothesis import given, settings
from hypothesis import strategies as st

COUNTERS_ZERO = (
    "  counters:\n    packet from existing sessions: 0\n    first session packet: 0\n"
    "    untracked packet: 0\n    no server configured: 0\n"
)
# Real VPP master, vpp-facts Part 2 §2.2 (scenario state A), exact reply.
MASTER_A = (
    " ip4-gre4 [1] 192.0.2.1/32 src_ip_sticky\n  new_size:1024\n  protocol:6 port:80\n" + COUNTERS_ZERO
    + "  #as:2\n    198.51.100.11 weight:100 buckets:674 flows:0 dpo:10 used\n"
    "    198.51.100.12 weight:50 buckets:350 flows:0 dpo:11 used\n\n"
    " ip6-gre6 [2] 2001:db8::10/128\n  new_size:512\n" + COUNTERS_ZERO
    + "  #as:1\n    2001:db8:1::1 weight:100 buckets:512 flows:0 dpo:12 used\n\n"
)
SHOW_LB_A = "lb_main ip4-src-address: 192.0.2.254 \n ip6-src-address: 2001:db8::fe \n #vips: 3\n #ass: 3\n"
# Real VPP master, §2.3 (state B): .12 removed but not yet garbage-collected.
MASTER_B = MASTER_A.replace(
    "198.51.100.11 weight:100 buckets:674", "198.51.100.11 weight:100 buckets:1024"
).replace(
    "198.51.100.12 weight:50 buckets:350 flows:0 dpo:11 used",
    "198.51.100.12 weight:100 buckets:0 flows:0 dpo:11  removed",
)
# Real VPP v26.06 (LB API 1.1.0): AS lines without weights, ASes listed out of address order.
REL = (
    " ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky\n  new_size:1024\n" + COUNTERS_ZERO
    + "  #as:3\n    10.0.0.2 341 buckets   0 flows  dpo:11 used\n"
    "    10.0.0.1 342 buckets   0 flows  dpo:10 used\n    10.0.0.3 341 buckets   0 flows  dpo:12 used\n\n"
)
# A removed VIP, a NAT VIP (its `type:` line runs into `counters:`) and an l3dsr VIP.
REMOVED_NAT_DSR = (
    " ip4-gre4 [2] 192.0.2.5/32 removed\n  new_size:256\n" + COUNTERS_ZERO + "  #as:1\n"
    "    198.51.100.11 weight:100 buckets:0 flows:3 dpo:9  removed\n\n"
    " ip4-nat4 [3] 192.0.2.6/32\n  new_size:128\n  protocol:17 port:53\n"
    "  type:nodeport port:13568 target_port:5353  counters:\n    packet from existing sessions: 5\n"
    "    first session packet: 2\n    untracked packet: 1\n    no server configured: 3\n  #as:1\n"
    "    198.51.100.12 weight:100 buckets:128 flows:1 dpo:13 used\n\n"
    " ip4-l3dsr [4] 192.0.2.16/28\n  new_size:256\n  dscp:10\n" + COUNTERS_ZERO + "  #as:0\n\n"
)

A, B = "198.51.100.11", "198.51.100.12"
V4 = VipKey("192.0.2.1/32", 6, 80)
V6 = VipKey("2001:db8::10/128")
CONF = LbConf("192.0.2.254", "2001:db8::fe", 1024, 40)


def state_a(conf=CONF) -> LbState:
    parsed = facts.state_from_parsed(cli_parser.parse_vips_verbose(MASTER_A))
    return LbState(conf=conf, vips=parsed.vips)


# ---------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    "address, name",
    [
        ("198.51.100.11", "198.51.100.11"),
        ("2001:db8:1::11", "2001-db8-1--11"),
        ("2001:DB8:0:0::1", "2001-db8--1"),  # canonical form first
        ("::1", "0--1"),  # a name cannot start with '-'
        ("2001:db8::", "2001-db8--"),
        ("2001:db8:1234:5678:9abc:def0:1234:5678", "2001-db8-1234-5678-9abc-def0-1234-5678"),
    ],
)
def test_backend_name(address: str, name: str) -> None:
    assert facts.backend_name(address) == name
    assert schema.NAME_RE.match(name)
    assert facts.address_of_backend_name(name) == str(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "key, name",
    [
        (VipKey("192.0.2.1/32", 6, 80), "192.0.2.1_32-tcp-80"),
        (VipKey("192.0.2.1/32", 17, 53), "192.0.2.1_32-udp-53"),
        (VipKey("192.0.2.0/24"), "192.0.2.0_24"),
        (VipKey("2001:db8::10/128"), "2001-db8--10_128"),
        (VipKey("::/0"), "0--_0"),
        (VipKey("192.0.2.1/32", 132, 80), "192.0.2.1_32-132-80"),  # VPP takes any protocol number
        # The longest name there can be: 53 characters, within the schema's 64.
        (VipKey("2001:db8:1234:5678:9abc:def0:1234:5678/128", 17, 65535),
         "2001-db8-1234-5678-9abc-def0-1234-5678_128-udp-65535"),
    ],
)
def test_frontend_name(key: VipKey, name: str) -> None:
    assert facts.frontend_name(key) == name
    assert schema.NAME_RE.match(name)


# ---------------------------------------------------------------------------------------------
# render_maglev_lb


def test_render_vpp_scenario_a() -> None:
    rendered = facts.render_maglev_lb(state_a())
    assert rendered == {
        "conf": {
            "ip4_src_address": "192.0.2.254",
            "ip6_src_address": "2001:db8::fe",
            "sticky_buckets_per_core": 1024,
            "flow_timeout": 40,
        },
        "backends": {
            "198.51.100.11": {"address": "198.51.100.11"},
            "198.51.100.12": {"address": "198.51.100.12"},
            "2001-db8-1--1": {"address": "2001:db8:1::1"},
        },
        "frontends": {
            "192.0.2.1_32-tcp-80": {
                "prefix": "192.0.2.1/32",
                "protocol": "tcp",
                "port": 80,
                "encap": "gre4",
                "src_ip_sticky": True,
                "new_flows_table_length": 1024,
                "pools": [{"name": "default", "backends": {"198.51.100.11": {"weight": 100},
                                                           "198.51.100.12": {"weight": 50}}}],
            },
            "2001-db8--10_128": {
                "prefix": "2001:db8::10/128",
                "encap": "gre6",
                "src_ip_sticky": False,
                "new_flows_table_length": 512,
                "pools": [{"name": "default", "backends": {"2001-db8-1--1": {"weight": 100}}}],
            },
        },
    }
    assert schema.validate(rendered) == []


def test_render_nat_and_l3dsr_fields_and_empty_vip() -> None:
    parsed = facts.state_from_parsed(cli_parser.parse_vips_verbose(REMOVED_NAT_DSR))
    rendered = facts.render_maglev_lb(parsed)
    assert "conf" not in rendered
    assert rendered["backends"] == {B: {"address": B}}  # the removed VIP's AS is gone
    assert rendered["frontends"] == {
        "192.0.2.6_32-udp-53": {
            "prefix": "192.0.2.6/32",
            "protocol": "udp",
            "port": 53,
            "encap": "nat4",
            "src_ip_sticky": False,
            "new_flows_table_length": 128,
            "srv_type": "nodeport",
            "target_port": 5353,
            "pools": [{"name": "default", "backends": {B: {"weight": 100}}}],
        },
        "192.0.2.16_28": {
            "prefix": "192.0.2.16/28",
            "encap": "l3dsr",
            "src_ip_sticky": False,
            "new_flows_table_length": 256,
            "dscp": 10,
            "pools": [],  # a VIP without ASes
        },
    }
    config = schema.parse_config(rendered)
    assert config.frontends["192.0.2.16_28"].pools == ()
    want = desired.desired_state(config)
    assert want.vips[VipKey("192.0.2.16/28")].ases == {}
    assert planner.plan(want, parsed) == []


@pytest.mark.parametrize(
    "conf",
    [None, LbConf("192.0.2.254", "2001:db8::fe", None, None)],  # unknown; LB API 1.1.0 (addresses only)
    ids=["unknown", "addresses-only"],
)
def test_incomplete_conf_is_left_out(conf) -> None:
    rendered = facts.render_maglev_lb(state_a(conf))
    assert "conf" not in rendered
    want = desired.desired_state(schema.parse_config(rendered))
    assert want.conf is None  # leave lb_conf alone
    assert planner.plan(want, state_a(conf)) == []


def test_unrepresentable_state_is_rendered_faithfully_and_validation_says_why() -> None:
    odd = LbState(
        conf=LbConf("192.0.2.254", "2001:db8::fe", 0, 40),  # VPP accepts 0 buckets
        vips={
            V4: VipState(V4, VipSpec(), {A: AsState(A, weight=200)}),  # the API does not range-check
            VipKey("192.0.2.9/32", 132, 9): VipState(VipKey("192.0.2.9/32", 132, 9), VipSpec(), {}),
        },
    )
    rendered = facts.render_maglev_lb(odd)
    assert rendered["frontends"]["192.0.2.1_32-tcp-80"]["pools"][0]["backends"] == {A: {"weight": 200}}
    assert schema.validate(rendered) == [
        "conf.sticky_buckets_per_core: must be between 1 and 16777216, got 0",
        "frontends.192.0.2.1_32-tcp-80.pools[0].backends.198.51.100.11.weight: must be between 0 and 100, got 200",
        "frontends.192.0.2.9_32-132-9.protocol: must be one of tcp, udp, got integer 132",
    ]


# ---------------------------------------------------------------------------------------------
# state_from_parsed


def test_state_from_parsed_master_with_removed_as() -> None:
    parsed = cli_parser.parse_vips_verbose(MASTER_B)
    conf = cli_parser.parse_show_lb(SHOW_LB_A)
    state = facts.state_from_parsed(parsed, conf)
    assert state.conf == LbConf("192.0.2.254", "2001:db8::fe", None, None)  # `show lb` has no buckets/timeout
    assert list(state.vips) == [V4, V6]
    v4 = state.vips[V4]
    assert v4.spec == VipSpec(encap="gre4", src_ip_sticky=True, new_flows_table_length=1024)
    assert v4.ases == {A: AsState(A, weight=100, num_buckets=1024)}  # removed .12 left out
    assert (v4.index, v4.counters) == (1, VipCounters())
    v6 = state.vips[V6]
    assert v6.spec == VipSpec(encap="gre6", src_ip_sticky=False, new_flows_table_length=512)
    assert v6.ases == {"2001:db8:1::1": AsState("2001:db8:1::1", weight=100, num_buckets=512)}
    assert v6.index == 2


def test_state_from_parsed_rel_has_weight_100_and_numeric_order() -> None:
    state = facts.state_from_parsed(cli_parser.parse_vips_verbose(REL))
    assert state.conf is None
    assert len(state.vips) == 1
    vip = state.vips[VipKey("192.0.2.10/32")]
    assert list(vip.ases.items()) == [
        ("10.0.0.1", AsState("10.0.0.1", 100, num_buckets=342)),
        ("10.0.0.2", AsState("10.0.0.2", 100, num_buckets=341)),
        ("10.0.0.3", AsState("10.0.0.3", 100, num_buckets=341)),
    ]


def test_state_from_parsed_nat_and_l3dsr() -> None:
    state = facts.state_from_parsed(cli_parser.parse_vips_verbose(REMOVED_NAT_DSR))
    nat_key, dsr_key = VipKey("192.0.2.6/32", 17, 53), VipKey("192.0.2.16/28")
    assert list(state.vips) == [nat_key, dsr_key]  # the removed VIP is left out
    nat = state.vips[nat_key]
    assert nat.spec == VipSpec(encap="nat4", new_flows_table_length=128, srv_type="nodeport", target_port=5353)
    assert nat.counters == VipCounters(next_packets=5, first_packets=2, untracked_packets=1, no_server_packets=3)
    assert state.vips[dsr_key].spec == VipSpec(encap="l3dsr", new_flows_table_length=256, dscp=10)


@pytest.mark.parametrize(
    "text, message",
    [
        (" ip4-gre4 [1] 192.0.2.1/32\n" + COUNTERS_ZERO + "  #as:0\n", r"VIP \[1\] 192.0.2.1/32: no new_size line"),
        (
            " ip4-gre4 [1] 192.0.2.1/32\n  new_size:8\n\n ip4-gre4 [2] 192.0.2.1/32\n  new_size:8\n",
            r"VIP \[2\] 192.0.2.1/32 is listed twice",
        ),
    ],
    ids=["no-new-size", "duplicate"],
)
def test_state_from_parsed_rejects_impossible_text(text: str, message: str) -> None:
    with pytest.raises(cli_parser.CliParseError, match=message):
        facts.state_from_parsed(cli_parser.parse_vips_verbose(text))


def test_parsed_text_fed_back_plans_nothing() -> None:
    state = facts.state_from_parsed(cli_parser.parse_vips_verbose(MASTER_A + REMOVED_NAT_DSR))
    want = desired.desired_state(schema.parse_config(facts.render_maglev_lb(state)))
    assert planner.plan(want, state, prune_vips=True) == []


# ---------------------------------------------------------------------------------------------
# state_to_dict


def test_state_to_dict() -> None:
    state = facts.state_from_parsed(cli_parser.parse_vips_verbose(MASTER_A), cli_parser.parse_show_lb(SHOW_LB_A))
    zero = {"next_packets": 0, "first_packets": 0, "untracked_packets": 0, "no_server_packets": 0,
            "route_packets": None, "route_bytes": None}
    expected = {
        "conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe",
                 "sticky_buckets_per_core": None, "flow_timeout": None},
        "vips": {
            "192.0.2.1/32 tcp/80": {
                "prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "encap": "gre4", "src_ip_sticky": True,
                "new_flows_table_length": 1024, "index": 1,
                "ases": {A: {"weight": 100, "buckets": 674}, B: {"weight": 50, "buckets": 350}},
                "counters": zero,
            },
            "2001:db8::10/128": {
                "prefix": "2001:db8::10/128", "encap": "gre6", "src_ip_sticky": False,
                "new_flows_table_length": 512, "index": 2,
                "ases": {"2001:db8:1::1": {"weight": 100, "buckets": 512}},
                "counters": zero,
            },
        },
    }
    assert facts.state_to_dict(state) == expected
    assert json.loads(json.dumps(facts.state_to_dict(state))) == expected


def test_state_to_dict_order_is_stable_and_runtime_can_be_left_out() -> None:
    c, d = "10.0.0.10", "10.0.0.9"
    key2 = VipKey("192.0.2.10/32")
    state = LbState(
        vips={
            key2: VipState(key2, VipSpec(), {c: AsState(c, 1, num_buckets=512), d: AsState(d, 1, num_buckets=512)},
                           index=7, counters=VipCounters(next_packets=3)),
            V4: VipState(V4, VipSpec(), {}, name="www"),
        }
    )
    full = facts.state_to_dict(state)
    assert list(full["vips"]) == ["192.0.2.1/32 tcp/80", "192.0.2.10/32"]
    assert list(full["vips"]["192.0.2.10/32"]["ases"]) == [d, c]  # numeric, not lexical
    assert full["vips"]["192.0.2.1/32 tcp/80"]["name"] == "www"
    assert full["conf"] is None
    config_only = facts.state_to_dict(state, runtime=False)
    assert config_only["vips"]["192.0.2.10/32"] == {
        "prefix": "192.0.2.10/32", "encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 1024,
        "ases": {d: 1, c: 1},  # the configuration view: address -> weight
    }
    assert list(config_only["vips"]["192.0.2.10/32"]["ases"]) == [d, c]


# ---------------------------------------------------------------------------------------------
# Property: any valid live state, rendered as facts and fed back, plans nothing


def _unicast(ip) -> bool:
    mapped = ip.version == 6 and ip.ipv4_mapped is not None
    compatible = ip.version == 6 and int(ip) < 2**32  # ::/96: VPP reads it as IPv4
    return not (ip.is_unspecified or ip.is_multicast or mapped or compatible)


V4_ADDRESSES = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address).filter(_unicast)
V6_ADDRESSES = st.one_of(
    st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
    st.sampled_from(["::1", "::5", "2001:db8::", "::a:b:c", "fe80::1"]).map(ipaddress.IPv6Address),
).filter(_unicast)
VIP_ENCAPS = {4: ("gre4", "gre6", "l3dsr", "nat4"), 6: ("gre4", "gre6", "nat6")}


@st.composite
def prefixes(draw):
    unspecified = st.sampled_from([ipaddress.IPv4Address(0), ipaddress.IPv6Address(0)])
    address = draw(st.one_of(V4_ADDRESSES, V6_ADDRESSES, unspecified))
    length = draw(st.integers(0, address.max_prefixlen))
    net = ipaddress.ip_network((address, length), strict=False)
    base = net.network_address
    if base.is_multicast or (base.version == 6 and base.ipv4_mapped is not None):
        net = ipaddress.ip_network((address, address.max_prefixlen))
    if net.version == 6 and net.prefixlen >= 96 and int(net.network_address) < 2**32:
        net = ipaddress.ip_network((net.network_address, 0))  # VPP would make it an IPv4 VIP
    if net.network_address.is_unspecified and net.prefixlen == net.max_prefixlen:
        net = ipaddress.ip_network((net.network_address, 0))
    return net


@st.composite
def lb_states(draw) -> LbState:
    conf = draw(st.one_of(
        st.none(),
        st.builds(
            LbConf,
            V4_ADDRESSES.map(str),
            V6_ADDRESSES.map(str),
            st.integers(0, 24).map(lambda n: 1 << n),
            st.integers(1, 86400),
        ),
        st.builds(LbConf, V4_ADDRESSES.map(str), V6_ADDRESSES.map(str), st.none(), st.none()),
    ))
    as_pools = {
        4: draw(st.lists(V4_ADDRESSES.map(str), min_size=1, max_size=5, unique=True)),
        6: draw(st.lists(V6_ADDRESSES.map(str), min_size=1, max_size=5, unique=True)),
    }
    vips: Dict[VipKey, VipState] = {}
    nodeports = set()
    for net in draw(st.lists(prefixes(), max_size=5, unique_by=str)):
        per_port = draw(st.booleans())
        choices = VIP_ENCAPS[net.version] if per_port else tuple(
            e for e in VIP_ENCAPS[net.version] if e not in ("nat4", "nat6")
        )
        encap = draw(st.sampled_from(choices))  # one encap per prefix, as VPP requires
        if per_port:
            ports = draw(st.lists(st.tuples(st.sampled_from([6, 17]), st.integers(1, 65535)), min_size=1,
                                  max_size=3, unique=True))
            keys = [VipKey(str(net), protocol, port) for protocol, port in ports]
        else:
            keys = [VipKey(str(net))]
        for key in keys:
            srv_type, target_port = "clusterip", 0
            if encap in ("nat4", "nat6"):
                srv_type = draw(st.sampled_from(model.SRV_TYPES))
                if srv_type == "nodeport" and key.port in nodeports:
                    srv_type = "clusterip"  # VPP registers a node port once
                if srv_type == "nodeport":
                    nodeports.add(key.port)
                target_port = draw(st.integers(1, 65535))
            spec = VipSpec(
                encap=encap,
                src_ip_sticky=draw(st.booleans()),
                new_flows_table_length=1 << draw(st.integers(0, 20)),
                dscp=draw(st.integers(0, 63)) if encap == "l3dsr" else 0,
                srv_type=srv_type,
                target_port=target_port,
            )
            pool = as_pools[model.ENCAP_AS_FAMILY[encap]]
            addresses = draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
            ases = {a: AsState(a, weight=draw(st.integers(0, 100))) for a in addresses}
            vips[key] = VipState(key, spec, ases, index=draw(st.integers(1, 99)))
    return LbState(conf=conf, vips=vips)


def _weights(state: LbState) -> Dict[VipKey, Dict[str, int]]:
    return {key: {a: s.weight for a, s in vip.ases.items()} for key, vip in state.vips.items()}


def _complete(conf) -> bool:
    return conf is not None and None not in dataclasses.astuple(conf)


@settings(max_examples=200, deadline=None)
@given(state=lb_states())
def test_facts_fed_back_as_desired_state_plan_nothing(state: LbState) -> None:
    rendered = facts.render_maglev_lb(state)
    assert schema.validate(rendered) == []
    # Through JSON, as Ansible passes facts around.
    want = desired.desired_state(schema.parse_config(json.loads(json.dumps(rendered))))
    assert set(want.vips) == set(state.vips)
    assert {key: vip.spec for key, vip in want.vips.items()} == {key: vip.spec for key, vip in state.vips.items()}
    assert _weights(want) == _weights(state)
    assert want.conf == (state.conf if _complete(state.conf) else None)
    assert planner.plan(want, state) == []
    assert planner.plan(want, state, prune_vips=True) == []
    # One backend per distinct address, named reversibly.
    addresses: List[str] = sorted({a for vip in state.vips.values() for a in vip.ases}, key=model.address_sort_key)
    assert [facts.address_of_backend_name(name) for name in rendered["backends"]] == addresses
    assert list(rendered["frontends"]) == [facts.frontend_name(k) for k in sorted(state.vips, key=VipKey.sort_key)]
