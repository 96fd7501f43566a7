"""vppsim.lb control plane against vpp-facts (Part 1 §2-§4, Part 2 observations)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

import pytest
from _lbsim import A, api_plen4, as4, make, part2_state, vip4

from vppsim.cli import run_cli
from vppsim.lb import LbPlugin
from vppsim.lb_model import (
    RV_INVALID_ADDRESS_FAMILY,
    RV_INVALID_ARGUMENT,
    RV_INVALID_MEMORY_SIZE,
    RV_NO_SUCH_ENTRY,
    RV_VALUE_EXIST,
    VIP_COUNTER_NAMES,
)

V4 = "192.0.2.1"
V6 = "2001:db8::10"

BOOT_SHOW_LB = (
    "lb_main ip4-src-address: 255.255.255.255 \n"
    " ip6-src-address: ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \n #vips: 1\n #ass: 0\n"
)
STATE_A_SHOW_LB = (
    "lb_main ip4-src-address: 192.0.2.254 \n ip6-src-address: 2001:db8::fe \n #vips: 3\n #ass: 3\n"
)
STATE_A_VIPS = (
    "ip4-gre4 192.0.2.1/32 new_size:1024 #as:2  protocol:6 port:80 \n"
    "ip6-gre6 2001:db8::10/128 new_size:512 #as:1\n"
)
COUNTERS_ZERO = (
    "  counters:\n    packet from existing sessions: 0\n    first session packet: 0\n"
    "    untracked packet: 0\n    no server configured: 0\n"
)
STATE_A_VERBOSE = (
    " ip4-gre4 [1] 192.0.2.1/32 src_ip_sticky\n  new_size:1024\n  protocol:6 port:80\n  counters:\n"
    "    packet from existing sessions: 0\n    first session packet: 0\n    untracked packet: 0\n"
    "    no server configured: 0\n  #as:2\n"
    "    198.51.100.11 weight:100 buckets:674 flows:0 dpo:10 used\n"
    "    198.51.100.12 weight:50 buckets:350 flows:0 dpo:11 used\n\n"
    " ip6-gre6 [2] 2001:db8::10/128\n  new_size:512\n  counters:\n"
    "    packet from existing sessions: 0\n    first session packet: 0\n    untracked packet: 0\n"
    "    no server configured: 0\n  #as:1\n"
    "    2001:db8:1::1 weight:100 buckets:512 flows:0 dpo:12 used\n\n"
)
STATE_B_VERBOSE = (
    " ip4-gre4 [1] 192.0.2.1/32 src_ip_sticky\n  new_size:1024\n  protocol:6 port:80\n  counters:\n"
    "    packet from existing sessions: 0\n    first session packet: 0\n    untracked packet: 0\n"
    "    no server configured: 0\n  #as:2\n"
    "    198.51.100.11 weight:100 buckets:1024 flows:0 dpo:10 used\n"
    "    198.51.100.12 weight:100 buckets:0 flows:0 dpo:11  removed\n\n"
    " ip6-gre6 [2] 2001:db8::10/128\n  new_size:512\n  counters:\n"
    "    packet from existing sessions: 0\n    first session packet: 0\n    untracked packet: 0\n"
    "    no server configured: 0\n  #as:1\n"
    "    2001:db8:1::1 weight:100 buckets:512 flows:0 dpo:12 used\n\n"
)


# --------------------------------------------------------------------------- Part 2 §2.1-2.3
def test_boot_state() -> None:
    p, stats, _clock = make()
    assert run_cli(p, "show lb") == (0, BOOT_SHOW_LB)
    assert p.conf_get() == {
        "ip4_src_address": IPv4Address("255.255.255.255"),
        "ip6_src_address": IPv6Address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        "sticky_buckets_per_core": 1024,
        "flow_timeout": 40,
    }
    assert run_cli(p, "show lb vips") == (0, "")
    assert p.vip_details() == []
    # The LB counters only appear with the first VIP; the route counters exist at boot.
    assert not any(name in stats.simple for name in VIP_COUNTER_NAMES)
    assert len(stats.combined["/net/route/to"][0]) == 8


def test_state_a_cli_is_byte_exact() -> None:
    p, _stats, _clock = part2_state()
    assert run_cli(p, "show lb") == (0, STATE_A_SHOW_LB)
    assert run_cli(p, "show lb vips") == (0, STATE_A_VIPS)
    assert run_cli(p, "show lb vips verbose") == (0, STATE_A_VERBOSE)


def test_state_a_dumps() -> None:
    p, _stats, _clock = part2_state()
    v4 = {"pfx": IPv4Interface("192.0.2.1/32"), "protocol": 6, "port": 80}
    v6 = {"pfx": IPv6Interface("2001:db8::10/128"), "protocol": 255, "port": 0}
    assert p.vip_details() == [
        {"vip": v4, "encap": 0, "dscp": 0, "srv_type": 0, "target_port": 0, "flow_table_length": 1024},
        {"vip": v6, "encap": 1, "dscp": 0, "srv_type": 0, "target_port": 0, "flow_table_length": 512},
    ]
    all_ass = p.as_details(A("0.0.0.0"), 0, 0, 0)
    assert [(d["vip"], d["app_srv"], d["flags"], d["in_use_since"], d["weight"], d["num_buckets"])
            for d in all_ass] == [
        (v4, IPv4Address("198.51.100.11"), 1, 0, 100, 674),
        (v4, IPv4Address("198.51.100.12"), 1, 0, 50, 350),
        (v6, IPv6Address("2001:db8:1::1"), 1, 0, 100, 512),
    ]
    assert p.as_details(A("::"), 0, 0, 0) == all_ass


@pytest.mark.parametrize(
    ("ip", "plen", "protocol", "port", "expected"),
    [
        (V4, 32, 6, 80, []),  # an IPv4 filter never matches (address in the wrong 4 bytes)
        (V4, 32, 255, 0, []),
        (V6, 128, 255, 0, ["2001:db8:1::1"]),
        (V6, 64, 255, 0, ["2001:db8:1::1"]),  # plen is not compared
        (V6, 128, 0, 0, []),  # lb_as_dump's protocol has no default: 0 matches nothing
        (V6, 128, 255, 80, []),
        ("2001:db8::11", 128, 255, 0, []),
    ],
)
def test_as_dump_filter(ip: str, plen: int, protocol: int, port: int, expected: list[str]) -> None:
    p, _stats, _clock = part2_state()
    assert [str(d["app_srv"]) for d in p.as_details(A(ip), plen, protocol, port)] == expected


def test_as_dump_ipv4_filter_compares_raw_union_bytes() -> None:
    # 32.1.13.184 in the first 4 bytes equals the stored 2001:db8::/32 prefix: VPP matches it.
    p, _stats, _clock = make()
    assert p.vip_add(A("2001:db8::"), 32, 255, 0, 1, 0, 0, 0, 1024, False) == 0
    assert p.as_add(A("2001:db8::"), 32, 255, 0, A("2001:db8:1::1"), 100, False) == 0
    assert [str(d["app_srv"]) for d in p.as_details(A("32.1.13.184"), 32, 255, 0)] == ["2001:db8:1::1"]


def test_state_b_weight_then_delete_with_flush() -> None:
    p, _stats, _clock = part2_state()
    assert p.as_set_weight(A(V4), 32, 6, 80, A("198.51.100.12"), 100, False) == 0
    assert [d["num_buckets"] for d in p.as_details(A("0.0.0.0"), 0, 0, 0)][:2] == [512, 512]
    assert p.as_del(A(V4), 32, 6, 80, A("198.51.100.12"), True) == 0
    assert run_cli(p, "show lb") == (0, STATE_A_SHOW_LB)  # #ass still counts the removed AS
    assert run_cli(p, "show lb vips") == (0, STATE_A_VIPS)
    assert run_cli(p, "show lb vips verbose") == (0, STATE_B_VERBOSE)
    rows = [(str(d["app_srv"]), d["flags"], d["weight"], d["num_buckets"])
            for d in p.as_details(A("0.0.0.0"), 0, 0, 0)]
    assert rows == [("198.51.100.11", 1, 100, 1024), ("198.51.100.12", 0, 100, 0),
                    ("2001:db8:1::1", 1, 100, 512)]
    assert len(p.vip_details()) == 2
    assert p.conf_get()["sticky_buckets_per_core"] == 1024


def test_route_lookup_indexes() -> None:
    p, stats, _clock = part2_state()
    assert p.route_lookup(0, A(V4), 32, True) == 8
    assert p.route_lookup(0, A(V6), 128, True) == 9
    assert p.route_lookup(0, A("192.0.2.9"), 32, True) is None
    assert p.route_lookup(1, A(V4), 32, True) is None
    assert p.route_lookup(0, A(V4), 128, True) is None  # IPv4 given with the ip46 length
    assert p.route_lookup(0, A("198.51.100.11"), 32, True) == 10  # AS next-hop entries too
    assert stats.combined["/net/route/to"][0][8] == (0, 0)
    assert len(stats.combined["/net/route/to"][0]) == 13


# --------------------------------------------------------------------------- retvals (Part 2 §2.4)
def _retval_cases():
    """(name, operation on the Part 2 state, expected retval)."""
    v4 = A(V4)
    v6 = A(V6)
    as12 = A("198.51.100.12")
    return [
        ("conf buckets 1000", lambda p: p.conf(A("1.1.1.1"), A("::1"), 1000, 40), RV_INVALID_MEMORY_SIZE),
        ("conf buckets 0", lambda p: p.conf(A("1.1.1.1"), A("::1"), 0, 40), 0),
        ("conf keep", lambda p: p.conf(A("1.1.1.1"), A("::1"), 0xFFFFFFFF, 0xFFFFFFFF), 0),
        ("vip re-add", lambda p: vip4(p, V4, protocol=6, port=80, sticky=True), RV_VALUE_EXIST),
        ("vip re-add other sticky", lambda p: vip4(p, V4, protocol=6, port=80), RV_VALUE_EXIST),
        ("all-port over per-port", lambda p: vip4(p, V4), RV_VALUE_EXIST),
        ("per-port other encap", lambda p: vip4(p, V4, protocol=6, port=81, encap=1), RV_INVALID_ARGUMENT),
        ("per-port same encap", lambda p: vip4(p, V4, protocol=17, port=80), 0),
        ("per-port over all-port", lambda p: p.vip_add(v6, 128, 6, 80, 1, 0, 0, 0, 512, False),
         RV_VALUE_EXIST),
        ("table 1000", lambda p: vip4(p, "192.0.2.2", new_len=1000), RV_INVALID_MEMORY_SIZE),
        ("table 0 refused", lambda p: vip4(p, "192.0.2.2", new_len=0), RV_INVALID_MEMORY_SIZE),
        # 0 passes VPP's power-of-two check, so a later check answers first (vpp-facts Part 2 §5).
        ("table 0 on ip4 nat6 is a family error", lambda p: vip4(p, "192.0.2.2", encap=4, new_len=0),
         RV_INVALID_ADDRESS_FAMILY),
        ("table 0 on ip4 unknown encap is a family error", lambda p: vip4(p, "192.0.2.2", encap=7, new_len=0),
         RV_INVALID_ADDRESS_FAMILY),
        ("ip4 nat6", lambda p: vip4(p, "192.0.2.2", encap=4), RV_INVALID_ADDRESS_FAMILY),
        ("ip4 unknown encap", lambda p: vip4(p, "192.0.2.2", encap=7), RV_INVALID_ADDRESS_FAMILY),
        ("ip6 l3dsr", lambda p: p.vip_add(A("2001:db8::20"), 128, 255, 0, 2, 5, 0, 0, 1024, False), 0),
        ("ip4 len 96+32", lambda p: vip4(p, "192.0.2.2", 128), RV_INVALID_ARGUMENT),
        ("delete missing vip", lambda p: p.vip_del(A("192.0.2.9"), 32, 255, 0), RV_NO_SUCH_ENTRY),
        ("delete vip wrong port", lambda p: p.vip_del(v4, 32, 6, 81), RV_NO_SUCH_ENTRY),
        ("delete vip ip46 len", lambda p: p.vip_del(v4, 128, 6, 80), RV_NO_SUCH_ENTRY),
        ("as re-add used", lambda p: as4(p, V4, "198.51.100.11", protocol=6, port=80), RV_VALUE_EXIST),
        ("ip6 as on gre4", lambda p: p.as_add(v4, 32, 6, 80, A("2001:db8:1::2"), 100, False),
         RV_INVALID_ADDRESS_FAMILY),
        ("ip4 as on gre6", lambda p: p.as_add(v6, 128, 255, 0, A("10.0.0.1"), 100, False),
         RV_INVALID_ADDRESS_FAMILY),
        ("as on missing vip", lambda p: as4(p, "192.0.2.9", "10.0.0.1"), RV_NO_SUCH_ENTRY),
        ("as wrong port", lambda p: as4(p, V4, "10.0.0.1", protocol=6, port=81), RV_NO_SUCH_ENTRY),
        ("set weight missing as", lambda p: p.as_set_weight(v4, 32, 6, 80, A("10.9.9.9"), 10, False),
         RV_NO_SUCH_ENTRY),
        ("set weight missing vip", lambda p: p.as_set_weight(A("192.0.2.9"), 32, 255, 0, as12, 10, False),
         RV_NO_SUCH_ENTRY),
        ("set weight 200", lambda p: p.as_set_weight(v4, 32, 6, 80, as12, 200, False), 0),
        ("delete unknown as", lambda p: p.as_del(v4, 32, 6, 80, A("10.9.9.9"), False), RV_NO_SUCH_ENTRY),
        ("delete as missing vip", lambda p: p.as_del(A("192.0.2.9"), 32, 255, 0, as12, False),
         RV_NO_SUCH_ENTRY),
        ("flush missing vip", lambda p: p.flush_vip(A("192.0.2.9"), 32, 0, 0), 0),
        ("flush existing vip", lambda p: p.flush_vip(v4, 32, 6, 80), 0),
        ("flush protocol 0 default", lambda p: p.flush_vip(v4, 32, 0, 80), 0),
    ]


@pytest.mark.parametrize(("name", "op", "expected"), _retval_cases(), ids=[c[0] for c in _retval_cases()])
def test_retvals(name: str, op, expected: int) -> None:
    p, _stats, _clock = part2_state()
    assert op(p) == expected


def test_failed_conf_changes_nothing_and_ffffffff_keeps() -> None:
    p, _stats, _clock = make()
    assert p.conf(A("192.0.2.254"), A("2001:db8::fe"), 1000, 7) == RV_INVALID_MEMORY_SIZE
    assert p.conf_get()["ip4_src_address"] == IPv4Address("255.255.255.255")
    assert p.conf(A("192.0.2.254"), A("2001:db8::fe"), 2048, 7) == 0
    assert p.conf(A("192.0.2.253"), A("2001:db8::fd"), 0xFFFFFFFF, 0xFFFFFFFF) == 0
    assert p.conf_get() == {
        "ip4_src_address": IPv4Address("192.0.2.253"),
        "ip6_src_address": IPv6Address("2001:db8::fd"),
        "sticky_buckets_per_core": 2048,
        "flow_timeout": 7,
    }
    assert p.conf(A("192.0.2.253"), A("2001:db8::fd"), 0, 7) == 0  # 0 counts as a power of two
    assert p.conf_get()["sticky_buckets_per_core"] == 0


def test_set_weight_200_is_not_range_checked() -> None:
    p, _stats, _clock = part2_state()
    assert p.as_set_weight(A(V4), 32, 6, 80, A("198.51.100.12"), 200, False) == 0
    assert [(d["weight"], d["num_buckets"]) for d in p.as_details(A("0.0.0.0"), 0, 0, 0)][:2] == [
        (100, 362), (200, 662)]


def test_set_weight_on_removed_as_and_double_delete() -> None:
    p, _stats, clock = part2_state()
    as12 = A("198.51.100.12")
    clock.advance(1.2)
    assert p.as_del(A(V4), 32, 6, 80, as12, False) == 0
    assert p.as_details(A("0.0.0.0"), 0, 0, 0)[1]["in_use_since"] == 1
    assert p.as_set_weight(A(V4), 32, 6, 80, as12, 10, False) == RV_NO_SUCH_ENTRY
    clock.advance(3.7)
    assert p.as_del(A(V4), 32, 6, 80, as12, False) == 0  # already removed: found again, 0
    # ... and it re-stamps the removal time, as VPP's del path does.
    assert p.as_details(A("0.0.0.0"), 0, 0, 0)[1]["in_use_since"] == 4


def test_revive_removed_as_keeps_slot_and_sets_weight() -> None:
    p, _stats, clock = part2_state()
    clock.advance(5.8)
    as12 = A("198.51.100.12")
    assert p.as_del(A(V4), 32, 6, 80, as12, False) == 0
    before = p.vip(1).as_by_addr[int(as12)]
    assert p.as_details(A("0.0.0.0"), 0, 0, 0)[1]["in_use_since"] == 5
    assert as4(p, V4, "198.51.100.12", 30, protocol=6, port=80) == 0
    assert p.vip(1).as_by_addr[int(as12)] == before
    row = p.as_details(A("0.0.0.0"), 0, 0, 0)[1]
    assert (row["flags"], row["weight"], row["in_use_since"]) == (1, 30, 5)  # old stamp kept
    assert run_cli(p, "show lb")[1].endswith("#ass: 3\n")


def test_v1_add_revives_with_weight_100() -> None:
    p, _stats, _clock = part2_state()
    as12 = A("198.51.100.12")
    assert p.as_del(A(V4), 32, 6, 80, as12, False) == 0
    assert p.as_add(A(V4), 32, 6, 80, as12, 100, False) == 0  # the v1 handler passes 100
    assert p.as_details(A("0.0.0.0"), 0, 0, 0)[1]["weight"] == 100


# --------------------------------------------------------------------------- VIP encoding quirks
@pytest.mark.parametrize(
    ("addr", "plen", "encap", "shown", "api_encap"),
    [
        ("192.0.2.1", 32, 0, "ip4-gre4 192.0.2.1/32", 0),
        ("192.0.2.1", 32, 1, "ip4-gre6 192.0.2.1/32", 1),
        ("192.0.2.77", 24, 0, "ip4-gre4 192.0.2.0/24", 0),  # host bits masked
        ("2001:db8::10", 128, 0, "ip6-gre4 2001:db8::10/128", 0),
        ("2001:db8::10", 128, 1, "ip6-gre6 2001:db8::10/128", 1),
        ("2001:db8::10", 128, 2, "ip6-gre6 2001:db8::10/128", 1),  # l3dsr silently gre6
        ("2001:db8::10", 128, 3, "ip6-gre6 2001:db8::10/128", 1),  # nat4 silently gre6
        ("2001:db8::10", 128, 9, "ip6-gre6 2001:db8::10/128", 1),  # unknown value: type 0
        ("::c000:201", 128, 0, "ip4-gre4 192.0.2.1/32", 0),  # upper 96 bits zero: ip46 says IPv4
    ],
)
def test_vip_type_mapping(addr: str, plen: int, encap: int, shown: str, api_encap: int) -> None:
    p, _stats, _clock = make()
    assert p.vip_add(A(addr), plen, 255, 0, encap, 0, 0, 0, 1024, False) == 0
    assert run_cli(p, "show lb vips")[1] == f"{shown} new_size:1024 #as:0\n"
    assert p.vip_details()[0]["encap"] == api_encap


def test_vip_details_encoding_of_special_fields() -> None:
    p, _stats, _clock = make()
    assert vip4(p, "192.0.2.1", encap=2, dscp=0x7F) == 0  # dscp masked with 0x3f by the handler
    assert vip4(p, "192.0.2.2", protocol=6, port=80, encap=3, srv_type=1, target_port=8080) == 0
    assert vip4(p, "192.0.2.3", protocol=6, port=81, encap=3, srv_type=0x01000000, target_port=80) == 0
    assert p.vip_add(A("2001:db8::1"), 128, 255, 0, 1, 0, 0, 0, 65536, False) == 0
    d = p.vip_details()
    assert (d[0]["dscp"], d[0]["srv_type"], d[0]["target_port"]) == (63, 63 << 24, 0)
    # srv_type 1 arrives in network order and is truncated to a u8: it becomes clusterip.
    assert (d[1]["dscp"], d[1]["srv_type"], d[1]["target_port"]) == (0, 0, 0x901F)
    assert (d[2]["dscp"], d[2]["srv_type"], d[2]["target_port"]) == (1, 1 << 24, 0x5000)
    assert d[3]["flow_table_length"] == 0  # 65536 in a u16
    assert d[3]["vip"]["protocol"] == 255
    verbose = run_cli(p, "show lb vips verbose")[1]
    assert " ip4-l3dsr [1] 192.0.2.1/32\n  new_size:1024\n  dscp:63\n  counters:\n" in verbose
    assert "  type:clusterip port:20480 target_port:8080  counters:\n" in verbose
    assert "  type:nodeport port:20736 target_port:80  counters:\n" in verbose
    short = run_cli(p, "show lb vips")[1].splitlines()
    assert short[0] == "ip4-l3dsr 192.0.2.1/32 new_size:1024 #as:0  dscp:63"
    assert short[1] == ("ip4-nat4 192.0.2.2/32 new_size:1024 #as:0  protocol:6 port:80 "
                        " type:clusterip port:20480 target_port:8080")


def test_as_family_follows_encap_not_vip() -> None:
    p, _stats, _clock = make()
    assert vip4(p, "192.0.2.1", encap=1) == 0  # ip4-gre6 takes IPv6 ASes
    assert p.as_add(A("192.0.2.1"), 32, 255, 0, A("2001:db8:1::1"), 100, False) == 0
    assert as4(p, "192.0.2.1", "10.0.0.1") == RV_INVALID_ADDRESS_FAMILY
    assert p.vip_add(A(V6), 128, 255, 0, 0, 0, 0, 0, 1024, False) == 0  # ip6-gre4 takes IPv4 ASes
    assert p.as_add(A(V6), 128, 255, 0, A("10.0.0.1"), 100, False) == 0
    assert p.as_add(A(V6), 128, 255, 0, A("2001:db8:1::1"), 100, False) == RV_INVALID_ADDRESS_FAMILY
    assert p.route_lookup(0, A("10.0.0.1"), 32, True) is not None


def test_port_zero_forces_protocol_255() -> None:
    p, _stats, _clock = make()
    assert vip4(p, V4, protocol=6, port=0) == 0
    assert p.vip_details()[0]["vip"]["protocol"] == 255
    assert as4(p, V4, "10.0.0.1", protocol=17, port=0) == 0  # any protocol finds the all-port VIP
    assert p.vip_del(A(V4), 32, 6, 0) == 0


def test_per_port_vip_with_protocol_255_is_accepted() -> None:
    p, _stats, _clock = make()
    assert vip4(p, V4, protocol=255, port=80) == 0
    assert p.vip_details()[0]["vip"] == {"pfx": IPv4Interface("192.0.2.1/32"), "protocol": 255, "port": 80}


# --------------------------------------------------------------------------- VIP deletion, pools
def test_delete_vip_with_ases_marks_everything_removed() -> None:
    p, _stats, clock = part2_state()
    clock.advance(2.5)
    assert p.vip_del(A(V4), 32, 6, 80) == 0
    verbose = run_cli(p, "show lb vips verbose")[1]
    assert verbose.startswith(" ip4-gre4 [1] 192.0.2.1/32 src_ip_sticky removed\n")
    assert "    198.51.100.11 weight:100 buckets:0 flows:0 dpo:10  removed\n" in verbose
    assert run_cli(p, "show lb vips")[1].splitlines()[0] == (
        "ip4-gre4 192.0.2.1/32 new_size:1024 #as:2 removed  protocol:6 port:80 ")
    assert [d["vip"]["pfx"] for d in p.vip_details()] == [IPv6Interface("2001:db8::10/128")]
    rows = [(str(d["app_srv"]), d["flags"], d["in_use_since"]) for d in p.as_details(A("0.0.0.0"), 0, 0, 0)]
    assert rows[:2] == [("198.51.100.11", 0, 2), ("198.51.100.12", 0, 2)]
    assert p.route_lookup(0, A(V4), 32, True) is None  # the FIB entry goes at delete time
    assert as4(p, V4, "198.51.100.13", protocol=6, port=80) == RV_NO_SUCH_ENTRY
    # Re-adding the key before GC makes a new VIP at a new index.
    assert run_cli(p, "lb vip 192.0.2.1/32 protocol tcp port 80") == (0, "lb_vip_add ok 3\n")
    assert run_cli(p, "show lb")[1].splitlines()[2] == " #vips: 4"


@pytest.mark.parametrize("api_version", ["1.2.0", "1.1.0"])
def test_per_port_vips_share_one_route_until_the_last_goes(api_version: str) -> None:
    p, stats, _clock = make(api_version=api_version)
    assert vip4(p, V4, protocol=6, port=80) == 0
    assert vip4(p, V4, protocol=17, port=53) == 0
    assert vip4(p, "192.0.2.2") == 0
    assert p.route_lookup(0, A(V4), 32, True) == 8
    assert p.route_lookup(0, A("192.0.2.2"), 32, True) == 9
    assert p.vip_del(A(V4), api_plen4(p, 32), 6, 80) == 0
    assert p.route_lookup(0, A(V4), 32, True) == 8
    assert p.vip_del(A(V4), api_plen4(p, 32), 17, 53) == 0
    assert p.route_lookup(0, A(V4), 32, True) is None
    stats.combined["/net/route/to"][0][8] = (5, 500)
    assert vip4(p, "192.0.2.3") == 0  # the freed load-balance index is reused (LIFO) and zeroed
    assert p.route_lookup(0, A("192.0.2.3"), 32, True) == 8
    assert stats.combined["/net/route/to"][0][8] == (0, 0)


@pytest.mark.parametrize("api_version", ["1.2.0", "1.1.0"])
def test_route_lookup_longest_prefix_match(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert vip4(p, "192.0.2.0", 24) == 0
    assert vip4(p, "192.0.2.128", 25) == 0
    assert p.route_lookup(0, A("192.0.2.200"), 32, False) == 9
    assert p.route_lookup(0, A("192.0.2.5"), 32, False) == 8
    assert p.route_lookup(0, A("192.0.2.5"), 32, True) is None
    assert p.route_lookup(0, A("198.51.100.1"), 32, False) is None


def test_same_as_address_on_two_vips_shares_the_next_hop_entry() -> None:
    p, _stats, _clock = make()
    assert vip4(p, "192.0.2.1") == 0
    assert vip4(p, "192.0.2.2") == 0
    assert as4(p, "192.0.2.1", "10.0.0.1") == 0
    assert as4(p, "192.0.2.2", "10.0.0.1") == 0
    verbose = run_cli(p, "show lb vips verbose")[1]
    assert verbose.count("10.0.0.1 weight:100 buckets:1024 flows:0 dpo:10 used") == 2
    assert run_cli(p, "show lb")[1].endswith(" #ass: 2\n")  # two AS objects, one per VIP


def test_vip_counters_created_with_first_vip_and_zeroed_on_reuse() -> None:
    p, stats, clock = make(n_threads=2)
    assert vip4(p, "192.0.2.1") == 0
    assert vip4(p, "192.0.2.2") == 0
    for name in VIP_COUNTER_NAMES:
        assert stats.simple[name] == [[0, 0, 0], [0, 0, 0]]
    stats.simple["first session packet"][1][2] = 7
    assert p.vip_del(A("192.0.2.2"), 32, 255, 0) == 0
    p.gc_tick()  # an empty removed VIP goes on the next global pass
    assert vip4(p, "192.0.2.9") == 0
    assert run_cli(p, "show lb vips verbose")[1].count(" [2] 192.0.2.9/32") == 1
    assert stats.simple["first session packet"][1][2] == 0


# --------------------------------------------------------------------------- GC with a fake clock
def test_gc_as_needs_10s_and_vip_rate_limit() -> None:
    p, _stats, clock = part2_state()  # VIPs created at uptime 0: their first AS pass is after 60 s
    clock.advance(5.8)
    assert p.as_del(A(V4), 32, 6, 80, A("198.51.100.12"), False) == 0
    clock.advance(10)  # uptime 15.8: > 10 s since removal, but the VIP's 60 s are not over
    p.gc_tick()
    assert run_cli(p, "show lb")[1].endswith(" #ass: 3\n")
    clock.now = 1000 + 60.9  # uptime 60: not yet > last_gc + 60
    p.gc_tick()
    assert run_cli(p, "show lb")[1].endswith(" #ass: 3\n")
    clock.now = 1000 + 61.2
    p.gc_tick()
    assert run_cli(p, "show lb")[1].endswith(" #ass: 2\n")
    remaining = [str(d["app_srv"]) for d in p.as_details(A("0.0.0.0"), 0, 0, 0)]
    assert remaining == ["198.51.100.11", "2001:db8:1::1"]


def test_gc_keeps_an_as_for_10_seconds_after_removal() -> None:
    p, _stats, clock = part2_state()
    clock.now = 1000 + 55.5
    assert p.as_del(A(V4), 32, 6, 80, A("198.51.100.12"), False) == 0  # last_used = 55
    clock.now = 1000 + 61.5
    p.gc_tick()  # the VIP pass runs (61 > 0 + 60) but 61 is not > 55 + 10
    assert run_cli(p, "show lb")[1].endswith(" #ass: 3\n")
    clock.now = 1000 + 65.9
    assert run_cli(p, "sim gc") == (0, "gc: freed 0 as, 0 vip\n")
    clock.now = 1000 + 66.0
    assert run_cli(p, "sim gc") == (0, "gc: freed 1 as, 0 vip\n  as [2] 198.51.100.12 vip [1]\n")


def test_gc_pass_resets_the_vip_clock() -> None:
    p, _stats, clock = part2_state()
    clock.now = 1000 + 61
    p.gc_tick()  # VIP 1 examined at 61 (nothing to free)
    clock.now = 1000 + 62
    assert p.as_del(A(V4), 32, 6, 80, A("198.51.100.12"), False) == 0
    clock.now = 1000 + 121
    p.gc_tick()  # 121 is not > 61 + 60
    assert run_cli(p, "show lb")[1].endswith(" #ass: 3\n")
    clock.now = 1000 + 122
    p.gc_tick()
    assert run_cli(p, "show lb")[1].endswith(" #ass: 2\n")


def test_gc_frees_deleted_vips_and_reuses_slots_lifo() -> None:
    p, _stats, clock = make()
    assert vip4(p, "192.0.2.1") == 0
    assert vip4(p, "192.0.2.5", new_len=256) == 0
    assert as4(p, "192.0.2.5", "10.0.0.5") == 0
    assert p.vip_del(A("192.0.2.5"), 32, 255, 0) == 0
    assert run_cli(p, "show lb vips")[1].splitlines()[1] == "ip4-gre4 192.0.2.5/32 new_size:256 #as:1 removed"
    assert vip4(p, "192.0.2.5", new_len=256) == 0  # new index 3
    assert p.vip_del(A("192.0.2.5"), 32, 255, 0) == 0  # empty, but lingers until GC too
    assert " ip4-gre4 [3] 192.0.2.5/32 removed\n" in run_cli(p, "show lb vips verbose")[1]
    clock.advance(61.5)
    p.gc_tick()
    assert run_cli(p, "show lb")[1] == BOOT_SHOW_LB.replace("#vips: 1", "#vips: 2")
    assert run_cli(p, "lb vip 192.0.2.5/32 new_len 256") == (0, "lb_vip_add ok 3\n")  # freed last, reused first
    assert run_cli(p, "lb vip 192.0.2.6/32") == (0, "lb_vip_add ok 2\n")
    assert run_cli(p, "lb vip 192.0.2.7/32") == (0, "lb_vip_add ok 4\n")


@pytest.mark.parametrize("api_version", ["1.2.0", "1.1.0"])
def test_as_pool_slots_are_reused_lifo(api_version: str) -> None:
    p, _stats, clock = make(api_version=api_version)
    assert vip4(p, "192.0.2.1") == 0
    for last in (1, 2, 3):
        assert as4(p, "192.0.2.1", f"10.0.0.{last}") == 0
    assert p.as_del(A("192.0.2.1"), api_plen4(p, 32), 255, 0, A("10.0.0.1"), False) == 0
    clock.advance(70)
    assert run_cli(p, "sim gc") == (0, "gc: freed 1 as, 0 vip\n  as [1] 10.0.0.1 vip [1]\n")
    assert as4(p, "192.0.2.1", "10.0.0.9") == 0
    lines = [line.split()[0] for line in run_cli(p, "show lb vips verbose")[1].splitlines()[-4:-1]]
    assert lines == ["10.0.0.9", "10.0.0.2", "10.0.0.3"]  # the VIP's freed slot comes first again


def test_plugin_rejects_unknown_api_version() -> None:
    with pytest.raises(ValueError, match="1.0.0"):
        LbPlugin(make()[1], api_version="1.0.0")


@pytest.mark.parametrize(
    ("command", "vip_freed"),
    [
        ("lb conf timeout 40", True),
        ("lb vip 192.0.2.99/32", True),
        ("lb as 192.0.2.1/32 10.0.0.2", False),  # master's `lb as` runs only the per-VIP pass
        ("show lb", False),
    ],
)
def test_cli_commands_that_run_the_global_gc(command: str, vip_freed: bool) -> None:
    p, _stats, clock = make()
    assert vip4(p, "192.0.2.1") == 0
    assert vip4(p, "192.0.2.2") == 0
    assert p.vip_del(A("192.0.2.2"), 32, 255, 0) == 0
    assert run_cli(p, command)[0] == 0
    assert ("192.0.2.2/32" not in run_cli(p, "show lb vips")[1]) is vip_freed
