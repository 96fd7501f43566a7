"""Fixtures that run vppsim as a real subprocess on real Unix sockets, or face a real VPP.

``vppsim`` (function scope) yields a handle with ``api_socket``, ``stats_socket``, ``api_dir``,
``pid`` and ``proc``. If ``VPP_API_SOCKET`` is set, the fixture yields that VPP instead
(``VPP_STATS_SOCKET`` and ``VPP_API_DIR`` complete it; ``proc`` and ``pid`` are then None and
``is_sim`` False), so the same tests can be pointed at a real VPP (docs/testing.md). With
``VPP_RESTART_CMD`` (a shell command that restarts that VPP, e.g. ``systemctl restart vpp``)
every test gets a freshly started VPP, as it gets a fresh simulator.

``vppsim_factory(*args)`` starts a simulator with extra command-line arguments (for example
``"--lb-api", "1.1.0"``); tests using it are simulator-only and are skipped against a real VPP.

``vppsim_lb`` is ``vppsim`` once per LB API personality (``lb_api``: "1.2.0" = VPP master,
"1.1.0" = releases up to v26.06). Against a real VPP only its own generation runs (from
``VPP_LB_API``, else read from its message table); the other is skipped.

``sim`` is ``vppsim_lb`` for tests that need a freshly started VPP (the module and agent
tests): against a real VPP it needs ``VPP_RESTART_CMD``. ``simulator`` is ``sim`` for tests that
also use the simulator-only ``sim ...`` commands (traffic, faults); only those skip on a real VPP.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Iterator

import pytest
from ansible_runner_helpers import AnsibleRunner
from collection_build import build_tarball

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent"))
from httpbackends import HttpBackend, free_port  # noqa: E402
from vpp_under_test import external_lb_api, external_vpp, fresh_external

from vppsim.launcher import SimProcess as VppSim
from vppsim.launcher import start as start_vppsim


@pytest.fixture
def vppsim_factory() -> Iterator[Callable[..., VppSim]]:
    if external_vpp() is not None:
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
    external = external_vpp()
    if external is not None:
        if lb_api != external_lb_api():
            pytest.skip(f"the VPP at VPP_API_SOCKET is not LB API {lb_api}")
        yield fresh_external(external, required=False)
        return
    sim = start_vppsim("--lb-api", lb_api)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def vppsim() -> Iterator[VppSim]:
    external = external_vpp()
    if external is not None:
        yield fresh_external(external, required=False)
        return
    sim = start_vppsim()
    try:
        yield sim
    finally:
        sim.stop()


SIMULATOR_ONLY = "uses simulator-only commands (sim traffic / sim fault): needs vppsim"


@pytest.fixture(autouse=True)
def _simulator_marker(request) -> None:
    """Tests marked ``simulator`` use vppsim-only CLI commands: skip them against a real VPP,
    with the marker's ``reason`` when it gives one."""
    marker = request.node.get_closest_marker("simulator")
    if marker and external_vpp() is not None:
        pytest.skip(f"{SIMULATOR_ONLY}: {marker.kwargs['reason']}" if "reason" in marker.kwargs else SIMULATOR_ONLY)


@pytest.fixture
def sim(vppsim_lb) -> VppSim:
    """A freshly started VPP of each LB API generation (``lb_api``): the module and agent tests
    start from an empty VPP. A real VPP needs VPP_RESTART_CMD for that."""
    if not vppsim_lb.is_sim and not os.environ.get("VPP_RESTART_CMD"):
        pytest.skip("needs a freshly started VPP: set VPP_RESTART_CMD to a command that restarts it")
    return vppsim_lb


@pytest.fixture
def runner(tmp_path):
    """Real ansible-playbook / ansible processes in an isolated Ansible home (ansible_runner_helpers)."""
    return AnsibleRunner(tmp_path / "ansible")


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory):
    """The collection built once per session (per xdist worker) with ``ansible-galaxy collection
    build``, from a copy of the checkout salted with caches and test output (collection_build)."""
    return build_tarball(tmp_path_factory.mktemp("collection"))


@pytest.fixture
def loopback_pair():
    """Two real HTTP backends (``/healthz`` answers 200) on loopback addresses of their own, one port."""
    base = f"127.{os.getpid() % 250 + 1}.{(os.getpid() // 250) % 250 + 3}"
    port = free_port(f"{base}.21")
    started = [HttpBackend(f"{base}.{i}", port).start() for i in (21, 22)]
    yield started
    for backend in started:
        backend.stop()
