"""The agent's shell: carries out what the decision core (agent/decisions.py) decides.

One asyncio loop runs everything but the VPP connection (agent/vppconn.py, its own thread):
one probe task per probed backend (a backend is probed once however many frontends use it),
the VPP sync (agent/vppsync.py), a timer for warm-up, slow-start steps, drain deadlines and
reminders, the state-file writer and the operator-state writer. Every input (a probe result,
an operator action, a reload, a timer tick) goes to the core, and the core's ``Actions`` are
executed by ``_execute``: logs, events, counters, probe tasks, VPP syncs, publishing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import threading
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Dict, Iterable, List, Optional, Set, Tuple

from ..plugins.module_utils.vpp_lb import agent_state, compose, config_digest, model, weights
from ..plugins.module_utils.vpp_lb.schema import ConfigError
from . import clock, heap, logs, operator_state, probes
from .aiotools import bounded_wait, within
from .announce_runner import AnnounceRunner
from .config import AgentConfig, ConfigFileError, load_config
from .counters import AgentCounters
from .decisions import Actions, AgentCore, FrontendPlan
from .events import EventBus
from .health import REMOVED, HealthError, Transition
from .probe_sleeps import ProbeSleeps
from .probes.result import AGENT, NETNS
from .snapshot import AgentSnapshot, FrontendView, MemberView, ReloadStatus, live_changed
from .starvation import STRETCH_PERIOD, ScheduleStretch, starved, starved_retry_delay
from .status import SyncStatus
from .vppsync import DesiredSource, VppInfo, VppSync

PROBE_LAG_SAMPLES = 10000
# Probe- and VPP-driven republishing happens at most once per this many seconds: at once when the
# last one is older, else once at the end of the window. So a storm of transitions (1,000
# backends coming up at start) costs one full publish per window instead of one each (~10-25 ms
# apiece at 1,000 backends), and a lone transition is published at once, as before.
PUBLISH_COALESCE = 0.05
NETNS_RETRY = 1.0  # seconds between attempts to enter a missing probe namespace
PROBE_LOOP_RESTART = 1.0  # seconds before a crashed probe loop starts again
# Seconds between attempts to write a file whose last write failed (disk full, read-only): the
# file is current again soon after space returns, without waiting for the next change.
WRITE_RETRY = 1.0
STATE_FILE, OPERATOR_FILE = "state", "operator-state"  # the `file` label of the write-error counter
# Least seconds between two writes of the state file: a burst of transitions (a rack going down)
# is one write. Each write held the GIL 30-70 ms at 5,000 backends, and a write per transition
# made the probes late enough, with a few failovers a second, to stretch the schedule
# (docs/performance.md, "The agent at 5,000 backends").
STATE_WRITE_GAP = 1.0


@dataclass(frozen=True)
class ActionOutcome:
    """What an operator action did: the transition, or None with why nothing changed."""

    backend: str
    action: str
    state: str
    transition: Optional[Transition]
    message: str


class Agent(DesiredSource):
    def __init__(self, config: AgentConfig, config_path: Optional[str] = None, log_level_override: str = "",
                 persisted: Optional[operator_state.OperatorState] = None, settle_heap: bool = False):
        # The process's own agent freezes its long-lived objects after start-up and each reload
        # (agent/heap.py); an agent inside another program (tests, benchmarks) leaves its heap alone.
        self.settle_heap = settle_heap
        self.log_level_override = log_level_override  # --log-level wins over the file, also on reload
        self.config_path = config_path
        self.started_at = clock.now()
        self.core = AgentCore(config, self.started_at, random.Random(), persisted)
        self.reload_status = ReloadStatus(ok=True, at=self.started_at, success_at=self.started_at)
        self.digest = config_digest.config_digest(config.lb)  # once per load: ~80 ms at 1,000 frontends
        self.probe_lag: List[float] = []  # seconds between a probe's due time and its start
        self.probe_loop_crashes = 0
        self.write_errors: Dict[str, int] = {STATE_FILE: 0, OPERATOR_FILE: 0}  # failed file writes
        self.starved_reruns = 0  # timed-out probes run again because the loop was starved
        self.stretch = ScheduleStretch()  # probe intervals x factor while the loop lags
        self.sleeps = ProbeSleeps()  # the probe loops' sleeps, rescaled when the stretch changes
        self._stretch_handle: Optional[asyncio.TimerHandle] = None  # ends each STRETCH_PERIOD
        self.netns: Optional[probes.NetnsSockets] = None
        self.netns_error: Optional[str] = None
        self._netns_tried = float("-inf")
        self._netns_checked = float("-inf")
        self.vpp = VppSync(config.settings, self, self._changed)
        self._unweighted_spill: Dict[str, str] = {}  # frontend -> the spill-unweighted warning last logged
        self.snapshot: Optional[AgentSnapshot] = None
        self.events = EventBus()
        self.counters = AgentCounters()
        self.announce = AnnounceRunner(lambda: self.config, self.counters)
        self._probe_tasks: Dict[str, asyncio.Task] = {}
        self._state_dirty = asyncio.Event()
        self._operator_dirty = asyncio.Event()
        # A write runs in an executor thread, which cancelling the writer task does not stop:
        # stop() takes this lock to remove the file only after the write, and no write follows.
        self._state_file_lock = threading.Lock()
        self._state_file_closed = False
        self._timer_wake = asyncio.Event()
        self._reload_lock = asyncio.Lock()  # SIGHUP and POST /config/reload, one at a time
        self._tasks: List[asyncio.Task] = []
        self._publish_handle: Optional[asyncio.TimerHandle] = None
        self._published_at = float("-inf")  # time.monotonic() of the last full publish
        self._dirty_frontends: Optional[Set[str]] = set()  # views to rebuild at the next publish; None: all
        self._dirty_backends: Optional[Set[str]] = set()  # backend entries to rebuild likewise; None: all
        # Backends whose view changed by a probe result without a transition (_publish_backend):
        # swapped in together, at most once per PUBLISH_COALESCE.
        self._pending_views: Set[str] = set()
        self._views_handle: Optional[asyncio.TimerHandle] = None
        self._views_published_at = float("-inf")
        # Frontend views whose part of VPP (bucket counts) changed: rebuilt at the next publish, and
        # not state-file changes. None: maybe all, found by comparing (a dump: _changed).
        self._live_dirty: Optional[Set[str]] = set()

    @property
    def config(self) -> AgentConfig:
        return self.core.config

    @property
    def probe_schedule_stretch(self) -> float:
        return self.stretch.factor

    @property
    def config_loaded_at(self) -> float:
        return self.reload_status.success_at

    # -- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.config.settings
        logs.emit(
            "info", "starting", config=self.config_path, frontends=len(self.config.lb.frontends),
            backends=len(self.config.lb.backends), pid=os.getpid(),
            event_loop=type(asyncio.get_running_loop()).__module__.split(".")[0],  # asyncio or uvloop
        )
        self._open_netns(settings.probe_netns)
        self._execute(self.core.start(clock.now()))
        self._publish()
        self._start_stretch_clock()
        loop = asyncio.get_running_loop()
        self.vpp.start()
        self.announce.start()
        self._tasks = [
            loop.create_task(self._timers(), name="timers"),
            loop.create_task(self._state_writer(), name="state-file"),
            loop.create_task(self._operator_writer(), name="operator-state"),
        ]
        if self.settle_heap:
            heap.settle()

    async def stop(self) -> None:
        """Clean shutdown: probes and VPP connection end; nothing is changed in VPP."""
        logs.emit("info", "stopping")
        probe_tasks = list(self._probe_tasks.values())
        for task in probe_tasks + self._tasks:
            task.cancel()
        self._probe_tasks.clear()
        for handle in (self._publish_handle, self._views_handle, self._stretch_handle):
            if handle is not None:
                handle.cancel()
        await bounded_wait(probe_tasks + self._tasks, "probes and timers")
        await self.vpp.stop()
        await self.announce.stop()
        if self.netns is not None:
            self.netns.close()
        self._save_operator_state()  # an action of the last moment is not lost
        # No agent any more: the modules must not trust a view that will go stale. (Blocks the
        # loop for at most the one write in flight: nothing else runs any more.)
        self._remove_state_file()

    def _remove_state_file(self) -> None:
        with self._state_file_lock:
            self._state_file_closed = True
            try:
                os.unlink(self.config.settings.state_file)
            except OSError:
                pass

    # -- carrying out the core's decisions ------------------------------------------------------

    def _execute(self, a: Actions) -> None:
        for record in a.logs:
            logs.emit(record.level, record.event, **record.fields)
        for name, transition in a.transitions:
            self.counters.transition(name, transition.from_state, transition.to_state)
        for name in a.forget:
            self.counters.forget(name)
        for event in a.events:
            self.events.publish(event)
        for name in a.stop_probes:
            task = self._probe_tasks.pop(name, None)
            if task is not None and not task.done():
                task.cancel()
        loop = asyncio.get_running_loop()
        for name, delay in a.start_probes.items():
            self._probe_tasks[name] = loop.create_task(self._supervised_probe(name, delay), name=f"probe-{name}")
        if a.full_sync is not None:
            self.vpp.request_full(a.full_sync)
        if a.sync:
            self.vpp.request_frontends(sorted(a.sync))
        if a.persist:
            self._operator_dirty.set()
        self._timer_wake.set()  # a ramp or drain may have started: the timer recomputes its wake-up
        if a.changed_anything:
            self._publish_soon(a.dirty, [name for name, _transition in a.transitions])

    # -- probes --------------------------------------------------------------------------------

    async def _supervised_probe(self, name: str, first_delay: float) -> None:
        """A probe loop that a bug cannot end silently: logged, counted, restarted."""
        delay = first_delay
        while True:
            try:
                await self._probe_loop(name, delay)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.probe_loop_crashes += 1
                logs.emit("error", "probe-loop-crashed", backend=name, exc_info=exc, reason=repr(exc),
                          restart_in=PROBE_LOOP_RESTART)
                delay = PROBE_LOOP_RESTART

    async def _probe_loop(self, name: str, first_delay: float) -> None:
        loop = asyncio.get_running_loop()
        # The first probe is paced by the warm-up (decisions.py), not stretched; every later one is.
        started, delay, stretched = loop.time(), first_delay, False
        me = asyncio.current_task()
        starved_in_a_row = 0  # timed-out probes in a row not counted as the loop was starved
        while True:
            factor = self.stretch.factor if stretched else 1.0
            due = await self.sleeps.until(started + delay * factor, movable=stretched)
            machine = self.core.machines.get(name)
            if machine is None or not machine.probing or self._probe_tasks.get(name) is not me:
                return
            started = loop.time()
            self._note_lag(started - due)
            check, address = machine.check, self.config.lb.backends[name].address
            result = await self._probe(name, check, address)
            if self._probe_tasks.get(name) is not me:
                return  # reconfigured, paused or removed while the probe ran
            stretched = True
            if starved(result.code, result.duration, check.timeout, starved_in_a_row):
                # Its timer fired late: the loop was starved, the backend maybe not (agent/starvation.py).
                # Not counted: probed again at once (the loop runs now), then after fast_interval.
                self.starved_reruns += 1
                logs.emit("debug", "probe-starved", backend=name, code=result.code,
                          late=round(result.duration - check.timeout, 6), action="not counted, probed again")
                delay = starved_retry_delay(check.fast_interval, starved_in_a_row)
                starved_in_a_row += 1
                continue
            starved_in_a_row = 0
            self._take_result(name, check, result)
            delay = self.core.next_probe_delay(name)
            if delay is None:
                return

    def _take_result(self, name: str, check, result: probes.ProbeResult) -> None:
        """Count, log and decide on a probe result. A function of its own so that its Actions (a
        dozen containers) die here, not with the probe loop's next result ~one interval later:
        kept that long they reach the collector's oldest generation, whose full passes then
        stalled the loop for 100-200 ms at 5,000 backends (docs/performance.md)."""
        self.counters.probe(name, check.type, result.ok, result.code, result.duration)
        logs.emit("debug", "probe", backend=name, ok=result.ok, code=result.code, detail=result.detail,
                  duration=round(result.duration, 6))
        actions = self.core.probe_result(name, result, clock.now())
        if actions.changed_anything:
            self._mark_dirty((), [name])  # its last result, also when blindness, not a transition, changed
            self._execute(actions)
        else:
            self._publish_backend(name)

    async def _probe(self, name: str, check, address: str) -> probes.ProbeResult:
        netns_name = self.config.settings.probe_netns
        if netns_name and self.netns is not None:
            self._check_netns(netns_name)
        if netns_name and self.netns is None:
            self._retry_netns(netns_name)
            if self.netns is None:
                return probes.ProbeResult(False, NETNS, self.netns_error or "no namespace", 0.0)
        try:
            return await probes.run_probe(check, address, netns=self.netns)
        except Exception as exc:  # a bug in a probe says nothing about the backend: the agent is blind
            logs.emit("error", "probe-crashed", backend=name, exc_info=exc, reason=repr(exc))
            return probes.ProbeResult(False, AGENT, f"probe crashed: {exc!r}", 0.0)

    def _note_lag(self, lag: float) -> None:
        if len(self.probe_lag) >= PROBE_LAG_SAMPLES:
            del self.probe_lag[: PROBE_LAG_SAMPLES // 2]
        self.probe_lag.append(lag)
        self.counters.lag(lag)
        self.stretch.note(lag)

    def _start_stretch_clock(self) -> None:
        if self._stretch_handle is not None:
            self._stretch_handle.cancel()  # one clock (a no-op for the timer that just fired)
        loop = asyncio.get_running_loop()
        due = loop.time() + STRETCH_PERIOD
        self._stretch_handle = loop.call_at(due, self._stretch_period_ends, due)

    def _stretch_period_ends(self, due: float) -> None:
        """The stretch's clock (a timer, so it ticks also when no probe is due): judge the period,
        move every sleeping probe if the factor changed."""
        self._start_stretch_clock()  # first: a failure below must not stop the clock
        was = self.stretch.factor
        factor = self.stretch.close(asyncio.get_running_loop().time() - due)
        if factor is None:
            return
        self.sleeps.rescale(factor / was)
        # Loud on the edges: every backend is probed less often than configured (agent/starvation.py).
        if was == 1.0:
            logs.emit("warning", "probe-schedule-stretched", factor=round(factor, 3),
                      lag=round(self.stretch.period_lag, 6),
                      detail="the agent cannot keep up with its probe schedule (CPU starved): every probe "
                             "interval is stretched until it can; timeouts are not")
        elif factor == 1.0:
            logs.emit("warning", "probe-schedule-restored", detail="probes run at their configured intervals again")
        else:
            logs.emit("debug", "probe-schedule-stretch", factor=round(factor, 3))

    # -- operator actions (the status API calls these) -----------------------------------------

    def backend_action(self, name: str, action: str) -> ActionOutcome:
        """pause / resume / disable / enable; raises KeyError, ValueError or health.HealthError.

        Repeating an action is not an error: nothing changes and the message says so."""
        transition, actions = self.core.backend_action(name, action, clock.now())
        self._execute(actions)
        self._publish()  # an operator sees the result of the action at once
        state = self.core.machines[name].state
        if transition is None:
            message = f"backend {name} is already {state}" if action in ("pause", "disable") else \
                f"backend {name} is {state}: nothing to {action}"
        else:
            message = f"backend {name}: {transition.from_state} -> {transition.to_state}"
        return ActionOutcome(name, action, state, transition, message)

    def set_weight(self, frontend: str, pool: str, backend: str, weight: Optional[int]) -> None:
        """Runtime weight override of one pool member (0..100; None removes it); survives playbook
        runs and agent restarts."""
        self._execute(self.core.set_weight(frontend, pool, backend, weight, clock.now()))
        self._publish()

    # -- reload --------------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Validate the file, then apply it; on any error the old config keeps running."""
        async with self._reload_lock:
            return await self._reload()

    async def _reload(self) -> bool:
        path = self.config_path
        now = clock.now()
        try:
            new = await asyncio.get_running_loop().run_in_executor(None, load_config, path)
        except ConfigFileError as exc:
            return self._reload_failed(path, "parse", [str(exc)], now)
        except ConfigError as exc:
            return self._reload_failed(path, "semantic", exc.errors, now)
        vpp_changed = new.settings.vpp != self.config.settings.vpp
        self.apply_config(new)
        if vpp_changed:  # other sockets or timeout: a new connection with the new settings
            logs.emit("info", "vpp-reconnect", reason="agent.vpp changed in the config")
            await self.vpp.stop()
            self.vpp = VppSync(new.settings, self, self._changed)
            self.vpp.start()
        if self.settle_heap:
            heap.settle()
        return True

    def _reload_failed(self, path: Optional[str], kind: str, errors: List[str], now: float) -> bool:
        logs.emit("error", "config-reload-failed", path=path, kind=kind, errors=errors)
        self.reload_status = dataclasses.replace(self.reload_status, ok=False, at=now, error="; ".join(errors))
        self._publish()
        return False

    def apply_config(self, new: AgentConfig) -> None:
        old = self.config
        now = clock.now()
        logs.set_level(self.log_level_override or new.settings.log_level)
        probes.clear_tls_contexts()  # certificate files named in the checks are read again
        self.vpp.settings = new.settings  # intervals; a changed agent.vpp reconnects (reload())
        self.reload_status = ReloadStatus(ok=True, at=now, success_at=now)
        for setting, attribute, detail in (
            ("agent.status_socket", "status_socket", "the status API keeps its socket until the agent restarts"),
            ("agent.metrics.listen", "metrics_listen",
             "the metrics listener keeps its address until the agent restarts"),
            ("agent.state_dir", "state_dir", "the operator state stays where it is until the agent restarts"),
        ):
            if getattr(new.settings, attribute) != getattr(old.settings, attribute):
                logs.emit("warning", "config-reload-restart-needed", setting=setting, detail=detail)
        if new.settings.probe_netns != old.settings.probe_netns:
            if self.netns is not None:
                self.netns.close()
                self.netns = None
            self._open_netns(new.settings.probe_netns)
        self.digest = config_digest.config_digest(new.lb)
        actions = self.core.reload(new, now)
        actions.logs = [dataclasses.replace(r, fields={**r.fields, "path": self.config_path})
                        if r.event == "config-reload" else r for r in actions.logs]
        self._execute(actions)
        self._publish()

    # -- timers: warm-up edges, slow-start steps, drain deadlines, reminders --------------------

    async def _timers(self) -> None:
        while True:
            self._timer_wake.clear()
            try:
                actions = self.core.tick(clock.now())
                wake = self.core.next_wake
            except Exception as exc:  # a bug must not stop warm-up, ramps and drains for good
                logs.emit("error", "timers-crashed", exc_info=exc, reason=repr(exc))
                actions, wake = Actions(), 1.0
            if actions.logs or actions.sync or actions.full_sync or actions.changed_anything:
                self._execute(actions)
                self._timer_wake.clear()  # _execute wakes the timer; this pass has just run
            await within(self._timer_wake.wait(), wake)

    # -- the VPP side, for readers (agent/status.py) ---------------------------------------------

    def vpp_info(self) -> VppInfo:
        return self.vpp.info

    async def wait_vpp_idle(self) -> None:
        await self.vpp.wait_idle()

    def request_full_sync(self, reason: str) -> None:
        self.vpp.request_full(reason)

    def sync_status(self) -> SyncStatus:
        return SyncStatus(self.vpp.last_full_sync, self.vpp.sync_errors, self.vpp.blocked)

    def vpp_api_calls(self) -> Dict[Tuple[str, str], int]:
        return self.vpp.api_calls()

    # -- desired state (for VppSync) -----------------------------------------------------------

    def desired_full(self) -> Optional[model.LbState]:
        state = self.core.desired_full()
        if state is not None:
            self._note_unweighted_spill(state.vips.values())
        return state

    def desired_conf(self) -> Optional[model.LbConf]:
        return self.config.lb.conf

    def desired_frontend(self, name: str) -> Optional[model.VipState]:
        vip = self.core.desired_frontend(name)
        if vip is not None:
            self._note_unweighted_spill([vip])
        return vip

    def _note_unweighted_spill(self, vips: Iterable[model.VipState]) -> None:
        """On LB API 1.1.0 (no AS weights), say once per change what a spilled frontend's new flows
        do instead of the planned split (compose.spill_without_weights, as the lb module warns)."""
        caps = self.vpp.capabilities
        if caps is None or caps.as_weights:
            return
        vips = list(vips)
        found = compose.spill_without_weights(self.config.lb, vips)
        for vip in vips:
            name = vip.name or ""
            message = found.get(name)
            if message is not None and self._unweighted_spill.get(name) != message:
                logs.emit("warning", "spill-unweighted", frontend=name, detail=message)
            if message is None:
                self._unweighted_spill.pop(name, None)
            else:
                self._unweighted_spill[name] = message

    def frontend_of(self, key: model.VipKey) -> Optional[str]:
        return self.core.frontend_of(key)

    # -- publishing ----------------------------------------------------------------------------

    def _changed(self, frontends: Optional[Iterable[str]] = None) -> None:
        """VppSync's callback: the LB state (of ``frontends``, or all), VPP info or counters changed.

        "All" (a dump) rebuilds only the views whose part of VPP differs from the last snapshot's,
        found at the publish (``snapshot.live_changed``): the LB state may change again before it."""
        if frontends is None:
            self._live_dirty = None
        elif self._live_dirty is not None:
            self._live_dirty.update(frontends)
        self._publish_soon(())

    def publish_pending(self) -> None:
        """Publish now if a coalesced publish is waiting (a reader that must see its own action)."""
        if self._publish_handle is not None:
            self._publish(everything=False)
        elif self._views_handle is not None:
            self._publish_views()

    def _mark_dirty(self, frontends: Optional[Iterable[str]], backends: Iterable[str] = ()) -> None:
        """Views to rebuild at the next publish: ``frontends`` (None: every frontend and backend)
        and ``backends`` (their health view, state and source)."""
        if frontends is None:
            self._dirty_frontends = self._dirty_backends = None  # every view
            return
        if self._dirty_frontends is not None:
            self._dirty_frontends.update(frontends)
        if self._dirty_backends is not None:
            self._dirty_backends.update(backends)

    def _publish_soon(self, frontends: Optional[Iterable[str]] = None, backends: Iterable[str] = ()) -> None:
        """Publish, at most once per PUBLISH_COALESCE; ``frontends``: whose views changed (None: all,
        and every backend), ``backends``: whose health view, state or source changed."""
        self._mark_dirty(frontends, backends)
        if self._publish_handle is not None:
            return  # a publish at the end of this window is due already
        wait = self._published_at + PUBLISH_COALESCE - time.monotonic()
        if wait <= 0:
            self._publish(everything=False)
        else:
            self._publish_handle = asyncio.get_running_loop().call_later(wait, self._publish, False)

    def _publish(self, everything: bool = True) -> None:
        """Publish a new snapshot now: every view rebuilt, or only the dirty ones.

        The views show the core's plans as they are: what the VPP sync plans from. A transition
        dirties its backend and the frontends that contain it, so its publish costs those alone
        (the others' views are the previous snapshot's, shared: they are immutable values)."""
        if self._publish_handle is not None:
            self._publish_handle.cancel()
            self._publish_handle = None
        self._published_at = time.monotonic()
        if everything:
            self._mark_dirty(None)
        dirty, self._dirty_frontends = self._dirty_frontends, set()
        dirty_backends, self._dirty_backends = self._dirty_backends, set()
        # The state file holds the agent's own decisions, not VPP's: a publish for what VPP holds
        # (a sync, a dump), its counters or info leaves the file to its periodic refresh. At 5,000
        # backends each rewrite cost 50-120 ms of the GIL, and every transition made two.
        state_changed = dirty is None or dirty_backends is None or bool(dirty) or bool(dirty_backends)
        live, self._live_dirty = self._live_dirty, set()
        if dirty is not None and self.snapshot is not None:
            dirty.update(live if live is not None else live_changed(
                ((fe.name, fe.key) for fe in self.config.lb.frontends.values()), self.snapshot.lb_state,
                self.vpp.lb_state))
        if dirty_backends is not None:
            dirty_backends.update(self._pending_views)  # a full publish carries the probe-only views too
        self._cancel_views()
        previous = self.snapshot.frontends if self.snapshot is not None else {}
        if not previous:
            dirty = None
        core, lb_state = self.core, self.vpp.lb_state
        views = {}
        for fe in self.config.lb.frontends.values():
            if dirty is not None and fe.name not in dirty and fe.name in previous:
                views[fe.name] = previous[fe.name]
            elif fe.name in core.plans:
                views[fe.name] = self._frontend_view(fe, core.plans[fe.name], lb_state)
        now = clock.now()
        backends, sources, states = self._backend_maps(dirty_backends)
        self.snapshot = AgentSnapshot(
            at=now,
            started_at=self.started_at,
            warmup=core.warmup_status(now),
            backends=backends,
            frontends=MappingProxyType(views),
            vpp=self.vpp.info,
            lb_state=lb_state,
            counters=self.vpp.counters,
            mutations=MappingProxyType(dict(self.vpp.mutations)),
            config_loaded_at=self.config_loaded_at,
            sources=sources,
            blind=MappingProxyType(dict(core.blind)),
            held=tuple(core.warmup.held()),
            reload=self.reload_status,
            digest=self.digest,
            states=states,
        )
        if state_changed:
            self._state_dirty.set()
        self.announce.observe(self.snapshot)

    def _backend_maps(self, dirty: Optional[Set[str]]) -> Tuple[MappingProxyType, MappingProxyType, MappingProxyType]:
        """(health views, sources, states) of every backend: the previous snapshot's with the
        ``dirty`` backends' entries rebuilt, or all rebuilt (``dirty`` None, or no snapshot yet).

        Rebuilding all costs ~20 ms at 1,000 backends (docs/performance.md, "Agent"): a
        transition rebuilds only its own backend."""
        core, configured, snap = self.core, self.config.lb.backends, self.snapshot
        if dirty is None or snap is None:
            machines = core.machines
            return (MappingProxyType({n: m.snapshot() for n, m in machines.items()}),
                    MappingProxyType({n: core.source_of(n) for n in machines}),
                    MappingProxyType(weights.backend_states(configured, {n: m.state for n, m in machines.items()})))
        backends, sources, states = snap.backends.copy(), snap.sources.copy(), snap.states.copy()
        for name in dirty:
            machine = core.machines.get(name)
            if machine is None or name not in configured:
                continue  # removed: only a reload removes backends, and it publishes everything
            backends[name] = machine.snapshot()
            sources[name] = core.source_of(name)
            states.update(weights.backend_states({name: configured[name]}, {name: machine.state}))
        return MappingProxyType(backends), MappingProxyType(sources), MappingProxyType(states)

    def _publish_backend(self, name: str) -> None:
        """A probe result without a transition changes only that backend's view (its last result).

        Such views are swapped in together, at once when the last such swap is older than
        PUBLISH_COALESCE, else at the end of that window: the swap copies the backends map
        (O(backends)), so one per probe cost O(backends^2) per interval (0.5 ms per probe at 5,000
        backends: docs/performance.md, "Agent"); now it is at most 1/PUBLISH_COALESCE copies a
        second whatever the size. Frontend views and the state file's content (states, since,
        adjustments) are unchanged, so the state file is not marked dirty either.
        """
        if self.snapshot is None or name not in self.core.machines:
            self._publish()
            return
        self._pending_views.add(name)
        if self._views_handle is not None:
            return  # swapped in at the end of this window
        wait = self._views_published_at + PUBLISH_COALESCE - time.monotonic()
        if wait <= 0:
            self._publish_views()
        else:
            self._views_handle = asyncio.get_running_loop().call_later(wait, self._publish_views)

    def _publish_views(self) -> None:
        """Swap the pending probe-only backend views into a new snapshot (one immutable object)."""
        names = self._pending_views
        self._cancel_views()
        self._views_published_at = time.monotonic()
        snap, machines = self.snapshot, self.core.machines
        if snap is None or not names:
            return
        backends = snap.backends.copy()  # MappingProxyType.copy: the dict's fast copy (dict(proxy) is ~15x slower)
        for name in names:
            machine = machines.get(name)
            if machine is not None and name in backends:  # removed: only a reload removes, and it publishes all
                backends[name] = machine.snapshot()
        self.snapshot = dataclasses.replace(snap, at=clock.now(), backends=MappingProxyType(backends))

    def _cancel_views(self) -> None:
        self._pending_views = set()
        if self._views_handle is not None:
            self._views_handle.cancel()
            self._views_handle = None

    def _frontend_view(self, fe, plan: FrontendPlan, lb_state: Optional[model.LbState]) -> FrontendView:
        live = lb_state.vips.get(fe.key) if lb_state is not None else None
        ramping = any(adjust.ramp is not None for adjust in plan.adjustments.values())
        settled = weights.settled_weights(fe, plan.states, plan.adjustments) if ramping else {}
        members = []
        for pool in fe.pools:
            for name, configured in pool.members.items():
                address = self.config.lb.backends[name].address
                adjust = plan.adjustments.get(name, weights.NO_ADJUSTMENT)
                live_as = live.ases.get(address) if live is not None else None
                members.append(MemberView(
                    backend=name, address=address, pool=pool.name, configured_weight=configured,
                    effective_weight=plan.effective[name].weight, flush=plan.effective[name].flush,
                    state=plan.states[name], override=adjust.override, ramp=adjust.ramp, draining=adjust.draining,
                    buckets=live_as.num_buckets if live_as is not None else None,
                    planned_weight=settled.get(name),
                ))
        return FrontendView(
            name=fe.name, vip=fe.key, spec=fe.spec, state=plan.state, active_pool=plan.active_pool,
            flush_on_down=fe.flush_on_down, released=self.core.warmup.is_released(fe.name),
            members=tuple(members), description=fe.description, pools=plan.pools, spill=fe.spill,
        )

    # -- files ---------------------------------------------------------------------------------

    async def _state_writer(self) -> None:
        """The state file: rewritten on every change (at most once per STATE_WRITE_GAP: the changes
        within one are one write), and at least every REFRESH_INTERVAL (every WRITE_RETRY while
        writes fail). A failed write leaves the old file whole (written to a temporary file,
        fsynced, renamed: agent_state.replace_atomically)."""
        loop = asyncio.get_running_loop()
        wait = agent_state.REFRESH_INTERVAL
        while True:
            await within(self._state_dirty.wait(), wait)
            self._state_dirty.clear()
            snap = self.snapshot
            path = self.config.settings.state_file
            failing = wait == WRITE_RETRY
            try:
                await loop.run_in_executor(None, self._write_state_file, snap)
            except Exception as exc:  # disk full, permissions, a bug: keep serving, say so (once per outage)
                self.write_errors[STATE_FILE] += 1
                wait = WRITE_RETRY
                logs.emit("debug" if failing else "error", "state-file-failed", path=path, reason=str(exc),
                          retry_in=WRITE_RETRY)
                continue
            wait = agent_state.REFRESH_INTERVAL
            if failing:
                logs.emit("warning", "state-file-written", path=path, detail="written again after failures")
            await asyncio.sleep(STATE_WRITE_GAP)

    def _write_state_file(self, snap: AgentSnapshot) -> None:
        with self._state_file_lock:
            if not self._state_file_closed:
                self._write_state_file_now(snap)

    def _write_state_file_now(self, snap: AgentSnapshot) -> None:
        backends = {n: v.state for n, v in snap.backends.items() if v.state != REMOVED}
        agent_state.write_agent_state(
            self.config.settings.state_file,
            backends,
            {n: f.state for n, f in snap.frontends.items()},
            since={n: v.since for n, v in snap.backends.items()},
            started_at=snap.started_at,
            adjustments={
                n: {m.backend: weights.MemberAdjustment(m.override, m.ramp, m.draining) for m in f.members}
                for n, f in snap.frontends.items()
            },
            released={n: f.released for n, f in snap.frontends.items()},
            digest=snap.digest,
            pools={n: f.pools for n, f in snap.frontends.items() if f.spill is not None},
        )

    async def _operator_writer(self) -> None:
        """The operator-state file: saved after every operator decision (and at stop); after a
        failed save, again every WRITE_RETRY until one succeeds."""
        loop = asyncio.get_running_loop()
        failed = False
        while True:
            if failed:
                await within(self._operator_dirty.wait(), WRITE_RETRY)
            else:
                await self._operator_dirty.wait()
            self._operator_dirty.clear()
            was_failing = failed
            failed = not await loop.run_in_executor(None, self._save_operator_state, not was_failing)
            if failed:
                self.write_errors[OPERATOR_FILE] += 1
            elif was_failing:
                path = operator_state.path_in(self.config.settings.state_dir)
                logs.emit("warning", "operator-state-written", path=path, detail="written again after failures")

    def _save_operator_state(self, loudly: bool = True) -> bool:
        path = operator_state.path_in(self.config.settings.state_dir)
        try:
            operator_state.save(path, self.core.operator_state(), clock.now())
        except OSError as exc:  # loudly (once per outage): a restart would lose the operator's decisions
            logs.emit("error" if loudly else "debug", "operator-state-failed", path=path, reason=str(exc),
                      retry_in=WRITE_RETRY,
                      detail="pause/disable/overrides will not survive an agent restart until this is fixed")
            return False
        return True

    # -- netns ---------------------------------------------------------------------------------

    def _open_netns(self, name: str) -> None:
        self.netns_error = None
        self._netns_tried = float("-inf")
        if name:
            self._retry_netns(name)

    def _check_netns(self, name: str) -> None:
        """At most once per NETNS_RETRY: is the namespace the agent probes in still the one named
        ``name``? If it was deleted (or deleted and created anew), leave it: probes are blind until
        the name is back, then they run in the namespace it names now."""
        now = time.monotonic()
        if now - self._netns_checked < NETNS_RETRY:
            return
        self._netns_checked = now
        if self.netns.still_named():
            return
        logs.emit("error", "netns-lost", netns=name,
                  detail="the probe namespace was deleted or replaced while the agent ran: probes are blind "
                         "until it is back")
        self.netns.close()
        self.netns = None
        self.netns_error = None
        self._netns_tried = float("-inf")

    def _retry_netns(self, name: str) -> None:
        """Enter the probe namespace; while it is missing, at most once per NETNS_RETRY. Probes in
        between are blind (agent/decisions.py): no backend state moves, the agent recovers alone."""
        now = time.monotonic()
        if now - self._netns_tried < NETNS_RETRY:
            return
        self._netns_tried = now
        try:
            self.netns = probes.NetnsSockets.open(name)
        except (probes.NetnsError, OSError) as exc:
            first = self.netns_error is None
            self.netns_error = f"cannot enter network namespace {name}: {exc}"
            if first:
                logs.emit("error", "netns-failed", netns=name, reason=str(exc))
            return
        if self.netns_error is not None:
            logs.emit("info", "netns-entered", netns=name)
        self.netns_error = None


__all__ = ["ActionOutcome", "Agent", "HealthError"]
