"""The VPP ``lb`` plugin (Maglev load balancer), as the simulator's control and data plane.

This is an independent reading of VPP master b575ec2c56d7 (LB API 1.2.0, "MASTER" in
``vpp-facts.md``): ``lb.c``, ``api.c``, ``cli.c``, ``node.c`` and ``lbhash.h``, checked against
the outputs recorded in vpp-facts Part 2.  The 1.1.0 personality (releases up to v26.06, "REL",
:data:`PERSONALITIES`) switches to that generation's handlers and CLI, checked against Part 3:
no weights, IPv4 prefixes only as ``96+len``, encap read without byte swap, the raw details
encoding, no periodic GC, ``lb as`` running the global GC.  Everything observable is modelled
on VPP's own data structures, so the quirks fall out instead of being special-cased:

* **Addresses are ip46.** Prefixes and AS addresses are 128-bit ints; IPv4 sits in the low 32
  bits with the 96 bits above it zero and a VIP plen of ``96 + len``.  "Is this IPv4?" is VPP's
  test (upper 96 bits zero, and plen >= 96 for a prefix), which is why an IPv4 ``lb_as_dump``
  filter (address in the FIRST 4 bytes of the request union) never matches.
* **Pools.** VIPs, ASes, each VIP's AS-index pool and the FIB load-balance indexes are pools
  with VPP's LIFO slot reuse.  VIP 0 is the hidden placeholder VIP (1-bucket table pointing at
  AS 0), AS 0 the drop AS.
* **Lazy deletes + GC.** Deleting an AS clears USED and stamps ``last_used`` (uptime seconds,
  reported as ``in_use_since``); deleting a VIP deletes all its ASes (without flush) and clears
  USED.  GC frees an AS that is unused, removed more than 10 s ago and has no sticky reference;
  a VIP's ASes are examined at most once per 60 s (and never in the first 60 s of the VIP);
  a removed VIP without ASes is freed by the global pass (``gc_tick``, CLI ``lb vip``,
  ``lb conf``).  ``lb as`` (since 1.2.0's db44addb60c) and the AS API calls run only the
  rate-limited per-VIP pass.
* **Data plane.** Per-thread sticky tables of 4-entry buckets (``lbhash.h``), refcounts per AS
  that only drop when a slot is reused, flushed or the table is regenerated, and the four
  per-VIP counters.  See :meth:`LbPlugin.simulate_traffic`.

Deliberate deviations from VPP (each would crash or corrupt real VPP, or is not observable):

* ``new_flows_table_length == 0`` passes VPP's power-of-two check; an add that then fails a
  later check answers as VPP does (e.g. -97 for an IPv4 VIP with a non-IPv4 encap), and one that
  passes them all aborts VPP (tries a 2^32 table): the simulator refuses that with -70
  (INVALID_MEMORY_SIZE) instead.
* An API prefix length beyond the family's maximum (IPv4 sent as ``96+len`` to a 1.2.0 VPP, which
  adds 96 itself) is undefined behaviour in VPP; the simulator answers -73 on add and -6 on
  lookups.
* Adding any AS to an all-port NAT4/NAT6 VIP makes VPP SIGSEGV (``dpo_stack`` from
  ``lb_vip_add_ass``); the simulator refuses it with -73 (INVALID_ARGUMENT) and says why on
  stderr (API) or in the CLI's error text (:data:`CRASH_ALL_PORT_NAT_AS`).
* ``lb_flush_vip`` on a VIP that does not exist flushes nothing (VPP flushes against an
  uninitialised index); it still returns 0.
* Sticky bucket count 0 (accepted by ``lb_conf``) makes VPP index out of bounds on the next LB
  packet; simulated traffic refuses to run instead.
* The Maglev table is VPP's, bucket by bucket (:mod:`vppsim.maglev`), and so is the flow hash
  (:mod:`vppsim.flowhash`, CRC32C as on every default build), so a flow lands on the AS a real
  VPP would pick.
* The AS FIB entries keep VPP's load-balance numbering (``dpo:`` in the CLI); their indexes are
  returned to the pool when the entry goes, and no real adjacency/forwarding is modelled.

Concurrency: every public method takes one re-entrant lock, so the API server may call in from
several threads.
"""

from __future__ import annotations

import ipaddress
import random
import sys
import threading
import time
from bisect import insort
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from vppsim.flowhash import lb_flow_hash
from vppsim.maglev import DROP_AS, NewFlowTable, build_table

# --------------------------------------------------------------------------- VPP constants
# vnet/api_errno.h
RV_OK = 0
RV_INVALID_SW_IF_INDEX = -2
RV_NO_SUCH_ENTRY = -6
RV_INVALID_VALUE = -7
RV_INVALID_MEMORY_SIZE = -70
RV_INVALID_ARGUMENT = -73
RV_VALUE_EXIST = -81
RV_INVALID_ADDRESS_FAMILY = -97

# lb_vip_type_t (internal): VIP family, then encap family.
VIP_IP6_GRE6, VIP_IP6_GRE4, VIP_IP4_GRE6, VIP_IP4_GRE4 = 0, 1, 2, 3
VIP_IP4_L3DSR, VIP_IP4_NAT4, VIP_IP6_NAT6 = 4, 5, 6
VIP_TYPE_NAMES = ("ip6-gre6", "ip6-gre4", "ip4-gre6", "ip4-gre4", "ip4-l3dsr", "ip4-nat4", "ip6-nat6")
_IP4_VIP_TYPES = frozenset((VIP_IP4_GRE6, VIP_IP4_GRE4, VIP_IP4_L3DSR, VIP_IP4_NAT4))
_IP4_ENCAP_TYPES = frozenset((VIP_IP6_GRE4, VIP_IP4_GRE4, VIP_IP4_L3DSR, VIP_IP4_NAT4))
_NAT_TYPES = frozenset((VIP_IP4_NAT4, VIP_IP6_NAT6))

# lb_encap_type (API enum) and lb_srv_type.
ENCAP_GRE4, ENCAP_GRE6, ENCAP_L3DSR, ENCAP_NAT4, ENCAP_NAT6 = 0, 1, 2, 3, 4
SRV_CLUSTERIP, SRV_NODEPORT = 0, 1
_TYPE_TO_API_ENCAP = {
    VIP_IP4_GRE4: ENCAP_GRE4,
    VIP_IP6_GRE4: ENCAP_GRE4,
    VIP_IP4_GRE6: ENCAP_GRE6,
    VIP_IP6_GRE6: ENCAP_GRE6,
    VIP_IP4_L3DSR: ENCAP_L3DSR,
    VIP_IP4_NAT4: ENCAP_NAT4,
    VIP_IP6_NAT6: ENCAP_NAT6,
}
_IP4_ENCAP_TO_TYPE = {
    ENCAP_GRE4: VIP_IP4_GRE4,
    ENCAP_GRE6: VIP_IP4_GRE6,
    ENCAP_L3DSR: VIP_IP4_L3DSR,
    ENCAP_NAT4: VIP_IP4_NAT4,
}
_IP6_ENCAP_TO_TYPE = {ENCAP_GRE4: VIP_IP6_GRE4, ENCAP_GRE6: VIP_IP6_GRE6, ENCAP_NAT6: VIP_IP6_NAT6}

VIP_FLAG_USED = 0x1
VIP_FLAG_SRC_IP_STICKY = 0x2
AS_FLAG_USED = 0x1

# Per-VIP simple counters, in lb_vip_counter_t order (= `show lb vips verbose` order).
COUNTER_NEXT, COUNTER_FIRST, COUNTER_UNTRACKED, COUNTER_NO_SERVER = 0, 1, 2, 3
VIP_COUNTER_NAMES = (
    "packet from existing sessions",
    "first session packet",
    "untracked packet",
    "no server configured",
)
ROUTE_TO = "/net/route/to"
ROUTE_VIA = "/net/route/via"
BOOT_ROUTES = 8  # load-balance indexes 0..7 belong to VPP's boot-time routes

LB_GARBAGE_RUN = 60  # s between two GC passes over one VIP's ASes
LB_CONCURRENCY_TIMEOUT = 10  # s an AS stays after removal before GC may free it
DEFAULT_STICKY_BUCKETS = 1024
DEFAULT_FLOW_TIMEOUT = 40
ENTRIES_PER_BUCKET = 4
SIM_PACKET_BYTES = 100  # simulated packets are this long, for /net/route/to bytes
DEFAULT_SRC4 = "203.0.113.0/24"
DEFAULT_SRC6 = "2001:db8:ffff::/64"

_U32 = 0xFFFFFFFF
_ALL_ONES = (1 << 128) - 1
_NO_VIP = 0xFFFFFFFF  # the vip of a flushed sticky entry: matches no VIP index

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class CounterSink(Protocol):
    """The subset of :class:`vppsim.statseg.StatsSegment` the plugin writes into."""

    n_threads: int

    def ensure_simple(self, name: str, length: int) -> None: ...
    def ensure_combined(self, name: str, length: int) -> None: ...
    def add_simple(self, name: str, thread: int, index: int, value: int = 1) -> None: ...
    def set_simple(self, name: str, thread: int, index: int, value: int) -> None: ...
    def add_combined(self, name: str, thread: int, index: int, packets: int, nbytes: int) -> None: ...
    def set_combined(self, name: str, thread: int, index: int, packets: int, nbytes: int) -> None: ...


@dataclass(frozen=True)
class Personality:
    """What differs between the LB API generations (vpp-facts Part 1 "Handler bugs", Part 3).

    The defaults are 1.2.0 ("MASTER"); 1.1.0 ("REL", releases up to v26.06) turns them off.
    """

    api_version: str
    weights: bool = True  # per-AS weights drive the Maglev table (1.1.0: one entry per USED AS)
    seed_with_replica: bool = True  # the table seed is xxhash(a0 ^ a1 ^ r) (1.1.0: no ^ r)
    as_line: str = "weights"  # verbose AS line: "weights" (1.2.0) | "legacy" (1.1.0)
    show_vips_without_args: bool = True  # 1.1.0 `show lb vips` prints nothing without an argument
    periodic_gc: bool = True  # lb-gc-process every 60 s
    api_ip4_len_offset: bool = True  # the API handlers add 96 to an IPv4 prefix length
    cli_lb_as_runs_gc: bool = False  # "lb: API bugfix" (db44addb60c) dropped the global GC from `lb as`
    api_encap_swapped: bool = True  # 1.1.0 compares the big-endian encap with the enum: only 0 matches
    details_fixed: bool = True  # 1.1.0 lb_vip/as_details: protocol 0, raw ip46 length, internal type...
    as_dump_port_swapped: bool = True  # 1.1.0 compares the as-dump port without byte swap
    flush_finds_ip4: bool = True  # 1.1.0 lb_flush_vip never finds an IPv4 VIP


PERSONALITIES = {
    "1.2.0": Personality(api_version="1.2.0"),
    "1.1.0": Personality(
        api_version="1.1.0",
        weights=False,
        seed_with_replica=False,
        as_line="legacy",
        show_vips_without_args=False,
        periodic_gc=False,
        api_ip4_len_offset=False,
        cli_lb_as_runs_gc=True,
        api_encap_swapped=False,
        details_fixed=False,
        as_dump_port_swapped=False,
        flush_finds_ip4=False,
    ),
}


# --------------------------------------------------------------------------- ip46 helpers
def ip46_is_ip4(addr: int) -> bool:
    """VPP's ip46_address_is_ip4: the 96 bits above the IPv4 address are zero."""
    return addr >> 32 == 0


def ip46_prefix_is_ip4(addr: int, plen: int) -> bool:
    return plen >= 96 and addr >> 32 == 0


def ip46_normalize(addr: int, plen: int) -> int:
    """Clear the host bits (ip46_prefix_normalize)."""
    if plen <= 0:
        return 0
    return addr & (_ALL_ONES ^ ((1 << (128 - plen)) - 1))


def format_ip4(addr: int) -> str:
    return f"{addr >> 24 & 255}.{addr >> 16 & 255}.{addr >> 8 & 255}.{addr & 255}"


def format_ip6(addr: int) -> str:
    """format_ip6_address: compress the first longest run of >1 zero groups, lowercase hex."""
    groups = [(addr >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    best, best_len, i = -1, 1, 0
    while i < 8:
        if groups[i]:
            i += 1
            continue
        j = i
        while j < 8 and not groups[j]:
            j += 1
        if j - i > best_len:
            best, best_len = i, j - i
        i = j
    if best < 0:
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:best])
    tail = ":".join(f"{g:x}" for g in groups[best + best_len :])
    return f"{head}::{tail}"


def format_ip46_address(addr: int) -> str:
    return format_ip4(addr & _U32) if ip46_is_ip4(addr) else format_ip6(addr)


def format_ip46_prefix(addr: int, plen: int) -> str:
    if ip46_prefix_is_ip4(addr, plen):
        return f"{format_ip4(addr & _U32)}/{plen - 96}"
    return f"{format_ip6(addr)}/{plen}"


def ip46_to_ipaddress(addr: int) -> IpAddress:
    """ip_address_encode(IP46_TYPE_ANY): the family follows ip46_address_is_ip4."""
    if ip46_is_ip4(addr):
        return ipaddress.IPv4Address(addr)
    return ipaddress.IPv6Address(addr)


def swap16(v: int) -> int:
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


def _loop_gt(a: int, b: int) -> bool:
    """clib_u32_loop_gt: a > b on the 32-bit circle."""
    d = (a - b) & _U32
    return 0 < d < 0x80000000


def _is_pow2(v: int) -> bool:
    return v & (v - 1) == 0  # VPP's is_pow2: 0 counts as a power of two


# --------------------------------------------------------------------------- model objects
class Vip:
    __slots__ = (
        "index",
        "prefix",
        "plen",
        "protocol",
        "port",
        "type",
        "flags",
        "dscp",
        "srv_type",
        "target_port",
        "new_len",
        "as_slots",
        "as_free",
        "as_by_addr",
        "last_gc",
        "counters",
        "port_filter",
        "_table",
        "_api_pfx",
        "_text",
    )

    def __init__(self, index: int, prefix: int, plen: int, protocol: int, port: int, vtype: int) -> None:
        self.index = index
        self.prefix = prefix
        self.plen = plen
        self.protocol = protocol
        self.port = port
        self.type = vtype
        self.flags = VIP_FLAG_USED
        self.dscp = 0  # shares a byte with srv_type in VPP's encap_args union
        self.srv_type = 0
        self.target_port = 0  # host order here; VPP keeps it in network order
        self.new_len = 1
        self.as_slots: list[int | None] = []  # the VIP's AS-index pool, in pool order
        self.as_free: list[int] = []
        self.as_by_addr: dict[int, int] = {}
        self.last_gc = 0
        self.counters = [0, 0, 0, 0]
        self.port_filter = False  # per-port VIPs are reachable only through the port filter
        self._table: NewFlowTable | None = None
        self._api_pfx: IpInterface | None = None
        self._text: str | None = None

    @property
    def used(self) -> bool:
        return bool(self.flags & VIP_FLAG_USED)

    @property
    def sticky(self) -> bool:
        return bool(self.flags & VIP_FLAG_SRC_IP_STICKY)

    @property
    def is_ip4(self) -> bool:
        return self.type in _IP4_VIP_TYPES

    @property
    def encap_is_ip4(self) -> bool:
        return self.type in _IP4_ENCAP_TYPES

    @property
    def encap_byte(self) -> int:
        """The first byte of VPP's encap_args union (dscp, or srv_type for NAT)."""
        if self.type == VIP_IP4_L3DSR:
            return self.dscp
        if self.type in _NAT_TYPES:
            return self.srv_type
        return 0

    def prefix_text(self) -> str:
        if self._text is None:
            self._text = format_ip46_prefix(self.prefix, self.plen)
        return self._text

    def api_pfx(self) -> IpInterface:
        """The VIP prefix as lb_*_details encode it (1.2.0: normal IPv4 length)."""
        if self._api_pfx is None:
            is4_addr = ip46_is_ip4(self.prefix)
            plen = self.plen - 96 if ip46_prefix_is_ip4(self.prefix, self.plen) else self.plen
            if is4_addr and plen <= 32:
                self._api_pfx = ipaddress.IPv4Interface((self.prefix, plen))
            else:
                # VPP would send af=IP4 with len > 32 for an IPv6 prefix whose upper 96 bits are
                # zero (e.g. ::/64), which vpp_papi cannot decode; keep it IPv6 here.
                self._api_pfx = ipaddress.IPv6Interface((self.prefix, plen))
        return self._api_pfx

    def raw_api_pfx(self) -> tuple[IpAddress, int]:
        """The VIP prefix as 1.1.0 encodes it: family by the address alone, the ip46 length as is
        (an IPv4 VIP comes back as af=IP4 with len 96+plen, which stock vpp_papi cannot decode)."""
        return ip46_to_ipaddress(self.prefix), self.plen

    def as_indexes(self) -> Iterator[int]:
        return (a for a in self.as_slots if a is not None)

    def as_count(self) -> int:
        return len(self.as_slots) - len(self.as_free)


class _As:
    __slots__ = (
        "index", "address", "vip_index", "flags", "weight", "last_used", "refcount", "fib_key", "_text",
    )

    def __init__(self, index: int, address: int, vip_index: int) -> None:
        self.index = index
        self.address = address
        self.vip_index = vip_index
        self.flags = AS_FLAG_USED
        self.weight = 100
        self.last_used = 0  # uptime seconds at the last removal: in_use_since
        self.refcount = 0  # sticky entries pointing here, summed over threads
        self.fib_key: tuple[bool, int, int] | None = None
        self._text: str | None = None

    @property
    def used(self) -> bool:
        return bool(self.flags & AS_FLAG_USED)

    def text(self) -> str:
        if self._text is None:
            self._text = format_ip46_address(self.address)
        return self._text


class _FibEntry:
    __slots__ = ("lb_index", "vip_refs", "as_refs")

    def __init__(self, lb_index: int) -> None:
        self.lb_index = lb_index
        self.vip_refs = 0  # source "lb": USED VIPs on this prefix
        self.as_refs = 0  # source "recursive-resolution": ASes tracking this next hop


class _StickyTable:
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
            if ((now - row[4 + i]) & _U32) < 0x7FFFFFFF:
                if avail < 0:
                    avail = i
            elif found < 0 and row[i] == h and row[8 + i] == vip:
                found = i
        base = b * ENTRIES_PER_BUCKET
        if found < 0:
            return (base + avail if avail >= 0 else -1), 0
        row[4 + found] = (now + self.timeout) & _U32
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
        row[4 + i] = (now + self.timeout) & _U32
        row[8 + i] = vip
        row[12 + i] = value

    def evict(self, slot: int) -> int:
        """What a flush does to one entry: no VIP, value 0, timeout kept.  Returns the old value."""
        row = self.buckets[slot >> 2]
        i = slot & 3
        old = row[12 + i]
        row[8 + i] = _NO_VIP
        row[12 + i] = 0
        return old

    def values(self) -> Iterator[int]:
        for row in self.buckets.values():
            yield from row[12:16]

    def live_entries(self, now: int) -> int:
        """lb_hash_elts: entries with !(now > timeout) on the u32 circle."""
        return sum(1 for row in self.buckets.values() for t in row[4:8] if not _loop_gt(now, t))


@dataclass
class TrafficResult:
    """What :meth:`LbPlugin.simulate_traffic` did (the CLI renders it)."""

    vip_index: int
    vip_text: str
    protocol: int
    port: int
    thread: int
    flows: int
    packets: int
    counters: list[int]  # next, first, untracked, no-server: this batch only
    flows_per_as: dict[int, int]  # AS index (0 = drop) -> flows of this batch sent there
    dropped_by_fib: bool = False  # all-port NAT VIP: VPP installs no usable lb DPO


@dataclass
class GcResult:
    freed_ass: list[tuple[int, str, int]]  # (as index, address text, vip index)
    freed_vips: list[tuple[int, str]]  # (vip index, prefix text)


CRASH_ALL_PORT_NAT_AS = ("refused: adding an AS to an all-port NAT VIP crashes real VPP (SIGSEGV in dpo_stack"
                         " from lb_vip_add_ass); vppsim refuses it with -73 instead")


def _crash_refused(what: str) -> None:
    """Say on stderr (the API has no error text) that a real-VPP crash trigger was refused."""
    sys.stderr.write(f"vppsim: {what}\n")
    sys.stderr.flush()


class SimError(Exception):
    """A simulator-only command could not run; the message is the CLI error text."""


# --------------------------------------------------------------------------- the plugin
class LbPlugin:
    """The lb plugin of one simulated VPP instance (see the module docstring)."""

    def __init__(
        self,
        counters: CounterSink,
        *,
        api_version: str = "1.2.0",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if api_version not in PERSONALITIES:
            raise ValueError(f"unsupported LB API version {api_version!r} (have {sorted(PERSONALITIES)})")
        self.personality = PERSONALITIES[api_version]
        self.counters = counters
        self.n_threads = counters.n_threads
        self._clock = clock
        self._boot = clock()
        self.lock = threading.RLock()  # re-entrant: the CLI (vppsim.cli) holds it across calls

        self.ip4_src = 0xFFFFFFFF
        self.ip6_src = _ALL_ONES
        self.sticky_buckets = DEFAULT_STICKY_BUCKETS
        self.flow_timeout = DEFAULT_FLOW_TIMEOUT

        placeholder = Vip(0, _ALL_ONES, 0, 255, 0, VIP_IP6_GRE6)
        self._vips: list[Vip | None] = [placeholder]
        self._vip_free: list[int] = []
        drop_as = _As(0, _ALL_ONES, _U32)
        drop_as.flags = 0
        self._ass: list[_As | None] = [drop_as]
        self._as_free: list[int] = []
        # Indexes over USED VIPs (VPP scans the pool; the answers are the same).
        self._used_by_key: dict[tuple[int, int, int, int], int] = {}
        self._used_on_prefix: dict[tuple[int, int], list[int]] = {}
        self._nodeports: dict[int, int] = {}  # never cleaned up, as in VPP

        self._fib: dict[tuple[bool, int, int], _FibEntry] = {}
        self._lb_next = BOOT_ROUTES
        self._lb_free: list[int] = []
        counters.ensure_combined(ROUTE_TO, BOOT_ROUTES)
        counters.ensure_combined(ROUTE_VIA, BOOT_ROUTES)

        self._sticky: dict[int, _StickyTable] = {}  # thread -> table, created on its first packet

    # ----------------------------------------------------------------- time
    def uptime(self) -> float:
        return self._clock() - self._boot

    def _now(self) -> int:
        """(u32) vlib_time_now: whole seconds since start."""
        return int(self.uptime()) & _U32

    def hash_now(self) -> int:
        """lb_hash_time_now: (u32) (vlib_time_now + 10000)."""
        return int(self.uptime() + 10000) & _U32

    # ----------------------------------------------------------------- pools
    def vip(self, index: int) -> Vip | None:
        return self._vips[index] if 0 <= index < len(self._vips) else None

    def vips(self) -> Iterator[Vip]:
        """All VIPs in pool order, placeholder and removed ones included."""
        return (v for v in self._vips if v is not None)

    def as_(self, index: int) -> _As | None:
        return self._ass[index] if 0 <= index < len(self._ass) else None

    def n_vips(self) -> int:
        return len(self._vips) - len(self._vip_free)

    def n_ass(self) -> int:
        return len(self._ass) - len(self._as_free)

    def sticky_tables(self) -> dict[int, _StickyTable]:
        return self._sticky

    def dpo_index(self, a: _As) -> int:
        entry = self._fib.get(a.fib_key) if a.fib_key else None
        return entry.lb_index if entry else 0

    def table(self, vip: Vip) -> NewFlowTable:
        """The VIP's current new-flow table (rebuilt lazily after AS/weight changes)."""
        if vip._table is None:
            weights = self.personality.weights
            rows = []
            for ai in vip.as_indexes():
                a = self._ass[ai]
                if a is not None and a.used:
                    rows.append((ai, a.address, a.weight if weights else 1))
            vip._table = build_table(rows, vip.new_len, with_replica=self.personality.seed_with_replica)
        return vip._table

    # ----------------------------------------------------------------- FIB
    def _lb_alloc(self) -> int:
        if self._lb_free:
            idx = self._lb_free.pop()
        else:
            idx = self._lb_next
            self._lb_next += 1
        # load_balance_alloc validates and zeroes both route counters of the new index.
        for name in (ROUTE_TO, ROUTE_VIA):
            self.counters.ensure_combined(name, idx + 1)
            for t in range(self.n_threads):
                self.counters.set_combined(name, t, idx, 0, 0)
        return idx

    def _fib_lock(self, key: tuple[bool, int, int], vip_source: bool) -> None:
        entry = self._fib.get(key)
        if entry is None:
            entry = self._fib[key] = _FibEntry(self._lb_alloc())
        if vip_source:
            entry.vip_refs += 1
        else:
            entry.as_refs += 1

    def _fib_unlock(self, key: tuple[bool, int, int], vip_source: bool) -> None:
        entry = self._fib[key]
        if vip_source:
            entry.vip_refs -= 1
        else:
            entry.as_refs -= 1
        if entry.vip_refs <= 0 and entry.as_refs <= 0:
            del self._fib[key]
            self._lb_free.append(entry.lb_index)

    @staticmethod
    def _vip_route_key(vip: Vip) -> tuple[bool, int, int]:
        if vip.is_ip4:
            return (True, vip.prefix & _U32, vip.plen - 96)
        return (False, vip.prefix, vip.plen)

    def route_lookup(self, table_id: int, ip: IpAddress, plen: int, exact: bool) -> int | None:
        """ip_route_lookup: stats index of the FIB entry for ``ip/plen`` (normal form), or None.

        Only table 0 exists, holding the VIP prefixes and the AS next hops (/32, /128).  A
        non-exact lookup is longest-prefix match over those entries (the boot routes, such as
        the default route, are not modelled).
        """
        with self.lock:
            if table_id != 0:
                return None
            is4 = isinstance(ip, ipaddress.IPv4Address)
            bits = 32 if is4 else 128
            if not 0 <= plen <= bits:
                return None
            addr = int(ip)
            lengths = [plen] if exact else range(plen, -1, -1)
            for length in lengths:
                masked = addr & (((1 << length) - 1) << (bits - length)) if length else 0
                entry = self._fib.get((is4, masked, length))
                if entry is not None:
                    return entry.lb_index
            return None

    # ----------------------------------------------------------------- conf
    def conf(self, ip4: ipaddress.IPv4Address, ip6: ipaddress.IPv6Address, sticky_buckets_per_core: int,
             flow_timeout: int) -> int:
        """lb_conf: 0xffffffff keeps the old number; both addresses are always overwritten."""
        with self.lock:
            buckets = self.sticky_buckets if sticky_buckets_per_core == _U32 else sticky_buckets_per_core
            timeout = self.flow_timeout if flow_timeout == _U32 else flow_timeout
            return self.set_conf(int(ip4), int(ip6), buckets, timeout)

    def set_conf(self, ip4: int, ip6: int, buckets: int, timeout: int) -> int:
        """lb_conf with resolved numbers (the CLI's path); the caller holds ``lock``."""
        if not _is_pow2(buckets):
            return RV_INVALID_MEMORY_SIZE
        self.ip4_src, self.ip6_src = ip4, ip6
        self.sticky_buckets, self.flow_timeout = buckets & _U32, timeout & _U32
        return RV_OK

    def conf_get(self) -> dict[str, Any]:
        with self.lock:
            return {
                "ip4_src_address": ipaddress.IPv4Address(self.ip4_src),
                "ip6_src_address": ipaddress.IPv6Address(self.ip6_src),
                "sticky_buckets_per_core": self.sticky_buckets,
                "flow_timeout": self.flow_timeout,
            }

    # ----------------------------------------------------------------- API decoding
    def _api_prefix(self, ip: IpAddress, plen: int) -> tuple[int, int] | None:
        """The ip46 (prefix, plen) an API handler builds, or None when plen is out of range."""
        is4 = isinstance(ip, ipaddress.IPv4Address)
        if is4 and self.personality.api_ip4_len_offset:
            plen += 96
        if not 0 <= plen <= 128:
            return None
        return ip46_normalize(int(ip), plen), plen

    def _api_find_vip(self, ip: IpAddress, plen: int, protocol: int, port: int) -> Vip | None:
        key = self._api_prefix(ip, plen)
        if key is None:
            return None
        if port == 0:
            protocol = 255  # every handler forces the all-port protocol
        return self.find_vip(key[0], key[1], protocol, port)

    def find_vip(self, prefix: int, plen: int, protocol: int, port: int) -> Vip | None:
        """lb_vip_find_index: a USED VIP with exactly this key (prefix is normalised here)."""
        idx = self._used_by_key.get((ip46_normalize(prefix, plen), plen, protocol & 0xFF, port & 0xFFFF))
        return None if idx is None else self._vips[idx]

    # ----------------------------------------------------------------- VIPs
    def vip_add(self, ip: IpAddress, plen: int, protocol: int, port: int, encap: int, dscp: int,
                srv_type: int, target_port: int, new_flows_table_length: int, src_ip_sticky: bool) -> int:
        """lb_add_del_vip(_v2) with is_del=0; returns the retval."""
        with self.lock:
            key = self._api_prefix(ip, plen)
            if key is None:
                return RV_INVALID_ARGUMENT  # deviation: VPP has undefined behaviour here
            prefix, plen46 = key
            if port == 0:
                protocol = 255
            is4 = ip46_prefix_is_ip4(prefix, plen46)
            if self.personality.api_encap_swapped:
                # 1.2.0 maps the (byte-swapped) encap per family; no mapping leaves type 0 = ip6-gre6.
                vtype = (_IP4_ENCAP_TO_TYPE if is4 else _IP6_ENCAP_TO_TYPE).get(encap, VIP_IP6_GRE6)
                seen_encap = encap
            else:
                # 1.1.0 compares the big-endian u32 with the enum values: only 0 (gre4) matches
                # anything; every other value leaves type 0 = ip6-gre6 and no dscp / NAT arguments.
                vtype = (VIP_IP4_GRE4 if is4 else VIP_IP6_GRE4) if encap == ENCAP_GRE4 else VIP_IP6_GRE6
                seen_encap = ENCAP_GRE4
            nat = seen_encap in (ENCAP_NAT4, ENCAP_NAT6)
            dscp_arg = dscp & 0x3F if seen_encap == ENCAP_L3DSR else 0
            # `type` is read without byte swap into a u8: only the top byte of the u32 survives.
            srv_arg = (srv_type >> 24) & 0xFF if nat else 0
            tport_arg = target_port & 0xFFFF if nat else 0
            rv, _index = self.add_vip(prefix, plen46, protocol, port, vtype, dscp_arg, srv_arg, tport_arg,
                                      new_flows_table_length, src_ip_sticky)
            return rv

    def add_vip(self, prefix: int, plen: int, protocol: int, port: int, vtype: int, dscp: int, srv_type: int,
                target_port: int, new_len: int, src_ip_sticky: bool) -> tuple[int, int]:
        """lb_vip_add (ip46 arguments, shared by API and CLI): (retval, new pool index or ~0)."""
        with self.lock:
            prefix = ip46_normalize(prefix, plen)
            protocol &= 0xFF
            port &= 0xFFFF
            if port == 0:
                protocol = 255
            if (prefix, plen, protocol, port) in self._used_by_key:
                return RV_VALUE_EXIST, _U32
            same_prefix = [self._vips[i] for i in self._used_on_prefix.get((prefix, plen), ())]
            if port != 0 and any(v.port == 0 for v in same_prefix):
                return RV_VALUE_EXIST, _U32  # all-port VIP already owns the prefix
            other = next((v for v in same_prefix if v.protocol != protocol or v.port != port), None)
            if port == 0 and other is not None:
                return RV_VALUE_EXIST, _U32  # per-port VIPs already own the prefix
            if port != 0 and other is not None and other.type != vtype:
                return RV_INVALID_ARGUMENT, _U32  # all ports of a prefix share one encap
            if not _is_pow2(new_len):
                return RV_INVALID_MEMORY_SIZE, _U32  # 0 passes: VPP's is_pow2(0) is true
            is4 = ip46_prefix_is_ip4(prefix, plen)
            if is4 != (vtype in _IP4_VIP_TYPES):
                return RV_INVALID_ADDRESS_FAMILY, _U32
            if vtype == VIP_IP4_L3DSR and dscp >= 64:
                return RV_VALUE_EXIST, _U32  # sic: VPP's code returns VALUE_EXIST here
            if new_len == 0:
                # Past every check, VPP builds a 2^32 table and aborts; refused here (deliberate deviation).
                return RV_INVALID_MEMORY_SIZE, _U32

            vip_index = self._vip_free.pop() if self._vip_free else len(self._vips)
            vip = Vip(vip_index, prefix, plen, protocol, port, vtype)
            if vip_index == len(self._vips):
                self._vips.append(vip)
            else:
                self._vips[vip_index] = vip
            vip.last_gc = self._now()
            if vtype == VIP_IP4_L3DSR:
                vip.dscp = dscp
            elif vtype in _NAT_TYPES:
                vip.srv_type = srv_type & 0xFF
                vip.target_port = target_port & 0xFFFF
            if src_ip_sticky:
                vip.flags |= VIP_FLAG_SRC_IP_STICKY
            vip.new_len = new_len
            for name in VIP_COUNTER_NAMES:
                self.counters.ensure_simple(name, vip_index + 1)
                for t in range(self.n_threads):
                    self.counters.set_simple(name, t, vip_index, 0)
            # FIB: per-port VIPs of one prefix share the entry the first one installed.
            self._fib_lock(self._vip_route_key(vip), vip_source=True)
            self._used_by_key[(prefix, plen, protocol, port)] = vip_index
            insort(self._used_on_prefix.setdefault((prefix, plen), []), vip_index)

            if vtype in _NAT_TYPES and vip.srv_type == SRV_NODEPORT:
                # VPP checks this only after creating the VIP: it stays, half set up (no filter).
                if port in self._nodeports:
                    return RV_VALUE_EXIST, _U32
                self._nodeports[port] = vip_index
            vip.port_filter = port != 0
            return RV_OK, vip_index

    def vip_del(self, ip: IpAddress, plen: int, protocol: int, port: int) -> int:
        with self.lock:
            vip = self._api_find_vip(ip, plen, protocol, port)
            if vip is None:
                return RV_NO_SUCH_ENTRY
            return self.del_vip(vip)

    def del_vip(self, vip: Vip) -> int:
        """lb_vip_del: remove every AS (no flush), the FIB entry and the port filter; clear USED."""
        with self.lock:
            if vip.index == 0:
                return RV_INVALID_VALUE
            addresses = [self._ass[a].address for a in vip.as_indexes()]  # type: ignore[union-attr]
            if addresses:
                self.del_ass(vip, addresses, flush=False)
            key = self._vip_route_key(vip)
            self._fib_unlock(key, vip_source=True)
            rv = RV_OK
            if vip.port != 0 and not vip.port_filter:
                rv = RV_NO_SUCH_ENTRY  # the half-created nodeport VIP has no filter to delete
            vip.port_filter = False
            vip.flags &= ~VIP_FLAG_USED
            del self._used_by_key[(vip.prefix, vip.plen, vip.protocol, vip.port)]
            on_prefix = self._used_on_prefix[(vip.prefix, vip.plen)]
            on_prefix.remove(vip.index)
            if not on_prefix:
                del self._used_on_prefix[(vip.prefix, vip.plen)]
            return rv

    def vip_details(self) -> list[dict[str, Any]]:
        """lb_vip_dump: VIPs in pool order, placeholder hidden (1.2.0: only USED ones)."""
        with self.lock:
            if not self.personality.details_fixed:
                return self._vip_details_rel()
            out = []
            for vip in self._vips:
                if vip is None or vip.index == 0 or not vip.used:
                    continue
                out.append({
                    "vip": {"pfx": vip.api_pfx(), "protocol": vip.protocol, "port": vip.port},
                    "encap": _TYPE_TO_API_ENCAP[vip.type],
                    "dscp": vip.encap_byte,
                    # srv_type is copied from the union byte into a u32 without byte swap.
                    "srv_type": vip.encap_byte << 24,
                    # stored in network order and swapped again on the way out.
                    "target_port": swap16(vip.target_port) if vip.type in _NAT_TYPES else 0,
                    "flow_table_length": vip.new_len & 0xFFFF,
                })
            return out

    def _vip_details_rel(self) -> list[dict[str, Any]]:
        """1.1.0's lb_vip_details (vpp-facts Part 3 §4.6): removed VIPs included, protocol 0,
        ``encap`` = the internal VIP type, the raw ip46 prefix length, ``flow_table_length``
        the low half of a byte-swapped u32 (0 for every table up to 32768 buckets)."""
        out = []
        for vip in self._vips:
            if vip is None or vip.index == 0:
                continue
            out.append({
                "vip": {"pfx": vip.raw_api_pfx(), "protocol": 0, "port": vip.port},
                "encap": vip.type,
                "dscp": vip.encap_byte,
                "srv_type": vip.encap_byte << 24,
                "target_port": swap16(vip.target_port) if vip.type in _NAT_TYPES else 0,
                "flow_table_length": (vip.new_len >> 16) & 0xFFFF,
            })
        return out

    # ----------------------------------------------------------------- ASes
    def as_add(self, ip: IpAddress, plen: int, protocol: int, port: int, as_ip: IpAddress, weight: int,
               flush: bool) -> int:
        """lb_add_del_as(_v2) add (v1 passes weight=100)."""
        with self.lock:
            vip = self._api_find_vip(ip, plen, protocol, port)
            if vip is None:
                return RV_NO_SUCH_ENTRY
            return self.add_ass(vip, [int(as_ip)], weight & 0xFF, flush)

    def as_del(self, ip: IpAddress, plen: int, protocol: int, port: int, as_ip: IpAddress,
               flush: bool) -> int:
        with self.lock:
            vip = self._api_find_vip(ip, plen, protocol, port)
            if vip is None:
                return RV_NO_SUCH_ENTRY
            return self.del_ass(vip, [int(as_ip)], flush)

    def as_set_weight(self, ip: IpAddress, plen: int, protocol: int, port: int, as_ip: IpAddress, weight: int,
                      flush: bool) -> int:
        with self.lock:
            vip = self._api_find_vip(ip, plen, protocol, port)
            if vip is None:
                return RV_NO_SUCH_ENTRY
            return self.set_as_weight(vip, int(as_ip), weight & 0xFF, flush)

    def add_ass(self, vip: Vip, addresses: list[int], weight: int, flush: bool) -> int:
        """lb_vip_add_ass: all-or-nothing checks, revive removed ASes, create the rest."""
        with self.lock:
            want_ip4 = vip.encap_is_ip4
            to_update: list[int] = []
            to_add: list[int] = []
            for n in range(len(addresses) - 1, -1, -1):  # VPP walks the list backwards
                addr = addresses[n]
                existing = vip.as_by_addr.get(addr)
                if existing is not None:
                    if self._ass[existing].used:  # type: ignore[union-attr]
                        return RV_VALUE_EXIST
                    to_update.append(existing)
                    continue
                if ip46_is_ip4(addr) != want_ip4:
                    return RV_INVALID_ADDRESS_FAMILY
                if addr in addresses[:n]:
                    continue  # duplicate: the earlier occurrence is added
                to_add.append(addr)
            if vip.type in _NAT_TYPES and vip.port == 0:
                _crash_refused(CRASH_ALL_PORT_NAT_AS)
                return RV_INVALID_ARGUMENT
            for ai in to_update:
                a = self._ass[ai]
                assert a is not None
                a.flags = AS_FLAG_USED
                a.weight = weight
                if flush:
                    self.flush_entries(vip.index, ai)
            for addr in to_add:
                self._create_as(vip, addr, weight)
            vip._table = None
            self._vip_gc(vip, force=False)
            return RV_OK

    def _create_as(self, vip: Vip, addr: int, weight: int) -> _As:
        ai = self._as_free.pop() if self._as_free else len(self._ass)
        a = _As(ai, addr, vip.index)
        a.weight = weight
        if ai == len(self._ass):
            self._ass.append(a)
        else:
            self._ass[ai] = a
        if vip.as_free:
            slot = vip.as_free.pop()
            vip.as_slots[slot] = ai
        else:
            vip.as_slots.append(ai)
        vip.as_by_addr[addr] = ai
        # The AS tracks the FIB entry of its own address (/32 or /128 in table 0).
        a.fib_key = (True, addr & _U32, 32) if vip.encap_is_ip4 else (False, addr, 128)
        self._fib_lock(a.fib_key, vip_source=False)
        return a

    def del_ass(self, vip: Vip, addresses: list[int], flush: bool) -> int:
        """lb_vip_del_ass: any unknown address -> -6 with nothing changed; else mark removed."""
        with self.lock:
            indexes = []
            for n in range(len(addresses) - 1, -1, -1):
                ai = vip.as_by_addr.get(addresses[n])
                if ai is None:
                    return RV_NO_SUCH_ENTRY
                indexes.append(ai)
            self._vip_gc(vip, force=False)  # VPP collects before marking
            now = self._now()
            for ai in indexes:
                a = self._ass[ai]
                if a is None or a.vip_index != vip.index:
                    continue  # freed by the GC pass just above
                a.flags &= ~AS_FLAG_USED
                a.last_used = now  # also re-stamps an AS that was already removed
                if flush:
                    self.flush_entries(vip.index, ai)
            vip._table = None
            return RV_OK

    def set_as_weight(self, vip: Vip, addr: int, weight: int, flush: bool) -> int:
        """lb_vip_set_as_weight: only a USED AS; rebuild, then optionally evict its sessions."""
        with self.lock:
            ai = vip.as_by_addr.get(addr)
            if ai is None or not self._ass[ai].used:  # type: ignore[union-attr]
                return RV_NO_SUCH_ENTRY
            self._ass[ai].weight = weight  # type: ignore[union-attr]
            vip._table = None
            if flush:
                self.flush_entries(vip.index, ai)
            return RV_OK

    def flush_vip(self, ip: IpAddress, plen: int, protocol: int, port: int) -> int:
        """lb_flush_vip: evict the VIP's sticky entries on every thread.  Always 0."""
        with self.lock:
            vip = self._api_find_vip(ip, plen, protocol, port)
            if isinstance(ip, ipaddress.IPv4Address) and not self.personality.flush_finds_ip4:
                vip = None  # 1.1.0's lookup never finds an IPv4 VIP
            if vip is not None:
                self.flush_entries(vip.index, None)
            return RV_OK

    def as_details(self, ip: IpAddress, plen: int, protocol: int, port: int) -> list[dict[str, Any]]:
        """lb_as_v2_dump / lb_as_dump with VPP's filter (see the module docstring).

        Dump-all iff the 16-byte request union is zero; otherwise the raw union (IPv4 in its
        first 4 bytes!) must equal the stored ip46 prefix, and protocol and port must match
        exactly.  plen is ignored.  Removed ASes are included (flags 0).
        """
        with self.lock:
            if isinstance(ip, ipaddress.IPv4Address):
                raw = int(ip) << 96  # the request union: address first, then zero bytes
            else:
                raw = int(ip)
            dump_all = raw == 0
            fixed = self.personality.details_fixed
            if not self.personality.as_dump_port_swapped:
                port = swap16(port)  # 1.1.0 compares the network-order port with the host-order one
            out = []
            for vip in self._vips:
                if vip is None:
                    continue
                if not dump_all and (raw != vip.prefix or protocol != vip.protocol or port != vip.port):
                    continue
                if not vip.as_slots:
                    continue
                counts = self.table(vip).counts()
                if fixed:
                    vip_field = {"pfx": vip.api_pfx(), "protocol": vip.protocol, "port": vip.port}
                else:
                    vip_field = {"pfx": vip.raw_api_pfx(), "protocol": 0, "port": vip.port}
                for ai in vip.as_indexes():
                    if ai == 0:
                        continue
                    a = self._ass[ai]
                    assert a is not None
                    out.append({
                        "vip": vip_field,
                        "app_srv": ip46_to_ipaddress(a.address),
                        "flags": a.flags,
                        "in_use_since": a.last_used,
                        "weight": a.weight,
                        "num_buckets": counts.get(ai, 0),
                    })
            return out

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

    def _deref_all(self, table: _StickyTable) -> None:
        for value in table.values():
            if value:
                self._refcount_add(value, -1)

    def _sticky_table(self, thread: int) -> _StickyTable:
        """lb_get_sticky_table: (re)create when absent or when the bucket count changed."""
        table = self._sticky.get(thread)
        if table is not None and table.nbuckets != self.sticky_buckets:
            self._deref_all(table)  # master regenerates the table on the next packet
            table = None
        if table is None:
            if self.sticky_buckets == 0:
                self._sticky.pop(thread, None)
                raise SimError("sticky_buckets_per_core is 0 (VPP would crash on this packet)")
            table = self._sticky[thread] = _StickyTable(self.sticky_buckets, self.flow_timeout)
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
        nat_all_port = first.port == 0 and first.type in _NAT_TYPES
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

    # ----------------------------------------------------------------- GC
    def _vip_gc(self, vip: Vip, force: bool) -> list[tuple[int, str, int]]:
        """lb_vip_garbage_collection; ``force`` skips (and does not reset) the 60 s rate limit."""
        now = self._now()
        if not force:
            if not _loop_gt(now, vip.last_gc + LB_GARBAGE_RUN):
                return []
            vip.last_gc = now
        freed = []
        for slot, ai in enumerate(vip.as_slots):
            if ai is None:
                continue
            a = self._ass[ai]
            assert a is not None
            if a.used or not _loop_gt(now, a.last_used + LB_CONCURRENCY_TIMEOUT) or a.refcount != 0:
                continue
            if a.fib_key is not None:
                self._fib_unlock(a.fib_key, vip_source=False)
            vip.as_slots[slot] = None
            vip.as_free.append(slot)
            del vip.as_by_addr[a.address]
            self._ass[ai] = None
            self._as_free.append(ai)
            freed.append((ai, a.text(), vip.index))
        if freed:
            vip._table = None
        return freed

    def _garbage_collection(self, force: bool) -> GcResult:
        """lb_garbage_collection: every VIP's AS pass, then free removed VIPs without ASes."""
        result = GcResult([], [])
        to_remove = []
        for vip in self._vips:
            if vip is None:
                continue
            result.freed_ass.extend(self._vip_gc(vip, force))
            if not vip.used and vip.as_count() == 0:
                to_remove.append(vip)
        for vip in to_remove:
            self._vips[vip.index] = None
            self._vip_free.append(vip.index)
            result.freed_vips.append((vip.index, vip.prefix_text()))
        return result

    def gc_tick(self) -> None:
        """One pass of 1.2.0's lb-gc-process (the server calls this every 60 s)."""
        with self.lock:
            if self.personality.periodic_gc:
                self._garbage_collection(force=False)

    def garbage_collection(self, *, force: bool = False) -> GcResult:
        """The global GC pass (CLI ``lb vip``/``lb conf``; ``sim gc`` forces it)."""
        with self.lock:
            return self._garbage_collection(force)
