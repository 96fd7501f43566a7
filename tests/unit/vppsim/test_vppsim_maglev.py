"""vppsim.maglev: VPP's per-AS bucket counts, its xxhash seeds and its bucket-by-bucket fill."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vppsim.maglev import (
    DROP_AS,
    NewFlowTable,
    address_halves,
    bucket_counts,
    build_table,
    clib_xxhash,
    entry_seed,
    fill,
    permutation,
)


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


# --------------------------------------------------------------------------- VPP's bucket placement
def xxh64_reference(data: bytes, seed: int) -> int:
    """The published XXH64 for inputs shorter than 32 bytes, written out with plain ints.

    clib_xxhash(k) is this function over the 8 little-endian bytes of k with seed
    0x9e3779b97f4a7c13 (vpp-facts Part 1 §3); written independently of vppsim.maglev.
    """
    m = 2**64
    p1, p2, p3, p4, p5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                          9650029242287828579, 2870177450012600261)

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (64 - r))) % m

    h = (seed + p5 + len(data)) % m
    i = 0
    while i + 8 <= len(data):
        lane = int.from_bytes(data[i:i + 8], "little")
        k1 = rotl(lane * p2 % m, 31) * p1 % m
        h = (rotl(h ^ k1, 27) * p1 + p4) % m
        i += 8
    assert i == len(data), "only whole 8-byte lanes are needed here"
    h ^= h >> 33
    h = h * p2 % m
    h ^= h >> 29
    h = h * p3 % m
    h ^= h >> 32
    return h


def test_xxh64_reference_matches_the_published_empty_input_vector() -> None:
    assert xxh64_reference(b"", 0) == 0xEF46DB3751D8E999  # XXH64("", seed 0)


@pytest.mark.parametrize("key", [0, 1, 0x0A000001, 0xC0000201, 2**63, 2**64 - 1, 0x0123456789ABCDEF])
def test_clib_xxhash_is_one_xxh64_round(key: int) -> None:
    assert clib_xxhash(key) == xxh64_reference(key.to_bytes(8, "little"), 0x9E3779B97F4A7C13)


def test_entry_seed_uses_the_little_endian_address_halves() -> None:
    # IPv4 10.0.0.1 as ip46: 12 zero bytes, then 0a 00 00 01; as_u64[1] read little-endian.
    v4 = 0x0A000001
    assert address_halves(v4) == (0, 0x01_00_00_0A_00_00_00_00)
    assert entry_seed(v4, 0, False) == clib_xxhash(0x01_00_00_0A_00_00_00_00)
    assert entry_seed(v4, 3, True) == clib_xxhash(0x01_00_00_0A_00_00_00_00 ^ 3)
    assert entry_seed(v4, 3, False) == entry_seed(v4, 0, False)  # 1.1.0 leaves out ^ r
    v6 = int(ipaddress.IPv6Address("2001:db8::1"))
    a0 = int.from_bytes(bytes.fromhex("20010db800000000"), "little")
    a1 = int.from_bytes(bytes.fromhex("0000000000000001"), "little")
    assert entry_seed(v6, 2, True) == clib_xxhash(a0 ^ a1 ^ 2)


def test_permutation_from_the_seed() -> None:
    seed = 0x1234567F_89ABCDEE
    assert permutation(seed, 1024) == (0x1234567F & 1023, (0x89ABCDEE | 1) & 1023)
    assert permutation(seed, 1) == (0, 0)


def test_fill_by_hand() -> None:
    # A: next 3 skip 5, B: next 3 skip 1, in a table of 8 (worked through turn by turn):
    # A3 B4 | A0 B5 | A(5 taken) 2, B6 | A7, B(7, 0 taken) 1
    assert fill([(1, 3, 5), (2, 3, 1)], 8) == [1, 2, 1, 1, 2, 2, 2, 1]
    # More entries than buckets: the first N entries get one bucket each, the rest none.
    assert fill([(1, 0, 1), (2, 0, 1), (3, 0, 1)], 2) == [1, 2]
    assert fill([], 4) == [0, 0, 0, 0]


def reference_table(addresses: list[int], weights: list[int], size: int, master: bool) -> list[int]:
    """vpp-facts Part 1 §3 steps 1-4 literally, with AS index i + 1 for addresses[i]."""
    entries = sorted((r, addr, i + 1) for i, (addr, w) in enumerate(zip(addresses, weights, strict=True))
                     for r in range(w if master else min(w, 1)))
    state = []
    for r, addr, ai in entries:
        raw = addr.to_bytes(16, "big")
        key = int.from_bytes(raw[:8], "little") ^ int.from_bytes(raw[8:], "little")
        seed = xxh64_reference((key ^ r if master else key).to_bytes(8, "little"), 0x9E3779B97F4A7C13)
        state.append([ai, (seed >> 32) % size, ((seed % 2**32) | 1) % size])
    table = [0] * size
    taken = 0
    while state and taken < size:
        for e in state:
            while table[e[1]]:
                e[1] = (e[1] + e[2]) % size
            table[e[1]] = e[0]
            e[1] = (e[1] + e[2]) % size
            taken += 1
            if taken == size:
                break
    return table


@pytest.mark.parametrize("master", [True, False])
@pytest.mark.parametrize(("weights", "size"), [([1, 1], 8), ([3, 1, 2], 16), ([100, 50], 1024), ([7], 4)])
def test_table_is_vpps_fill(master: bool, weights: list[int], size: int) -> None:
    addresses = [0xC6336400 + 11 + i for i in range(len(weights))]  # 198.51.100.11, .12, ...
    rows = [(i + 1, a, w if master else 1) for i, (a, w) in enumerate(zip(addresses, weights, strict=True))]
    table = build_table(rows, size, with_replica=master)
    assert table.as_list() == reference_table(addresses, weights, size, master)
    assert dict(Counter(table.as_list())) == table.counts()


def test_ipv6_table_is_vpps_fill() -> None:
    addresses = [int(ipaddress.IPv6Address(f"2001:db8:200::{i}")) for i in (1, 2, 3)]
    table = build_table([(i + 1, a, 100) for i, a in enumerate(addresses)], 256)
    assert table.as_list() == reference_table(addresses, [100] * 3, 256, True)


@settings(max_examples=80, deadline=None)
@given(
    weights=st.lists(st.integers(0, 120), min_size=1, max_size=6).filter(any),
    log2=st.integers(0, 10),
    master=st.booleans(),
    data=st.data(),
)
def test_filled_counts_equal_the_closed_form(weights: list[int], log2: int, master: bool, data) -> None:
    keys = data.draw(st.lists(st.integers(1, 2**128 - 1), min_size=len(weights), max_size=len(weights),
                              unique=True))
    rows = [(i + 1, k, (w if master else min(w, 1))) for i, (k, w) in enumerate(zip(keys, weights, strict=True))]
    table = build_table(rows, 1 << log2, with_replica=master)
    assert dict(Counter(table.as_list())) == table.counts()


def test_adding_an_as_moves_few_buckets() -> None:
    """Maglev's point: going from 3 to 4 equal ASes moves about a quarter of the table, not most."""
    addresses = [0x0A000001 + i for i in range(4)]
    before = build_table([(i + 1, a, 100) for i, a in enumerate(addresses[:3])], 1024).as_list()
    after = build_table([(i + 1, a, 100) for i, a in enumerate(addresses)], 1024).as_list()
    moved = sum(1 for x, y in zip(before, after, strict=True) if x != y)
    assert after.count(4) == 256  # the new AS must take 256 buckets: that many move at least
    assert 256 <= moved < 1024 // 2
