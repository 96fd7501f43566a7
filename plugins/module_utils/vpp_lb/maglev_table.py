"""VPP's new-flow table, bucket by bucket: a pure function of (AS weights, table length, generation).

This is the core's own reading of lb.c ``lb_vip_update_new_flow_table`` as vpp-facts.md Part 1
§3 ("The new-flow table, bucket by bucket") records it; vppsim has an independent one, and a test
compares the two bucket by bucket, so a mistake in either shows.

1. Entries: LB API 1.2.0 gives each AS of weight w > 0 the replicas r = 0 .. w-1; 1.1.0 gives
   each AS one entry (r = 0) whatever its weight (weight 0 there means "not in the VIP").
2. Entries are sorted by (r, 16-byte ip46 address as memcmp sees it).
3. Each entry's permutation comes from ``clib_xxhash(a0 ^ a1 ^ r)`` (a0, a1: the address's two
   little-endian u64 halves): ``skip = (low32 | 1) & mask``, ``next = high32 & mask``.
4. Round-robin over the entries, each takes the first empty bucket along its permutation until
   the table is full. No entry at all: every bucket belongs to the drop AS.

1.1.0 leaves ``^ r`` out of the seed, but there r is always 0, so a 1.1.0 table is the 1.2.0
table of the same ASes at weight 1.

Cost: about N ln N probes in pure Python (the last empty buckets are the expensive ones, so
once few remain each entry picks among them directly); probes read a bytearray of taken flags,
which stays in cache where the owner list would not (docs/performance.md). Tables are cached by their inputs, so
VIPs sharing an AS set and weights cost one build (bench/bench_table.py; docs/performance.md).
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import lru_cache
from typing import Dict, List, Mapping, Optional, Tuple

DROP = "drop"  # the owner of buckets no AS takes (VPP's AS index 0)
GENERATIONS = ("1.2.0", "1.1.0")

_M64 = (1 << 64) - 1
_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _M64


def clib_xxhash(key: int) -> int:
    """vppinfra's ``clib_xxhash``: one 64-bit xxHash round over a single u64."""
    k1 = (_rotl((key * _P2) & _M64, 31) * _P1) & _M64
    h = ((0x9E3779B97F4A7C13 + _P5 + 8) & _M64) ^ k1
    h = (_rotl(h, 27) * _P1 + _P4) & _M64
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    h ^= h >> 32
    return h


def ip46_bytes(address: str) -> bytes:
    """The 16-byte ``ip46_address_t`` VPP stores: IPv4 in the last 4 bytes, 12 zero bytes first."""
    ip = ipaddress.ip_address(address)
    return ip.packed if ip.version == 6 else bytes(12) + ip.packed


@lru_cache(maxsize=16384)
def _seeds(packed: bytes, replicas: int) -> Tuple[int, ...]:
    """The permutation seed of each replica of one AS (kept: a blast radius builds two tables of
    mostly the same ASes, and the seeds are most of a small table's cost)."""
    halves = int.from_bytes(packed[:8], "little") ^ int.from_bytes(packed[8:], "little")
    return tuple(clib_xxhash(halves ^ r) for r in range(replicas))


def _entries(weights: Mapping[str, int], generation: str) -> List[Tuple[int, bytes, str, int]]:
    """(replica, ip46 bytes, address, seed) for every entry, in VPP's sort order."""
    entries = []
    for address, weight in weights.items():
        replicas = weight if generation == "1.2.0" else min(weight, 1)
        packed = ip46_bytes(address)
        entries.extend((r, packed, address, seed) for r, seed in enumerate(_seeds(packed, replicas)))
    entries.sort(key=lambda e: (e[0], e[1]))
    return entries


def _check(weights: Mapping[str, int], table_length: int, generation: str) -> None:
    if generation not in GENERATIONS:
        raise ValueError(f"generation must be one of {', '.join(GENERATIONS)}, got {generation!r}")
    if isinstance(table_length, bool) or not isinstance(table_length, int) or table_length < 1 \
            or table_length & (table_length - 1):
        raise ValueError(f"table_length must be a power of two >= 1, got {table_length!r}")
    for address, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 255:
            raise ValueError(f"{address}: weight must be an integer 0..255, got {weight!r}")
        ip46_bytes(address)  # ValueError for a bad address


def new_flow_table(weights: Mapping[str, int], table_length: int, generation: str = "1.2.0") -> Tuple[str, ...]:
    """The AS address of every bucket (``DROP`` for the drop AS), as VPP builds the table.

    ``weights`` maps the VIP's USED ASes (removed ones must not be passed) to their weights;
    the table names each AS as ``weights`` spells it.
    ``generation`` is the LB API version, "1.2.0" (weights) or "1.1.0" (every AS of weight > 0
    counts once). Raises ValueError on bad input. The result is shared (cached): do not rely on
    its identity.
    """
    _check(weights, table_length, generation)
    return _cached_table(tuple(sorted(weights.items())), table_length, generation)


@lru_cache(maxsize=64)
def _cached_table(weights: Tuple[Tuple[str, int], ...], table_length: int, generation: str) -> Tuple[str, ...]:
    entries = _entries(dict(weights), generation)
    if not entries:
        return (DROP,) * table_length
    return tuple(_fill(entries, table_length))


def _fill(entries: List[Tuple[int, bytes, str, int]], size: int) -> List[str]:
    mask = size - 1
    owners: List[Optional[str]] = [None] * size
    # Probes read a bytearray (1 byte per bucket, so 2^20 buckets stay in cache) rather than
    # the owner list (8 bytes per bucket): most of a large table's cost is these probes.
    taken = bytearray(size)
    entries = entries[:size]  # entries past the size-th never get a turn
    skips = [((seed & 0xFFFFFFFF) | 1) & mask for _r, _packed, _address, seed in entries]
    nexts = [(seed >> 32) & mask for _r, _packed, _address, seed in entries]
    names = [address for _r, _packed, address, _seed in entries]
    count = len(names)
    # Probe bucket by bucket while empties are common; near the end, probing costs about
    # size/empty per take, so each entry instead finds its first empty bucket among the few left
    # (cheaper below about 2 sqrt(size) empties: bench/bench_table.py).
    switch = max(64, 2 * int(size ** 0.5))
    # Whole rounds first (every entry once, in order: no turn counter to keep), then single turns.
    rounds = max(0, (size - switch) // count)
    order = list(zip(range(count), skips, names, strict=True))
    for _round in range(rounds):
        for e, skip, name in order:
            position = nexts[e]
            while taken[position]:
                position = (position + skip) & mask
            taken[position] = 1
            owners[position] = name
            nexts[e] = (position + skip) & mask
    empty = size - rounds * count
    e = 0
    while empty > switch:
        position, skip = nexts[e], skips[e]
        while taken[position]:
            position = (position + skip) & mask
        taken[position] = 1
        owners[position] = names[e]
        nexts[e] = (position + skip) & mask
        empty -= 1
        e += 1  # fewer than `count` single turns: e stays below count
    if empty:
        _fill_tail(owners, names, skips, nexts, e % count, mask)
    return owners  # type: ignore[return-value]


def _fill_tail(owners: List[Optional[str]], names: List[str], skips: List[int], nexts: List[int],
               e: int, mask: int) -> None:
    """Finish the fill: the entry at ``e`` moves on, each taking its first empty bucket.

    Entry e visits ``next + j*skip`` (mod size) for j = 0, 1, ...; with skip odd (size > 1) its
    first empty bucket is the one with the smallest j = (b - next) * skip^-1 mod size, so
    b = next + j*skip. The js are a list comprehension and ``min`` (no call per bucket).
    """
    size = mask + 1
    empties = [b for b in range(size) if owners[b] is None]
    inverses: Dict[int, int] = {}
    count = len(names)
    while empties:
        skip, start = skips[e], nexts[e]
        if size == 1:
            best = empties[0]
        else:
            inverse = inverses.get(skip)
            if inverse is None:
                inverse = inverses[skip] = pow(skip, -1, size)
            best = (start + min([((b - start) * inverse) & mask for b in empties]) * skip) & mask
        owners[best] = names[e]
        nexts[e] = (best + skip) & mask
        empties.remove(best)
        e += 1
        if e == count:
            e = 0


def bucket_counts_of(table: Tuple[str, ...]) -> Dict[str, int]:
    """Buckets per owner (the drop AS included when it owns any)."""
    counts: Dict[str, int] = {}
    for owner in table:
        counts[owner] = counts.get(owner, 0) + 1
    return counts


def moved_buckets(before: Tuple[str, ...], after: Tuple[str, ...]) -> int:
    """Buckets whose owner differs between two tables of the same length."""
    if len(before) != len(after):
        raise ValueError(f"tables of different lengths: {len(before)} and {len(after)}")
    return sum(1 for old, new in zip(before, after, strict=True) if old != new)


def table_digest(table: Tuple[str, ...]) -> str:
    """A short, stable digest of a table: the first 16 hex digits of SHA-256 over its owners.

    The owners are written one per bucket, in bucket order, as the canonical address (``drop``
    for the drop AS), each followed by a newline; the same text ``sim buckets`` lists, so a table
    read from anywhere can be digested the same way.
    """
    return _digest_cached(table)


@lru_cache(maxsize=64)
def _digest_cached(table: Tuple[str, ...]) -> str:
    return hashlib.sha256(("\n".join(table) + "\n").encode()).hexdigest()[:16]


def vip_table_digest(weights: Mapping[str, int], table_length: int, generation: str = "1.2.0") -> str:
    """``table_digest`` of the table VPP builds for these ASes (see ``new_flow_table``).

    Digests are kept by their inputs (many more than tables: a digest is 16 characters), so
    readers that ask for every VIP's digest on every scrape build each table once per change.
    """
    _check(weights, table_length, generation)
    return _digest_of_inputs(tuple(sorted(weights.items())), table_length, generation)


@lru_cache(maxsize=8192)
def _digest_of_inputs(weights: Tuple[Tuple[str, int], ...], table_length: int, generation: str) -> str:
    return table_digest(_cached_table(weights, table_length, generation))
