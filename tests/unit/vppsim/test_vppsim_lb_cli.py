"""vppsim CLI (cli_inband): parsing, error texts and the show formats beyond Part 2's scenario.

Tests taking ``api_version`` run on both LB API personalities; the rest use weights or the
1.2.0 show formats.
"""

from __future__ import annotations

import pytest
from _lbsim import A, api_plen4, make

from vppsim.cli import format_unformat_error, run_cli


def run(p, *commands: str) -> tuple[int, str]:
    """Run setup commands (each must succeed), return the result of the last one."""
    for cmd in commands[:-1]:
        rv, text = run_cli(p, cmd)
        assert rv == 0, (cmd, text)
    return run_cli(p, commands[-1])


API_VERSIONS = ["1.2.0", "1.1.0"]

# The replies both personalities give.
CLI_REPLIES = [
    (["lb vip 192.0.2.1/32"], (0, "lb_vip_add ok 1\n")),
    (["lb vip 192.0.2.1/33"], (-1, "lb vip: invalid vip prefix: '192.0.2.1/33'\n")),
    (["lb vip foo bar"], (-1, "lb vip: invalid vip prefix: 'foo bar'\n")),
    (["lb vip 192.0.2.1/32 bogus 1"], (-1, "lb vip: parse error: 'bogus 1'\n")),
    (["lb vip 192.0.2.1/32 port x"], (-1, "lb vip: parse error: 'port x'\n")),
    (["lb vip 192.0.2.1/32 dscp 5"],
     (-1, "lb vip: lb_vip_add error: should not configure dscp for none L3DSR.\n")),
    (["lb vip 192.0.2.1/32 encap l3dsr"],
     (-1, "lb vip: lb_vip_add error: dscp for L3DSR should be less than 64.\n")),
    (["lb vip 192.0.2.1/32 encap l3dsr dscp 64"],
     (-1, "lb vip: lb_vip_add error: dscp for L3DSR should be less than 64.\n")),
    (["lb vip 192.0.2.1/32 encap l3dsr dscp 63"], (0, "lb_vip_add ok 1\n")),
    (["lb vip 192.0.2.1/32 encap nat6"], (-1, "lb vip: currently does not support NAT46\n")),
    (["lb vip 2001:db8::1/128 encap nat4"], (-1, "lb vip: currently does not support NAT64\n")),
    (["lb vip 192.0.2.1/32 new_len 1000"], (-1, "lb vip: lb_vip_add error -70\n")),
    (["lb vip 192.0.2.1/32 del"], (-1, "lb vip: lb_vip_find_index error -6\n")),
    (["lb vip 192.0.2.1/32", "lb vip 192.0.2.1/32 del"], (0, "")),
    (["lb vip 192.0.2.1/32 protocol tcp port 80", "lb vip 192.0.2.1/32"],
     (-1, "lb vip: lb_vip_add error -81\n")),
    (["lb vip 192.0.2.1/32 protocol tcp port 80", "lb vip 192.0.2.1/32 protocol udp port 80 encap gre6"],
     (-1, "lb vip: lb_vip_add error -73\n")),
    (["lb vip"], (0, "")),
    (["lb conf buckets 1000"], (-1, "lb conf: lb_conf error -70\n")),
    (["lb conf buckets-log2 32"], (-1, "lb conf: buckets-log2 value is too high\n")),
    (["lb conf ip4-src-address nope"], (-1, "lb conf: parse error: 'ip4-src-address nope'\n")),
    (["lb as 192.0.2.9/32 10.0.0.1"], (-1, "lb as: lb_vip_find_index error -6\n")),
    (["lb vip 192.0.2.1/32", "lb as 192.0.2.1/32"], (-1, "lb as: No AS address provided\n")),
    (["lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.1 weight -1"],
     (-1, "lb as: parse error: 'weight -1'\n")),
    (["lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 2001:db8::1"],
     (-1, "lb as: lb_vip_add_ass error -97\n")),
    (["lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.1", "lb as 192.0.2.1/32 10.0.0.1"],
     (-1, "lb as: lb_vip_add_ass error -81\n")),
    (["lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.9 del"],
     (-1, "lb as: lb_vip_del_ass error -6\n")),
    (["lb vip 192.0.2.1/32 protocol tcp port 80", "lb as 192.0.2.1/32 10.0.0.1"],
     (-1, "lb as: lb_vip_find_index error -6\n")),
    (["lb vip 192.0.2.1/32 protocol tcp port 80", "lb as 192.0.2.1/32 protocol tcp port 80 10.0.0.1"],
     (0, "")),
    (["lb vip 192.0.2.1/32", "lb flush vip 192.0.2.1/32"], (0, "lb_flush_vip ok 1\n")),
    (["lb flush vip 192.0.2.1/32"], (-1, "lb flush vip: lb_vip_find_index error -6\n")),
    (["lb set interface nat4 in local0"], (0, "")),
    (["lb set interface nat6 in eth0 del"], (-1, "lb set interface nat6: unknown input 'in eth0 del'\n")),
    (["show lbx"], (-1, "show: unknown input `lbx'\n")),
    (["foo bar"], (-1, "unknown input `foo bar'\n")),
    (["lb frobnicate 1"], (-1, "lb: unknown input `frobnicate 1'\n")),
    (["sim nope"], (-1, "sim: unknown input `nope'\n")),
    (["sim gc"], (0, "gc: freed 0 as, 0 vip\n")),
    (["sim gc now"], (-1, "sim gc: parse error: 'now'\n")),
    (["show lb vips"], (0, "")),
    ([""], (0, "")),
]
# The weight keyword exists in 1.2.0 only (1.1.0: see test_lb_rel.py).
WEIGHT_REPLIES = [
    (["lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.1 weight 101"],
     (-1, "lb as: weight must be between 0 and 100\n")),
    (["lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.1 weight 5 del"],
     (-1, "lb as: weight and del are mutually exclusive\n")),
    (["lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.1", "lb as 192.0.2.1/32 10.0.0.3",
      "lb as 192.0.2.1/32 10.0.0.3 del", "lb as 192.0.2.1/32 10.0.0.1 10.0.0.3 weight 20"],
     (-1, "lb as: lb_vip_set_as_weight error -6\n")),
]


@pytest.mark.parametrize("api_version", API_VERSIONS)
@pytest.mark.parametrize(("commands", "expected"), CLI_REPLIES)
def test_cli_replies(api_version: str, commands: list[str], expected: tuple[int, str]) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert run(p, *commands) == expected


@pytest.mark.parametrize(("commands", "expected"), WEIGHT_REPLIES)
def test_cli_weight_replies(commands: list[str], expected: tuple[int, str]) -> None:
    p, _stats, _clock = make()
    assert run(p, *commands) == expected


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_unformat_error_truncates_at_30_characters(api_version: str) -> None:
    long = "x" * 40
    assert format_unformat_error(long) == "x" * 30 + "..."
    assert format_unformat_error("abc  \t") == "abc"
    p, _stats, _clock = make(api_version=api_version)
    assert run_cli(p, f"show {long}") == (-1, f"show: unknown input `{'x' * 30}...'\n")


def test_lb_as_weight_falls_back_to_set_weight() -> None:
    p, _stats, _clock = make()
    assert run(p, "lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.1 10.0.0.2",
               "lb as 192.0.2.1/32 10.0.0.1 weight 20") == (0, "")
    verbose = run_cli(p, "show lb vips verbose")[1]
    assert "    10.0.0.1 weight:20 buckets:180 flows:0 dpo:" in verbose
    assert "    10.0.0.2 weight:100 buckets:844 flows:0 dpo:" in verbose


def test_lb_as_adds_a_list_backwards_like_vpp() -> None:
    # lb_vip_add_ass walks the address list from the end, so the pool order is reversed.
    p, _stats, _clock = make()
    assert run(p, "lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.1 10.0.0.2 10.0.0.1") == (0, "")
    lines = run_cli(p, "show lb vips verbose")[1].splitlines()
    assert [line.split()[0] for line in lines if "weight:" in line] == ["10.0.0.2", "10.0.0.1"]


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_cli_vip_options_show_up(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert run(p, "lb vip 2001:db8::/64 protocol udp port 53 encap gre6 src_ip_sticky new_len 64") == (
        0, "lb_vip_add ok 1\n")
    assert run_cli(p, "show lb vips verbose")[1] == (
        " ip6-gre6 [1] 2001:db8::/64 src_ip_sticky\n  new_size:64\n  protocol:17 port:53\n  counters:\n"
        "    packet from existing sessions: 0\n    first session packet: 0\n    untracked packet: 0\n"
        "    no server configured: 0\n  #as:0\n\n")
    short = "ip6-gre6 2001:db8::/64 new_size:64 #as:0  protocol:17 port:53 \n"
    assert run_cli(p, "show lb vips foo") == (0, short)


def test_cli_nodeport_conflict_half_creates_the_vip() -> None:
    p, _stats, _clock = make()
    first = "lb vip 192.0.2.1/32 protocol tcp port 30080 encap nat4 type nodeport target_port 8080"
    assert run(p, first) == (0, "lb_vip_add ok 1\n")
    assert run_cli(p, "lb vip 192.0.2.2/32 protocol tcp port 30080 encap nat4 type nodeport target_port 80") == (
        -1, "lb vip: lb_vip_add error -81\n")
    short = run_cli(p, "show lb vips")[1].splitlines()
    assert short[1] == ("ip4-nat4 192.0.2.2/32 new_size:1024 #as:0  protocol:6 port:30080 "
                        " type:nodeport port:32885 target_port:80")
    assert p.vip_details()[0]["srv_type"] == 1 << 24  # nodeport only exists through the CLI


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_cli_conf_keeps_unset_fields_and_log2(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert run(p, "lb conf ip4-src-address 192.0.2.254 timeout 7", "lb conf buckets-log2 11") == (0, "")
    conf = p.conf_get()
    assert (str(conf["ip4_src_address"]), str(conf["ip6_src_address"])) == (
        "192.0.2.254", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    assert (conf["sticky_buckets_per_core"], conf["flow_timeout"]) == (2048, 7)
    assert run_cli(p, "lb conf ip6-src-address 2001:db8::fe")[0] == 0
    assert run_cli(p, "show lb")[1].startswith(
        "lb_main ip4-src-address: 192.0.2.254 \n ip6-src-address: 2001:db8::fe \n")


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_show_lb_with_extra_words_still_shows_lb_main(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert run_cli(p, "show lb foo")[1].startswith("lb_main ip4-src-address: 255.255.255.255 \n")


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_several_lines_run_in_order_and_stop_at_the_first_error(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    rv, text = run_cli(p, "lb vip 192.0.2.1/32\nlb vip 192.0.2.1/32\nlb vip 192.0.2.2/32")
    assert (rv, text) == (-1, "lb_vip_add ok 1\nlb vip: lb_vip_add error -81\n")
    assert run_cli(p, "show lb")[1].endswith(" #vips: 2\n #ass: 0\n")


def test_flowtable_flush_drops_every_sticky_table() -> None:
    p, _stats, _clock = make()
    setup = ("lb vip 192.0.2.1/32", "lb as 192.0.2.1/32 10.0.0.1", "sim traffic 192.0.2.1/32 flows 3")
    assert run(p, *setup)[0] == 0
    assert "core 0" in run_cli(p, "show lb")[1]
    assert run_cli(p, "test lb flowtable flush") == (0, "")
    assert "core 0" not in run_cli(p, "show lb")[1]
    assert "10.0.0.1 weight:100 buckets:1024 flows:0 " in run_cli(p, "show lb vips verbose")[1]


def test_ipv6_address_formatting_matches_vpp() -> None:
    p, _stats, _clock = make()
    assert p.vip_add(A("2001:db8:0:1:0:0:0:1"), 128, 255, 0, 1, 0, 0, 0, 1024, False) == 0
    assert p.vip_add(A("2001:0:0:1:0:0:1:1"), 128, 255, 0, 1, 0, 0, 0, 1024, False) == 0
    assert p.vip_add(A("::ffff:c000:201"), 128, 255, 0, 1, 0, 0, 0, 1024, False) == 0
    assert run_cli(p, "show lb vips")[1] == (
        "ip6-gre6 2001:db8:0:1::1/128 new_size:1024 #as:0\n"
        "ip6-gre6 2001::1:0:0:1:1/128 new_size:1024 #as:0\n"  # the first of two equal runs
        "ip6-gre6 ::ffff:c000:201/128 new_size:1024 #as:0\n")


# --------------------------------------------------------------------------- sim buckets
@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_sim_buckets_prints_the_table_bucket_by_bucket(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    rv, _text = run(p, "lb vip 192.0.2.1/32 protocol tcp port 80 new_len 16",
                    "lb as 192.0.2.1/32 protocol tcp port 80 198.51.100.11 198.51.100.12 198.51.100.13",
                    "show lb")
    assert rv == 0
    rv, text = run_cli(p, "sim buckets 192.0.2.1/32 protocol tcp port 80")
    assert rv == 0
    lines = text.splitlines()
    assert lines[0] == "vip [1] 192.0.2.1/32 protocol:6 port:80 new_size:16"
    vip = p.vip(1)
    assert lines[1:] == [f"  {b} {p.as_(ai).text()}" for b, ai in enumerate(p.table(vip).as_list())]
    names = ("198.51.100.11", "198.51.100.12", "198.51.100.13")
    counts = {n: sum(1 for line in lines[1:] if line.endswith(" " + n)) for n in names}
    assert counts == {"198.51.100.11": 6, "198.51.100.12": 5, "198.51.100.13": 5}


def test_sim_buckets_of_a_vip_without_ases_and_errors() -> None:
    p, _stats, _clock = make()
    assert run_cli(p, "lb vip 2001:db8::1/128 encap gre6 new_len 4")[0] == 0
    assert run_cli(p, "sim buckets 2001:db8::1/128") == (
        0, "vip [1] 2001:db8::1/128 new_size:4\n  0 drop\n  1 drop\n  2 drop\n  3 drop\n")
    assert run_cli(p, "sim buckets 2001:db8::2/128") == (-1, "sim buckets: lb_vip_find_index error -6\n")
    assert run_cli(p, "sim buckets nonsense") == (-1, "sim buckets: invalid vip prefix: 'nonsense'\n")
    assert run_cli(p, "sim buckets 2001:db8::1/128 bogus") == (-1, "sim buckets: parse error: 'bogus'\n")


def test_sim_buckets_keys_the_vip_as_lb_flush_vip_does() -> None:
    """A port without a protocol is protocol 0 in VPP's ``lb flush vip``; ``sim buckets`` finds the
    same VIP (it used to look for protocol ~0 and missed it)."""
    p, _stats, _clock = make()
    assert p.vip_add(A("192.0.2.1"), api_plen4(p, 32), 0, 80, 0, 0, 0, 0, 4, False) == 0
    assert run_cli(p, "sim buckets 192.0.2.1/32 port 80") == (
        0, "vip [1] 192.0.2.1/32 protocol:0 port:80 new_size:4\n  0 drop\n  1 drop\n  2 drop\n  3 drop\n")
    assert run_cli(p, "lb flush vip 192.0.2.1/32 port 80") == (0, "lb_flush_vip ok 1\n")


def test_lb_commands_read_a_signed_port_and_sim_commands_do_not() -> None:
    """VPP's ``port %d`` takes -1 (port 65535 once truncated); the sim commands read ``%u``."""
    p, _stats, _clock = make()
    assert run_cli(p, "lb vip 192.0.2.1/32 protocol tcp port -1 new_len 4") == (0, "lb_vip_add ok 1\n")
    assert p.vip(1).port == 65535
    assert run_cli(p, "lb flush vip 192.0.2.1/32 protocol tcp port -1") == (0, "lb_flush_vip ok 1\n")
    assert run_cli(p, "sim buckets 192.0.2.1/32 protocol tcp port -1") == (
        -1, "sim buckets: parse error: 'port -1'\n")
    assert run_cli(p, "sim buckets 192.0.2.1/32 protocol tcp port 65535")[0] == 0
