"""Fixtures of the agent's integration tests: loopback HTTP backends, real backends in a network
namespace (backends.py), a VPP client, the agent process, headless Chromium on the status page."""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator, List, Optional

import pytest
from agentproc import AgentProcess
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from backends import BackendNet
from chromium import Browser
from httpbackends import HttpBackend, free_port
from prometheus_server import PrometheusServer


def _loopback_base() -> str:
    # Distinct loopback addresses per test process, so parallel workers never share a backend.
    n = os.getpid() % 250 + 1
    return f"127.{n}.{(os.getpid() // 250) % 250 + 1}"


@pytest.fixture
def backends():
    base = _loopback_base()
    port = free_port(f"{base}.11")
    started = [HttpBackend(f"{base}.{i}", port).start() for i in (11, 12, 13)]
    yield started
    for backend in started:
        backend.stop()


@pytest.fixture
def backend_net() -> Iterator[BackendNet]:
    """A fresh BackendNet, torn down (servers, veth, namespace) even when the test fails."""
    with BackendNet() as net:
        yield net


@pytest.fixture
def backend_net_factory() -> Iterator[Callable[[], BackendNet]]:
    """Makes more BackendNets in one test; every one is torn down at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(BackendNet())


@pytest.fixture
def client(sim):
    with VppLbClient(sim.api_socket) as c:
        yield c


@pytest.fixture
def agent(tmp_path):
    started: List[AgentProcess] = []

    def run(config, args=(), default_loop=False) -> AgentProcess:
        proc = AgentProcess(config, str(tmp_path), args=args, default_loop=default_loop).start()
        started.append(proc)
        return proc

    yield run
    for proc in started:
        proc.stop()


@pytest.fixture
def browser(tmp_path):
    """Opens a URL in a headless Chromium of its own (closed after the test)."""
    opened: List[Browser] = []

    def open_page(url: str) -> Browser:
        b = Browser(tmp_path, url)
        opened.append(b)
        return b

    yield open_page
    for b in opened:
        b.close()


@pytest.fixture
def prometheus(tmp_path) -> Iterator[Callable[..., PrometheusServer]]:
    """Start a real Prometheus scraping a target (``prometheus(target, rule_file=None)``); all
    stopped after the test."""
    started: List[PrometheusServer] = []

    def run(target: str, rule_file: Optional[str] = None) -> PrometheusServer:
        workdir = tmp_path / f"prometheus{len(started)}"
        workdir.mkdir()
        started.append(PrometheusServer(workdir, target, rule_file))
        return started[-1]

    yield run
    for server in started:
        server.stop()
