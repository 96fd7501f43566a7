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


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class ProbeSleeps:
    """The sleeps of the probe loops; those that follow the stretch are rescaled by ``rescale``.
    The factor itself is the stretch's (agent/starvation.py): the caller computes each due time
    with it and passes the ratio of each change."""

    def __init__(self) -> None:
        self._movable: Dict[asyncio.Future, asyncio.TimerHandle] = {}  # each sleep's current timer

    def __len__(self) -> int:
        return len(self._movable)

    async def until(self, due: float, movable: bool = True) -> float:
        """Sleep until ``due`` (loop time; never before now), rescaled by every change of the
        stretch until then if ``movable`` (not: a first probe, paced for the warm-up). Returns the
        loop time it was due at in the end, for the probe's scheduling lag."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        handle = loop.call_at(max(loop.time(), due), _wake, future)
        if movable:
            self._movable[future] = handle
        try:
            await future
        finally:
            handle = self._movable.pop(future, handle)
            handle.cancel()
        return handle.when()

    def rescale(self, ratio: float) -> None:
        """The stretch changed by ``ratio`` (new factor / old): what is left of every movable
        sleep is that many times as long."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for future, handle in list(self._movable.items()):
            if future.done():
                continue  # woken, its task not yet run
            handle.cancel()
            self._movable[future] = loop.call_at(now + max(0.0, handle.when() - now) * ratio, _wake, future)
