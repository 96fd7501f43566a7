"""Route announcement, carried out: runs the frontends' hooks as agent/announce.py decides.

Each run is the frontend's argv (no shell) with the facts in its environment (MAGLEV_FRONTEND,
MAGLEV_PREFIX, MAGLEV_PROTOCOL, MAGLEV_PORT, MAGLEV_STATE, MAGLEV_PREVIOUS_STATE,
MAGLEV_VPP_CONNECTED, MAGLEV_REASON, MAGLEV_ATTEMPT), killed (its whole process group) at its
timeout. Every run is logged and counted (AgentCounters.announce_runs).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Callable, Dict, Optional, Tuple

from ..plugins.module_utils.vpp_lb import model
from . import clock, logs
from .aiotools import within
from .announce import Announcer, Run, announce_state
from .config import AgentConfig
from .counters import AgentCounters
from .snapshot import AgentSnapshot

OUTPUT_LIMIT = 2000  # characters of a failed hook's output kept in the log line
OK, FAILED, TIMEOUT, NOT_STARTED, ERROR = "ok", "failed", "timeout", "not-started", "error"


def hook_of(config: AgentConfig, frontend: str) -> Tuple[Tuple[str, ...], float]:
    """(argv, timeout) of a frontend's hook; argv () when it has none."""
    settings = config.settings
    own = config.lb.frontends[frontend].announce
    if own is None:
        return settings.announce_command, settings.announce_timeout
    return own.command, own.timeout if own.timeout is not None else settings.announce_timeout


class AnnounceRunner:
    def __init__(self, config: Callable[[], AgentConfig], counters: AgentCounters) -> None:
        self._config = config
        self.counters = counters
        settings = config().settings
        self.announcer = Announcer(settings.announce_retry_interval, settings.announce_retry_max_interval)
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task] = None
        self._runs: Dict[str, asyncio.Task] = {}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="announce")

    async def stop(self) -> None:
        tasks = list(self._runs.values()) + ([self._task] if self._task else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def observe(self, snap: AgentSnapshot) -> None:
        """A new published snapshot: what each frontend with a hook should announce now."""
        config = self._config()
        settings = config.settings
        self.announcer.retry_interval = settings.announce_retry_interval
        self.announcer.retry_max_interval = settings.announce_retry_max_interval
        connected = snap.vpp.connected
        # Seen: connected now or before (an epoch), or a connect attempt failed (last_error).
        seen = connected or self.announcer.epoch is not None or snap.vpp.last_error is not None
        live = snap.lb_state.vips if snap.lb_state is not None and connected else {}
        wanted = {}
        for name, view in snap.frontends.items():
            if name in config.lb.frontends and hook_of(config, name)[0]:
                vip = live.get(view.vip)
                weighted = vip is not None and any(a.weight > 0 for a in vip.ases.values())
                wanted[name] = (announce_state(view.state, view.released, connected, weighted, seen), connected)
        self.announcer.observe(wanted, snap.vpp.connected_since if connected else None)
        self.counters.announced = self.announcer.announced()
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            for run in self.announcer.due(clock.now()):
                self._runs[run.frontend] = asyncio.get_running_loop().create_task(
                    self._run(run), name=f"announce-{run.frontend}")
            await within(self._wake.wait(), self.announcer.next_wake(clock.now()))

    async def _run(self, run: Run) -> None:
        config = self._config()
        argv, timeout = hook_of(config, run.frontend) if run.frontend in config.lb.frontends else ((), 0.0)
        result, detail = NOT_STARTED, "the frontend has no hook any more"
        started = time.monotonic()
        try:
            if argv:
                result, detail = await _execute(argv, _environment(config, run), timeout)
        except Exception as exc:  # a bug must not end the frontend's announcements: retried, loudly
            logs.emit("error", "announce-crashed", frontend=run.frontend, exc_info=exc, reason=repr(exc))
            result, detail = ERROR, repr(exc)
        finally:
            if self._runs.get(run.frontend) is asyncio.current_task():
                del self._runs[run.frontend]
        duration = round(time.monotonic() - started, 3)
        ok = result == OK
        fields = {"frontend": run.frontend, "state": run.state, "previous": run.previous, "reason": run.reason,
                  "attempt": run.attempt, "vpp_connected": run.vpp_connected, "result": result,
                  "duration": duration}
        if ok:
            logs.emit("info", "announce", **fields)
        else:
            logs.emit("warning", "announce-failed", detail=detail, **fields)
        self.counters.announce_run(run.frontend, run.state, result)
        self.announcer.finished(run, ok, clock.now())
        self.counters.announced = self.announcer.announced()
        self._wake.set()


def _environment(config: AgentConfig, run: Run) -> Dict[str, str]:
    key = config.lb.frontends[run.frontend].key
    return {
        **os.environ,
        "MAGLEV_FRONTEND": run.frontend,
        "MAGLEV_PREFIX": key.prefix,
        "MAGLEV_PROTOCOL": model.PROTOCOL_NAMES.get(key.protocol, str(key.protocol)),
        "MAGLEV_PORT": str(key.port),
        "MAGLEV_STATE": run.state,
        "MAGLEV_PREVIOUS_STATE": run.previous,
        "MAGLEV_VPP_CONNECTED": "1" if run.vpp_connected else "0",
        "MAGLEV_REASON": run.reason,
        "MAGLEV_ATTEMPT": str(run.attempt),
    }


async def _execute(argv, env: Dict[str, str], timeout: float) -> Tuple[str, str]:
    """(result, detail) of one run: the process in its own session, killed whole at the timeout."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
    except OSError as exc:
        return NOT_STARTED, f"cannot run {argv[0]}: {exc.strerror or exc}"
    try:
        finished, output = await within(process.communicate(), timeout)
    except asyncio.CancelledError:  # the agent stops: no hook outlives it
        _kill_group(process.pid)
        raise
    if not finished:
        _kill_group(process.pid)
        await process.wait()
        return TIMEOUT, f"killed after {timeout:g}s"
    output = output[0]
    text = output.decode("utf-8", "replace").strip()[-OUTPUT_LIMIT:]
    if process.returncode != 0:
        return FAILED, f"exit status {process.returncode}" + (f": {text}" if text else "")
    return OK, text


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
