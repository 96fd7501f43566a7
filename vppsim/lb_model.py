"""The lb plugin's vocabulary in the simulator: VPP's constants and return values, the two
personalities (LB API 1.2.0 and 1.1.0), ip46 address helpers, and the VIP and AS records the
plugin keeps in its pools (see :mod:`vppsim.lb` for how they behave).
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from vppsim.maglev import NewFlowTable

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
IP4_VIP_TYPES = frozenset((VIP_IP4_GRE6, VIP_IP4_GRE4, VIP_IP4_L3DSR, VIP_IP4_NAT4))
_IP4_ENCAP_TYPES = frozenset((VIP_IP6_GRE4, VIP_IP4_GRE4, VIP_IP4_L3DSR, VIP_IP4_NAT4))
NAT_TYPES = frozenset((VIP_IP4_NAT4, VIP_IP6_NAT6))

# lb_encap_type (API enum) and lb_srv_type.
ENCAP_GRE4, ENCAP_GRE6, ENCAP_L3DSR, ENCAP_NAT4, ENCAP_NAT6 = 0, 1, 2, 3, 4
SRV_CLUSTERIP, SRV_NODEPORT = 0, 1
TYPE_TO_API_ENCAP = {
    VIP_IP4_GRE4: ENCAP_GRE4,
    VIP_IP6_GRE4: ENCAP_GRE4,
    VIP_IP4_GRE6: ENCAP_GRE6,
    VIP_IP6_GRE6: ENCAP_GRE6,
    VIP_IP4_L3DSR: ENCAP_L3DSR,
    VIP_IP4_NAT4: ENCAP_NAT4,
    VIP_IP6_NAT6: ENCAP_NAT6,
}
IP4_ENCAP_TO_TYPE = {
    ENCAP_GRE4: VIP_IP4_GRE4,
    ENCAP_GRE6: VIP_IP4_GRE6,
    ENCAP_L3DSR: VIP_IP4_L3DSR,
    ENCAP_NAT4: VIP_IP4_NAT4,
}
IP6_ENCAP_TO_TYPE = {ENCAP_GRE4: VIP_IP6_GRE4, ENCAP_GRE6: VIP_IP6_GRE6, ENCAP_NAT6: VIP_IP6_NAT6}

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

U32 = 0xFFFFFFFF
ALL_ONES = (1 << 128) - 1
NO_VIP = 0xFFFFFFFF  # the vip of a flushed sticky entry: matches no VIP index

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
    return addr & (ALL_ONES ^ ((1 << (128 - plen)) - 1))


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
    return format_ip4(addr & U32) if ip46_is_ip4(addr) else format_ip6(addr)


def format_ip46_prefix(addr: int, plen: int) -> str:
    if ip46_prefix_is_ip4(addr, plen):
        return f"{format_ip4(addr & U32)}/{plen - 96}"
    return f"{format_ip6(addr)}/{plen}"


def ip46_to_ipaddress(addr: int) -> IpAddress:
    """ip_address_encode(IP46_TYPE_ANY): the family follows ip46_address_is_ip4."""
    if ip46_is_ip4(addr):
        return ipaddress.IPv4Address(addr)
    return ipaddress.IPv6Address(addr)


def swap16(v: int) -> int:
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


def loop_gt(a: int, b: int) -> bool:
    """clib_u32_loop_gt: a > b on the 32-bit circle."""
    d = (a - b) & U32
    return 0 < d < 0x80000000


def is_pow2(v: int) -> bool:
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
        return self.type in IP4_VIP_TYPES

    @property
    def encap_is_ip4(self) -> bool:
        return self.type in _IP4_ENCAP_TYPES

    @property
    def encap_byte(self) -> int:
        """The first byte of VPP's encap_args union (dscp, or srv_type for NAT)."""
        if self.type == VIP_IP4_L3DSR:
            return self.dscp
        if self.type in NAT_TYPES:
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


class AsEntry:
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


class FibEntry:
    __slots__ = ("lb_index", "vip_refs", "as_refs")

    def __init__(self, lb_index: int) -> None:
        self.lb_index = lb_index
        self.vip_refs = 0  # source "lb": USED VIPs on this prefix
        self.as_refs = 0  # source "recursive-resolution": ASes tracking this next hop


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


def crash_refused(what: str) -> None:
    """Say on stderr (the API has no error text) that a real-VPP crash trigger was refused."""
    sys.stderr.write(f"vppsim: {what}\n")
    sys.stderr.flush()


class SimError(Exception):
    """A simulator-only command could not run; the message is the CLI error text."""
