"""Plain counters the agent keeps for the exporter: probes, probe durations, transitions.

Mutated only on the agent's event loop. A scrape takes ``copy()`` there (dict copies: the
values are immutable, a histogram is replaced and never changed) and renders it in a worker
thread, so no locks.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

# Probe durations in seconds: from a loopback answer to a timeout.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_NO_COUNTS = (0,) * (len(DURATION_BUCKETS) + 1)


@dataclass(frozen=True)
class DurationHistogram:
    """Observations per bucket (last: +Inf) and their sum. Immutable: a copy of the counters
    shares it with the loop, which replaces it (``observed``) instead of changing it."""

    counts: Tuple[int, ...] = _NO_COUNTS
    total: float = 0.0

    def observed(self, seconds: float) -> DurationHistogram:
        """This histogram with one more observation."""
        i = bisect.bisect_left(DURATION_BUCKETS, seconds)
        counts = self.counts
        return DurationHistogram(counts[:i] + (counts[i] + 1,) + counts[i + 1:], self.total + seconds)

    def cumulative(self) -> List[Tuple[float, int]]:
        """(upper bound, count of observations <= it), +Inf last."""
        running, result = 0, []
        for bound, count in zip(DURATION_BUCKETS + (float("inf"),), self.counts, strict=True):
            running += count
            result.append((bound, running))
        return result

    @property
    def count(self) -> int:
        return sum(self.counts)


EMPTY_HISTOGRAM = DurationHistogram()


@dataclass
class AgentCounters:
    probes: Dict[Tuple[str, str, str, str], int] = field(default_factory=dict)  # (backend, type, result, code)
    durations: Dict[Tuple[str, str], DurationHistogram] = field(default_factory=dict)  # (backend, type)
    transitions: Dict[Tuple[str, str, str], int] = field(default_factory=dict)  # (backend, from, to)
    announce_runs: Dict[Tuple[str, str, str], int] = field(default_factory=dict)  # (frontend, state, result)
    announced: Dict[str, Optional[str]] = field(default_factory=dict)  # frontend -> last announced state
    # How late each probe started after its due time: the probe loop falling behind (a busy loop).
    probe_lag: DurationHistogram = field(default_factory=DurationHistogram)

    def announce_run(self, frontend: str, state: str, result: str) -> None:
        key = (frontend, state, result)
        self.announce_runs[key] = self.announce_runs.get(key, 0) + 1

    def lag(self, seconds: float) -> None:
        self.probe_lag = self.probe_lag.observed(seconds)

    def probe(self, backend: str, kind: str, ok: bool, code: str, duration: float) -> None:
        key = (backend, kind, "success" if ok else "failure", code)
        self.probes[key] = self.probes.get(key, 0) + 1
        histogram = self.durations.get((backend, kind), EMPTY_HISTOGRAM)
        self.durations[(backend, kind)] = histogram.observed(duration)

    def copy(self) -> AgentCounters:
        """A copy for a reader in another thread: the dicts copied (the values are immutable)."""
        return AgentCounters(self.probes.copy(), self.durations.copy(), self.transitions.copy(),
                             self.announce_runs.copy(), self.announced.copy(), self.probe_lag)

    def transition(self, backend: str, from_state: str, to_state: str) -> None:
        key = (backend, from_state, to_state)
        self.transitions[key] = self.transitions.get(key, 0) + 1

    def forget(self, backend: str) -> None:
        """Drop every series of a backend that left the config (no stale series forever)."""
        self.probes = {k: v for k, v in self.probes.items() if k[0] != backend}
        self.durations = {k: v for k, v in self.durations.items() if k[0] != backend}
        self.transitions = {k: v for k, v in self.transitions.items() if k[0] != backend}
