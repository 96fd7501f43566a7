"""Small asyncio helpers the agent's long-running loops share."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Optional, Tuple


async def within(awaitable: Awaitable[Any], timeout: Optional[float]) -> Tuple[bool, Any]:
    """Await ``awaitable`` for at most ``timeout`` seconds: (True, result), or (False, None).

    Used instead of asyncio.wait_for in loops that must stop when cancelled: on Python 3.11,
    wait_for swallows a cancellation that arrives just as the awaited thing finishes
    (python/cpython#86296), and a ``while True`` loop around it then never ends; seen here as an
    agent that ignored SIGTERM. asyncio.wait always lets the cancellation through.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _pending = await asyncio.wait({task}, timeout=timeout)
    except BaseException:
        task.cancel()
        raise
    if task in done:
        return True, task.result()
    task.cancel()
    return False, None
