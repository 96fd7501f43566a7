"""The probe loops' sleeps until their next probe, movable when the schedule's stretch changes.

A probe due ``delay`` seconds (its interval, jittered) after its last start waits ``delay`` x
the stretch factor (agent/starvation.py). Computed once at the start of the sleep, a factor of 8
would hold a probe for 8 intervals after the agent had the CPU again: at 5,000 backends every
5 s, a backend that failed then went unnoticed for up to 40 s while the factor had long decayed.
So every sleep stays registered here, and a change of the factor moves each to the due time the
new factor gives: earlier as the stretch relaxes, later as it grows (shedding the load at once).

A sleep is never due before it began: a probe due "at once after its last start" (a starved
probe's first rerun) runs now, and its lag counts from now, not from the start of the probe that
timed out.
"""

from __future__ import annotations

import asyncio
from typing import Dict


class _Sleep:
    __slots__ = ("began", "started", "delay", "handle")

    def __init__(self, began: float, started: float, delay: float, handle: asyncio.TimerHandle) -> None:
        self.began = began  # loop time the sleep began
        self.started = started  # loop time of the last probe start, the delay counts from it
        self.delay = delay  # seconds before the stretch
        self.handle = handle

    def due(self, factor: float) -> float:
        return max(self.began, self.started + self.delay * factor)


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class ProbeSleeps:
    """Sleeps that follow the stretch ``factor`` (set through ``restretch``)."""

    def __init__(self) -> None:
        self.factor = 1.0
        self._sleeping: Dict[asyncio.Future, _Sleep] = {}

    def __len__(self) -> int:
        return len(self._sleeping)

    async def until_due(self, started: float, delay: float, stretched: bool = True) -> float:
        """Sleep until ``started`` + ``delay`` x the factor then in force (``stretched``), or until
        ``started`` + ``delay`` (not: a first probe, paced for the warm-up); never before now.
        Returns the loop time it was due at, for the probe's scheduling lag."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        future = loop.create_future()
        due = max(now, started + delay * (self.factor if stretched else 1.0))
        sleep = _Sleep(now, started, delay, loop.call_at(due, _wake, future))
        if stretched:
            self._sleeping[future] = sleep
        try:
            await future
        finally:
            self._sleeping.pop(future, None)
            sleep.handle.cancel()
        return sleep.handle.when()

    def restretch(self, factor: float) -> None:
        """The factor changed: move every stretched sleep to its due time under ``factor``."""
        self.factor = factor
        loop = asyncio.get_running_loop()
        for future, sleep in self._sleeping.items():
            if future.done():
                continue  # woken, its task not yet run
            sleep.handle.cancel()
            sleep.handle = loop.call_at(sleep.due(factor), _wake, future)
