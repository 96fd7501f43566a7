"""Warm-up: which frontends the agent may write to VPP after it starts. Pure; callers pass ``now``.

Restart neutrality (vpp-maglev's warm-up, made stricter): an agent that starts knows nothing
about its backends, and VPP usually still holds good weights from before. So:

* before ``min_delay`` nothing is released (no VPP writes of frontend weights);
* from ``min_delay`` on, a frontend is released as soon as none of its backends is
  ``unknown``: its weights then rest on results, not on the agent's ignorance;
* a frontend whose backends are still unknown at ``max_delay`` stays held (VPP keeps its
  weights) and the agent says so (``overdue``); it is released once its results arrive.
  vpp-maglev releases everything at ``max_delay``, which pushes weight 0 for every backend
  without a result: a side effect of the agent's own state, never a decision about a backend.

A released frontend stays released for the agent's life (a reload's new frontends are held
until their backends have results). ``warmup.max_delay: 0`` turns the timing off: frontends are
released as soon as they are ready.
"""

from __future__ import annotations

from typing import Callable, FrozenSet, Iterable, List, Optional, Set

HOLDING = "holding"  # before min_delay: no frontend released
RELEASING = "releasing"  # some frontends released, others wait for their first results
DONE = "done"  # every frontend released


class Warmup:
    def __init__(self, started_at: float, min_delay: float, max_delay: float) -> None:
        self.started_at = started_at
        self.min_delay = min_delay
        self.max_delay = max_delay
        self._released: Set[str] = set()
        self._frontends: FrozenSet[str] = frozenset()

    def retune(self, min_delay: float, max_delay: float) -> None:
        """A reload changed the delays: they count from the agent's start, as before."""
        self.min_delay, self.max_delay = min_delay, max_delay

    def is_released(self, frontend: str) -> bool:
        return frontend in self._released

    @property
    def released(self) -> FrozenSet[str]:
        return frozenset(self._released)

    def held(self) -> List[str]:
        return sorted(self._frontends - self._released)

    def status(self, now: float) -> str:
        if self._frontends and self._frontends <= self._released:
            return DONE
        if not self._frontends and self._timing_over(now):
            return DONE
        return RELEASING if self._released or self._gate_open(now) else HOLDING

    def overdue(self, now: float) -> List[str]:
        """Frontends still held after max_delay (their backends have no result yet)."""
        return self.held() if self._timing_over(now) else []

    def step(self, now: float, frontends: Iterable[str], ready: Callable[[str], bool]) -> List[str]:
        """Release what may be released at ``now``; returns the newly released frontends, sorted.

        ``frontends`` is the config's whole list (forgets the ones that left it); ``ready(name)``
        says whether none of that frontend's backends is unknown.
        """
        self._frontends = frozenset(frontends)
        self._released &= self._frontends
        if not self._gate_open(now):
            return []
        newly = sorted(name for name in self._frontends - self._released if ready(name))
        self._released.update(newly)
        return newly

    def next_edge(self, now: float) -> Optional[float]:
        """Seconds until min_delay or max_delay, whichever comes next; None when both passed."""
        for edge in (self.min_delay, self.max_delay):
            left = self.started_at + edge - now
            if left > 0:
                return left
        return None

    def _gate_open(self, now: float) -> bool:
        return self.max_delay <= 0 or now - self.started_at >= self.min_delay

    def _timing_over(self, now: float) -> bool:
        return self.max_delay <= 0 or now - self.started_at >= self.max_delay
