"""Status API: HTTP/JSON on a unix socket (agent.status_socket). To be built (issue 9)."""

from __future__ import annotations

from typing import Any, Optional


async def start_status_api(agent: Any) -> Optional[Any]:
    """Start serving; returns an object with ``async close()``, or None when not serving."""
    return None
