"""The VIP counters' observation, off the agent's loop.

Every counters read (``stats_interval``, default 5 s) feeds the exporter's monotonic offsets
(``exporter.MonotonicCounters``) and the page's rate history (``rates.RateHistory``): ~30,000
series at 5,000 VIPs, 50-200 ms of CPU on a loaded machine, which the probes on the loop must
not wait for. Both live in one thread of their own and only that thread touches them (one
worker: observations run in order, and a ``/rates.json`` copy never sees half of one). The loop
submits a new counters snapshot and swaps in the result, immutable values only: the VIP totals
the scrapes export and the newest rates the page's streams get.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple, Optional, Set

from . import logs, rates
from .exporter import MonotonicCounters, SeriesKey
from .snapshot import AgentSnapshot
from .vppsync import CountersSnapshot


class Observation(NamedTuple):
    """One counters read, observed: what the loop swaps in."""

    counters: CountersSnapshot  # the read observed
    totals: Mapping[SeriesKey, int]  # (VIP, kind) -> monotonic total, immutable
    latest: Optional[dict]  # the newest rates of every VIP (RateHistory.latest), None before two reads


def observe(tracker: MonotonicCounters, history: rates.RateHistory, snap: AgentSnapshot) -> Observation:
    """In the observer's thread: one counters read into the offsets and the rate history."""
    counters = snap.counters
    keep = frozenset(fe.vip for fe in snap.frontends.values())  # the configured VIPs
    tracker.observe(counters, keep)
    totals = tracker.totals()
    history.record(counters.at, totals, keep)
    return Observation(counters, totals, history.latest())


class VipObserver:
    """The loop's handle on the observation; all methods are called on the agent's loop.

    ``on_observed`` is called on the loop with each observation as it is swapped in, in the
    order of the reads."""

    def __init__(self, points: int, on_observed: Callable[[Observation], None]) -> None:
        self.totals: Mapping[SeriesKey, int] = MappingProxyType({})  # the newest observation's
        self._on_observed = on_observed
        self._tracker = MonotonicCounters()  # these two: only in the thread
        self._history = rates.RateHistory(points)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vip-observer")
        self._submitted: Optional[CountersSnapshot] = None  # the newest read sent to the thread
        self._newest: Optional[asyncio.Future] = None  # its observation
        self._running: Set[asyncio.Future] = set()

    async def observe(self, snap: Optional[AgentSnapshot]) -> None:
        """Observe ``snap``'s counters if they are a new read, and wait until the newest read
        sent is swapped in (a scrape then exports the counters it sees)."""
        if snap is not None and snap.counters is not None and snap.counters is not self._submitted:
            self._submitted = snap.counters
            future = asyncio.get_running_loop().run_in_executor(
                self._thread, observe, self._tracker, self._history, snap)
            self._running.add(future)
            future.add_done_callback(self._swap_in)  # before any waiter's: swapped in when they wake
            self._newest = future
        if self._newest is not None:
            # Shielded: a scrape whose client went away must not cancel the observation.
            await asyncio.gather(asyncio.shield(self._newest), return_exceptions=True)

    def _swap_in(self, future: asyncio.Future) -> None:
        self._running.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:  # a bug: the next read is observed again
            logs.emit("error", "vip-counters-observe-failed", exc_info=exc, reason=repr(exc))
            return
        result: Observation = future.result()
        self.totals = result.totals
        self._on_observed(result)

    async def rates_copy(self) -> rates.RatesCopy:
        """The rate history as it is now (between observations), for ``rates.view_of`` anywhere."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._history.copy)

    async def close(self) -> None:
        """Drop the reads not started; wait for the one running (well under a second)."""
        self._thread.shutdown(wait=False, cancel_futures=True)
        await asyncio.gather(*self._running, return_exceptions=True)
