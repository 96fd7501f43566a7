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
import threading
import time
from bisect import insort
from collections.abc import Callable, Iterator

from vppsim.lb_api import ApiMessages
from vppsim.lb_dataplane import DataPlane, StickyTable
from vppsim.lb_model import (
    ALL_ONES,
    AS_FLAG_USED,
    BOOT_ROUTES,
    CRASH_ALL_PORT_NAT_AS,
    DEFAULT_FLOW_TIMEOUT,
    DEFAULT_STICKY_BUCKETS,
    IP4_VIP_TYPES,
    LB_CONCURRENCY_TIMEOUT,
    LB_GARBAGE_RUN,
    NAT_TYPES,
    PERSONALITIES,
    ROUTE_TO,
    ROUTE_VIA,
    RV_INVALID_ADDRESS_FAMILY,
    RV_INVALID_ARGUMENT,
    RV_INVALID_MEMORY_SIZE,
    RV_INVALID_VALUE,
    RV_NO_SUCH_ENTRY,
    RV_OK,
    RV_VALUE_EXIST,
    SRV_NODEPORT,
    U32,
    VIP_COUNTER_NAMES,
    VIP_FLAG_SRC_IP_STICKY,
    VIP_FLAG_USED,
    VIP_IP4_L3DSR,
    VIP_IP6_GRE6,
    AsEntry,
    CounterSink,
    FibEntry,
    GcResult,
    IpAddress,
    Vip,
    crash_refused,
    ip46_is_ip4,
    ip46_normalize,
    ip46_prefix_is_ip4,
    is_pow2,
    loop_gt,
)
from vppsim.maglev import NewFlowTable, build_table


# --------------------------------------------------------------------------- the plugin
class LbPlugin(ApiMessages, DataPlane):
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
        self.ip6_src = ALL_ONES
        self.sticky_buckets = DEFAULT_STICKY_BUCKETS
        self.flow_timeout = DEFAULT_FLOW_TIMEOUT

        placeholder = Vip(0, ALL_ONES, 0, 255, 0, VIP_IP6_GRE6)
        self._vips: list[Vip | None] = [placeholder]
        self._vip_free: list[int] = []
        drop_as = AsEntry(0, ALL_ONES, U32)
        drop_as.flags = 0
        self._ass: list[AsEntry | None] = [drop_as]
        self._as_free: list[int] = []
        # Indexes over USED VIPs (VPP scans the pool; the answers are the same).
        self._used_by_key: dict[tuple[int, int, int, int], int] = {}
        self._used_on_prefix: dict[tuple[int, int], list[int]] = {}
        self._nodeports: dict[int, int] = {}  # never cleaned up, as in VPP

        self._fib: dict[tuple[bool, int, int], FibEntry] = {}
        self._lb_next = BOOT_ROUTES
        self._lb_free: list[int] = []
        counters.ensure_combined(ROUTE_TO, BOOT_ROUTES)
        counters.ensure_combined(ROUTE_VIA, BOOT_ROUTES)

        self._sticky: dict[int, StickyTable] = {}  # thread -> table, created on its first packet

    # ----------------------------------------------------------------- time
    def uptime(self) -> float:
        return self._clock() - self._boot

    def _now(self) -> int:
        """(u32) vlib_time_now: whole seconds since start."""
        return int(self.uptime()) & U32

    def hash_now(self) -> int:
        """lb_hash_time_now: (u32) (vlib_time_now + 10000)."""
        return int(self.uptime() + 10000) & U32

    # ----------------------------------------------------------------- pools
    def vip(self, index: int) -> Vip | None:
        return self._vips[index] if 0 <= index < len(self._vips) else None

    def vips(self) -> Iterator[Vip]:
        """All VIPs in pool order, placeholder and removed ones included."""
        return (v for v in self._vips if v is not None)

    def as_(self, index: int) -> AsEntry | None:
        return self._ass[index] if 0 <= index < len(self._ass) else None

    def n_vips(self) -> int:
        return len(self._vips) - len(self._vip_free)

    def n_ass(self) -> int:
        return len(self._ass) - len(self._as_free)

    def sticky_tables(self) -> dict[int, StickyTable]:
        return self._sticky

    def dpo_index(self, a: AsEntry) -> int:
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
            entry = self._fib[key] = FibEntry(self._lb_alloc())
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
            return (True, vip.prefix & U32, vip.plen - 96)
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
    def set_conf(self, ip4: int, ip6: int, buckets: int, timeout: int) -> int:
        """lb_conf with resolved numbers (the CLI's path); the caller holds ``lock``."""
        if not is_pow2(buckets):
            return RV_INVALID_MEMORY_SIZE
        self.ip4_src, self.ip6_src = ip4, ip6
        self.sticky_buckets, self.flow_timeout = buckets & U32, timeout & U32
        return RV_OK

    # ----------------------------------------------------------------- lookup
    def find_vip(self, prefix: int, plen: int, protocol: int, port: int) -> Vip | None:
        """lb_vip_find_index: a USED VIP with exactly this key (prefix is normalised here)."""
        idx = self._used_by_key.get((ip46_normalize(prefix, plen), plen, protocol & 0xFF, port & 0xFFFF))
        return None if idx is None else self._vips[idx]

    # ----------------------------------------------------------------- VIPs
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
                return RV_VALUE_EXIST, U32
            same_prefix = [self._vips[i] for i in self._used_on_prefix.get((prefix, plen), ())]
            if port != 0 and any(v.port == 0 for v in same_prefix):
                return RV_VALUE_EXIST, U32  # all-port VIP already owns the prefix
            other = next((v for v in same_prefix if v.protocol != protocol or v.port != port), None)
            if port == 0 and other is not None:
                return RV_VALUE_EXIST, U32  # per-port VIPs already own the prefix
            if port != 0 and other is not None and other.type != vtype:
                return RV_INVALID_ARGUMENT, U32  # all ports of a prefix share one encap
            if not is_pow2(new_len):
                return RV_INVALID_MEMORY_SIZE, U32  # 0 passes: VPP's is_pow2(0) is true
            is4 = ip46_prefix_is_ip4(prefix, plen)
            if is4 != (vtype in IP4_VIP_TYPES):
                return RV_INVALID_ADDRESS_FAMILY, U32
            if vtype == VIP_IP4_L3DSR and dscp >= 64:
                return RV_VALUE_EXIST, U32  # sic: VPP's code returns VALUE_EXIST here
            if new_len == 0:
                # Past every check, VPP builds a 2^32 table and aborts; refused here (deliberate deviation).
                return RV_INVALID_MEMORY_SIZE, U32

            vip_index = self._vip_free.pop() if self._vip_free else len(self._vips)
            vip = Vip(vip_index, prefix, plen, protocol, port, vtype)
            if vip_index == len(self._vips):
                self._vips.append(vip)
            else:
                self._vips[vip_index] = vip
            vip.last_gc = self._now()
            if vtype == VIP_IP4_L3DSR:
                vip.dscp = dscp
            elif vtype in NAT_TYPES:
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

            if vtype in NAT_TYPES and vip.srv_type == SRV_NODEPORT:
                # VPP checks this only after creating the VIP: it stays, half set up (no filter).
                if port in self._nodeports:
                    return RV_VALUE_EXIST, U32
                self._nodeports[port] = vip_index
            vip.port_filter = port != 0
            return RV_OK, vip_index

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

    # ----------------------------------------------------------------- ASes
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
            if vip.type in NAT_TYPES and vip.port == 0:
                crash_refused(CRASH_ALL_PORT_NAT_AS)
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

    def _create_as(self, vip: Vip, addr: int, weight: int) -> AsEntry:
        ai = self._as_free.pop() if self._as_free else len(self._ass)
        a = AsEntry(ai, addr, vip.index)
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
        a.fib_key = (True, addr & U32, 32) if vip.encap_is_ip4 else (False, addr, 128)
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

    # ----------------------------------------------------------------- GC
    def _vip_gc(self, vip: Vip, force: bool) -> list[tuple[int, str, int]]:
        """lb_vip_garbage_collection; ``force`` skips (and does not reset) the 60 s rate limit."""
        now = self._now()
        if not force:
            if not loop_gt(now, vip.last_gc + LB_GARBAGE_RUN):
                return []
            vip.last_gc = now
        freed = []
        for slot, ai in enumerate(vip.as_slots):
            if ai is None:
                continue
            a = self._ass[ai]
            assert a is not None
            if a.used or not loop_gt(now, a.last_used + LB_CONCURRENCY_TIMEOUT) or a.refcount != 0:
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
