"""Start and stop a vppsim process (used by the demo, the benchmarks and the tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import List, Optional

READY_TIMEOUT = 15.0


@dataclass
class SimProcess:
    api_socket: str
    stats_socket: str
    api_dir: str
    proc: subprocess.Popen
    workdir: str
    extra_args: List[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait (bounded), then SIGKILL. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
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


def api_dir() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "api")


def start(workdir: Optional[str] = None, extra_args: Optional[List[str]] = None,
          timeout: float = READY_TIMEOUT) -> SimProcess:
    """Start `python -m vppsim` with sockets in workdir and wait until both sockets accept."""
    workdir = workdir or tempfile.mkdtemp(prefix="vppsim-")
    api_sock = os.path.join(workdir, "api.sock")
    stats_sock = os.path.join(workdir, "stats.sock")
    args = [sys.executable, "-m", "vppsim", "--api-socket", api_sock, "--stats-socket", stats_sock]
    args += list(extra_args or [])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(args, env=env, cwd=root)
    deadline = time.monotonic() + timeout
    # Poll for readiness: each probe is a real connect with its own timeout, the loop is bounded.
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vppsim exited with {proc.returncode} before it was ready")
        if (os.path.exists(api_sock) and os.path.exists(stats_sock)
                and _accepts(api_sock, socket.SOCK_STREAM)):
            return SimProcess(api_sock, stats_sock, api_dir(), proc, workdir, list(extra_args or []))
        time.sleep(0.02)  # readiness poll interval, not synchronisation of test outcomes
    proc.kill()
    proc.wait()
    raise RuntimeError(f"vppsim did not open {api_sock} within {timeout}s")
