"""The lb plugin's Maglev new-flow table, reduced to what can be observed.

What VPP (LB API 1.2.0) does, read from ``lb_vip_update_new_flow_table``: every USED AS with
weight ``w`` contributes ``w`` replicas (weight 0 contributes none); the replicas are sorted by
``(replica number, 16-byte ip46 address)``; then the replicas take turns, round-robin in that
order, each claiming the next free bucket of its own pseudo-random permutation, until all ``N``
buckets are taken.  Whatever the permutations are, the round-robin gives every replica
``N // |R|`` buckets and the first ``N % |R|`` replicas (in sorted order) one more; an AS owns
the sum over its replicas.  Those counts are what ``show lb vips verbose`` and
``lb_as_v2_details.num_buckets`` report, so they must match VPP exactly.

Which bucket belongs to which AS depends on VPP's xxhash of the address and is not reproduced
(nobody can observe it without VPP's own hash of the packet).  Instead the table here is
numeric: the ASes' bucket counts are laid out back to back in address order over a "position"
line ``0..N-1``, and bucket ``b`` sits at position ``(b * ODD) mod N`` (a bijection because
``N`` is a power of two and the multiplier is odd), which spreads each AS's buckets over the
whole table.  A lookup is a multiply and a bisect, a build is O(#AS log #AS) arithmetic, and no
table is ever materialised, so even a 2^22-bucket VIP costs nothing.  The price: when the AS set
changes, more buckets change owner than with real Maglev (which is not observable through the
API either; sticky sessions are unaffected by table changes in both).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

# Odd 32-bit golden-ratio constant: multiplication by it permutes Z/2^k for every k.
_SCRAMBLE = 0x9E3779B1

#: Index of the placeholder "drop" AS every bucket points at when no AS is usable.
DROP_AS = 0


def bucket_counts(weights: Sequence[int], keys: Sequence[int], size: int) -> list[int]:
    """Buckets each AS gets in a ``size``-bucket table, exactly as VPP 1.2.0 computes them.

    ``weights[i]`` and ``keys[i]`` (the ip46 address as a 128-bit int, i.e. memcmp order) describe
    USED AS ``i``; the result is in the same order.  Weight 0 gets 0.
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
    """A bucket -> AS-index mapping with VPP's per-AS counts (see the module docstring)."""

    __slots__ = ("size", "mask", "_owners", "_bounds", "_counts", "_count_map")

    def __init__(self, size: int, owners: list[int], counts: list[int]) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"table size must be a power of two, got {size}")
        self.size = size
        self.mask = size - 1
        self._owners = owners
        self._counts = counts
        bounds = []
        end = 0
        for c in counts:
            end += c
            bounds.append(end)
        if owners and end != size:
            raise ValueError("bucket counts do not add up to the table size")
        self._bounds = bounds
        if owners:
            self._count_map = {a: c for a, c in zip(owners, counts, strict=True) if c}
        else:
            self._count_map = {DROP_AS: size}

    def lookup(self, flow_hash: int) -> int:
        """AS index of bucket ``flow_hash & (N-1)``, as the data plane picks it for a new flow."""
        if not self._owners:
            return DROP_AS
        position = ((flow_hash & self.mask) * _SCRAMBLE) & self.mask
        return self._owners[bisect_right(self._bounds, position)]

    def counts(self) -> dict[int, int]:
        """Buckets per AS index (ASes with none are absent; the drop AS only when no AS is usable).

        The dict is shared: do not modify it.
        """
        return self._count_map

    def as_list(self) -> list[int]:
        """The whole table (for tests and debugging; O(N))."""
        return [self.lookup(b) for b in range(self.size)]


def build_table(ases: Sequence[tuple[int, int, int]], size: int) -> NewFlowTable:
    """Build the new-flow table of a VIP.

    ``ases`` holds ``(as_index, address_key, weight)`` for the VIP's USED ASes (any order; the
    result does not depend on it, as in VPP).  With no AS of weight > 0 every bucket is the
    drop AS.
    """
    ordered = sorted((a for a in ases if a[2] > 0), key=lambda a: a[1])
    if not ordered:
        return NewFlowTable(size, [], [])
    counts = bucket_counts([a[2] for a in ordered], [a[1] for a in ordered], size)
    return NewFlowTable(size, [a[0] for a in ordered], counts)
