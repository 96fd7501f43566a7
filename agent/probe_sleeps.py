"""The probe loops' sleeps until their next probe, movable when the schedule's stretch changes.

A probe due ``delay`` seconds (its interval, jittered) after its last start waits ``delay`` x
the stretch factor (agent/starvation.py). Computed once at the start of the sleep, a factor of 8
would hold a probe for 8 intervals after the agent had the CPU again: at 5,000 backends every
5 s, a backend that failed then went unnoticed for up to 40 s while the factor had long decayed.
So every sleep stays registered here, and a change of the factor rescales what is left of each:
the factor is the rate of the probes' clock, so at 8x a probe 40 s from its turn is 5 configured
seconds away, and when the factor drops to 4 it is 20 s away. Shorter as the stretch relaxes,
longer as it grows (shedding the load at once).

Rescaled, not re-anchored: recomputing every due time from its last probe start would pull all
the probes whose last start fell into one burst (the first probes at start-up) to the same
moment as the factor falls: measured at 5,000 backends, a second burst and a stretch again. The
rescale keeps the probes' order and spread.
"""

from __future__ import annotations

import asyncio
from typing import Dict


class _Sleep:
    __slots__ = ("handle",)

    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self.handle = handle  # replaced by each rescale


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
        """Sleep until ``started`` + ``delay`` x the factor in force, rescaled by every change of it
        until then (``stretched``), or until ``started`` + ``delay`` (not: a first probe, paced
        for the warm-up); never before now. Returns the loop time it was due at, for the probe's
        scheduling lag."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        due = max(loop.time(), started + delay * (self.factor if stretched else 1.0))
        sleep = _Sleep(loop.call_at(due, _wake, future))
        if stretched:
            self._sleeping[future] = sleep
        try:
            await future
        finally:
            self._sleeping.pop(future, None)
            sleep.handle.cancel()
        return sleep.handle.when()

    def restretch(self, factor: float) -> None:
        """The factor changed: rescale what is left of every stretched sleep to ``factor``."""
        ratio, self.factor = factor / self.factor, factor
        loop = asyncio.get_running_loop()
        now = loop.time()
        for future, sleep in self._sleeping.items():
            if future.done():
                continue  # woken, its task not yet run
            sleep.handle.cancel()
            sleep.handle = loop.call_at(now + max(0.0, sleep.handle.when() - now) * ratio, _wake, future)
