"""The agent's clock: unix seconds that move only with the monotonic clock.

Every timer of the agent (warm-up delays, slow-start steps, drain deadlines, reminders, announce
intervals) and every timestamp it shows (transitions, ``since``, the state file, the page) come
from one clock, so that durations computed from them (``now - since``) are never negative and
never stretched. The wall clock can step (NTP's first sync at boot, an operator's ``date -s``, a
VM restored from a snapshot): a drain deadline read from it would end at once after a step
forward and an hour late after a step back. So the clock reads the wall clock once, at start, and
advances it by ``time.monotonic()`` from then on. The price: after a wall clock step, the agent's
timestamps differ from the wall clock by the step until the agent restarts (docs/agent.md).
"""

from __future__ import annotations

import time
from typing import Callable


class SteadyClock:
    """``now()``: the wall clock at creation plus the monotonic time elapsed since."""

    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic):
        self._monotonic = monotonic
        self._offset = wall() - monotonic()

    def now(self) -> float:
        return self._offset + self._monotonic()


_CLOCK = SteadyClock()

# The status API's answers carry the agent's time in this header, so that maglevctl computes ages
# ("up 5m", "3s ago") against the clock the timestamps came from, not its own wall clock.
HTTP_HEADER = "Maglev-Agent-Time"


def now() -> float:
    """The agent's time (unix seconds, steady): what the daemon passes to the core as ``now``."""
    return _CLOCK.now()


__all__ = ["HTTP_HEADER", "SteadyClock", "now"]
