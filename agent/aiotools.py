"""Small asyncio helpers the agent's long-running loops share."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Iterable, Optional, Tuple

from . import logs

STOP_TIMEOUT = 5.0  # seconds a shutdown step may take before it is reported and abandoned


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


async def bounded_wait(tasks: Iterable[Optional[asyncio.Task]], what: str) -> None:
    """Wait for cancelled tasks to end; name (and leave) those still running after STOP_TIMEOUT."""
    tasks = [t for t in tasks if t is not None]
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
    for task in pending:
        frames = [f"{f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_name}" for f in task.get_stack()]
        logs.emit("error", "stop-timeout", what=what, task=task.get_name(), stack=frames)
