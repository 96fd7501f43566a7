"""Reads LB and FIB counters from VPP's stats segment through vpp_papi's VPPStats.

The LB per-VIP counters are simple counter vectors whose names are plain strings with spaces
(no leading "/"), indexed [thread][VIP pool index]; they only exist once a VIP was added. VIP
route counters live in /net/route/to at the route's stats index (vpp-facts.md §4).
"""

from __future__ import annotations

from typing import Collection, Dict, List, Mapping, Optional, Tuple

from .errors import VppConnectError, VppDisconnectedError

try:
    from vpp_papi.vpp_stats import StatsVector, VPPStats
except ImportError:  # pragma: no cover - reported at connect time
    StatsVector = VPPStats = None

# stats-segment name -> VipCounters field
LB_COUNTERS = {
    "packet from existing sessions": "next_packets",
    "first session packet": "first_packets",
    "untracked packet": "untracked_packets",
    "no server configured": "no_server_packets",
}
ROUTE_COUNTER = "/net/route/to"
# The segment is read optimistically: a read that overlaps a writer's structural change is
# retried. vpp_papi's own blocking mode retries forever; we give up after this many tries.
READ_ATTEMPTS = 1000


class LbStatsReader:
    """One mapping of the stats segment. Not thread-safe; the agent owns it in one task."""

    def __init__(self, stats_socket: str):
        self.stats_socket = stats_socket
        self._stats = None

    def connect(self) -> None:
        if VPPStats is None:
            raise VppConnectError("the vpp_papi Python package is not installed")
        if self._stats is not None:
            return
        stats = VPPStats(socketname=self.stats_socket)
        try:
            stats.connect()
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise VppConnectError(f"VPP stats socket {self.stats_socket}: {exc}: is VPP running?") from exc
        except PermissionError as exc:
            raise VppConnectError(f"permission denied on VPP stats socket {self.stats_socket}") from exc
        except OSError as exc:
            raise VppConnectError(f"VPP stats socket {self.stats_socket}: {exc}") from exc
        self._stats = stats

    def disconnect(self) -> None:
        """Unmap the segment. After a VPP restart the old mapping is stale: disconnect and connect."""
        stats, self._stats = self._stats, None
        if stats is not None:
            stats.disconnect()

    def __enter__(self) -> LbStatsReader:
        self.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        self.disconnect()

    def _get(self, name: str):
        """The counter, or None when the segment has no such entry."""
        if self._stats is None:
            self.connect()
        for _attempt in range(READ_ATTEMPTS):
            try:
                return self._stats.__getitem__(name, blocking=False)
            except KeyError:
                return None
            except OSError:
                continue  # a writer changed the directory while we read; read again
        raise VppDisconnectedError(f"stats segment {self.stats_socket} stayed busy: is VPP stuck?")

    def boottime(self) -> Optional[int]:
        """VPP's start time (unix seconds); a change means VPP restarted."""
        return self._get("/sys/boottime")

    def _entries_at(self, name: str, fmt: str, indexes: Collection[int]) -> Dict[int, List]:
        """index -> the counter's entry at that index in each thread's vector (``fmt``: "Q" for a
        simple counter, "QQ" for a combined one); [] for every index when there is no such counter.

        Decodes only the entries asked for, under one optimistic lock (a writer's structural
        change in between raises OSError: read again). vpp_papi's ``stats[name]`` decodes whole
        vectors, a dict-carrying tuple per combined entry: most of a 5,000-VIP read
        (docs/performance.md, "Profile at 5,000 VIPs")."""
        if self._stats is None:
            self.connect()
        stats = self._stats
        for _attempt in range(READ_ATTEMPTS):
            try:
                if stats.last_epoch != stats.epoch:
                    stats.refresh(blocking=False)
                entry = stats.directory.get(name)
                if entry is None:
                    return {index: [] for index in indexes}
                with stats.lock:
                    rows = [StatsVector(stats, ptr, fmt) for (ptr,) in StatsVector(stats, entry.value, "P")]
                    return {index: [_unpack_at(row, index) for row in rows if index < row.vec_len]
                            for index in indexes}
            except OSError:
                continue  # a writer changed the directory or a vector while we read; read again
        raise VppDisconnectedError(f"stats segment {self.stats_socket} stayed busy: is VPP stuck?")

    def vip_counters(self, indexes: Mapping[object, int]) -> Dict[object, Dict[str, int]]:
        """Per key: the four LB counters of the VIP at that pool index, summed over threads."""
        wanted = set(indexes.values())
        columns = {field: self._entries_at(name, "Q", wanted) for name, field in LB_COUNTERS.items()}
        return {key: {field: sum(column[index]) for field, column in columns.items()}
                for key, index in indexes.items()}

    def route_counters(self, indexes: Mapping[object, int]) -> Dict[object, Tuple[int, int]]:
        """Per key: (packets, bytes) of /net/route/to at that stats index, summed over threads."""
        column = self._entries_at(ROUTE_COUNTER, "QQ", set(indexes.values()))
        result = {}
        for key, index in indexes.items():
            cells = column[index]
            result[key] = (sum(c[0] for c in cells), sum(c[1] for c in cells))
        return result


def _unpack_at(row, index: int):
    """Entry ``index`` of a StatsVector, read inside the caller's lock (``row[index]`` takes the
    lock again per entry, most of the cost of a large read): an int for a simple counter, a
    (packets, bytes) tuple for a combined one."""
    value = row.struct.unpack_from(row.statseg, row.offset(index))
    return value[0] if row.fmtlen == 1 else value
