"""The agent's event stream: backend and frontend transitions, optionally log records.

Subscribers (the status API's event stream, the status page's /events) get their own bounded
queue; a subscriber that does not keep up loses its oldest events (counted in ``dropped``),
never slowing the agent. Everything runs on the agent's event loop, where the probes run too,
so the work per event is bounded:

* each kind of subscriber has a cap (``limit``); one more is refused (``TooManySubscribers``),
  so a crowd of readers cannot make every publish and every log call long;
* log records visit only the subscribers that asked for them, and the bus listens to the log
  at all only while one of them is open (logs.emit does nothing extra otherwise);
* offering an event is O(1): put, or drop the oldest and put.

``public_log_record`` is what an anonymous reader of the metrics listener may see of a log
record (docs/agent.md "Exposure"): only operational events, without paths, error texts or
exceptions.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Dict, List, Optional

from . import logs

DEFAULT_QUEUE = 1000
LogFilter = Callable[[dict], Optional[dict]]

# Log events an anonymous reader of the metrics listener gets (the page's event log): what the
# page and /metrics show anyway, said as it happens.
PUBLIC_LOG_EVENTS = frozenset({
    "backend-transition", "frontend-transition", "vpp-lbsync", "vpp-lbsync-error", "vpp-connect",
    "vpp-disconnect", "vpp-frontend-blocked", "vpp-frontend-unblocked", "warmup", "weight-override",
    "config-reload",
})
# Fields never shown to an anonymous reader: file and socket paths, error texts, tracebacks.
PRIVATE_FIELDS = frozenset({"exception", "path", "socket", "errors", "reason", "file", "state_file"})


class TooManySubscribers(Exception):
    """The cap of this kind of subscriber is reached; nothing was subscribed."""


def public_log_record(record: dict) -> Optional[dict]:
    """The record as an anonymous reader may see it, or None when it is not for them."""
    if record.get("event") not in PUBLIC_LOG_EVENTS:
        return None
    return {k: v for k, v in record.items() if k not in PRIVATE_FIELDS}


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int, log_level: Optional[str], kind: str,
                 log_filter: Optional[LogFilter] = None):
        self.queue: asyncio.Queue = asyncio.Queue(maxsize)
        self.log_level = logs.LEVELS[log_level] if log_level else None  # None: no log records
        self.log_filter = log_filter
        self.kind = kind
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
        self._log_subscribers: List[Subscription] = []
        self.published = 0

    def count(self, kind: Optional[str] = None) -> int:
        """Open subscriptions (of one kind)."""
        return sum(1 for s in self._subscribers if kind is None or s.kind == kind)

    def subscribe(self, maxsize: int = DEFAULT_QUEUE, log_level: Optional[str] = None, kind: str = "api",
                  limit: Optional[int] = None, log_filter: Optional[LogFilter] = None) -> Subscription:
        """A new subscription; raises TooManySubscribers when ``limit`` of ``kind`` are open."""
        if limit is not None and self.count(kind) >= limit:
            raise TooManySubscribers(f"{limit} {kind} event streams are open already")
        sub = Subscription(self, maxsize, log_level, kind, log_filter)
        self._subscribers.append(sub)
        if sub.log_level is not None:
            if not self._log_subscribers:
                logs.add_listener(self._log_record)
            self._log_subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
        if sub in self._log_subscribers:
            self._log_subscribers.remove(sub)
            if not self._log_subscribers:
                logs.remove_listener(self._log_record)

    def publish(self, event: Dict) -> None:
        self.published += 1
        for sub in list(self._subscribers):
            sub.offer(event)

    def _log_record(self, record: dict) -> None:
        level = logs.LEVELS.get(record.get("level", "info"), 0)
        for sub in list(self._log_subscribers):
            if level < sub.log_level:
                continue
            shown = sub.log_filter(record) if sub.log_filter else record
            if shown is not None:
                sub.offer({"type": "log", **shown})
