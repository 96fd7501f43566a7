"""vppsim.lb at the size of vpp-facts Part 2 §4 (1,000 VIPs x 8 ASes): the results.

Its speed is measured by bench/bench_core.py (vppsim is the VPP there), never timed here."""

from __future__ import annotations

from ipaddress import IPv4Address

from _lbsim import make

from vppsim.cli import run_cli


def test_thousand_vips_with_eight_ases_each() -> None:
    p, _stats, _clock = make()
    for i in range(1000):
        vip = IPv4Address(0xC0010000 + i)
        assert p.vip_add(vip, 32, 6, 80, 0, 0, 0, 0, 1024, False) == 0
        for j in range(8):
            assert p.as_add(vip, 32, 6, 80, IPv4Address(0x0A000000 + 8 * i + j), 100, False) == 0
    rv, verbose = run_cli(p, "show lb vips verbose")
    details = p.as_details(IPv4Address(0), 0, 0, 0)
    assert rv == 0
    assert run_cli(p, "show lb") == (0, (
        "lb_main ip4-src-address: 255.255.255.255 \n ip6-src-address: ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \n"
        " #vips: 1001\n #ass: 8000\n"))
    assert len(details) == 8000
    assert {d["num_buckets"] for d in details} == {128}
    assert verbose.count(" buckets:128 flows:0 ") == 8000
    assert len(p.vip_details()) == 1000
