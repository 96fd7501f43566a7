"""The one thread that owns the VPP connection: API client and stats segment.

vpp_papi is not thread-safe, and decoding a large dump holds the CPU for a while: both stay off
the event loop, where the probes run. The event loop hands jobs (plain functions of the client
and the stats reader) to this thread and awaits their results. Between jobs the thread watches
the API socket, so a VPP that goes away is noticed at once (EOF), not at the next ping.

Measured against the alternative (vpp_papi's asyncio client on the agent's own loop): that
one decodes every reply on the loop, so a full dump of a large state would stall every probe
for its whole duration; here the GIL's switch interval lets the loop run during a dump
(docs/performance.md, "Agent").
"""

from __future__ import annotations

import asyncio
import os
import queue
import select
import socket
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from ..plugins.module_utils.vpp_lb.client import VppLbClient
from ..plugins.module_utils.vpp_lb.errors import VppError
from ..plugins.module_utils.vpp_lb.model import LbState, VipKey
from ..plugins.module_utils.vpp_lb.stats import LbStatsReader
from .config import VppSettings

Job = Callable[[VppLbClient, LbStatsReader], Any]
CLIENT_NAME = "maglev-agent"
# Longest the event loop holds still for an urgent job (VppWorker.call): a weight change takes
# ~1-10 ms; a VPP slower than this is awaited the normal way, the probes running meanwhile.
HOLD_LIMIT = 0.02


class VppWorker:
    """Runs jobs against one VppLbClient and one LbStatsReader in a dedicated thread."""

    def __init__(self, settings: VppSettings, loop: asyncio.AbstractEventLoop, on_eof: Callable[[], None]):
        self.settings = settings
        self.client = VppLbClient(settings.api_socket, settings.api_dir, settings.timeout, name=CLIENT_NAME)
        self.stats = LbStatsReader(settings.stats_socket)
        self._loop = loop
        self._on_eof = on_eof
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stopping = False
        self._running = False  # the thread is in a job (read by the loop: see _idle)
        self.hold_limit = HOLD_LIMIT
        self.holds = 0  # urgent calls the loop held still for
        self.holds_expired = 0  # ... of which the job outlasted hold_limit (then awaited)
        # An fd found readable while idle is not watched again until the next job: EOF must be
        # reported once, and stray bytes (a late reply) must not spin the thread.
        self._quiet_fd = -1
        self._thread = threading.Thread(target=self._run, name="vpp", daemon=True)
        self._thread.start()

    async def call(self, job: Job, urgent: bool = False) -> Any:
        """Run ``job(client, stats)`` in the VPP thread; its exception is raised here.

        ``urgent`` (an apply: failovers and recoveries): if the thread is idle, the loop holds still
        (blocking, the GIL released) for up to ``hold_limit`` while the thread runs the job, and
        takes its outcome directly. Otherwise the thread competes for the GIL with a loop busy
        probing and waits up to the switch interval at each of its socket calls, and the reply
        waits for the loop's next turn: together p50 ~20 ms at 1,000 backends beside a CPU hog,
        against p50 3-6 ms held (docs/performance.md, "The agent's part of a failover").
        """
        if self._stopping:
            raise RuntimeError("the VPP worker is stopped")
        outcome = _Outcome() if urgent and self._idle() else None
        future = self._loop.create_future()
        self._jobs.put((job, future, outcome))
        os.write(self._wake_w, b"x")
        if outcome is not None:
            self.holds += 1
            if outcome.done.wait(self.hold_limit):
                future.cancel()  # the outcome came here: the thread's hand-over to the loop finds it done
                if outcome.error is not None:
                    raise outcome.error
                return outcome.result
            self.holds_expired += 1
        return await future

    def _idle(self) -> bool:
        """No job queued, then none running (in this order: see _run_jobs): an urgent job starts
        at once. Only the loop submits jobs, so the answer holds until it submits one."""
        return self._jobs.empty() and not self._running

    def stop(self) -> None:
        """Disconnect and end the thread (bounded wait); idempotent."""
        if self._stopping:
            return
        self._stopping = True
        self._jobs.put(None)
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=10)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                fd = self.client.fileno()
                watched = [self._wake_r] + ([fd] if fd >= 0 and fd != self._quiet_fd else [])
                readable = select.select(watched, [], [])[0]
                if self._wake_r in readable:
                    _drain(self._wake_r)
                elif fd in readable:
                    self._quiet_fd = fd
                    if _peer_closed(fd):
                        self._loop.call_soon_threadsafe(self._on_eof)
                if not self._run_jobs():
                    return
        finally:
            self._close()

    def _run_jobs(self) -> bool:
        while True:
            # Busy before the queue is looked at, idle only after the job's outcome is out: so
            # an empty queue and then not running (the order _idle reads them) means idle.
            self._running = True
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                self._running = False
                return True
            if item is None:
                return False
            job, future, outcome = item
            try:
                result = job(self.client, self.stats)
            except BaseException as exc:  # handed to the awaiting coroutine
                if outcome is not None:
                    outcome.error = exc
                    outcome.done.set()
                self._loop.call_soon_threadsafe(_set_exception, future, exc)
            else:
                if outcome is not None:
                    outcome.result = result
                    outcome.done.set()
                self._loop.call_soon_threadsafe(_set_result, future, result)
            self._running = False
            self._quiet_fd = -1

    def _close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.stats.disconnect()


class _Outcome:
    """An urgent job's result or exception, handed straight to the held loop thread."""

    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _peer_closed(fd: int) -> bool:
    """Whether the peer closed the socket (EOF), without consuming anything."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return True
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.close()


def _set_result(future: asyncio.Future, result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def job_connect(client: VppLbClient, stats: LbStatsReader) -> dict:
    """Connect the API socket, then the stats socket, and read what the agent logs about this VPP.

    The stats segment only feeds counters: without it (``stats_error`` says why) the agent still
    syncs weights, and the counters loop connects it later (LbStatsReader connects lazily).
    """
    try:
        capabilities = client.connect()
        stats.disconnect()  # a mapping from before a VPP restart is stale
        stats_error, boottime = None, None
        try:
            stats.connect()
            boottime = stats.boottime()
        except VppError as exc:
            stats.disconnect()
            stats_error = str(exc)
        return {
            "capabilities": capabilities,
            "version": client.show_version(),
            "pid": client.ping(),
            "boottime": boottime,
            "stats_error": stats_error,
        }
    except BaseException:
        client.disconnect()
        stats.disconnect()
        raise


def job_disconnect(client: VppLbClient, stats: LbStatsReader) -> None:
    client.disconnect()
    stats.disconnect()


def job_ping(client: VppLbClient, stats: LbStatsReader) -> int:
    return client.ping()


def dump_with_routes(client: VppLbClient) -> Tuple[LbState, Dict[VipKey, Optional[int]]]:
    """The LB state and, per VIP, its route's FIB stats index (one lookup per prefix: the
    per-port VIPs of a prefix share its route; pipelined)."""
    state = client.dump()
    by_prefix = client.route_stats_indexes(key.prefix for key in state.vips)
    return state, {key: by_prefix[key.prefix] for key in state.vips}


def make_job(fn: Callable[..., Any], *args: Any) -> Job:
    """A job calling ``fn(client, *args)``; for client methods such as dump and apply."""

    def job(client: VppLbClient, stats: LbStatsReader) -> Any:
        return fn(client, *args)

    return job
