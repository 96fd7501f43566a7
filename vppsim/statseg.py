"""The stats segment: a memfd laid out exactly like VPP's (STAT_SEGMENT_VERSION 2).

Clients (``vpp_papi.vpp_stats.VPPStats``) receive the memfd over the stats socket, mmap it
read-only and walk it themselves, so the layout is the contract:

* header at offset 0, native ``"QPQQPP"``: version=2, base, epoch, in_progress,
  directory_vector, error_vector (0);
* every pointer is ``BASE + offset`` (VPP stores its own virtual addresses; clients subtract
  ``base``), so any base works as long as it is used consistently;
* a vector is a pointer to element 0 with its u32 length 8 bytes before it;
* the directory vector holds 144-byte ``"IQ128s"`` entries (type, value/pointer, name).

Structural changes (new entries, longer or moved vectors) follow VPP's optimistic protocol:
``in_progress=1``, change, ``epoch += 1``, ``in_progress=0``. Counter values are written in
place without touching the epoch, as VPP's data plane does.

The segment is sized once (clients never remap) and memory is never reused: vectors grow by
doubling into fresh space, so a reader holding a stale pointer still reads old, consistent
data until it notices the epoch change.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time

BASE = 0x7F0000000000
VERSION = 2
DEFAULT_SIZE = 64 << 20

TYPE_SCALAR = 1
TYPE_SIMPLE = 2
TYPE_COMBINED = 3
TYPE_NAME_VECTOR = 4
TYPE_EMPTY = 5
TYPE_SYMLINK = 6
TYPE_GAUGE = 9

_HEADER = struct.Struct("QPQQPP")
_OFF_EPOCH = 16
_OFF_IN_PROGRESS = 24
_OFF_DIRECTORY = 32
_ENTRY = struct.Struct("IQ128s")
_ENTRY_VALUE_OFF = 8  # u32 type + 4 bytes padding, then the u64 union
_U32 = struct.Struct("I")
_U64 = struct.Struct("Q")
_PAIR = struct.Struct("QQ")
_U64MAX = 0xFFFFFFFFFFFFFFFF
_HEAP_START = 4096  # VPP's heap starts one page into the segment
_VEC_HDR = 16  # room before element 0; the length lives at data - 8
_TAIL_GUARD = 4096  # never let a vector end at the segment end (the client's ">=" check)


class _Counter:
    """Bookkeeping for one simple or combined counter entry."""

    __slots__ = ("kind", "elsize", "index", "threads_vec", "rows", "length", "capacity")

    def __init__(self, kind: int, elsize: int, index: int) -> None:
        self.kind = kind
        self.elsize = elsize
        self.index = index
        self.threads_vec = 0
        self.rows: list[int] = []
        self.length = 0
        self.capacity = 0


class StatsSegment:
    """A VPP-compatible stats segment in a memfd (see module docstring)."""

    def __init__(
        self,
        n_threads: int = 1,
        size: int = DEFAULT_SIZE,
        boottime: int | None = None,
        route_slots: int = 8,
    ) -> None:
        if n_threads < 1:
            raise ValueError("n_threads must be >= 1")
        self.n_threads = n_threads
        self.size = size
        self.fd = os.memfd_create("vppsim-stats", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self._mm = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._lock = threading.RLock()
        self._next = _HEAP_START
        self._names: dict[str, int] = {}
        self._counters: dict[str, _Counter] = {}
        self._dir_count = 0
        self._dir_capacity = 64
        self._dir = self._alloc(self._dir_capacity * _ENTRY.size)
        self._set_vec_len(self._dir, 0)
        _HEADER.pack_into(self._mm, 0, VERSION, BASE, 1, 0, BASE + self._dir, 0)
        self.boottime = int(time.time()) if boottime is None else int(boottime)
        # Fixed order: clients (and VPP's own tools) expect these at indexes 0, 1, 2.
        self.set_scalar("/sys/heartbeat", 0)
        self.set_scalar("/sys/last_stats_clear", 0)
        self.set_scalar("/sys/boottime", self.boottime)
        self.set_gauge("/sys/vector_rate", 0)
        self.set_gauge("/sys/num_worker_threads", n_threads - 1)
        self.ensure_combined("/net/route/to", route_slots)
        self.ensure_combined("/net/route/via", route_slots)

    # ------------------------------------------------------------------ low level
    def _alloc(self, nbytes: int) -> int:
        """Bump-allocate a vector body; returns the offset of element 0 (16-aligned)."""
        data = (self._next + _VEC_HDR + 15) & ~15
        end = data + max(nbytes, 16)
        if end + _TAIL_GUARD > self.size:
            raise MemoryError(f"stats segment full ({self.size} bytes); start with a larger --stats-size")
        self._next = (end + 15) & ~15
        return data

    def _set_vec_len(self, data: int, n: int) -> None:
        _U32.pack_into(self._mm, data - 8, n)

    def _begin(self) -> None:
        _U64.pack_into(self._mm, _OFF_IN_PROGRESS, 1)

    def _end(self) -> None:
        epoch = _U64.unpack_from(self._mm, _OFF_EPOCH)[0]
        _U64.pack_into(self._mm, _OFF_EPOCH, epoch + 1)
        _U64.pack_into(self._mm, _OFF_IN_PROGRESS, 0)

    @property
    def epoch(self) -> int:
        return _U64.unpack_from(self._mm, _OFF_EPOCH)[0]

    def _add_entry(self, name: str, etype: int, value: int) -> int:
        """Append a directory entry; caller holds the lock and has called _begin()."""
        raw = name.encode("ascii")
        if len(raw) > 127:
            raise ValueError(f"stats name too long: {name!r}")
        if self._dir_count == self._dir_capacity:
            new_cap = self._dir_capacity * 2
            new_dir = self._alloc(new_cap * _ENTRY.size)
            used = self._dir_count * _ENTRY.size
            self._mm[new_dir : new_dir + used] = self._mm[self._dir : self._dir + used]
            self._set_vec_len(new_dir, self._dir_count)
            self._dir, self._dir_capacity = new_dir, new_cap
            _U64.pack_into(self._mm, _OFF_DIRECTORY, BASE + new_dir)
        index = self._dir_count
        _ENTRY.pack_into(self._mm, self._dir + index * _ENTRY.size, etype, value, raw)
        self._dir_count += 1
        self._set_vec_len(self._dir, self._dir_count)
        self._names[name] = index
        return index

    def _entry_value_off(self, index: int) -> int:
        return self._dir + index * _ENTRY.size + _ENTRY_VALUE_OFF

    # ------------------------------------------------------------------ scalars
    def _set_value(self, name: str, value: int, etype: int) -> None:
        with self._lock:
            index = self._names.get(name)
            if index is None:
                self._begin()
                try:
                    self._add_entry(name, etype, value & _U64MAX)
                finally:
                    self._end()
            else:
                # In place, no epoch bump: vpp_papi >= 2.4.1 re-reads the value on every access.
                _U64.pack_into(self._mm, self._entry_value_off(index), value & _U64MAX)

    def set_scalar(self, name: str, value: int) -> None:
        """Set (creating if needed) a SCALAR_INDEX entry (type 1); the value lives in the entry."""
        self._set_value(name, value, TYPE_SCALAR)

    def set_gauge(self, name: str, value: int) -> None:
        """Set (creating if needed) a GAUGE entry (type 9, VPP >= 26.02; read like a scalar)."""
        self._set_value(name, value, TYPE_GAUGE)

    def get_scalar(self, name: str) -> int:
        with self._lock:
            return _U64.unpack_from(self._mm, self._entry_value_off(self._names[name]))[0]

    # ------------------------------------------------------------------ counter vectors
    def _ensure(self, name: str, length: int, kind: int, elsize: int) -> _Counter:
        with self._lock:
            c = self._counters.get(name)
            if c is not None and c.kind != kind:
                raise TypeError(f"{name!r} exists with another type")
            if c is not None and length <= c.length:
                return c
            self._begin()
            try:
                if c is None:
                    c = _Counter(kind, elsize, -1)
                    c.threads_vec = self._alloc(self.n_threads * 8)
                    self._set_vec_len(c.threads_vec, self.n_threads)
                    c.index = self._add_entry(name, kind, BASE + c.threads_vec)
                    self._counters[name] = c
                if length > c.capacity:
                    new_cap = max(16, c.capacity)
                    while new_cap < length:
                        new_cap *= 2
                    rows = []
                    for t in range(self.n_threads):
                        row = self._alloc(new_cap * elsize)
                        if c.rows:
                            old = c.rows[t]
                            used = c.length * elsize
                            self._mm[row : row + used] = self._mm[old : old + used]
                        rows.append(row)
                    for t, row in enumerate(rows):
                        self._set_vec_len(row, c.length)
                        _U64.pack_into(self._mm, c.threads_vec + 8 * t, BASE + row)
                    c.rows, c.capacity = rows, new_cap
                c.length = max(c.length, length)
                # Fresh memory is zero and vectors never shrink, so new elements read 0.
                for row in c.rows:
                    self._set_vec_len(row, c.length)
            finally:
                self._end()
            return c

    def ensure_simple(self, name: str, length: int) -> None:
        """Create simple counter ``name`` (type 2) if absent; grow every thread row to >= length."""
        self._ensure(name, length, TYPE_SIMPLE, 8)

    def ensure_combined(self, name: str, length: int) -> None:
        """Create combined counter ``name`` (type 3, (packets, bytes)) if absent; grow to >= length."""
        self._ensure(name, length, TYPE_COMBINED, 16)

    def _slot(self, name: str, kind: int, thread: int, index: int) -> int:
        c = self._counters[name]
        if c.kind != kind:
            raise TypeError(f"{name!r} has another type")
        if not 0 <= thread < self.n_threads:
            raise IndexError(f"thread {thread} out of range (n_threads={self.n_threads})")
        if not 0 <= index < c.length:
            raise IndexError(f"{name!r}[{index}] beyond length {c.length}")
        return c.rows[thread] + index * c.elsize

    def add_simple(self, name: str, thread: int, index: int, value: int = 1) -> None:
        with self._lock:
            off = self._slot(name, TYPE_SIMPLE, thread, index)
            cur = _U64.unpack_from(self._mm, off)[0]
            _U64.pack_into(self._mm, off, (cur + value) & _U64MAX)

    def set_simple(self, name: str, thread: int, index: int, value: int) -> None:
        with self._lock:
            _U64.pack_into(self._mm, self._slot(name, TYPE_SIMPLE, thread, index), value & _U64MAX)

    def add_combined(self, name: str, thread: int, index: int, packets: int, nbytes: int) -> None:
        with self._lock:
            off = self._slot(name, TYPE_COMBINED, thread, index)
            p, b = _PAIR.unpack_from(self._mm, off)
            _PAIR.pack_into(self._mm, off, (p + packets) & _U64MAX, (b + nbytes) & _U64MAX)

    def set_combined(self, name: str, thread: int, index: int, packets: int, nbytes: int) -> None:
        with self._lock:
            off = self._slot(name, TYPE_COMBINED, thread, index)
            _PAIR.pack_into(self._mm, off, packets & _U64MAX, nbytes & _U64MAX)

    def get_simple(self, name: str, thread: int, index: int) -> int:
        with self._lock:
            return _U64.unpack_from(self._mm, self._slot(name, TYPE_SIMPLE, thread, index))[0]

    def get_combined(self, name: str, thread: int, index: int) -> tuple[int, int]:
        with self._lock:
            return _PAIR.unpack_from(self._mm, self._slot(name, TYPE_COMBINED, thread, index))

    def length(self, name: str) -> int:
        """Current vector length of a counter entry (0 if absent)."""
        with self._lock:
            c = self._counters.get(name)
            return c.length if c else 0

    def names(self) -> list[str]:
        with self._lock:
            return list(self._names)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the server's mapping and fd; clients keep their own mappings (as after a VPP exit)."""
        with self._lock:
            if self.fd >= 0:
                self._mm.close()
                os.close(self.fd)
                self.fd = -1
