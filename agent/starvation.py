"""When a timed-out probe says more about the agent than about the backend: the rule, pure.

A probe's timeout is a timer on the agent's event loop. When the loop cannot run at the
deadline (a CPU hog beside the agent, a burst of start-up work, the VPP thread holding the GIL),
the timer fires late, and it fires before the loop gets to a reply that may have been waiting
in the socket since long before the deadline: asyncio runs the due timer's cancellation in the
same pass as the socket's readiness callback, and the task step that would read the reply only
in the next. So a timeout whose timer fired late is no evidence against the backend.

The rule: a probe that timed out (``TIMEOUT_CODES``) and took longer than its timeout by more
than ``LATE_LIMIT`` seconds was starved: it is not counted, and the backend is probed again:
the first time at once (the loop is running now, the starvation may be over), after that after
its ``fast_interval`` (as a failing backend is; stretched like every interval, below), not at
once into the same starvation. At most ``MAX_STARVED`` such results in a row go uncounted, so
that a backend that really hangs is still marked down under sustained starvation (adding at
most one timeout, then one fast_interval and one timeout, to its detection). A timely timeout,
a refused connection or a wrong answer always counts: they are the backend's doing.
"""

from __future__ import annotations

from typing import List, Optional

from .probes.result import L3TOUT, L4TOUT, L6TOUT, L7TOUT

TIMEOUT_CODES = frozenset({L3TOUT, L4TOUT, L6TOUT, L7TOUT})
# How late a timeout's timer may fire and still count. A loop that keeps up fires timers within
# a millisecond or two; 20 ms late means it was not running at the deadline.
LATE_LIMIT = 0.02
# Starved timeouts in a row not counted: the worst case adds this many (fast_interval + timeout)
# to a hang's detection; two ride out a start-up burst while the stretch takes effect.
MAX_STARVED = 2


def starved(code: str, duration: float, timeout: float, in_a_row: int) -> bool:
    """Whether a probe that ended with ``code`` after ``duration`` seconds (from the probe's
    start, when its timeout clock started, to its end, on one monotonic clock) must not be
    counted: it timed out, more than LATE_LIMIT past its ``timeout``, and fewer than MAX_STARVED
    results just before it went uncounted (``in_a_row``)."""
    return code in TIMEOUT_CODES and in_a_row < MAX_STARVED and duration - timeout > LATE_LIMIT


def starved_retry_delay(fast_interval: float, in_a_row: int) -> float:
    """Seconds from a starved probe's start (``in_a_row`` uncounted ones before it) to the next,
    before the schedule's stretch: none the first time (at once: the loop runs now), else
    ``fast_interval``."""
    return 0.0 if in_a_row == 0 else fast_interval


# -- the probe schedule's stretch: fewer probes while the agent cannot keep up -------------------
#
# Rerunning starved probes is no cure when the agent gets less CPU than its schedule needs (one
# probe per backend per interval): every probe starts late, every rerun is late too, and the
# reruns add load. So the probe loop measures how late probes start (the scheduling lag) and,
# per STRETCH_PERIOD, stretches every probe interval by a factor while the lag stays high, and
# relaxes it again while the lag is low. Timeouts are never touched: a probe gets its whole
# configured time however stretched the schedule is.
#
# Only a lag high in two periods in a row stretches: a single slow period is a burst (the
# first probes at start-up, a busy neighbour's time slice) that the starved-timeout rule above
# rides out, and growth on every such period ratcheted the factor up on a machine that had the
# CPU for the whole schedule (each doubling took seven quiet periods to undo), which slowed
# failure detection for nothing (docs/performance.md, "The agent beside a CPU hog").

STRETCH_PERIOD = 1.0  # seconds of probe lags judged at once
STRETCH_QUANTILE = 0.9  # the period's lag is its 90th percentile: one slow pass is not overload
STRETCH_HIGH = 0.025  # a period lag above this: behind (a loop that keeps up starts within ms)
STRETCH_LOW = 0.005  # a period lag below this: keeping up with room to spare
STRETCH_GROW = 2.0  # factor's growth per period behind (after the first): 1 -> 8 in four seconds
STRETCH_SHRINK = 0.9  # factor's decay per period with room to spare (never below 1)
MAX_STRETCH = 8.0  # intervals never grow past this many times their configured value


def next_stretch(factor: float, lag: float, behind_before: bool) -> float:
    """The schedule's stretch for the next period, from this period's ``factor`` and ``lag``
    (seconds, its STRETCH_QUANTILE of probe start lags) and whether the period before was behind
    too (``behind_before``): grow while behind for two periods in a row, decay while idle, hold
    otherwise; always within [1, MAX_STRETCH]."""
    if lag > STRETCH_HIGH:
        if behind_before:
            factor *= STRETCH_GROW
    elif lag < STRETCH_LOW:
        factor *= STRETCH_SHRINK
    return min(MAX_STRETCH, max(1.0, factor))


def lag_quantile(lags: List[float]) -> float:
    """STRETCH_QUANTILE of ``lags`` (not empty)."""
    ordered = sorted(lags)
    return ordered[min(len(ordered) - 1, int(STRETCH_QUANTILE * len(ordered)))]


class ScheduleStretch:
    """The stretch's state: fed the lag of each probe start (``note``) and, once per
    STRETCH_PERIOD, how late the period's own timer fired (``close``). No clock of its own.

    The period's timer is a sample too, so a period in which no probe was due still says whether
    the loop keeps up: stretched intervals leave many periods without a probe start (at 5,000
    backends, all first probed within the same few seconds, most periods of a stretched schedule
    have none), and periods that ended only at a probe start held the factor where it was.

    ``close`` returns the new factor when it changes, else None; the shell (agent/daemon.py)
    rescales every sleeping probe's wait to ``factor`` (agent/probe_sleeps.py) and says so when
    it moves off or back to 1."""

    def __init__(self) -> None:
        self.factor = 1.0
        self._lags: List[float] = []
        self._behind = False  # the last period's lag was above STRETCH_HIGH
        self.period_lag = 0.0  # the last period's lag (seconds)

    def note(self, lag: float) -> None:
        self._lags.append(lag)

    def close(self, timer_lag: float) -> Optional[float]:
        lags, self._lags = self._lags, []
        lags.append(timer_lag)
        lag = self.period_lag = lag_quantile(lags)
        factor = next_stretch(self.factor, lag, self._behind)
        self._behind = lag > STRETCH_HIGH
        if factor == self.factor:
            return None
        self.factor = factor
        return factor
