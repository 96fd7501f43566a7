"""tcp: the backend is up when a TCP connection to its port completes."""

from __future__ import annotations

import asyncio
from typing import Optional, Tuple

from ...plugins.module_utils.vpp_lb.schema import HealthCheck
from . import result as codes
from .connect import describe_os_error, open_tcp
from .netns import NetnsSockets


async def probe_tcp(
    check: HealthCheck, address: str, netns: Optional[NetnsSockets]
) -> Tuple[str, str, Optional[int]]:
    try:
        async with asyncio.timeout(check.timeout):
            sock = await open_tcp(address, check.port, check.source_address, netns)
    except TimeoutError:
        return codes.L4TOUT, f"no connection within {check.timeout:g}s", None
    except OSError as exc:
        return codes.L4CON, describe_os_error(exc), None
    sock.close()
    return codes.L4OK, "connected", None
