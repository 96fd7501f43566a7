"""run_probe: one probe of one backend address, by check type. No scheduling and no state here."""

from __future__ import annotations

import time
from typing import Optional

from ...plugins.module_utils.vpp_lb.schema import HealthCheck
from . import result as codes
from .http import probe_http
from .icmp import probe_icmp
from .netns import AgentResourceError, NetnsError, NetnsSockets
from .result import ProbeResult
from .tcp import probe_tcp

_PROBES = {"http": probe_http, "https": probe_http, "tcp": probe_tcp, "icmp": probe_icmp}


async def run_probe(check: HealthCheck, address: str, *, netns: Optional[NetnsSockets] = None) -> ProbeResult:
    """Probe ``address`` as ``check`` says, within check.timeout; never raises for network trouble.

    Sockets are made inside ``netns`` when given (see NetnsSockets). Cancelling the call closes
    every socket it opened.
    """
    start = time.monotonic()
    try:
        code, detail, status = await _PROBES[check.type](check, address, netns)
    except NetnsError as exc:
        code, detail, status = codes.NETNS, str(exc), None
    except AgentResourceError as exc:
        code, detail, status = codes.AGENT, str(exc), None
    return ProbeResult(
        ok=code in codes.PASS_CODES, code=code, detail=detail, duration=time.monotonic() - start, status=status
    )
