"""Start and stop a vppsim process: used by the demo, the benchmarks and the test fixtures."""

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
from typing import List, Optional

from . import DEFAULT_LB_API, api_dir_for

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class SimProcess:
    """A running vppsim (or, with proc None, a real VPP's sockets handed in from outside)."""

    api_socket: str
    stats_socket: str
    api_dir: Optional[str]
    proc: Optional[subprocess.Popen] = None
    workdir: Optional[str] = None  # removed by stop(): it only holds the sockets and the log
    args: List[str] = field(default_factory=list)

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    @property
    def is_sim(self) -> bool:
        return self.proc is not None

    def log(self) -> str:
        """What the simulator wrote on stdout/stderr so far."""
        try:
            with open(os.path.join(self.workdir or "", "vppsim.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> Optional[int]:
        """SIGTERM, bounded wait, then SIGKILL; remove the work dir. Returns the exit code."""
        if self.proc is None:
            return None
        self.terminate()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return self.proc.returncode

    def terminate(self) -> Optional[int]:
        """Stop the process as VPP stops (SIGTERM, bounded wait, SIGKILL) but keep the work dir,
        so ``start(*args, workdir=...)`` can bring it up again on the same sockets."""
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

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


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


def lb_api_of(args: tuple[str, ...] | list[str]) -> str:
    """The ``--lb-api`` value in a vppsim command line (the default personality without one)."""
    for i, arg in enumerate(args):
        if arg == "--lb-api" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--lb-api="):
            return arg.split("=", 1)[1]
    return DEFAULT_LB_API


def start(*args: str, timeout: float = READY_TIMEOUT, workdir: Optional[str] = None) -> SimProcess:
    """Start `python -m vppsim [args]` in a fresh temp dir (or in ``workdir``, on the sockets of a
    terminated simulator) and wait until both sockets accept.

    The handle's ``api_dir`` is the definitions of the personality chosen with ``--lb-api``.
    """
    # A short path under /tmp: AF_UNIX paths are limited to 108 bytes.
    workdir = workdir or tempfile.mkdtemp(prefix="vppsim-", dir="/tmp")
    api_sock = os.path.join(workdir, "api.sock")
    stats_sock = os.path.join(workdir, "stats.sock")
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "vppsim", "--api-socket", api_sock, "--stats-socket", stats_sock, *args]
    with open(os.path.join(workdir, "vppsim.log"), "a") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    sim = SimProcess(api_sock, stats_sock, api_dir_for(lb_api_of(args)), proc, workdir, list(args))
    deadline = time.monotonic() + timeout
    # Bounded readiness poll: each probe is a real connect; the short pause only paces the probes.
    while True:
        problem = None
        if proc.poll() is not None:
            problem = f"vppsim exited with {proc.returncode} before it was ready"
        elif _accepts(api_sock, socket.SOCK_STREAM) and _accepts(stats_sock, socket.SOCK_SEQPACKET):
            return sim
        elif time.monotonic() > deadline:
            problem = f"vppsim did not accept on {api_sock} within {timeout}s"
        if problem:
            log_text = sim.log()
            sim.stop()
            raise RuntimeError(f"{problem}:\n{log_text}")
        time.sleep(0.02)
