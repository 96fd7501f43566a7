"""The agent's event stream: backend and frontend transitions, optionally log records.

Subscribers (the status API's event stream, the status page) get their own bounded queue; a
subscriber that does not keep up loses its oldest events (counted in ``dropped``), never
slowing the agent. Everything runs on the agent's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Dict, List, Optional

from . import logs

DEFAULT_QUEUE = 1000


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int, log_level: Optional[str]):
        self.queue: asyncio.Queue = asyncio.Queue(maxsize)
        self.log_level = logs.LEVELS[log_level] if log_level else None  # None: no log records
        self.dropped = 0
        self._bus = bus

    def offer(self, event: dict) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> dict:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: List[Subscription] = []
        self.published = 0

    def subscribe(self, maxsize: int = DEFAULT_QUEUE, log_level: Optional[str] = None) -> Subscription:
        sub = Subscription(self, maxsize, log_level)
        if not self._subscribers:
            logs.add_listener(self._log_record)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
        if not self._subscribers:
            logs.remove_listener(self._log_record)

    def publish(self, event: Dict) -> None:
        self.published += 1
        for sub in list(self._subscribers):
            sub.offer(event)

    def _log_record(self, record: dict) -> None:
        level = logs.LEVELS.get(record.get("level", "info"), 0)
        for sub in list(self._subscribers):
            if sub.log_level is not None and level >= sub.log_level:
                sub.offer({"type": "log", **record})
