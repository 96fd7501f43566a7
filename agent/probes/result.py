"""What one probe found: a pass or fail, an HAProxy-style result code, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# Result codes, as HAProxy reports them (L7BODY and NETNS are ours).
L3OK, L3TOUT, L3CON = "L3OK", "L3TOUT", "L3CON"  # icmp: reply / no reply / unreachable
L4OK, L4TOUT, L4CON = "L4OK", "L4TOUT", "L4CON"  # tcp connect: done / timed out / refused or unreachable
L6OK, L6TOUT, L6RSP = "L6OK", "L6TOUT", "L6RSP"  # TLS: done / timed out / failed (certificate, alert)
L7OK, L7TOUT, L7RSP = "L7OK", "L7TOUT", "L7RSP"  # HTTP: pass / no full answer in time / malformed
L7STS = "L7STS"  # HTTP status not in expect_status
L7BODY = "L7BODY"  # body_regex did not match
NETNS = "NETNS"  # the probe namespace could not be entered
AGENT = "AGENT"  # the agent itself could not probe (no file descriptors, no memory, a bug in a probe)
# Results that say nothing about the backend, only that the agent is blind: they never move a
# backend's state (design.md "Never make things worse on your own account").
BLIND_CODES = frozenset({NETNS, AGENT})

PASS_CODES = frozenset({L3OK, L4OK, L6OK, L7OK})


@dataclass(frozen=True)
class ProbeResult:
    """One probe's outcome; ``duration`` in seconds, ``status`` the HTTP status when one was read,
    ``at`` when the health machine recorded it (0.0 until then)."""

    ok: bool
    code: str
    detail: str
    duration: float
    status: Optional[int] = None
    at: float = 0.0
