"""Fixtures that run vppsim as a real subprocess on real Unix sockets.

``vppsim`` (function scope) yields a handle with ``api_socket``, ``stats_socket``, ``api_dir``,
``pid`` and ``proc``. If ``VPP_API_SOCKET`` is set, the fixture yields that VPP instead
(``VPP_STATS_SOCKET`` and ``VPP_API_DIR`` complete it; ``proc`` and ``pid`` are then None and
``is_sim`` False), so the same conformance tests can be pointed at a real VPP.

``vppsim_factory(*args)`` starts a simulator with extra command-line arguments (for example
``"--lb-api", "1.1.0"``); tests using it are simulator-only and are skipped against a real VPP.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import pytest

from vppsim import API_DIR

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


@dataclass
class VppSim:
    api_socket: str
    stats_socket: str
    api_dir: Optional[str]
    proc: Optional[subprocess.Popen] = None
    workdir: Optional[str] = None
    args: list = field(default_factory=list)

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    @property
    def is_sim(self) -> bool:
        return self.proc is not None

    def log(self) -> str:
        """What the simulator wrote on stdout/stderr so far."""
        if not self.workdir:
            return ""
        try:
            with open(os.path.join(self.workdir, "vppsim.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> Optional[int]:
        """SIGTERM, bounded wait, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        return self.proc.returncode


def _accepts(path: str, kind: int) -> bool:
    s = socket.socket(socket.AF_UNIX, kind)
    try:
        s.settimeout(1.0)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_vppsim(*args: str) -> VppSim:
    """Start ``python -m vppsim`` in a fresh short temp dir and wait until both sockets accept."""
    # Short path: AF_UNIX paths are limited to 108 bytes and pytest's tmp_path can be longer.
    workdir = tempfile.mkdtemp(prefix="vppsim-", dir="/tmp")
    api_sock = os.path.join(workdir, "api.sock")
    stats_sock = os.path.join(workdir, "stats.sock")
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "vppsim", "--api-socket", api_sock, "--stats-socket", stats_sock, *args]
    log = open(os.path.join(workdir, "vppsim.log"), "w")
    try:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()
    sim = VppSim(api_sock, stats_sock, None, proc, workdir, list(args))
    deadline = time.monotonic() + READY_TIMEOUT
    # Bounded readiness poll: each probe is a real connect; the short pause only paces the probes.
    while True:
        problem = None
        if proc.poll() is not None:
            problem = f"vppsim exited with {proc.returncode} before it was ready"
        elif _accepts(api_sock, socket.SOCK_STREAM) and _accepts(stats_sock, socket.SOCK_SEQPACKET):
            break
        elif time.monotonic() > deadline:
            problem = f"vppsim did not accept on {api_sock} within {READY_TIMEOUT}s"
        if problem:
            sim.stop()
            log = sim.log()
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"{problem}:\n{log}")
        time.sleep(0.02)
    sim.api_dir = API_DIR
    return sim


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
        if sim.workdir:
            shutil.rmtree(sim.workdir, ignore_errors=True)


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
        if sim.workdir:
            shutil.rmtree(sim.workdir, ignore_errors=True)
