"""vppsim.maglev: VPP's per-AS bucket counts, its xxhash seeds and its bucket-by-bucket fill."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vppsim.maglev import DROP_AS, NewFlowTable, bucket_counts, build_table


def replica_round_robin(weights: list[int], keys: list[int], size: int) -> list[int]:
    """VPP's fill, literally: replicas sorted by (replica, address) take one bucket per turn."""
    replicas = sorted((r, keys[i], i) for i, w in enumerate(weights) for r in range(w))
    counts = [0] * len(weights)
    for turn in range(size):
        counts[replicas[turn % len(replicas)][2]] += 1
    return counts


@pytest.mark.parametrize(
    ("weights", "size", "expected"),
    [
        ([100, 50], 1024, [674, 350]),  # vpp-facts Part 2 §2.2
        ([100, 200], 1024, [362, 662]),  # Part 2 §2.4 (weight 200 accepted by the API)
        ([100, 100, 100], 1024, [342, 341, 341]),  # Part 3: the first address gets the extra one
        ([100, 100], 1024, [512, 512]),
        ([100], 512, [512]),
        ([100, 0], 1024, [1024, 0]),  # weight 0 drains
        ([1, 1, 1], 1024, [342, 341, 341]),  # the 1.1.0 table: one replica per AS
        ([100] * 16, 1024, [64] * 16),
        ([100] * 11, 1024, [94] + [93] * 10),
        ([100] * 20, 1024, [52] * 4 + [51] * 16),  # more replicas than buckets: level 0 first
        ([100, 1], 1, [1, 0]),
        ([3, 5], 4, [2, 2]),
    ],
)
def test_bucket_counts_match_vpp(weights: list[int], size: int, expected: list[int]) -> None:
    keys = list(range(len(weights)))
    assert bucket_counts(weights, keys, size) == expected
    assert replica_round_robin(weights, keys, size) == expected if any(weights) else True


def test_extra_buckets_follow_address_order_not_input_order() -> None:
    assert bucket_counts([100, 100, 100], [30, 10, 20], 1024) == [341, 342, 341]


@settings(max_examples=150, deadline=None)
@given(
    weights=st.lists(st.integers(0, 255), min_size=1, max_size=9).filter(any),
    log2=st.integers(0, 13),
    data=st.data(),
)
def test_bucket_counts_equal_the_literal_round_robin(weights: list[int], log2: int, data) -> None:
    keys = data.draw(st.lists(st.integers(0, 2**128 - 1), min_size=len(weights), max_size=len(weights),
                              unique=True))
    size = 1 << log2
    assert bucket_counts(weights, keys, size) == replica_round_robin(weights, keys, size)


def test_table_maps_every_bucket_with_exact_counts() -> None:
    table = build_table([(7, 0x0AC80001, 100), (3, 0x0AC80002, 50), (9, 0x0AC80003, 0)], 1024)
    mapping = table.as_list()
    assert Counter(mapping) == {7: 674, 3: 350}
    assert table.counts() == {7: 674, 3: 350}
    assert mapping[:16] != sorted(mapping[:16])  # each AS's buckets are spread over the table
    assert table.lookup(5) == mapping[5]
    assert table.lookup(5 + 1024 * 99) == mapping[5]  # only hash & (N-1) matters


def test_table_does_not_depend_on_insertion_order() -> None:
    rows = [(1, 0x0A000001, 100), (2, 0x0A000002, 30), (3, 0x0A000003, 70)]
    assert build_table(rows, 256).as_list() == build_table(list(reversed(rows)), 256).as_list()


@pytest.mark.parametrize("rows", [[], [(4, 1, 0)], [(4, 1, 0), (5, 2, 0)]])
def test_no_usable_as_means_drop_table(rows: list[tuple[int, int, int]]) -> None:
    table = build_table(rows, 64)
    assert set(table.as_list()) == {DROP_AS}
    assert table.counts() == {DROP_AS: 64}


def test_huge_tables_give_counts_without_filling() -> None:
    table = build_table([(1, 1, 100), (2, 2, 100), (3, 3, 1)], 1 << 30)
    # 2^30 = 201 replicas * 5341999 + 25; the 25 extra: 3 at level 0, then 2 per level for 11 levels.
    assert table.counts() == {1: 100 * 5341999 + 12, 2: 100 * 5341999 + 12, 3: 5341999 + 1}
    assert sum(table.counts().values()) == 1 << 30
    assert table._buckets is None  # the 2^30 buckets are only filled for a lookup


@pytest.mark.parametrize("size", [0, 3, 1000])
def test_size_must_be_a_power_of_two(size: int) -> None:
    with pytest.raises(ValueError):
        NewFlowTable(size, [], True)
