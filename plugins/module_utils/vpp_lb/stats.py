"""Reads LB and FIB counters from VPP's stats segment through vpp_papi's VPPStats.

The LB per-VIP counters are simple counter vectors whose names are plain strings with spaces
(no leading "/"), indexed [thread][VIP pool index]; they only exist once a VIP was added. VIP
route counters live in /net/route/to at the route's stats index (vpp-facts.md §4).
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

from .errors import VppConnectError, VppDisconnectedError

try:
    from vpp_papi.vpp_stats import VPPStats
except ImportError:  # pragma: no cover - reported at connect time
    VPPStats = None

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

    def vip_counters(self, indexes: Mapping[object, int]) -> Dict[object, Dict[str, int]]:
        """Per key: the four LB counters of the VIP at that pool index, summed over threads."""
        result: Dict[object, Dict[str, int]] = {key: {} for key in indexes}
        for name, field in LB_COUNTERS.items():
            rows = self._get(name) or []
            for key, index in indexes.items():
                result[key][field] = sum(row[index] for row in rows if index < len(row))
        return result

    def route_counters(self, indexes: Mapping[object, int]) -> Dict[object, Tuple[int, int]]:
        """Per key: (packets, bytes) of /net/route/to at that stats index, summed over threads."""
        rows = self._get(ROUTE_COUNTER) or []
        result = {}
        for key, index in indexes.items():
            cells = [row[index] for row in rows if index < len(row)]
            result[key] = (sum(c[0] for c in cells), sum(c[1] for c in cells))
        return result
