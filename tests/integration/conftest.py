"""Fixtures that run vppsim as a real subprocess on real Unix sockets.

``vppsim`` (function scope) yields a handle with ``api_socket``, ``stats_socket``, ``api_dir``,
``pid`` and ``proc``. If ``VPP_API_SOCKET`` is set, the fixture yields that VPP instead
(``VPP_STATS_SOCKET`` and ``VPP_API_DIR`` complete it; ``proc`` and ``pid`` are then None and
``is_sim`` False), so the same conformance tests can be pointed at a real VPP.

``vppsim_factory(*args)`` starts a simulator with extra command-line arguments (for example
``"--lb-api", "1.1.0"``); tests using it are simulator-only and are skipped against a real VPP.

``vppsim_lb`` is ``vppsim`` once per LB API personality (``lb_api``: "1.2.0" = VPP master,
"1.1.0" = releases up to v26.06). Against a real VPP only the personality named by
``VPP_LB_API`` (default 1.2.0) runs; the other is skipped.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Optional

import pytest
from ansible_runner_helpers import AnsibleRunner

from vppsim.launcher import SimProcess as VppSim
from vppsim.launcher import start as start_vppsim


def _external() -> Optional[VppSim]:
    api = os.environ.get("VPP_API_SOCKET")
    if not api:
        return None
    stats = os.environ.get("VPP_STATS_SOCKET", "/run/vpp/stats.sock")
    return VppSim(api, stats, os.environ.get("VPP_API_DIR"))


@pytest.fixture
def vppsim_factory() -> Iterator[Callable[..., VppSim]]:
    if _external() is not None:
        pytest.skip("simulator-only test (VPP_API_SOCKET points at a real VPP)")
    started: list[VppSim] = []

    def factory(*args: str) -> VppSim:
        sim = start_vppsim(*args)
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


LB_APIS = ("1.2.0", "1.1.0")


@pytest.fixture(params=LB_APIS, ids=[f"lb-api-{v}" for v in LB_APIS])
def lb_api(request) -> str:
    """The LB API personality of ``vppsim_lb``."""
    return request.param


@pytest.fixture
def vppsim_lb(lb_api: str) -> Iterator[VppSim]:
    external = _external()
    if external is not None:
        if lb_api != os.environ.get("VPP_LB_API", "1.2.0"):
            pytest.skip(f"the VPP at VPP_API_SOCKET is not LB API {lb_api} (set VPP_LB_API)")
        yield external
        return
    sim = start_vppsim("--lb-api", lb_api)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def vppsim() -> Iterator[VppSim]:
    external = _external()
    if external is not None:
        yield external
        return
    sim = start_vppsim()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim(vppsim) -> VppSim:
    """vppsim only: the module tests start from an empty VPP and use simulator-only commands."""
    if not vppsim.is_sim:
        pytest.skip("needs vppsim: these tests start from an empty VPP and use simulator-only commands")
    return vppsim


@pytest.fixture
def runner(tmp_path):
    """Real ansible-playbook / ansible processes in an isolated Ansible home (ansible_runner_helpers)."""
    return AnsibleRunner(tmp_path / "ansible")
