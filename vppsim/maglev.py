"""The lb plugin's Maglev new-flow table, bucket by bucket as VPP fills it.

Read from ``lb_vip_update_new_flow_table`` (vpp-facts Part 1 §3 "The new-flow table, bucket by
bucket"), both generations:

1. Entries: LB API 1.2.0 gives every USED AS with weight ``w > 0`` the replicas
   ``r = 0 .. w-1``; 1.1.0 gives every USED AS one entry (``r = 0``).  No entry: every bucket
   is the drop AS (index 0).
2. The entries are sorted by ``(r, 16-byte ip46 address by memcmp)``, i.e. numerically here.
3. Each entry's permutation: ``seed = clib_xxhash(a0 ^ a1 ^ r)`` (1.1.0: ``a0 ^ a1``), with
   ``a0``/``a1`` the two 8-byte halves of the address read as little-endian u64;
   ``skip = ((seed & 0xffffffff) | 1) & (N-1)`` and ``next = (seed >> 32) & (N-1)``.
4. Round-robin over the sorted entries, each taking the first empty bucket along
   ``next, next+skip, ...`` (mod N), until all N buckets are taken.

So every entry gets ``N // |R|`` buckets and the first ``N % |R|`` one more; :func:`bucket_counts`
computes those counts in closed form (what ``show lb vips verbose`` and
``lb_as_v2_details.num_buckets`` report, observed on real VPP), without filling the table.
The bucket array itself is filled on first use (a lookup, ``sim buckets``), so a VIP with a
huge table costs nothing until traffic is simulated on it.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Index of the placeholder "drop" AS every bucket points at when no AS is usable.
DROP_AS = 0

_M64 = (1 << 64) - 1
# xxHash64 primes (vppinfra/xxhash.h).
PRIME64_1 = 11400714785074694791
PRIME64_2 = 14029467366897019727
PRIME64_3 = 1609587929392839161
PRIME64_4 = 9650029242287828579
PRIME64_5 = 2870177450012600261
_XXH_SEED = 0x9E3779B97F4A7C13


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def clib_xxhash(key: int) -> int:
    """vppinfra's ``clib_xxhash``: one xxHash64 round over a single u64, then the avalanche."""
    k1 = (_rotl64((key * PRIME64_2) & _M64, 31) * PRIME64_1) & _M64
    h = ((_XXH_SEED + PRIME64_5 + 8) & _M64) ^ k1
    h = (_rotl64(h, 27) * PRIME64_1 + PRIME64_4) & _M64
    h ^= h >> 33
    h = (h * PRIME64_2) & _M64
    h ^= h >> 29
    h = (h * PRIME64_3) & _M64
    h ^= h >> 32
    return h


def address_halves(address: int) -> tuple[int, int]:
    """``ip46_address_t.as_u64[0]`` and ``[1]`` on x86: each 8-byte half read little-endian."""
    raw = address.to_bytes(16, "big")
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


def entry_seed(address: int, replica: int, with_replica: bool) -> int:
    """The permutation seed of one entry (1.2.0 mixes the replica number in, 1.1.0 does not)."""
    a0, a1 = address_halves(address)
    return clib_xxhash(a0 ^ a1 ^ replica if with_replica else a0 ^ a1)


def permutation(seed: int, size: int) -> tuple[int, int]:
    """``(next, skip)`` of an entry in a ``size``-bucket table."""
    mask = size - 1
    return (seed >> 32) & mask, ((seed & 0xFFFFFFFF) | 1) & mask


def fill(entries: Sequence[tuple[int, int, int]], size: int) -> list[int]:
    """VPP's round-robin fill.  ``entries``: ``(as_index, next, skip)`` in sorted order.

    Returns the bucket -> AS-index list.  AS indexes are > 0 (0 marks an empty bucket, as in
    VPP, where 0 is the drop AS).
    """
    table = [0] * size
    if not entries:
        return table
    mask = size - 1
    state = [[ai, nxt, skip] for ai, nxt, skip in entries]
    done = 0
    while True:
        for e in state:
            last = e[1]
            skip = e[2]
            while table[last]:
                last = (last + skip) & mask
            table[last] = e[0]
            e[1] = (last + skip) & mask
            done += 1
            if done == size:
                return table


def bucket_counts(weights: Sequence[int], keys: Sequence[int], size: int) -> list[int]:
    """Buckets each AS gets in a ``size``-bucket table, exactly as VPP computes them.

    ``weights[i]`` and ``keys[i]`` (the ip46 address as a 128-bit int, i.e. memcmp order) describe
    USED AS ``i``; the result is in the same order.  Weight 0 gets 0.  (1.1.0: pass weight 1.)
    """
    n = len(weights)
    counts = [0] * n
    live = [i for i in range(n) if weights[i] > 0]
    if not live:
        return counts
    total = sum(weights[i] for i in live)
    per_replica, rem = divmod(size, total)
    for i in live:
        counts[i] = weights[i] * per_replica
    if not rem:
        return counts
    # The `rem` extra buckets go to the first `rem` replicas in (replica, address) order.
    # Level r holds the ASes with weight > r, so walk levels block-wise between distinct weights.
    by_weight = sorted(weights[i] for i in live)
    level = 0
    pos = 0
    while rem:
        while by_weight[pos] <= level:
            pos += 1
        members = len(by_weight) - pos
        block = by_weight[pos] - level  # levels [level, by_weight[pos]) all have `members` ASes
        if rem >= members * block:
            rem -= members * block
            level = by_weight[pos]
            continue
        full, rem = divmod(rem, members)
        level += full
        break
    for i in live:
        counts[i] += min(weights[i], level)
    if rem:
        # Partial level: the lowest addresses among the ASes that still have a replica there.
        for i in sorted(live, key=lambda j: keys[j]):
            if weights[i] > level:
                counts[i] += 1
                rem -= 1
                if not rem:
                    break
    return counts


class NewFlowTable:
    """A VIP's new-flow table: exact per-AS counts at once, the bucket array on first use."""

    __slots__ = ("size", "mask", "_ases", "_with_replica", "_buckets", "_count_map")

    def __init__(self, size: int, ases: Sequence[tuple[int, int, int]], with_replica: bool) -> None:
        """``ases``: ``(as_index, address, replicas)`` sorted by address, every replicas > 0."""
        if size <= 0 or size & (size - 1):
            raise ValueError(f"table size must be a power of two, got {size}")
        self.size = size
        self.mask = size - 1
        self._ases = list(ases)
        self._with_replica = with_replica
        self._buckets: list[int] | None = None
        if self._ases:
            counts = bucket_counts([a[2] for a in self._ases], [a[1] for a in self._ases], size)
            self._count_map = {a[0]: c for a, c in zip(self._ases, counts, strict=True) if c}
        else:
            self._count_map = {DROP_AS: size}

    def entries(self) -> list[tuple[int, int, int]]:
        """``(as_index, next, skip)`` of every entry in VPP's order: by replica, then address."""
        size = self.size
        out = []
        for replica in range(max((a[2] for a in self._ases), default=0)):
            if len(out) >= size:
                break  # entries past the N-th never get a turn
            for ai, address, replicas in self._ases:
                if replica < replicas:
                    nxt, skip = permutation(entry_seed(address, replica, self._with_replica), size)
                    out.append((ai, nxt, skip))
        return out

    def buckets(self) -> list[int]:
        """The whole table, bucket -> AS index (shared: do not modify)."""
        if self._buckets is None:
            self._buckets = fill(self.entries(), self.size)
        return self._buckets

    def lookup(self, flow_hash: int) -> int:
        """AS index of bucket ``flow_hash & (N-1)``, as the data plane picks it for a new flow."""
        return self.buckets()[flow_hash & self.mask]

    def counts(self) -> dict[int, int]:
        """Buckets per AS index (ASes with none are absent; the drop AS only when no AS is usable).

        The dict is shared: do not modify it.
        """
        return self._count_map

    def as_list(self) -> list[int]:
        """The whole table as a new list (for tests and debugging)."""
        return list(self.buckets())


def build_table(ases: Sequence[tuple[int, int, int]], size: int, *, with_replica: bool = True) -> NewFlowTable:
    """Build the new-flow table of a VIP.

    ``ases`` holds ``(as_index, address_key, weight)`` for the VIP's USED ASes (any order; the
    result does not depend on it, as in VPP).  For LB API 1.1.0 pass weight 1 for every AS and
    ``with_replica=False``.  With no AS of weight > 0 every bucket is the drop AS.
    """
    ordered = sorted((a for a in ases if a[2] > 0), key=lambda a: a[1])
    return NewFlowTable(size, ordered, with_replica)
