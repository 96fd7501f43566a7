"""One agent per config: a lock held for the process's life, beside the state file.

A second ``maglev-agent`` started by hand while the service runs (a common debugging move)
would connect to the same VPP and fight the first one over every weight. The lock is an
``flock`` on ``<state_file>.lock``: the kernel drops it when the process dies, however it dies,
so a crashed agent never blocks its successor. The holder's pid is written into the file, so the
refusal can name the running agent.
"""

from __future__ import annotations

import fcntl
import os


class AlreadyRunning(Exception):
    """Another agent holds the lock."""


def lock_path(state_file: str) -> str:
    return state_file + ".lock"


def acquire(state_file: str) -> int:
    """Take the lock; returns its file descriptor (keep it open). Raises AlreadyRunning or OSError."""
    path = lock_path(state_file)
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(fd)
        os.close(fd)
        who = f"pid {holder}" if holder else "another process"
        raise AlreadyRunning(
            f"another maglev-agent ({who}) already runs with state file {state_file} (lock {path}); "
            "stop it first (systemctl stop maglev-agent), or give this one its own agent.state_file"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
