"""Simulated data plane of vppsim.lb: sticky table, counters, drain, flush, expiry, GC blocking.

Tests taking ``api_version`` run on both LB API personalities (the data plane is the same);
the others use weights or 1.2.0's lb_flush_vip, which 1.1.0 does not have.
"""

from __future__ import annotations

import re

import pytest
from _lbsim import A, api_plen4, as4, make, vip4

from vppsim.cli import run_cli
from vppsim.lb import LbPlugin

V4 = "192.0.2.1"
NEXT, FIRST, UNTRACKED, NO_SERVER = VIP_NAMES = (
    "packet from existing sessions",
    "first session packet",
    "untracked packet",
    "no server configured",
)


@pytest.fixture(params=["1.2.0", "1.1.0"], ids=["lb-api-1.2.0", "lb-api-1.1.0"])
def api_version(request) -> str:
    return request.param


def traffic(p: LbPlugin, args: str) -> dict[str, int]:
    """Run `sim traffic`, return its counter lines and per-AS flow lines as a dict."""
    rv, text = run_cli(p, f"sim traffic {args}")
    assert rv == 0, text
    out = {}
    for line in text.splitlines()[1:]:
        m = re.fullmatch(r"  (.+?):? (?:flows:)?(\d+)", line)
        assert m, line
        out[m.group(1)] = int(m.group(2))
    return out


def flows_column(p: LbPlugin) -> dict[str, int]:
    """AS address -> flows: (sticky reference count) from `show lb vips verbose`."""
    text = run_cli(p, "show lb vips verbose")[1]
    rows = re.findall(r"^    (\S+) (?:weight:\d+ buckets:\d+ flows:|\d+ buckets   )(\d+)", text, re.M)
    return {addr: int(n) for addr, n in rows}


def two_as_vip(weights: tuple[int, int] = (100, 100), api_version: str = "1.2.0", **kw) -> LbPlugin:
    p, _stats, _clock = make(api_version=api_version)
    assert vip4(p, V4, **kw) == 0
    assert as4(p, V4, "10.0.0.1", weights[0]) == 0
    assert as4(p, V4, "10.0.0.2", weights[1]) == 0
    return p


def test_first_then_next_and_route_counters(api_version: str) -> None:
    p, stats, _clock = make(api_version=api_version)
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    assert run_cli(p, f"sim traffic {V4}/32 flows 5 packets 2") == (0, (
        "vip [1] 192.0.2.1/32 protocol:6 port:80 thread:0 flows:5 packets:10\n"
        "  packet from existing sessions: 5\n  first session packet: 5\n  untracked packet: 0\n"
        "  no server configured: 0\n  10.0.0.1 flows:5\n  drop flows:0\n"))
    assert stats.vip_counter(FIRST, 1) == 5
    assert stats.vip_counter(NEXT, 1) == 5
    assert stats.combined["/net/route/to"][0][8] == (10, 1000)
    # Replaying the same seed hits the existing sessions.
    assert traffic(p, f"{V4}/32 flows 5")[NEXT] == 5
    assert stats.vip_counter(NEXT, 1) == 10
    assert flows_column(p) == {"10.0.0.1": 5}
    verbose = run_cli(p, "show lb vips verbose")[1]
    assert "    packet from existing sessions: 10\n    first session packet: 5\n" in verbose
    assert run_cli(p, "show lb")[1].endswith("core 0\n  timeout: 40s\n  usage: 5 / 1027\n")


def test_new_seed_new_flows_and_weights_split() -> None:
    p = two_as_vip((100, 50))
    res = traffic(p, f"{V4}/32 flows 3000 seed 7")
    # ~3 flows per 4-entry bucket: some buckets overflow; a source repeats now and then.
    assert res[FIRST] + res[UNTRACKED] + res[NEXT] == 3000
    assert res[UNTRACKED] > 100 and res[NEXT] < 5
    assert res["10.0.0.1"] + res["10.0.0.2"] == 3000
    assert 1850 < res["10.0.0.1"] < 2150  # 674/1024 of new flows, 350/1024 for the other
    again = traffic(p, f"{V4}/32 flows 3000 seed 8")
    assert again[NEXT] < 5 < again[FIRST]  # different seed: new flows (the table is filling up)


def test_no_server_entries_are_stored_and_never_found(api_version: str) -> None:
    # With value 0 the stored entry never counts as found: each packet takes another slot.
    p, stats, _clock = make(api_version=api_version)
    assert run_cli(p, "lb conf buckets 1")[0] == 0
    assert vip4(p, V4) == 0
    res = traffic(p, f"{V4}/32 flows 1 packets 6")
    assert (res[NO_SERVER], res[UNTRACKED], res[FIRST], res[NEXT], res["drop"]) == (4, 2, 0, 0, 1)
    assert stats.vip_counter(NO_SERVER, 1) == 4
    assert run_cli(p, "show lb")[1].endswith("core 0\n  timeout: 40s\n  usage: 4 / 4\n")


def test_full_bucket_gives_untracked(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert run_cli(p, "lb conf buckets 1")[0] == 0
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    res = traffic(p, f"{V4}/32 flows 6")
    assert (res[FIRST], res[UNTRACKED]) == (4, 2)
    assert res["10.0.0.1"] == 6  # untracked flows still go to the table's AS
    res = traffic(p, f"{V4}/32 flows 6")
    assert (res[NEXT], res[UNTRACKED]) == (4, 2)
    assert flows_column(p) == {"10.0.0.1": 4}


def test_expiry_frees_slots_but_not_references(api_version: str) -> None:
    p, _stats, clock = make(api_version=api_version)
    assert run_cli(p, "lb conf buckets 1 timeout 10")[0] == 0
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    assert traffic(p, f"{V4}/32 flows 4 seed 1")[FIRST] == 4
    clock.advance(9.5)
    assert traffic(p, f"{V4}/32 flows 4 seed 2")[UNTRACKED] == 4  # still live
    clock.advance(11)
    assert run_cli(p, "show lb")[1].endswith("usage: 0 / 4\n")
    assert flows_column(p) == {"10.0.0.1": 4}  # expiry alone does not drop the references
    assert traffic(p, f"{V4}/32 flows 4 seed 2")[FIRST] == 4
    assert flows_column(p) == {"10.0.0.1": 4}  # reused slots moved the references


def test_timeout_change_applies_to_existing_table(api_version: str) -> None:
    p, _stats, clock = make(api_version=api_version)
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    traffic(p, f"{V4}/32 flows 3")
    assert run_cli(p, "lb conf timeout 5")[0] == 0
    assert run_cli(p, "show lb")[1].endswith("  timeout: 40s\n  usage: 3 / 1027\n")  # until the next frame
    traffic(p, f"{V4}/32 flows 3")  # refreshes the three entries with the new 5 s timeout
    assert run_cli(p, "show lb")[1].endswith("  timeout: 5s\n  usage: 3 / 1027\n")
    clock.advance(6)
    assert run_cli(p, "show lb")[1].endswith("  timeout: 5s\n  usage: 0 / 1027\n")


def test_bucket_count_change_regenerates_the_table_on_next_packet(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    traffic(p, f"{V4}/32 flows 10")
    assert run_cli(p, "lb conf buckets 2048")[0] == 0
    assert run_cli(p, "show lb")[1].endswith("usage: 10 / 1027\n")
    assert traffic(p, f"{V4}/32 flows 10")[FIRST] == 10  # old sessions gone with the old table
    assert run_cli(p, "show lb")[1].endswith("usage: 10 / 2051\n")
    assert flows_column(p) == {"10.0.0.1": 10}


def test_zero_buckets_refuses_traffic(api_version: str) -> None:
    p, stats, _clock = make(api_version=api_version)
    assert vip4(p, V4) == 0
    assert run_cli(p, "lb conf buckets 0") == (0, "")
    assert run_cli(p, f"sim traffic {V4}/32 flows 1") == (
        -1, "sim traffic: sticky_buckets_per_core is 0 (VPP would crash on this packet)\n")
    assert stats.combined["/net/route/to"][0][8] == (0, 0)


def test_weight_zero_drains() -> None:
    p = two_as_vip()
    before = traffic(p, f"{V4}/32 flows 200 seed 3")
    assert before["10.0.0.1"] > 50 and before["10.0.0.2"] > 50
    assert run_cli(p, f"lb as {V4}/32 10.0.0.1 weight 0") == (0, "")
    assert "10.0.0.1 weight:0 buckets:0 flows:" in run_cli(p, "show lb vips verbose")[1]
    replay = traffic(p, f"{V4}/32 flows 200 seed 3")
    assert replay[NEXT] == 200  # existing sessions keep going to the drained AS
    assert (replay["10.0.0.1"], replay["10.0.0.2"]) == (before["10.0.0.1"], before["10.0.0.2"])
    fresh = traffic(p, f"{V4}/32 flows 200 seed 4")
    assert (fresh["10.0.0.1"], fresh["10.0.0.2"]) == (0, 200)


def test_all_weights_zero_points_the_table_at_drop() -> None:
    p = two_as_vip((0, 0))
    res = traffic(p, f"{V4}/32 flows 10")
    assert (res[NO_SERVER], res["drop"], res["10.0.0.1"]) == (10, 10, 0)


@pytest.mark.parametrize(
    "flush_command",
    [
        "lb as 192.0.2.1/32 10.0.0.1 del flush",
        "lb as 192.0.2.1/32 10.0.0.1 weight 0 flush",
    ],
)
def test_flush_evicts_one_as_and_its_flows_rehash(flush_command: str) -> None:
    p = two_as_vip()
    before = traffic(p, f"{V4}/32 flows 200 seed 3")
    assert run_cli(p, flush_command) == (0, "")
    assert flows_column(p)["10.0.0.1"] == 0
    replay = traffic(p, f"{V4}/32 flows 200 seed 3")
    assert replay[NEXT] == before["10.0.0.2"]
    assert replay[FIRST] == before["10.0.0.1"]
    assert (replay["10.0.0.1"], replay["10.0.0.2"]) == (0, 200)


def test_flushed_slots_stay_occupied_until_their_timeout() -> None:
    # Flush clears vip/value but not the timeout: the slot is not free for new flows.
    p, _stats, clock = make()
    assert run_cli(p, "lb conf buckets 1 timeout 10")[0] == 0
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    traffic(p, f"{V4}/32 flows 4")
    assert p.flush_vip(A(V4), 32, 255, 0) == 0
    assert flows_column(p) == {"10.0.0.1": 0}
    assert traffic(p, f"{V4}/32 flows 4")[UNTRACKED] == 4
    clock.advance(11)
    assert traffic(p, f"{V4}/32 flows 4")[FIRST] == 4


def test_delete_without_flush_keeps_sessions_and_blocks_gc(api_version: str) -> None:
    p, _stats, clock = make(api_version=api_version)
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    assert as4(p, V4, "10.0.0.2") == 0
    before = traffic(p, f"{V4}/32 flows 100")
    assert p.vip_del(A(V4), api_plen4(p, 32), 255, 0) == 0  # deletes its ASes without flush
    clock.advance(200)
    p.gc_tick()
    assert run_cli(p, "sim gc") == (0, "gc: freed 0 as, 0 vip\n")
    assert flows_column(p) == {"10.0.0.1": before["10.0.0.1"], "10.0.0.2": before["10.0.0.2"]}
    assert run_cli(p, f"sim traffic {V4}/32 flows 1") == (-1, "sim traffic: no VIP route for 192.0.2.1/32\n")
    run_cli(p, "test lb flowtable flush")
    assert run_cli(p, "show lb")[1].endswith(" #ass: 2\n")  # flush alone frees nothing
    assert run_cli(p, "sim gc") == (0, (
        "gc: freed 2 as, 1 vip\n  as [1] 10.0.0.1 vip [1]\n  as [2] 10.0.0.2 vip [1]\n"
        "  vip [1] 192.0.2.1/32\n"))


def test_revive_with_flush_evicts_the_old_sessions() -> None:
    p = two_as_vip()
    traffic(p, f"{V4}/32 flows 100")
    assert p.as_del(A(V4), 32, 255, 0, A("10.0.0.1"), False) == 0
    assert flows_column(p)["10.0.0.1"] > 0
    assert as4(p, V4, "10.0.0.1", 100, flush=True) == 0
    assert flows_column(p)["10.0.0.1"] == 0


def test_src_ip_sticky_hashes_addresses_only(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert vip4(p, V4, sticky=True) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    assert as4(p, V4, "10.0.0.2") == 0
    res = traffic(p, f"{V4}/32 flows 10 src 203.0.113.7/32")
    assert (res[FIRST], res[NEXT]) == (1, 9)
    assert sorted((res["10.0.0.1"], res["10.0.0.2"])) == [0, 10]


def test_per_port_vip_selection_and_placeholder_fallback(api_version: str) -> None:
    p, stats, _clock = make(api_version=api_version)
    assert vip4(p, V4, protocol=6, port=80) == 0
    assert as4(p, V4, "10.0.0.1", protocol=6, port=80) == 0
    res = traffic(p, f"{V4}/32 flows 3")  # defaults to the first VIP's protocol and port
    assert res[FIRST] == 3
    rv, text = run_cli(p, f"sim traffic {V4}/32 protocol udp port 53 flows 3")
    assert rv == 0
    assert text.startswith("vip [0] 192.0.2.1/32 protocol:17 port:53 thread:0 flows:3 packets:3\n")
    assert "  no server configured: 3\n  drop flows:3\n" in text
    assert stats.vip_counter(NO_SERVER, 0) == 3  # counted on the placeholder VIP 0
    assert stats.combined["/net/route/to"][0][8] == (6, 600)


def test_threads_have_their_own_tables_and_counter_rows(api_version: str) -> None:
    p, stats, _clock = make(n_threads=3, api_version=api_version)
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    traffic(p, f"{V4}/32 flows 4 thread 2")
    traffic(p, f"{V4}/32 flows 4 thread 0")  # same flows, other thread: first again
    assert stats.simple[FIRST] == [[0, 4], [0, 0], [0, 4]]
    show = run_cli(p, "show lb")[1]
    assert "core 0\n  timeout: 40s\n  usage: 4 / 1027\ncore 2\n" in show
    assert "core 1" not in show
    assert flows_column(p) == {"10.0.0.1": 8}
    assert run_cli(p, f"sim traffic {V4}/32 flows 1 thread 3") == (
        -1, "sim traffic: thread 3 does not exist (n_threads=3)\n")


def test_ipv6_vip_traffic_uses_ipv6_sources(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert p.vip_add(A("2001:db8::10"), 128, 255, 0, 1, 0, 0, 0, 512, False) == 0
    assert p.as_add(A("2001:db8::10"), 128, 255, 0, A("2001:db8:1::1"), 100, False) == 0
    assert traffic(p, "2001:db8::10/128 flows 5")["2001:db8:1::1"] == 5
    assert run_cli(p, "sim traffic 2001:db8::10/128 flows 1 src 10.0.0.0/8")[0] == -1


def test_all_port_nat_vip_drops_in_the_fib(api_version: str) -> None:
    p, stats, _clock = make(api_version=api_version)
    assert run_cli(p, f"lb vip {V4}/32 encap nat4")[0] == 0
    assert run_cli(p, f"sim traffic {V4}/32 flows 2") == (0, (
        "vip [1] 192.0.2.1/32 protocol:6 port:80 thread:0 flows:2 packets:2\n"
        "  dropped: all-port NAT VIP has no lb node\n"))
    assert stats.combined["/net/route/to"][0][8] == (2, 200)
    assert stats.vip_counter(NO_SERVER, 1) == 0


def test_same_commands_same_results() -> None:
    outputs = []
    for _round in range(2):
        p = two_as_vip((100, 30))
        outputs.append(run_cli(p, f"sim traffic {V4}/32 flows 500 packets 3 seed 42")[1])
    assert outputs[0] == outputs[1]
    assert "flows:500 packets:1500" in outputs[0]


def test_prefix_must_be_a_vip_route(api_version: str) -> None:
    p, _stats, _clock = make(api_version=api_version)
    assert vip4(p, V4) == 0
    assert as4(p, V4, "10.0.0.1") == 0
    assert run_cli(p, "sim traffic 10.0.0.1/32 flows 1") == (-1, "sim traffic: no VIP route for 10.0.0.1/32\n")
    assert run_cli(p, "sim traffic 192.0.2.0/24 flows 1")[0] == -1
    assert run_cli(p, f"sim traffic {V4}/32 packets 3") == (-1, "sim traffic: flows <n> is required\n")
    assert run_cli(p, f"sim traffic {V4}/32 flows 1 bogus") == (-1, "sim traffic: parse error: 'bogus'\n")
