"""The CLI parser against the exact texts observed on real VPP (vpp-facts.md Part 2 and 3)."""

import ipaddress
import re

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import cli_parser
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.cli_parser import (
    CliParseError,
    parse_show_lb,
    parse_vips_verbose,
)
from hypothesis import given
from hypothesis import strategies as st

COUNTERS_ZERO = ("  counters:\n    packet from existing sessions: 0\n    first session packet: 0\n"
                 "    untracked packet: 0\n    no server configured: 0\n")

# Real VPP master, scenario state B (one removed AS).
MASTER_B = (
    " ip4-gre4 [1] 192.0.2.1/32 src_ip_sticky\n  new_size:1024\n  protocol:6 port:80\n" + COUNTERS_ZERO
    + "  #as:2\n    198.51.100.11 weight:100 buckets:1024 flows:0 dpo:10 used\n"
    "    198.51.100.12 weight:100 buckets:0 flows:0 dpo:11  removed\n\n"
    " ip6-gre6 [2] 2001:db8::10/128\n  new_size:512\n" + COUNTERS_ZERO
    + "  #as:1\n    2001:db8:1::1 weight:100 buckets:512 flows:0 dpo:12 used\n\n"
)
# Real VPP v26.06 (LB API 1.1.0): no weights, other AS line format.
REL = (
    " ip4-gre4 [1] 192.0.2.10/32 src_ip_sticky\n  new_size:1024\n" + COUNTERS_ZERO
    + "  #as:3\n    10.0.0.1 342 buckets   0 flows  dpo:10 used\n"
    "    10.0.0.2 341 buckets   0 flows  dpo:11 used\n    10.0.0.3 341 buckets   0 flows  dpo:12 used\n\n"
)
# A removed VIP and a NAT VIP, whose `type:` line has no newline before `counters:`.
REMOVED_AND_NAT = (
    " ip4-gre4 [2] 192.0.2.5/32 removed\n  new_size:256\n" + COUNTERS_ZERO + "  #as:0\n\n"
    " ip4-nat4 [3] 192.0.2.6/32\n  new_size:1024\n  protocol:6 port:80\n"
    "  type:clusterip port:20480 target_port:8080  counters:\n    packet from existing sessions: 5\n"
    "    first session packet: 2\n    untracked packet: 1\n    no server configured: 3\n  #as:0\n\n"
    " ip4-l3dsr [4] 192.0.2.7/32\n  new_size:1024\n  dscp:10\n" + COUNTERS_ZERO + "  #as:0\n\n"
)


def test_master_format():
    v4, v6 = parse_vips_verbose(MASTER_B)
    assert (v4.index, v4.vip_type, v4.prefix, v4.src_ip_sticky, v4.removed) == (
        1, "ip4-gre4", "192.0.2.1/32", True, False)
    assert (v4.new_size, v4.protocol, v4.port, v4.encap) == (1024, 6, 80, "gre4")
    assert [(a.address, a.weight, a.buckets, a.flows, a.used) for a in v4.ases] == [
        ("198.51.100.11", 100, 1024, 0, True),
        ("198.51.100.12", 100, 0, 0, False),
    ]
    assert (v6.index, v6.prefix, v6.protocol, v6.port, v6.new_size, v6.encap) == (
        2, "2001:db8::10/128", 255, 0, 512, "gre6")
    assert v6.counters == {"next_packets": 0, "first_packets": 0, "untracked_packets": 0,
                           "no_server_packets": 0}


def test_release_format_has_no_weights():
    (vip,) = parse_vips_verbose(REL)
    assert [(a.address, a.weight, a.buckets, a.used) for a in vip.ases] == [
        ("10.0.0.1", None, 342, True), ("10.0.0.2", None, 341, True), ("10.0.0.3", None, 341, True)]


def test_removed_nat_and_l3dsr():
    removed, nat, dsr = parse_vips_verbose(REMOVED_AND_NAT)
    assert removed.removed and not removed.src_ip_sticky and removed.new_size == 256
    assert (nat.encap, nat.srv_type, nat.target_port, nat.port) == ("nat4", "clusterip", 8080, 80)
    assert nat.counters == {"next_packets": 5, "first_packets": 2, "untracked_packets": 1,
                            "no_server_packets": 3}
    assert (dsr.encap, dsr.dscp) == ("l3dsr", 10)


def test_empty_output_means_no_vips():
    assert parse_vips_verbose("") == []


@pytest.mark.parametrize("text, message", [
    ("  new_size:1024\n", "before the first VIP header"),
    (" ip9-gre4 [1] 192.0.2.1/32\n", "unknown VIP type"),
    (" ip4-gre4 [1] 192.0.2.1/32\n  bogus line\n", "unexpected line in VIP [1]"),
])
def test_garbage_is_rejected_with_the_line(text, message):
    with pytest.raises(CliParseError, match=re.escape(message)):
        parse_vips_verbose(text)


@pytest.mark.parametrize("text, expected", [
    ("lb_main ip4-src-address: 192.0.2.254 \n ip6-src-address: 2001:db8::fe \n #vips: 3\n #ass: 3\n",
     ("192.0.2.254", "2001:db8::fe", 3, 3)),
    ("lb_main ip4-src-address: 255.255.255.255 \n ip6-src-address: ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \n"
     " #vips: 1\n #ass: 0\n", ("255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, 0)),
    ("lb_main ip4-src-address: 39.40.41.42 \n ip6-src-address: 2004::1 \n #vips: 3\n #ass: 4\ncore 0\n"
     "  timeout: 40s\n  usage: 3 / 1027\n", ("39.40.41.42", "2004::1", 3, 4)),
])
def test_show_lb(text, expected):
    p = parse_show_lb(text)
    assert (p.ip4_src_address, p.ip6_src_address, p.vips, p.ases) == expected


def test_show_lb_garbage():
    with pytest.raises(CliParseError):
        parse_show_lb("show: unknown input `lbx'\n")


# ---------------------------------------------------------------------------------------------
# canonical_address: the dotted-quad shortcut agrees with ipaddress


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("198.51.100.11", "198.51.100.11"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:1.2.3.4", "::ffff:102:304"),
    ],
)
def test_canonical_address(text, expected):
    assert cli_parser.canonical_address(text) == expected


@pytest.mark.parametrize("text", ["01.2.3.4", "256.1.1.1", "1.2.3", "1.2.3.4 ", "1.2.3.4.5", "", "x"])
def test_canonical_address_refuses_what_ipaddress_refuses(text):
    with pytest.raises(ValueError):
        cli_parser.canonical_address(text)


@given(st.lists(st.sampled_from(["0", "00", "01", "7", "09", "10", "99", "100", "199", "200", "249", "250",
                                 "255", "256", "300", "999"]), min_size=4, max_size=4))
def test_canonical_address_matches_ipaddress_on_dotted_quads(octets):
    text = ".".join(octets)
    try:
        expected = str(ipaddress.ip_address(text))
    except ValueError:
        expected = None
    try:
        got = cli_parser.canonical_address(text)
    except ValueError:
        got = None
    assert got == expected
