"""The agent's VPP side: the connection's life, full and targeted syncs, the counters loop.

* Connection: API and stats sockets as one unit (VppWorker). Connect, retrying every
  RETRY_INTERVAL (a warning at the first failure and every minute while it lasts; the last
  problem stays in VppInfo.last_error); ping every PING_INTERVAL, and notice a closed socket at
  once (the worker watches it). A request that arrives during a ping runs right after it. On
  connect: log version, pid, boot time and the LB state found, then a full sync. On disconnect
  everything learnt from that VPP is dropped: the cached LB state, the conf dedup, the route
  stats indexes, the counters snapshot.
* lb_conf is the first write after every connect, warm-up or not: the full sync pushes it
  even while the warm-up holds every VIP, and a targeted sync that creates a VIP pushes it
  first if VPP does not have it yet.
* Full sync (on connect, after reload, every sync_interval, on request): fresh dump, plan the
  released frontends against it with the shared planner (never deleting VIPs that are not in
  the config) and the lb module's conflict check: a frontend whose VIP VPP would refuse to
  (re)create is left as it is in VPP and reported (``blocked``), the rest is applied. The dump,
  with the accepted ops applied, is the cached state.
* Targeted sync (after a health transition): plan one frontend against the cached state and
  apply; a weight change is one lb_as_set_weight. A failure schedules a full sync.
* Counters: every stats_interval, the four LB counters per VIP (by pool index) and the VIP's
  FIB /net/route/to counter (by the route stats index looked up with every dump, so a VIP
  re-created by anyone is followed), published as one immutable snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

from ..plugins.module_utils.vpp_lb import livestate, model, planner
from ..plugins.module_utils.vpp_lb.client import Capabilities, is_retryable
from ..plugins.module_utils.vpp_lb.errors import ApplyError, VppConnectError, VppError
from . import clock, logs, syncplan, vppconn
from .aiotools import bounded_wait
from .config import AgentSettings

RETRY_INTERVAL = 5.0
PING_INTERVAL = 10.0

# maglev_vpp_lbsync_total kinds, by op action
MUTATION_KINDS = {
    model.ADD_VIP: "vip_added",
    model.DEL_VIP: "vip_removed",
    model.ADD_AS: "as_added",
    model.DEL_AS: "as_removed",
    model.SET_WEIGHT: "as_weight_updated",
    model.SET_CONF: "conf_set",
}


@dataclass(frozen=True)
class VppInfo:
    """What the agent knows about the VPP it is connected to (all None while disconnected)."""

    connected: bool = False
    version: Optional[str] = None
    pid: Optional[int] = None
    boottime: Optional[float] = None
    connected_since: Optional[float] = None  # unix seconds
    lb_api_version: Optional[str] = None
    api_socket: str = ""
    # The last connection problem (failed connect, lost connection), kept after a reconnect.
    last_error: Optional[str] = None
    last_error_at: Optional[float] = None  # unix seconds
    # Why VPP's stats segment cannot be read (counters stale or absent), None while it can;
    # weights are synced either way.
    stats_error: Optional[str] = None


@dataclass(frozen=True)
class CountersSnapshot:
    """Counters of the VIPs in VPP at ``at`` (unix seconds); VPP restarts them at 0."""

    at: float
    boottime: Optional[float]
    vips: Mapping[model.VipKey, model.VipCounters] = field(default_factory=dict)
    # Where each VIP's counters were read: (LB pool index, route stats index). A VIP re-created
    # (by anyone) reads fresh counters at new indexes: the exporter treats that as a restart.
    sources: Mapping[model.VipKey, Tuple[Optional[int], Optional[int]]] = field(default_factory=dict)


class DesiredSource:
    """What the agent wants in VPP; implemented by the daemon (warm-up decides what is released)."""

    def desired_full(self) -> Optional[model.LbState]:  # None: no VIP or AS writes yet
        raise NotImplementedError

    def desired_conf(self) -> Optional[model.LbConf]:
        """The lb_conf to push after every connect, warm-up or not (None: leave VPP's alone).

        This default takes it from ``desired_full``, so it is None while that is None; the
        daemon overrides it to give the configured conf during the warm-up too."""
        state = self.desired_full()
        return state.conf if state is not None else None

    def desired_frontend(self, name: str) -> Optional[model.VipState]:  # None: not released
        raise NotImplementedError


class VppSync:
    def __init__(self, settings: AgentSettings, source: DesiredSource, on_change: Callable[..., None],
                 ping_interval: float = PING_INTERVAL):
        self.settings = settings
        self.ping_interval = ping_interval
        self.source = source
        # Called after the LB state, VPP info or counters changed, with the frontends whose VIPs
        # changed (no argument: maybe all; an empty tuple: none, only info or counters).
        self.on_change = on_change
        self.info = VppInfo(api_socket=settings.vpp.api_socket)
        self.capabilities: Optional[Capabilities] = None
        self.lb_state: Optional[model.LbState] = None  # cached: last dump + accepted ops
        self.counters: Optional[CountersSnapshot] = None
        self.mutations: Dict[Tuple[str, str], int] = {}  # (scope all|vip, kind) -> count
        self.sync_errors = 0
        self.last_full_sync: Optional[float] = None
        # Frontends the agent leaves as they are in VPP because VPP would refuse to (re)create
        # their VIP (a foreign VIP on the prefix): frontend name -> why. Set by every full sync.
        self.blocked: Mapping[str, str] = MappingProxyType({})
        # What the VPP connection is doing now: "ping", "full sync", "targeted sync"; None: idle.
        self.activity: Optional[str] = None
        self._worker: Optional[vppconn.VppWorker] = None
        self._pending: Set[str] = set()
        self._full_pending: Optional[str] = None
        self._lost = False  # the worker saw VPP close the API socket (since the last connect)
        # The idle sync task's wake-up: a plain future, resolved by a request, a lost connection
        # or its timer, so the task resumes in the loop's next iteration (not via helper tasks).
        self._waiter: Optional[asyncio.Future] = None
        self._pushed_conf: Optional[model.LbConf] = None
        # FIB stats index (/net/route/to) per VIP, looked up with every dump: a VIP deleted and
        # re-created (by anyone) may sit on another route; None: VPP has no route (yet).
        self._route_indexes: Mapping[model.VipKey, Optional[int]] = {}
        self._dumps = 0  # dumps taken: a counters read against an older one is dropped
        self._connect_failures = syncplan.ConnectFailures()
        self._task: Optional[asyncio.Task] = None
        self._idle = asyncio.Event()  # set whenever no sync is pending or running
        self._idle.set()

    # -- requests from the daemon --------------------------------------------------------------

    def request_frontends(self, names) -> None:
        self._pending.update(names)
        self._idle.clear()
        self._wake()

    def request_full(self, reason: str) -> None:
        self._full_pending = self._full_pending or reason
        self._idle.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_lost(self) -> None:
        """The worker saw VPP close the API socket (called on the loop)."""
        self._lost = True
        self._wake()

    def api_calls(self) -> Dict[Tuple[str, str], int]:
        """A copy of the VPP client's request counts, {(message, ok|error|broken): n}.

        The VPP thread mutates them; one dict copy is atomic under the GIL."""
        worker = self._worker
        return dict(worker.client.api_calls) if worker is not None else {}

    async def wait_idle(self) -> None:
        """Until no sync is pending or running (for a caller that wants its request done)."""
        await self._idle.wait()

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._life(), name="vpp")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await bounded_wait([self._task], "vpp")
        if self._worker is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._worker.stop)
            self._worker = None

    async def _life(self) -> None:
        loop = asyncio.get_running_loop()
        self._worker = vppconn.VppWorker(self.settings.vpp, loop, self._on_lost)
        stats_task = loop.create_task(self._stats_loop(), name="vpp-stats")
        try:
            while True:
                if not await self._connect():
                    await asyncio.sleep(RETRY_INTERVAL)
                    continue
                retry_now = True
                try:
                    await self._serve()
                except VppError as exc:
                    # Not retryable (VPP refused a read, API messages missing): still start over,
                    # after a pause, rather than leave VPP unattended.
                    retry_now = is_retryable(exc)
                    logs.emit("warning" if retry_now else "error", "vpp-disconnect", reason=str(exc))
                    self._note_error(f"disconnected: {exc}")
                except Exception as exc:  # a bug: log it with its traceback and start over
                    retry_now = False
                    logs.emit("error", "vpp-sync-crashed", exc_info=exc, reason=repr(exc))
                    self._note_error(f"sync crashed: {exc!r}")
                await self._forget()
                if not retry_now:
                    await asyncio.sleep(RETRY_INTERVAL)
        finally:
            stats_task.cancel()
            await asyncio.gather(stats_task, return_exceptions=True)

    async def _connect(self) -> bool:
        self._lost = False
        try:
            about = await self._worker.call(vppconn.job_connect)
        except VppError as exc:
            failures = self._connect_failures
            warn = failures.failed(time.monotonic())
            level = "error" if not is_retryable(exc) else "warning" if warn else "debug"
            logs.emit(level, "vpp-connect-failed", api_socket=self.settings.vpp.api_socket, reason=str(exc),
                      failures=failures.count, retry_in=RETRY_INTERVAL)
            self._note_error(f"connect failed: {exc}")
            return False
        self.capabilities = about["capabilities"]
        self.info = VppInfo(
            connected=True,
            version=about["version"],
            pid=about["pid"],
            boottime=about["boottime"],
            connected_since=clock.now(),
            lb_api_version=self.capabilities.lb_api_version,
            api_socket=self.settings.vpp.api_socket,
            last_error=self.info.last_error,
            last_error_at=self.info.last_error_at,
            stats_error=about["stats_error"],
        )
        if about["stats_error"]:
            self._stats_unavailable(about["stats_error"])
        outage = self._connect_failures.connected(time.monotonic())
        logs.emit(
            "info", "vpp-connect", version=self.info.version, pid=self.info.pid, boottime=self.info.boottime,
            lb_api=self.capabilities.lb_api_version, transport=self.capabilities.transport,
            **({"unreachable_for": round(outage[0], 1), "failed_attempts": outage[1]} if outage else {}),
        )
        self.request_full("connect")
        self.on_change()
        return True

    async def _forget(self) -> None:
        """Drop everything learnt from the VPP that went away."""
        await self._worker.call(vppconn.job_disconnect)
        self.capabilities = None
        self.lb_state = None
        self.counters = None
        self._pushed_conf = None
        self._route_indexes = {}
        self.info = VppInfo(api_socket=self.settings.vpp.api_socket, last_error=self.info.last_error,
                            last_error_at=self.info.last_error_at)
        self.on_change()

    def _stats_unavailable(self, reason: str) -> None:
        logs.emit("warning", "vpp-stats-unavailable", stats_socket=self.settings.vpp.stats_socket, reason=reason,
                  effect="counters are not updated; weights are still synced")

    def _note_stats(self, error: Optional[str]) -> None:
        """Record whether the stats segment could be read; log when that changes."""
        if error == self.info.stats_error or not self.info.connected:
            return
        if error is None:
            logs.emit("info", "vpp-stats-available", stats_socket=self.settings.vpp.stats_socket)
        elif self.info.stats_error is None:
            self._stats_unavailable(error)
        self.info = dataclasses.replace(self.info, stats_error=error)
        self.on_change(())

    def _note_error(self, reason: str) -> None:
        """Keep the last connection problem for the status API (VppInfo.last_error)."""
        self.info = dataclasses.replace(self.info, last_error=reason, last_error_at=clock.now())
        self.on_change(())

    async def _serve(self) -> None:
        """Syncs, pings and periodic full syncs until the connection is lost (raises VppError).

        Every round looks at the requests first and waits only when there is none; a request
        that arrives while a ping (or a sync) is in flight is found by the next round, so it
        waits no longer than that call's round trip. The wait's future is made after the last
        look, with nothing awaited in between: no request can fall between the two.
        """
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self.ping_interval
        next_full = loop.time() + self.settings.sync_interval
        while True:
            if self._lost:
                raise _lost_error(self.settings.vpp.api_socket)
            if self._full_pending is not None:
                reason, self._full_pending = self._full_pending, None
                self._pending.clear()  # a full sync covers every frontend
                with self._doing("full sync"):
                    await self.full_sync(reason)
                next_full = loop.time() + self.settings.sync_interval
                continue
            if self._pending:
                names = sorted(self._pending)
                self._pending.clear()
                with self._doing("targeted sync"):
                    await self.targeted_sync(names)
                continue
            self._idle.set()
            now = loop.time()
            if now >= next_ping:
                try:
                    with self._doing("ping"):
                        await self._worker.call(vppconn.job_ping)
                except VppError as exc:
                    logs.emit("warning", "vpp-ping-failed", reason=str(exc))
                    raise
                next_ping = now + self.ping_interval
                continue  # a request may have come in during the ping
            if now >= next_full:
                self.request_full("periodic")
                continue
            self._waiter = loop.create_future()
            timer = loop.call_at(min(next_ping, next_full), self._wake)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None

    @contextlib.contextmanager
    def _doing(self, what: str) -> Iterator[None]:
        self.activity = what
        try:
            yield
        finally:
            self.activity = None

    # -- syncs ---------------------------------------------------------------------------------

    async def full_sync(self, reason: str) -> None:
        actual = await self._dump()
        desired = self.source.desired_full()
        if reason == "connect":
            logs.emit(
                "info", "vpp-lb-state", vips=len(actual.vips), ases=sum(len(v.ases) for v in actual.vips.values()),
                conf=_conf_fields(actual.conf),
            )
        self.last_full_sync = clock.now()
        if desired is None:
            # Warm-up: VIPs and ASes are hands off, but the conf goes first after every connect,
            # so that no VIP a targeted sync creates later meets VPP's default conf.
            desired = model.LbState(conf=self.source.desired_conf())
        ops, refused = syncplan.plan_full(desired, actual, as_weights=self.capabilities.as_weights)
        self._set_blocked({_frontend(desired.vips[key]): why for key, why in refused.items()})
        ops = self._without_repeated_conf(ops)
        await self._apply(ops, "all", reason)

    async def targeted_sync(self, names: List[str]) -> None:
        if self.lb_state is None:
            return  # no dump yet: the pending full sync covers these
        ops: List[model.Op] = []
        as_weights = self.capabilities.as_weights
        for name in names:
            want = self.source.desired_frontend(name)
            if want is None or name in self.blocked:
                continue  # not released, or left as it is in VPP until a full sync clears it
            planned = planner.plan_vip(want, self.lb_state.vips.get(want.key), as_weights=as_weights)
            why = syncplan.vip_blocked(want, planned, self.lb_state, as_weights=as_weights)
            if why is not None:
                self._set_blocked({**self.blocked, name: why})
                continue
            ops.extend(planned)
        if any(op.action == model.ADD_VIP for op in ops):
            # A VIP is created only after the conf (a conf refused at connect is retried here
            # first); a weight change does not wait for it.
            ops = self._conf_ops() + ops
        await self._apply(ops, "vip", "transition: " + ", ".join(names), names)

    def _conf_ops(self) -> List[model.Op]:
        """The set_conf a targeted sync must push first, if the cached state lacks the conf."""
        conf = self.source.desired_conf()
        if conf is None:
            return []
        ops = planner.plan(model.LbState(conf=conf), model.LbState(conf=self.lb_state.conf),
                           as_weights=self.capabilities.as_weights)
        return self._without_repeated_conf(ops)

    async def _dump(self) -> model.LbState:
        """A fresh dump and the route stats index of every VIP in it: the cached state."""
        state, routes = await self._worker.call(vppconn.make_job(vppconn.dump_with_routes))
        self.lb_state, self._route_indexes = state, routes
        self._dumps += 1
        return state

    def _set_blocked(self, blocked: Dict[str, str]) -> None:
        """Replace the blocked frontends; log those that start or stop being blocked."""
        old = self.blocked
        for name in sorted(blocked):
            if old.get(name) != blocked[name]:
                logs.emit("warning", "vpp-frontend-blocked", frontend=name, reason=blocked[name],
                          action="left as it is in VPP")
        for name in sorted(set(old) - set(blocked)):
            logs.emit("info", "vpp-frontend-unblocked", frontend=name)
        self.blocked = MappingProxyType(dict(blocked))

    def _without_repeated_conf(self, ops: List[model.Op]) -> List[model.Op]:
        # VPP that cannot report its conf (LB API 1.1.0) would get it on every sync otherwise.
        return [op for op in ops if not (op.action == model.SET_CONF and op.conf == self._pushed_conf)]

    async def _apply(self, ops: List[model.Op], scope: str, reason: str, names: Optional[List[str]] = None) -> None:
        if not ops:
            logs.emit("debug", "vpp-lbsync-done", scope=scope, trigger=reason, ops=0)
            if names is None:
                self.on_change()  # a full sync's fresh dump: bucket counts of every VIP
            return
        as_weights = self.capabilities.as_weights
        try:
            # Weight changes are failovers and recoveries (a full sync carries those that came
            # in during its dump): the loop holds still for them. Dumps and reads are not urgent.
            applied = await self._worker.call(vppconn.make_job(lambda client: client.apply(ops)), urgent=True)
            failure = None
        except ApplyError as exc:
            applied, failure = exc.applied, exc
        self.lb_state = livestate.apply_ops(self.lb_state, applied, as_weights=as_weights)
        # Logged and counted before anything else is awaited: VPP holds these writes now, and a
        # dump that fails below (VPP gone) must not leave them out of the log.
        for op in applied:
            kind = MUTATION_KINDS.get(op.action, op.action)
            self.mutations[(scope, kind)] = self.mutations.get((scope, kind), 0) + 1
            if op.action == model.SET_CONF:
                self._pushed_conf = op.conf
            logs.emit(
                "info", "vpp-lbsync", scope=scope, kind=kind, command=op.describe(as_weights), reason=op.reason,
                trigger=reason,
                vip=str(op.vip) if op.vip else None, address=op.address, weight=op.weight, flush=op.flush,
            )
        if failure is None and any(op.action == model.ADD_VIP for op in applied):
            # A new VIP's pool index and route (for its counters) come only from a dump.
            await self._dump()
        if names is None:
            self.on_change()
        else:
            self.on_change(names)
        logs.emit("debug", "vpp-lbsync-done", scope=scope, trigger=reason, ops=len(applied), failed=failure is not None)
        if failure is not None:
            self.sync_errors += 1
            logs.emit("error", "vpp-lbsync-error", scope=scope, reason=str(failure), applied=len(applied),
                      failed=failure.failed.describe(as_weights) if isinstance(failure.failed, model.Op)
                      else str(failure.failed))
            if is_retryable(failure.cause):
                raise failure.cause
            if scope == "vip":
                self.request_full("after a failed sync")  # a fresh dump may show why
            # A failed full sync is retried by the periodic one, not at once: VPP refusing the
            # same op (a foreign VIP in the way, say) must not turn into a tight loop.

    # -- counters ------------------------------------------------------------------------------

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval)
            state, caps, routes, dumps = self.lb_state, self.capabilities, self._route_indexes, self._dumps
            if state is None or caps is None or self._lost:
                continue
            try:
                snapshot = await self._worker.call(functools.partial(_read_counters, state=state, routes=routes))
            except VppConnectError as exc:  # the stats socket is missing or refused: retried next round
                self._note_stats(str(exc))
                continue
            except VppError as exc:
                logs.emit("debug", "vpp-stats-failed", reason=str(exc))
                continue
            except Exception as exc:  # a bug must not end the counters loop for good
                logs.emit("error", "vpp-stats-failed", exc_info=exc, reason=repr(exc))
                continue
            # Not disconnected meanwhile, and read with the indexes of the latest dump: a read
            # against the indexes a newer dump replaced may have counted another VIP's packets.
            if self.info.connected and self.info.boottime is None:  # stats came back after the connect
                self.info = dataclasses.replace(self.info, boottime=snapshot.boottime)
            self._note_stats(None)
            if self.lb_state is not None and self._dumps == dumps:
                self.counters = snapshot
                self.on_change(())  # counters only: no frontend view changed


def _read_counters(client, stats, state: model.LbState,
                   routes: Mapping[model.VipKey, Optional[int]]) -> CountersSnapshot:
    """In the VPP thread: LB counters (by pool index) and FIB counters (by the route stats
    index of the same dump) of every VIP with a known pool index."""
    by_index = {key: vip.index for key, vip in state.vips.items() if vip.index is not None}
    lb = stats.vip_counters(by_index)
    route_counters = stats.route_counters({k: routes[k] for k in by_index if routes.get(k) is not None})
    vips = {}
    for key in by_index:
        packets, octets = route_counters.get(key, (None, None))
        vips[key] = model.VipCounters(**lb[key], route_packets=packets, route_bytes=octets)
    sources = {key: (by_index[key], routes.get(key)) for key in by_index}
    return CountersSnapshot(at=clock.now(), boottime=stats.boottime(), vips=MappingProxyType(vips),
                            sources=MappingProxyType(sources))


def _frontend(vip: model.VipState) -> str:
    """The frontend a desired VIP comes from (desired.desired_vip names it)."""
    return vip.name or str(vip.key)


def _lost_error(socket_path: str) -> VppError:
    from ..plugins.module_utils.vpp_lb.errors import VppDisconnectedError

    return VppDisconnectedError(f"VPP closed the API socket {socket_path}")


def _conf_fields(conf: Optional[model.LbConf]) -> Optional[dict]:
    if conf is None:
        return None
    return {
        "ip4_src_address": conf.ip4_src_address,
        "ip6_src_address": conf.ip6_src_address,
        "sticky_buckets_per_core": conf.sticky_buckets_per_core,
        "flow_timeout": conf.flow_timeout,
    }
