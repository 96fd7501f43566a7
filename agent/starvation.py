"""When a timed-out probe says more about the agent than about the backend: the rule, pure.

A probe's timeout is a timer on the agent's event loop. When the loop cannot run at the
deadline (a CPU hog beside the agent, a burst of start-up work, the VPP thread holding the GIL),
the timer fires late, and it fires before the loop gets to a reply that may have been waiting
in the socket since long before the deadline: asyncio runs the due timer's cancellation in the
same pass as the socket's readiness callback, and the task step that would read the reply only
in the next. So a timeout whose timer fired late is no evidence against the backend.

The rule: a probe that timed out (``TIMEOUT_CODES``) and took longer than its timeout by more
than ``LATE_LIMIT`` seconds was starved: it is run again at once instead of counted, at most
``MAX_RERUNS`` times in a row, so that a backend that really hangs is still marked down under
sustained starvation (each rerun adds at most one timeout to its detection). A timely timeout,
a refused connection or a wrong answer always counts: they are the backend's doing.
"""

from __future__ import annotations

from .probes.result import L3TOUT, L4TOUT, L6TOUT, L7TOUT

TIMEOUT_CODES = frozenset({L3TOUT, L4TOUT, L6TOUT, L7TOUT})
# How late a timeout's timer may fire and still count. A loop that keeps up fires timers within
# a millisecond or two; 20 ms late means it was not running at the deadline.
LATE_LIMIT = 0.02
MAX_RERUNS = 1  # starved reruns per probe: the worst case adds one timeout per counted failure


def starved(code: str, duration: float, timeout: float, reruns: int) -> bool:
    """Whether a probe that ended with ``code`` after ``duration`` seconds (from the probe's
    start, when its timeout clock started, to its end, on one monotonic clock) must be run
    again rather than counted: it timed out, more than LATE_LIMIT past its ``timeout``, and it
    has been rerun fewer than MAX_RERUNS times already."""
    return code in TIMEOUT_CODES and reruns < MAX_RERUNS and duration - timeout > LATE_LIMIT
