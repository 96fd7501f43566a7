"""The core's new-flow table (maglev_table.py) against vppsim's, bucket by bucket (``sim buckets``).

Two independent readings of VPP's lb.c: random AS sets (IPv4 and IPv6), weights (0..100, with
LB API 1.1.0 every AS once) and table lengths, on both generations. One simulator per
generation; each example builds a VIP through the real vpp_papi client, reads vppsim's table and
compares it with the core's, then deletes the VIP.
"""

from __future__ import annotations

import ipaddress
from typing import Dict, List

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import maglev_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vpp_papi import VPPApiClient

V4_ASES = st.integers(0x0A000001, 0x0AFFFFFE).map(lambda n: str(ipaddress.IPv4Address(n)))
V6_ASES = st.integers(1, (1 << 64) - 1).map(lambda n: str(ipaddress.IPv6Address((0x20010DB8 << 96) | n)))


@st.composite
def vip_tables(draw, lb_api: str):
    v6 = draw(st.booleans())
    addresses = draw(st.lists(V6_ASES if v6 else V4_ASES, min_size=0, max_size=8, unique=True))
    if lb_api == "1.1.0":
        weights = {a: 100 for a in addresses}
    else:
        weights = {a: draw(st.integers(0, 100)) for a in addresses}
    size = 1 << draw(st.integers(0, 12))
    return v6, weights, size


def read_table(c: VPPApiClient, prefix: str) -> List[str]:
    r = c.api.cli_inband(cmd=f"sim buckets {prefix}")
    assert r.retval == 0, r.reply
    owners = []
    for bucket, line in enumerate(r.reply.splitlines()[1:]):
        index, owner = line.split()
        assert int(index) == bucket
        owners.append(owner)
    return owners


def api_prefix(lb_api: str, prefix: str):
    """1.1.0 takes an IPv4 prefix with the ip46 length 96 + plen (vpp-facts Part 3 §4.2)."""
    if lb_api != "1.1.0" or ":" in prefix:
        return prefix
    address, plen = prefix.split("/")
    return {"address": address, "len": 96 + int(plen)}


def build(c: VPPApiClient, lb_api: str, prefix, v6: bool, weights: Dict[str, int], size: int) -> None:
    assert c.api.lb_add_del_vip_v2(pfx=prefix, encap=1 if v6 else 0, new_flows_table_length=size).retval == 0
    for address, weight in weights.items():
        if lb_api == "1.1.0":
            assert c.api.lb_add_del_as(pfx=prefix, as_address=address).retval == 0
        else:
            assert c.api.lb_add_del_as_v2(pfx=prefix, as_address=address, weight=weight).retval == 0


def remove(c: VPPApiClient, prefix, weights: Dict[str, int]) -> None:
    for address in weights:
        assert c.api.lb_add_del_as(pfx=prefix, as_address=address, is_del=True, is_flush=True).retval == 0
    assert c.api.lb_add_del_vip_v2(pfx=prefix, is_del=True).retval == 0


@pytest.mark.parametrize("lb_api", ["1.2.0", "1.1.0"])
def test_core_table_is_vppsims_bucket_by_bucket(vppsim_factory, lb_api):
    sim = vppsim_factory("--lb-api", lb_api)
    c = VPPApiClient(apidir=sim.api_dir, server_address=sim.api_socket, read_timeout=30)
    c.connect("table")
    serial = iter(range(1, 1 << 16))
    try:
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
        @given(case=vip_tables(lb_api))
        def compare(case):
            v6, weights, size = case
            n = next(serial)  # a fresh VIP each time: removed VIPs linger until vppsim's GC
            prefix = f"2001:db8:ffff::{n:x}/128" if v6 else f"192.0.{n >> 8}.{n & 0xFF}/32"
            build(c, lb_api, api_prefix(lb_api, prefix), v6, weights, size)
            try:
                assert read_table(c, prefix) == list(maglev_table.new_flow_table(weights, size, lb_api))
            finally:
                remove(c, api_prefix(lb_api, prefix), weights)

        compare()
    finally:
        c.disconnect()
