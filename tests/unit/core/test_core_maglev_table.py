"""The core's new-flow table (maglev_table.py): properties VPP's fill must have.

The bucket-by-bucket comparison with vppsim's independent reading is in
tests/integration/test_table_vs_vppsim.py.
"""

from __future__ import annotations

from typing import Dict, List

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast, maglev_table
from hypothesis import given, settings
from hypothesis import strategies as st

A, B, C, D = (f"198.51.100.{i}" for i in (11, 12, 13, 14))
V6 = ["2001:db8::1", "2001:db8::2", "2001:db8:1::5"]


def plain_fill(weights: Dict[str, int], size: int) -> List[str]:
    """The fill exactly as vpp-facts.md words it, probe by probe, without the tail shortcut."""
    entries = sorted(((r, maglev_table.ip46_bytes(a), a) for a, w in weights.items() for r in range(w)),
                     key=lambda e: (e[0], e[1]))[:size]
    if not entries:
        return [maglev_table.DROP] * size
    mask = size - 1
    state = []
    for r, packed, address in entries:
        seed = maglev_table.clib_xxhash(int.from_bytes(packed[:8], "little") ^ int.from_bytes(packed[8:], "little") ^ r)
        state.append([(seed >> 32) & mask, ((seed & 0xFFFFFFFF) | 1) & mask, address])
    owners: List[str] = [""] * size
    taken = 0
    while taken < size:
        for entry in state:
            while owners[entry[0]]:
                entry[0] = (entry[0] + entry[1]) & mask
            owners[entry[0]] = entry[2]
            entry[0] = (entry[0] + entry[1]) & mask
            taken += 1
            if taken == size:
                break
    return owners


CASES = [
    ({A: 100, B: 50}, 1024),
    ({A: 1, B: 1, C: 1}, 4096),  # the tail shortcut does most of the work at the end
    ({A: 3}, 1),
    ({A: 100, B: 100, C: 100, D: 100}, 256),  # more entries than buckets
    ({V6[0]: 7, V6[1]: 100, V6[2]: 1}, 2048),
]


@pytest.mark.parametrize(("weights", "size"), CASES)
def test_table_is_the_plain_probe_by_probe_fill(weights, size) -> None:
    assert list(maglev_table.new_flow_table(weights, size)) == plain_fill(weights, size)


@settings(max_examples=40, deadline=None)
@given(weights=st.dictionaries(st.sampled_from([A, B, C, D]), st.integers(0, 100), max_size=4),
       log2=st.integers(0, 12), generation=st.sampled_from(maglev_table.GENERATIONS))
def test_bucket_counts_follow_the_closed_form(weights, log2, generation) -> None:
    size = 1 << log2
    table = maglev_table.new_flow_table(weights, size, generation)
    assert len(table) == size
    shaped = {a: (w if generation == "1.2.0" else min(w, 1)) for a, w in weights.items()}
    expected = {a: n for a, n in blast.bucket_counts(size, shaped).items() if n}
    if not expected:
        expected = {maglev_table.DROP: size}
    assert maglev_table.bucket_counts_of(table) == expected


def test_lb_api_1_1_0_counts_each_as_once() -> None:
    assert maglev_table.new_flow_table({A: 100, B: 7}, 512, "1.1.0") == maglev_table.new_flow_table({A: 1, B: 1}, 512)
    assert maglev_table.new_flow_table({A: 100, B: 7}, 512, "1.1.0") != maglev_table.new_flow_table({A: 100, B: 7}, 512)


def test_no_weighted_as_gives_the_drop_as_everywhere() -> None:
    assert set(maglev_table.new_flow_table({A: 0, B: 0}, 64)) == {maglev_table.DROP}
    assert set(maglev_table.new_flow_table({}, 64, "1.1.0")) == {maglev_table.DROP}


def test_digest_is_sha256_of_the_owner_lines() -> None:
    import hashlib
    table = maglev_table.new_flow_table({A: 2, B: 1}, 8)
    text = "".join(owner + "\n" for owner in table)
    assert maglev_table.table_digest(table) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert maglev_table.vip_table_digest({B: 1, A: 2}, 8) == maglev_table.table_digest(table)


@pytest.mark.parametrize(("weights", "size", "generation", "message"), [
    ({A: 1}, 1000, "1.2.0", "power of two"),
    ({A: 1}, 0, "1.2.0", "power of two"),
    ({A: -1}, 8, "1.2.0", "weight must be"),
    ({A: 256}, 8, "1.2.0", "weight must be"),
    ({A: True}, 8, "1.2.0", "weight must be"),
    ({"not-an-ip": 1}, 8, "1.2.0", "does not appear to be"),
    ({A: 1}, 8, "1.3.0", "generation must be"),
])
def test_bad_input_is_refused(weights, size, generation, message) -> None:
    with pytest.raises(ValueError, match=message):
        maglev_table.new_flow_table(weights, size, generation)


def test_moved_buckets_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        maglev_table.moved_buckets(("a",) * 2, ("a",) * 4)
