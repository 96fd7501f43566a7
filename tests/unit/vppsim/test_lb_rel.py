"""The LB API 1.1.0 personality (releases up to v26.06) against what a real v26.06 did.

Every expected value below is an observation recorded in vpp-facts Part 3 §4 (section numbers
in the comments); the handler bugs behind them are Part 1 "Handler bugs".
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from _lbsim import A, make

from vppsim.cli import run_cli
from vppsim.lb import LbPlugin

COUNTERS_ZERO = (
    "  counters:\n    packet from existing sessions: 0\n    first session packet: 0\n"
    "    untracked packet: 0\n    no server configured: 0\n"
)
REL_VERBOSE = (  # §4.9
    " ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky\n  new_size:1024\n" + COUNTERS_ZERO + "  #as:3\n"
    "    10.0.0.1 342 buckets   0 flows  dpo:10 used\n"
    "    10.0.0.2 341 buckets   0 flows  dpo:11 used\n"
    "    10.0.0.3 341 buckets   0 flows  dpo:12 used\n\n"
    " ip6-gre6 [2] 2001:db8:100::10/128\n  new_size:1024\n" + COUNTERS_ZERO + "  #as:2\n"
    "    2001:db8:200::1 512 buckets   0 flows  dpo:13 used\n"
    "    2001:db8:200::2 512 buckets   0 flows  dpo:14 used\n\n"
)
REL_SHOW_LB = "lb_main ip4-src-address: 192.0.2.1 \n ip6-src-address: 2001:db8::1 \n #vips: 3\n #ass: 5\n"
REL_SHORT = "ip4-gre4 192.0.2.10/32 new_size:1024 #as:3\nip6-gre6 2001:db8:100::10/128 new_size:1024 #as:2\n"

V4 = A("192.0.2.10")
V6 = A("2001:db8:100::10")


def rel() -> tuple[LbPlugin, object, object]:
    return make(api_version="1.1.0")


def add_vip(p: LbPlugin, addr: str, plen: int, *, encap: int = 0, protocol: int = 255, port: int = 0,
            new_len: int = 1024, sticky: bool = False, is_del: bool = False) -> int:
    """lb_add_del_vip_v2 as vpp_papi sends it (the handler decodes the same arguments)."""
    if is_del:
        return p.vip_del(A(addr), plen, protocol, port)
    return p.vip_add(A(addr), plen, protocol, port, encap, 0, 0, 0, new_len, sticky)


def add_as(p: LbPlugin, vip: str, plen: int, asa: str, *, protocol: int = 255, port: int = 0,
           is_del: bool = False, flush: bool = False) -> int:
    """lb_add_del_as (v1: weight 100 is what the handler passes)."""
    if is_del:
        return p.as_del(A(vip), plen, protocol, port, A(asa), flush)
    return p.as_add(A(vip), plen, protocol, port, A(asa), 100, flush)


def part3_state() -> LbPlugin:
    """§4.9's scenario through the API: lb_conf (§4.1), the two VIPs of §4.4, 3 + 2 ASes."""
    p, _stats, _clock = rel()
    assert p.conf(A("192.0.2.1"), A("2001:db8::1"), 1024, 40) == 0
    assert add_vip(p, "192.0.2.10", 128, sticky=True) == 0
    assert add_vip(p, "2001:db8:100::10", 128, encap=1) == 0
    for last in (1, 2, 3):
        assert add_as(p, "192.0.2.10", 128, f"10.0.0.{last}") == 0
    for last in (1, 2):
        assert add_as(p, "2001:db8:100::10", 128, f"2001:db8:200::{last}") == 0
    return p


def test_cli_text_of_the_recorded_scenario() -> None:  # §4.9
    p = part3_state()
    assert run_cli(p, "show lb") == (0, REL_SHOW_LB)
    assert run_cli(p, "show lb vips") == (0, "")
    assert run_cli(p, "show lb vips x") == (0, REL_SHORT)
    assert run_cli(p, "show lb vips verbose") == (0, REL_VERBOSE)


def test_cli_variants_removed_and_per_port() -> None:  # §4.9 "other variants seen"
    p = part3_state()
    assert add_as(p, "192.0.2.10", 128, "10.0.0.3", is_del=True) == 0
    verbose = run_cli(p, "show lb vips verbose")[1]
    assert "    10.0.0.3 0 buckets   0 flows  dpo:12  removed\n" in verbose
    assert "    10.0.0.1 512 buckets   0 flows  dpo:10 used\n" in verbose  # the rest rebalanced (§4.5)
    assert add_vip(p, "192.0.2.10", 128, is_del=True) == 0
    assert run_cli(p, "show lb vips verbose")[1].startswith(" ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky removed\n")
    assert run_cli(p, "show lb vips x")[1].startswith("ip4-gre4 192.0.2.10/32 new_size:1024 #as:3 removed\n")
    assert add_vip(p, "192.0.2.20", 128, protocol=6, port=80) == 0
    assert add_as(p, "192.0.2.20", 128, "10.0.1.1", protocol=6, port=80) == 0
    assert "ip4-gre4 192.0.2.20/32 new_size:1024 #as:1  protocol:6 port:80 \n" in run_cli(p, "show lb vips x")[1]
    verbose = run_cli(p, "show lb vips verbose")[1]
    assert " ip4-gre4 [3] 192.0.2.20/32\n  new_size:1024\n  protocol:6 port:80\n" in verbose


def test_ipv4_prefix_sent_with_its_normal_length_becomes_ip6_slash_32() -> None:  # §4.2
    p, _stats, _clock = rel()
    assert add_vip(p, "192.0.2.10", 32) == 0
    assert run_cli(p, "show lb vips verbose")[1].startswith(" ip6-gre4 [1] ::/32\n")
    assert add_vip(p, "192.0.2.51", 32) == -81  # the same ::/32 key
    assert add_as(p, "192.0.2.77", 32, "10.0.0.1") == 0  # ip6-gre4 takes IPv4 ASes
    assert add_as(p, "192.0.2.77", 32, "2001:db8::1") == -97
    assert p.route_lookup(0, A("::"), 32, True) is not None  # the FIB got ::/32
    assert add_vip(p, "192.0.2.99", 32, is_del=True) == 0  # deletes that ::/32 VIP
    # The working form: 96 + plen.
    assert add_vip(p, "192.0.2.10", 128) == 0
    assert add_vip(p, "192.0.2.77", 120) == 0  # host bits masked
    text = run_cli(p, "show lb vips x")[1]
    assert "ip4-gre4 192.0.2.10/32 new_size:1024" in text and "ip4-gre4 192.0.2.0/24 new_size:1024" in text
    assert add_as(p, "192.0.2.10", 32, "10.0.0.1") == -6  # ASes need the same len 128
    assert add_as(p, "192.0.2.10", 128, "10.0.0.1") == 0
    assert p.route_lookup(0, A("192.0.2.10"), 32, True) is not None  # FIB in the normal form
    assert p.route_lookup(0, A("192.0.2.10"), 128, True) is None  # §4.11: len 128 -> -6


@pytest.mark.parametrize(
    ("addr", "plen", "encap", "retval", "vip_type"),
    [  # §4.3
        ("192.0.2.10", 128, 0, 0, "ip4-gre4"),
        ("192.0.2.10", 128, 1, -97, None),
        ("192.0.2.10", 128, 2, -97, None),
        ("192.0.2.10", 128, 3, -97, None),
        ("192.0.2.10", 128, 4, -97, None),
        ("192.0.2.10", 128, 7, -97, None),
        ("2001:db8::1", 128, 0, 0, "ip6-gre4"),
        ("2001:db8::1", 128, 1, 0, "ip6-gre6"),
        ("2001:db8::1", 128, 2, 0, "ip6-gre6"),
        ("2001:db8::1", 128, 3, 0, "ip6-gre6"),
    ],
)
def test_encap_is_only_honoured_when_0(addr: str, plen: int, encap: int, retval: int, vip_type: str | None) -> None:
    p, _stats, _clock = rel()
    assert add_vip(p, addr, plen, encap=encap) == retval
    text = run_cli(p, "show lb vips verbose")[1]
    assert (text.split(" [")[0].strip() if text else None) == vip_type


def test_vip_add_retvals() -> None:  # §4.4, in the recorded order
    p, _stats, _clock = rel()
    calls = [
        (dict(addr="192.0.2.10", plen=128, sticky=True), 0),
        (dict(addr="2001:db8:100::10", plen=128, encap=1), 0),
        (dict(addr="192.0.2.20", plen=128, protocol=6, port=80), 0),
        (dict(addr="192.0.2.20", plen=128), -81),  # all-port while tcp/80 exists
        (dict(addr="192.0.2.20", plen=128, protocol=17, port=80), 0),
        (dict(addr="192.0.2.20", plen=128, protocol=6, port=80, encap=1), -81),
        (dict(addr="192.0.2.10", plen=128, sticky=True), -81),
        (dict(addr="192.0.2.10", plen=128, sticky=False), -81),
        (dict(addr="192.0.2.10", plen=128, encap=1), -81),
        (dict(addr="2001:db8:100::10", plen=128, encap=1), -81),
        (dict(addr="2001:db8:100::30", plen=128, new_len=1000), -70),
        (dict(addr="192.0.2.77", plen=120), 0),
        (dict(addr="192.0.2.99", plen=128, is_del=True), -6),
        (dict(addr="2001:db8:100::99", plen=128, is_del=True), -6),
        (dict(addr="2001:db8:abcd::1", plen=128), 0),
    ]
    for kwargs, retval in calls:
        addr, plen = kwargs.pop("addr"), kwargs.pop("plen")
        assert add_vip(p, addr, plen, **kwargs) == retval, (addr, kwargs)
    assert " ip6-gre4 [6] 2001:db8:abcd::1/128\n  new_size:1024\n" in run_cli(p, "show lb vips verbose")[1]
    assert add_as(p, "192.0.2.10", 128, "10.0.0.1") == 0
    assert add_vip(p, "192.0.2.10", 128, is_del=True) == 0  # a VIP with ASes: 0, all removed


def test_as_retvals_and_equal_shares() -> None:  # §4.5
    p = part3_state()
    assert add_vip(p, "192.0.2.20", 128, protocol=6, port=80) == 0
    assert add_as(p, "192.0.2.20", 128, "10.0.1.1", protocol=6, port=80) == 0
    assert add_as(p, "192.0.2.10", 128, "10.0.0.1") == -81
    assert add_as(p, "192.0.2.10", 128, "2001:db8::5") == -97
    assert add_as(p, "2001:db8:100::10", 128, "10.0.0.5") == -97
    assert add_as(p, "192.0.2.11", 128, "10.0.0.5") == -6
    assert add_as(p, "192.0.2.20", 128, "10.0.0.5", protocol=6, port=81) == -6
    assert add_as(p, "192.0.2.10", 32, "10.0.0.5") == -6
    assert add_as(p, "192.0.2.10", 128, "10.0.0.3", is_del=True) == 0
    assert add_as(p, "192.0.2.10", 128, "10.0.0.3") == 0  # revived
    assert add_as(p, "192.0.2.10", 128, "10.0.0.2", is_del=True, flush=True) == 0
    assert add_as(p, "192.0.2.10", 128, "10.0.0.2", is_del=True) == 0  # already removed: 0
    assert add_as(p, "192.0.2.10", 128, "10.9.9.9", is_del=True) == -6
    assert p.flush_vip(V4, 128, 255, 0) == 0 and p.flush_vip(V6, 128, 255, 0) == 0
    # A weight asked for through the API is not a thing in 1.1.0: equal shares, one entry each.
    assert p.as_add(V6, 128, 255, 0, A("2001:db8:200::3"), 10, False) == 0
    counts = {str(d["app_srv"]): d["num_buckets"] for d in p.as_details(IPv6Address(0), 0, 0, 0)}
    assert [counts[f"2001:db8:200::{i}"] for i in (1, 2, 3)] == [342, 341, 341]


def test_vip_details_encoding() -> None:  # §4.6
    p = part3_state()
    assert add_vip(p, "192.0.2.20", 128, protocol=6, port=80) == 0
    assert add_vip(p, "192.0.2.30", 32) == 0  # the ::/32 quirk VIP
    assert add_vip(p, "2001:db8:100::40", 128) == 0
    assert add_vip(p, "2001:db8:100::40", 128, is_del=True) == 0  # removed VIPs are included
    details = p.vip_details()
    assert [(d["vip"]["pfx"], d["vip"]["protocol"], d["vip"]["port"], d["encap"], d["flow_table_length"])
            for d in details] == [
        ((IPv4Address("192.0.2.10"), 128), 0, 0, 3, 0),  # af IP4, len 96+32, encap = ip4-gre4 (3)
        ((IPv6Address("2001:db8:100::10"), 128), 0, 0, 0, 0),  # ip6-gre6 (0)
        ((IPv4Address("192.0.2.20"), 128), 0, 80, 3, 0),  # protocol 0 also for tcp/80
        ((IPv4Address("0.0.0.0"), 32), 0, 0, 1, 0),  # ::/32 comes back as 0.0.0.0/32, ip6-gre4 (1)
        ((IPv6Address("2001:db8:100::40"), 128), 0, 0, 1, 0),
    ]
    assert all(d["dscp"] == 0 and d["srv_type"] == 0 and d["target_port"] == 0 for d in details)


def test_as_details_and_filters() -> None:  # §4.7
    p, _stats, clock = rel()
    assert p.conf(A("192.0.2.1"), A("2001:db8::1"), 1024, 40) == 0
    assert add_vip(p, "192.0.2.10", 128) == 0
    assert add_vip(p, "2001:db8:100::10", 128, encap=1) == 0
    assert add_as(p, "192.0.2.10", 128, "10.0.0.1") == 0
    for last in (1, 2):
        assert add_as(p, "2001:db8:100::10", 128, f"2001:db8:200::{last}") == 0
    clock.advance(4)
    assert add_as(p, "2001:db8:100::10", 128, "2001:db8:200::2", is_del=True) == 0
    everything = p.as_details(IPv4Address(0), 0, 0, 0)
    assert [(d["vip"]["pfx"], d["vip"]["protocol"], str(d["app_srv"]), d["flags"], d["in_use_since"])
            for d in everything] == [
        ((IPv4Address("192.0.2.10"), 128), 0, "10.0.0.1", 1, 0),
        ((IPv6Address("2001:db8:100::10"), 128), 0, "2001:db8:200::1", 1, 0),
        ((IPv6Address("2001:db8:100::10"), 128), 0, "2001:db8:200::2", 0, 4),  # removed, uptime 4
    ]
    assert add_as(p, "2001:db8:100::10", 128, "2001:db8:200::2") == 0
    revived = p.as_details(V6, 128, 255, 0)[1]
    assert (revived["flags"], revived["in_use_since"]) == (1, 4)  # old in_use_since kept
    assert p.as_details(V4, 128, 255, 0) == [] and p.as_details(V4, 32, 255, 0) == []
    assert len(p.as_details(V6, 128, 255, 0)) == 2
    assert p.as_details(V6, 128, 0, 0) == []  # protocol omitted (0) matches nothing


def test_as_dump_compares_the_port_without_byte_swap() -> None:  # Part 1 "Handler bugs" 5
    p, _stats, _clock = rel()
    for port in (80, 257):  # 257 = 0x0101 reads the same both ways
        assert add_vip(p, "2001:db8::5", 128, encap=1, protocol=6, port=port) == 0
        assert add_as(p, "2001:db8::5", 128, f"2001:db8:1::{port}", protocol=6, port=port) == 0
    assert p.as_details(A("2001:db8::5"), 128, 6, 80) == []
    assert [str(d["app_srv"]) for d in p.as_details(A("2001:db8::5"), 128, 6, 257)] == ["2001:db8:1::257"]
    assert [str(d["app_srv"]) for d in p.as_details(A("2001:db8::5"), 128, 6, 0x5000)] == ["2001:db8:1::80"]


def test_flush_vip_never_finds_an_ipv4_vip() -> None:  # Part 1 "lb_flush_vip"
    p, _stats, _clock = rel()
    assert add_vip(p, "192.0.2.10", 128) == 0 and add_as(p, "192.0.2.10", 128, "10.0.0.1") == 0
    assert add_vip(p, "2001:db8::5", 128, encap=1) == 0 and add_as(p, "2001:db8::5", 128, "2001:db8:1::1") == 0
    p.simulate_traffic(A("192.0.2.10"), 32, flows=5)
    p.simulate_traffic(A("2001:db8::5"), 128, flows=5)
    assert p.flush_vip(V4, 128, 255, 0) == 0 and p.flush_vip(A("2001:db8::5"), 128, 255, 0) == 0
    flows = dict(line.split()[0:2] for line in run_cli(p, "show lb vips verbose")[1].splitlines()
                 if " buckets " in line)
    assert flows == {"10.0.0.1": "1024", "2001:db8:1::1": "1024"}
    refs = {p.as_(i).text(): p.as_(i).refcount for i in (1, 2)}
    assert refs == {"10.0.0.1": 5, "2001:db8:1::1": 0}


def test_removed_entries_stay_until_a_cli_lb_command() -> None:  # §4.8
    p, _stats, clock = rel()
    assert add_vip(p, "2001:db8::1", 128, encap=1) == 0
    for i in range(3):
        assert add_vip(p, f"2001:db8:100::{i}", 128, encap=1) == 0
        assert add_as(p, f"2001:db8:100::{i}", 128, f"2001:db8:200::{i}") == 0
        assert add_as(p, f"2001:db8:100::{i}", 128, f"2001:db8:200::{i}", is_del=True, flush=True) == 0
        assert add_vip(p, f"2001:db8:100::{i}", 128, is_del=True) == 0
    clock.advance(95)
    p.gc_tick()  # no lb-gc-process in 1.1.0
    assert add_vip(p, "2001:db8:100::9", 128, encap=1) == 0  # more API work collects nothing
    assert add_vip(p, "2001:db8:100::9", 128, is_del=True) == 0
    assert len(p.vip_details()) == 5 and len(p.as_details(IPv4Address(0), 0, 0, 0)) == 3
    assert add_vip(p, "2001:db8:100::0", 128, encap=1) == 0  # re-adding a removed key: a new index
    assert " [6] 2001:db8:100::/128\n" in run_cli(p, "show lb vips verbose")[1]
    assert run_cli(p, "lb conf ip4-src-address 192.0.2.1 ip6-src-address 2001:db8::1") == (0, "")
    assert len(p.vip_details()) == 2 and p.as_details(IPv4Address(0), 0, 0, 0) == []  # 2 live VIPs
    assert " #vips: 3\n #ass: 0\n" in run_cli(p, "show lb")[1]  # the placeholder counts


def test_cli_weight_keyword_does_not_exist() -> None:
    p = part3_state()
    assert run_cli(p, "lb as 2001:db8:100::10/128 2001:db8:200::3 weight 7") == (-1, "lb as: parse error: 'weight 7'\n")


def test_cli_lb_as_runs_the_global_gc() -> None:
    p, _stats, clock = rel()
    assert run_cli(p, "lb vip 192.0.2.10/32")[0] == 0
    assert run_cli(p, "lb vip 192.0.2.99/32")[0] == 0
    assert add_vip(p, "192.0.2.99", 128, is_del=True) == 0
    clock.advance(61)
    assert "192.0.2.99/32" in run_cli(p, "show lb vips x")[1]
    assert run_cli(p, "lb as 192.0.2.10/32 10.0.0.4") == (0, "")
    assert "192.0.2.99/32" not in run_cli(p, "show lb vips x")[1]
