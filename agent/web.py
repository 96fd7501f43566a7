"""The metrics listener: Prometheus /metrics and the status page at /. To be built (issue 9)."""

from __future__ import annotations

from typing import Any, Optional


async def start_web(agent: Any) -> Optional[Any]:
    """Start serving on agent.metrics.listen; returns an object with ``async close()``, or None."""
    return None
