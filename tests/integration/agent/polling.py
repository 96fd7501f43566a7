"""Waiting on a real condition, for the tests and their helpers (agentproc, backends, chromium):
poll it until it holds, bounded by a deadline that stretches on a loaded machine; ``until`` is
the same on an asyncio loop (the loop keeps running while it waits).

Stdlib only: chromium.py also runs as a command outside the tests (molecule's verify).
"""

from __future__ import annotations

import asyncio
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


async def until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.01, *,
                scale: float = DEADLINE_SCALE) -> T:
    """``wait_for`` on the running loop: polls without blocking the loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout * scale
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout * scale}s waiting for {what}")
        await asyncio.sleep(interval)  # paces the polling of a real condition
