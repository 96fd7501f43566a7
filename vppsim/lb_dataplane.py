"""The lb plugin's simulated data plane: per-thread sticky tables (``lbhash.h``) and the lb node's
per-packet logic, run by :meth:`DataPlane.simulate_traffic`.

``DataPlane`` is a part of :class:`vppsim.lb.LbPlugin` (its base class): it works on the
plugin's pools, lock, counters and sticky tables, and owns no state of its own.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import Any

from vppsim.flowhash import lb_flow_hash
from vppsim.lb_model import (
    COUNTER_FIRST,
    COUNTER_NEXT,
    COUNTER_NO_SERVER,
    COUNTER_UNTRACKED,
    DEFAULT_SRC4,
    DEFAULT_SRC6,
    ENTRIES_PER_BUCKET,
    NAT_TYPES,
    NO_VIP,
    ROUTE_TO,
    SIM_PACKET_BYTES,
    U32,
    VIP_COUNTER_NAMES,
    IpAddress,
    SimError,
    TrafficResult,
    format_ip46_prefix,
    loop_gt,
)
from vppsim.maglev import DROP_AS


class StickyTable:
    """One thread's lb_hash_t: ``nbuckets`` buckets of 4 (hash, timeout, vip, value) entries.

    Stored sparsely (a bucket exists once written; untouched buckets read as VPP's zeroed
    memory: timeout 0, i.e. expired), so a large ``buckets`` setting costs nothing up front.
    A slot id is ``bucket * 4 + entry``; a bucket row is [hash x4, timeout x4, vip x4, value x4].
    """

    __slots__ = ("nbuckets", "mask", "timeout", "buckets", "by_vip")

    def __init__(self, nbuckets: int, timeout: int) -> None:
        self.nbuckets = nbuckets
        self.mask = nbuckets - 1
        self.timeout = timeout
        self.buckets: dict[int, list[int]] = {}
        self.by_vip: dict[int, set[int]] = {}  # slots written per VIP index, to flush fast

    def get(self, h: int, vip: int, now: int) -> tuple[int, int]:
        """lb_hash_get: (first expired slot or -1, value of the first live match or 0).

        A live match has its timeout refreshed.  Expired means now >= timeout on the u32
        circle, as in the vector implementation VPP uses on x86/ARM.
        """
        b = h & self.mask
        row = self.buckets.get(b)
        if row is None:
            return b * ENTRIES_PER_BUCKET, 0
        avail = -1
        found = -1
        for i in range(ENTRIES_PER_BUCKET):
            if ((now - row[4 + i]) & U32) < 0x7FFFFFFF:
                if avail < 0:
                    avail = i
            elif found < 0 and row[i] == h and row[8 + i] == vip:
                found = i
        base = b * ENTRIES_PER_BUCKET
        if found < 0:
            return (base + avail if avail >= 0 else -1), 0
        row[4 + found] = (now + self.timeout) & U32
        return (base + avail if avail >= 0 else -1), row[12 + found]

    def value(self, slot: int) -> int:
        row = self.buckets.get(slot >> 2)
        return row[12 + (slot & 3)] if row is not None else 0

    def put(self, slot: int, h: int, value: int, vip: int, now: int) -> None:
        b, i = slot >> 2, slot & 3
        row = self.buckets.get(b)
        if row is None:
            row = self.buckets[b] = [0] * 16
        slots = self.by_vip.get(row[8 + i])
        if slots is not None:
            slots.discard(slot)
        self.by_vip.setdefault(vip, set()).add(slot)
        row[i] = h
        row[4 + i] = (now + self.timeout) & U32
        row[8 + i] = vip
        row[12 + i] = value

    def evict(self, slot: int) -> int:
        """What a flush does to one entry: no VIP, value 0, timeout kept.  Returns the old value."""
        row = self.buckets[slot >> 2]
        i = slot & 3
        old = row[12 + i]
        row[8 + i] = NO_VIP
        row[12 + i] = 0
        return old

    def values(self) -> Iterator[int]:
        for row in self.buckets.values():
            yield from row[12:16]

    def live_entries(self, now: int) -> int:
        """lb_hash_elts: entries with !(now > timeout) on the u32 circle."""
        return sum(1 for row in self.buckets.values() for t in row[4:8] if not loop_gt(now, t))


class DataPlane:
    """The data-plane half of LbPlugin (see the module docstring)."""

    # ----------------------------------------------------------------- data plane
    def flush_entries(self, vip_index: int | None, as_index: int | None) -> None:
        """lb_flush_vip_as: vip None = every entry and drop the tables; as None = whole VIP.
        The caller holds ``lock``."""
        for thread in list(self._sticky):
            table = self._sticky[thread]
            if vip_index is None:
                self._deref_all(table)
                del self._sticky[thread]
                continue
            slots = table.by_vip.get(vip_index)
            if not slots:
                continue
            for slot in list(slots):
                if as_index is not None and table.value(slot) != as_index:
                    continue
                self._refcount_add(table.evict(slot), -1)
                self._refcount_add(DROP_AS, 1)
                slots.discard(slot)

    def _refcount_add(self, as_index: int, delta: int) -> None:
        a = self._ass[as_index] if as_index < len(self._ass) else None
        if a is not None:
            a.refcount += delta

    def _deref_all(self, table: StickyTable) -> None:
        for value in table.values():
            if value:
                self._refcount_add(value, -1)

    def _sticky_table(self, thread: int) -> StickyTable:
        """lb_get_sticky_table: (re)create when absent or when the bucket count changed."""
        table = self._sticky.get(thread)
        if table is not None and table.nbuckets != self.sticky_buckets:
            self._deref_all(table)  # master regenerates the table on the next packet
            table = None
        if table is None:
            if self.sticky_buckets == 0:
                self._sticky.pop(thread, None)
                raise SimError("sticky_buckets_per_core is 0 (VPP would crash on this packet)")
            table = self._sticky[thread] = StickyTable(self.sticky_buckets, self.flow_timeout)
        table.timeout = self.flow_timeout  # re-read on every frame
        return table

    def simulate_traffic(
        self,
        dst: IpAddress,
        dst_plen: int,
        *,
        protocol: int | None = None,
        port: int | None = None,
        flows: int,
        packets: int = 1,
        src: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None,
        seed: int = 0,
        thread: int = 0,
    ) -> TrafficResult:
        """Send ``flows`` flows of ``packets`` packets to the VIP prefix ``dst/dst_plen``.

        The prefix must be a VIP route (exact match); the destination address is ``dst`` as
        given.  Per-port prefixes pick the VIP by (protocol, port), falling back to the
        placeholder VIP 0 like VPP (default protocol/port: the first per-port VIP's, or tcp/80
        for an all-port VIP).  Flow i takes its source address (inside ``src``, default
        203.0.113.0/24 or 2001:db8:ffff::/64) and source port (1024..65535) from the i-th draw of
        ``random.Random(seed)``, so a repeated seed replays the same flows (and a larger ``flows``
        extends the same sequence).  Packets go flow by flow, all at the current time; each
        packet runs VPP's lb node logic against the thread's sticky table (lb_hash_get, then
        "next" / new entry with "first" or "no server" / "untracked"), and the four VIP counters
        and ``/net/route/to`` (``SIM_PACKET_BYTES`` per packet) are updated.  Raises
        :class:`SimError` for a bad request (no VIP route, unknown thread, 0 sticky buckets).
        """
        with self.lock:
            return self._simulate_traffic(dst, dst_plen, protocol, port, flows, packets, src, seed, thread)

    def _simulate_traffic(self, dst: IpAddress, dst_plen: int, protocol: int | None, port: int | None,
                          flows: int, packets: int, src: Any, seed: int, thread: int) -> TrafficResult:
        if not 0 <= thread < self.n_threads:
            raise SimError(f"thread {thread} does not exist (n_threads={self.n_threads})")
        if flows < 0 or packets < 1:
            raise SimError("flows must be >= 0 and packets >= 1")
        is4 = isinstance(dst, ipaddress.IPv4Address)
        bits = 32 if is4 else 128
        if not 0 <= dst_plen <= bits:
            raise SimError(f"invalid prefix length {dst_plen}")
        dst_int = int(dst)
        net = dst_int & (((1 << dst_plen) - 1) << (bits - dst_plen)) if dst_plen else 0
        prefix46, plen46 = (net, dst_plen + 96) if is4 else (net, dst_plen)
        on_prefix = self._used_on_prefix.get((prefix46, plen46))
        route = self._fib.get((is4, net, dst_plen))
        if not on_prefix or route is None or route.vip_refs <= 0:
            raise SimError(f"no VIP route for {format_ip46_prefix(prefix46, plen46)}")
        first = self._vips[on_prefix[0]]
        assert first is not None
        if first.port == 0:
            vip = first
            proto = 6 if protocol is None else protocol & 0xFF
            dport = 80 if port is None else port & 0xFFFF
        else:
            # Per-port prefix: default to the first VIP's protocol/port.
            proto = (first.protocol if protocol is None else protocol) & 0xFF
            dport = (first.port if port is None else port) & 0xFFFF
            match = self._used_by_key.get((prefix46, plen46, proto, dport))
            vip = self._vips[match] if match is not None else None
            if vip is None or not vip.port_filter:
                vip = self._vips[0]  # no per-port VIP matched: VPP uses the placeholder VIP
        assert vip is not None

        if src is None:
            src = ipaddress.ip_network(DEFAULT_SRC4 if is4 else DEFAULT_SRC6)
        if isinstance(src, ipaddress.IPv4Network) != is4:
            raise SimError("source prefix family differs from the VIP's")
        total_packets = flows * packets
        result = TrafficResult(vip.index, vip.prefix_text(), proto, dport, thread, flows, total_packets,
                               [0, 0, 0, 0], {})
        nat_all_port = first.port == 0 and first.type in NAT_TYPES
        table = None if nat_all_port else self._sticky_table(thread)
        # ip4/ip6-lookup counts every packet that hits the VIP's FIB entry.
        self.counters.add_combined(ROUTE_TO, thread, route.lb_index, total_packets,
                                   total_packets * SIM_PACKET_BYTES)
        if table is None:
            result.dropped_by_fib = True  # all-port NAT VIPs get no usable lb DPO
            return result

        nft = self.table(vip)
        now = self.hash_now()
        rng = random.Random(seed)
        src_base = int(src.network_address)
        host_bits = src.max_prefixlen - src.prefixlen
        dst46 = dst_int
        sticky = vip.sticky
        vip_index = vip.index
        per_as = result.flows_per_as
        counters = result.counters
        for _round in range(flows):
            r = rng.getrandbits(host_bits + 16)  # one draw: host part, then 16 bits of port
            saddr = src_base + (r >> 16)
            sport = 1024 + (r & 0xFFFF) % 64512
            h = lb_flow_hash(saddr, dst46, is4, proto, sport, dport, sticky)
            left = packets
            target = None
            while left:
                avail, found = table.get(h, vip_index, now)
                if found:
                    # Nothing changes for the rest of this flow: all its packets are "next".
                    counters[COUNTER_NEXT] += left
                    target = found if target is None else target
                    break
                as_index = nft.lookup(h)
                target = as_index if target is None else target
                if avail < 0:
                    counters[COUNTER_UNTRACKED] += left  # bucket full: stays full for this flow
                    break
                counters[COUNTER_NO_SERVER if as_index == DROP_AS else COUNTER_FIRST] += 1
                self._refcount_add(table.value(avail), -1)
                self._refcount_add(as_index, 1)
                table.put(avail, h, as_index, vip_index, now)
                left -= 1
            if target is not None:
                per_as[target] = per_as.get(target, 0) + 1
        for kind, n in enumerate(counters):
            if n:
                vip.counters[kind] += n
                self.counters.add_simple(VIP_COUNTER_NAMES[kind], thread, vip_index, n)
        return result
