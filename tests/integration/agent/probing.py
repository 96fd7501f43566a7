"""What the probe tests (test_probes_http, test_probes_netns) share: a health check from its
config body, the timing bounds they hold a probe to, and the sockets this process holds."""

from __future__ import annotations

import os
from typing import Any, Set

from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema

TIMEOUT = 0.5
# How far past its timeout a probe may return on a loaded machine: just under TIMEOUT, so a probe
# that waited two timeouts (one per phase) still fails the bound.
MARGIN = 0.45


def check_of(**body: Any) -> schema.HealthCheck:
    """A health check parsed from its config body (timeout TIMEOUT and interval 2 unless given)."""
    body.setdefault("timeout", TIMEOUT)
    body.setdefault("interval", 2)
    return schema.parse_config({"healthchecks": {"c": body}}).healthchecks["c"]


def open_sockets() -> Set[str]:
    """The sockets this process holds open, as "socket:[inode]" names."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own descriptor, for one)
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found
