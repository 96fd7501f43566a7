"""Structured JSON logs: one object per line, with a stable ``event`` name.

Event names (stable; dashboards and alerts may match them): starting, stopping,
backend-transition, frontend-transition, vpp-connect, vpp-connect-failed, vpp-disconnect,
vpp-ping-failed, vpp-lb-state, vpp-lbsync (one per mutation), vpp-lbsync-error,
vpp-frontend-blocked, vpp-frontend-unblocked, config-reload,
config-reload-failed, probe (debug), warmup, weight-override, netns-failed, state-file-failed,
metrics-listen, metrics-listen-failed.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable, List, Optional

LOGGER_NAME = "maglev-agent"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

_logger = logging.getLogger(LOGGER_NAME)
# Extra receivers of every record as a dict (the status API's event stream subscribes here).
_listeners: List[Callable[[dict], None]] = []


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_dict(record), default=str, separators=(",", ":"))


def record_dict(record: logging.LogRecord) -> dict:
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "event": getattr(record, "event", record.getMessage()),
    }
    entry.update(getattr(record, "fields", {}))
    if record.exc_info:
        entry["exception"] = logging.Formatter().formatException(record.exc_info)
    return entry


class _ListenerHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if _listeners:
            entry = record_dict(record)
            for listener in list(_listeners):
                listener(entry)


def setup(level: str = "info", stream=None) -> None:
    """Log JSON lines to ``stream`` (stderr) at ``level``; idempotent."""
    _logger.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    _logger.addHandler(handler)
    _logger.addHandler(_ListenerHandler())
    _logger.propagate = False
    set_level(level)


def set_level(level: str) -> None:
    _logger.setLevel(LEVELS[level])


def add_listener(listener: Callable[[dict], None]) -> None:
    _listeners.append(listener)


def remove_listener(listener: Callable[[dict], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def emit(level: str, event: str, exc_info: Optional[BaseException] = None, **fields: Any) -> None:
    """Log ``event`` with ``fields`` at ``level`` (debug/info/warning/error)."""
    number = LEVELS[level]
    if _logger.isEnabledFor(number):
        _logger.log(number, event, extra={"event": event, "fields": fields}, exc_info=exc_info)
    elif _listeners:
        # A subscriber may want records below the agent's own level (as vpp-maglev's stream does).
        record = _logger.makeRecord(
            _logger.name, number, __file__, 0, event, (), None, extra={"event": event, "fields": fields}
        )
        entry = record_dict(record)
        for listener in list(_listeners):
            listener(entry)
