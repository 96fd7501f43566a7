"""The core's exact blast radius (blast.py ``moved_share``) against the buckets that really move in
VPP's Maglev table, read bucket by bucket from vppsim (``sim buckets``).

Each case makes one change through the real vpp_papi client, reads the table before and after,
counts the buckets whose AS changed and checks that the core predicted exactly that, and the
digests of both tables.  How far the old lower bound (the count shift) was from the truth is
printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import hashlib
from typing import Dict, List

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import AsState, VipKey, VipSpec, VipState
from vpp_papi import VPPApiClient

ROUNDING = 0.5 * 10 ** -blast.SHARE_DECIMALS  # moved_share is rounded to 4 decimals

# (case id, LB API, table length, weights before, weights after); an AS missing "after" is
# deleted, a new one added; 1.1.0 has no weights (every AS 100 there).
A1, A2, A3, A4, A5 = (f"198.51.100.{i}" for i in (11, 12, 13, 14, 15))
B1, B2, B3, B4 = (f"2001:db8:200::{i}" for i in (1, 2, 3, 4))
CASES = [
    ("add-4th", "1.2.0", 1024, {A1: 100, A2: 100, A3: 100}, {A1: 100, A2: 100, A3: 100, A4: 100}),
    ("remove-1-of-4", "1.2.0", 1024, {A1: 100, A2: 100, A3: 100, A4: 100}, {A1: 100, A2: 100, A4: 100}),
    ("weight-100-to-50", "1.2.0", 1024, {A1: 100, A2: 100, A3: 100}, {A1: 100, A2: 50, A3: 100}),
    ("weight-50-to-100", "1.2.0", 1024, {A1: 100, A2: 50}, {A1: 100, A2: 100}),
    ("drain-one", "1.2.0", 1024, {A1: 100, A2: 100, A3: 100}, {A1: 100, A2: 0, A3: 100}),
    ("same-counts-100-100-to-50-50", "1.2.0", 1024, {A1: 100, A2: 100}, {A1: 50, A2: 50}),
    ("add-6th-small-table", "1.2.0", 64, {A1: 10, A2: 20, A3: 30, A4: 40, A5: 50},
     {A1: 10, A2: 20, A3: 30, A4: 40, A5: 50, "198.51.100.16": 60}),
    ("rel-add-4th", "1.1.0", 1024, {B1: 100, B2: 100, B3: 100}, {B1: 100, B2: 100, B3: 100, B4: 100}),
    ("rel-remove-1-of-4", "1.1.0", 1024, {B1: 100, B2: 100, B3: 100, B4: 100}, {B1: 100, B3: 100, B4: 100}),
    ("rel-add-2nd", "1.1.0", 256, {B1: 100}, {B1: 100, B2: 100}),
]


def read_buckets(c: VPPApiClient, prefix: str, size: int) -> List[str]:
    r = c.api.cli_inband(cmd=f"sim buckets {prefix}")
    assert r.retval == 0, r.reply
    lines = r.reply.splitlines()
    assert lines[0].endswith(f" new_size:{size}")
    owners = []
    for bucket, line in enumerate(lines[1:]):
        index, owner = line.split()
        assert int(index) == bucket
        owners.append(owner)
    assert len(owners) == size
    return owners


def vip_state(prefix: str, size: int, weights: Dict[str, int]) -> VipState:
    return VipState(VipKey(prefix), VipSpec("gre4" if ":" not in next(iter(weights)) else "gre6",
                                            new_flows_table_length=size),
                    {a: AsState(a, w) for a, w in weights.items()})


def apply(c: VPPApiClient, lb_api: str, prefix: str, before: Dict[str, int], after: Dict[str, int]) -> None:
    for address in before.keys() - after.keys():
        assert c.api.lb_add_del_as(pfx=prefix, as_address=address, is_del=True).retval == 0
    for address, weight in after.items():
        if address not in before:
            if lb_api == "1.1.0":
                assert c.api.lb_add_del_as(pfx=prefix, as_address=address).retval == 0
            else:
                assert c.api.lb_add_del_as_v2(pfx=prefix, as_address=address, weight=weight).retval == 0
        elif before[address] != weight:
            assert c.api.lb_as_set_weight(pfx=prefix, as_address=address, weight=weight).retval == 0


@pytest.mark.parametrize(("lb_api", "size", "before", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_blast_radius_is_exactly_the_buckets_that_move(vppsim_factory, lb_api, size, before, after):
    sim = vppsim_factory("--lb-api", lb_api)
    c = VPPApiClient(apidir=sim.api_dir, server_address=sim.api_socket, read_timeout=10)
    c.connect("blast")
    try:
        v6 = ":" in next(iter(before))
        prefix = "2001:db8::10/128" if v6 else "192.0.2.1/32"
        assert c.api.lb_add_del_vip_v2(pfx=prefix, encap=1 if v6 else 0, new_flows_table_length=size).retval == 0
        apply(c, lb_api, prefix, {}, before)
        old = read_buckets(c, prefix, size)
        apply(c, lb_api, prefix, before, after)
        new = read_buckets(c, prefix, size)
    finally:
        c.disconnect()
    # The table really has VPP's counts on both sides (so the comparison is about placement only).
    weight_of = (lambda w: 1 if w else 0) if lb_api == "1.1.0" else (lambda w: w)
    for owners, weights in ((old, before), (new, after)):
        expected = blast.bucket_counts(size, {a: weight_of(w) for a, w in weights.items()})
        assert {a: owners.count(a) for a in weights} == expected
    moved = sum(1 for x, y in zip(old, new, strict=True) if x != y)
    radius = blast.vip_blast_radius(vip_state(prefix, size, before), vip_state(prefix, size, after), lb_api)
    assert radius["moved_buckets"] == moved
    assert abs(radius["moved_share"] - moved / size) <= ROUNDING
    assert radius["digest"] == {"before": digest(old), "after": digest(new)}
    shift = sum(max(0.0, radius["before"].get(a, 0.0) - radius["after"].get(a, 0.0)) for a in set(before) | set(after))
    assert moved / size + ROUNDING >= shift  # the count shift is a lower bound, never more
    print(f"\n{lb_api} {size}: moved {moved}/{size} = {moved / size:.4f}, count shift {shift:.4f}")


def digest(owners: List[str]) -> str:
    """The table digest computed here from vppsim's table: SHA-256 over one owner per line."""
    return hashlib.sha256("".join(owner + "\n" for owner in owners).encode()).hexdigest()[:16]
