"""Waiting on a real condition, for the tests and their helpers (agentproc, backends, chromium):
poll it until it holds, bounded by a deadline that stretches on a loaded machine.

Stdlib only: chromium.py also runs as a command outside the tests (molecule's verify).
"""

from __future__ import annotations

import os
import time
from typing import Callable, TypeVar

T = TypeVar("T")

# Deadlines only bound a wait that has failed; a loaded machine (a CPU hog on every core) makes
# agents, probes and VPP slower, so every deadline is stretched by this factor.
DEADLINE_SCALE = float(os.environ.get("MAGLEV_TEST_DEADLINE_SCALE", "3"))


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.02, *,
             scale: float = DEADLINE_SCALE) -> T:
    """Poll a real condition until it holds (returns its value) or raise AssertionError after
    ``timeout`` times ``scale`` (DEADLINE_SCALE; 1 where a user gave the deadline)."""
    deadline = time.monotonic() + timeout * scale
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * scale}s waiting for {what}")
        time.sleep(interval)  # paces the polling of a real condition; not a synchronisation
