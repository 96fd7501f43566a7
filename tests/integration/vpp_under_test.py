"""The VPP the integration tests face: vppsim, or a real VPP named by environment variables.

``VPP_API_SOCKET`` (with ``VPP_STATS_SOCKET``, ``VPP_API_DIR``) points the tests at a real VPP;
``VPP_RESTART_CMD`` restarts it so each test starts from a fresh VPP; ``VPP_LB_API`` names its
LB API generation (else it is read from its message table). See docs/testing.md.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from typing import Optional

import pytest

from vppsim.launcher import SimProcess as VppSim


def external_vpp() -> Optional[VppSim]:
    api = os.environ.get("VPP_API_SOCKET")
    if not api:
        return None
    stats = os.environ.get("VPP_STATS_SOCKET", "/run/vpp/stats.sock")
    return VppSim(api, stats, os.environ.get("VPP_API_DIR"))


RESTART_TIMEOUT = 120.0


def _wait_until_vpp_answers(vpp: VppSim, deadline: float) -> str:
    """Connect until VPP answers a ping (bounded); returns its LB API generation."""
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient, is_retryable

    while True:
        try:
            with VppLbClient(vpp.api_socket, api_dir=vpp.api_dir, timeout=2) as client:
                client.ping()
                return client.capabilities.lb_api_version
        except Exception as exc:
            if not is_retryable(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.2)  # polling a VPP that is starting up; the deadline bounds it


@functools.lru_cache(maxsize=1)
def external_lb_api() -> str:
    """The LB API generation of the VPP at VPP_API_SOCKET (VPP_LB_API, else its message table)."""
    if os.environ.get("VPP_LB_API"):
        return os.environ["VPP_LB_API"]
    return _wait_until_vpp_answers(external_vpp(), time.monotonic() + RESTART_TIMEOUT)


def fresh_external(external: VppSim, *, required: bool) -> VppSim:
    """The real VPP, restarted with VPP_RESTART_CMD; without it, skip if a fresh VPP is required."""
    command = os.environ.get("VPP_RESTART_CMD")
    if not command:
        if required:
            pytest.skip("needs a freshly started VPP: set VPP_RESTART_CMD to a command that restarts it")
        return external
    subprocess.run(command, shell=True, check=True, timeout=RESTART_TIMEOUT)
    _wait_until_vpp_answers(external, time.monotonic() + RESTART_TIMEOUT)
    return external


def restart_vpp(vpp: VppSim, client) -> None:
    """Restart the VPP under test: ``sim fault restart`` on vppsim, VPP_RESTART_CMD on a real one
    (then wait until it answers). The caller's client is disconnected by the restart."""
    if vpp.is_sim:
        client.cli("sim fault restart")
        return
    fresh_external(vpp, required=True)
