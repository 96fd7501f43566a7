"""The agent: probes -> health -> effective weights -> VPP, and the published view.

One asyncio loop runs everything but the VPP connection (agent/vppconn.py, its own thread):
one probe task per probed backend (a backend is probed once however many frontends use it),
the VPP sync (agent/vppsync.py), a timer for warm-up, slow-start steps and drain deadlines,
and the state-file writer. Decisions are the pure core's: health.BackendHealth for the state
machine, weights/desired for effective weights, the planner for VPP changes.

Warm-up (restart neutrality, as vpp-maglev): no VPP writes until ``warmup.min_delay``; then
each frontend is released once none of its backends is ``unknown``; at ``warmup.max_delay`` a
full sync releases the rest. So an agent restart never pushes weight 0 for healthy backends.
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
from typing import Dict, Iterable, List, Optional, Set

from ..plugins.module_utils.vpp_lb import agent_state, config_digest, desired, model, weights
from ..plugins.module_utils.vpp_lb.schema import Backend, ConfigError, Frontend
from . import health as health_mod
from . import logs, probes
from .aiotools import bounded_wait, within
from .config import AgentConfig, ConfigFileError, load_config
from .counters import AgentCounters
from .events import EventBus
from .inputs import RuntimeInputs
from .snapshot import AgentSnapshot, FrontendView, MemberView
from .vppsync import DesiredSource, VppSync

PROBE_LAG_SAMPLES = 10000
# Probe- and VPP-driven republishing happens at most once per this many seconds: at once when the
# last one is older, else once at the end of the window. So a storm of transitions (1,000
# backends coming up at start) costs one full publish per window instead of one each (~10-25 ms
# apiece at 1,000 backends), and a lone transition is published at once, as before.
PUBLISH_COALESCE = 0.05


@dataclass
class BackendRuntime:
    backend: Backend
    health: health_mod.BackendHealth
    task: Optional[asyncio.Task] = None


class Agent(DesiredSource):
    def __init__(self, config: AgentConfig, config_path: Optional[str] = None, log_level_override: str = ""):
        self.config = config
        self.log_level_override = log_level_override  # --log-level wins over the file, also on reload
        self.config_path = config_path
        self.config_loaded_at = time.time()
        self.started_at = time.time()
        self._started_mono = time.monotonic()
        self.rng = random.Random()
        self.backends: Dict[str, BackendRuntime] = {}
        self.inputs = RuntimeInputs()  # overrides, slow-start ramps, drains
        self.frontend_states: Dict[str, str] = {}
        self.released: Set[str] = set()
        self.warmup = "holding"
        self.probe_lag: List[float] = []  # seconds between a probe's due time and its start
        self.netns: Optional[probes.NetnsSockets] = None
        self.netns_error: Optional[str] = None
        self.vpp = VppSync(config.settings, self, self._changed)
        self.snapshot: Optional[AgentSnapshot] = None
        self.events = EventBus()
        self.counters = AgentCounters()
        self._state_dirty = asyncio.Event()
        # A write runs in an executor thread, which cancelling the writer task does not stop:
        # stop() takes this lock to remove the file only after the write, and no write follows.
        self._state_file_lock = threading.Lock()
        self._state_file_closed = False
        self._timer_wake = asyncio.Event()
        self._tasks: List[asyncio.Task] = []
        self._stopped = asyncio.Event()
        self._publish_handle: Optional[asyncio.TimerHandle] = None
        self._published_at = float("-inf")  # time.monotonic() of the last full publish
        self._dirty_frontends: Optional[Set[str]] = set()  # views to rebuild at the next publish; None: all

    # -- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.config.settings
        logs.emit(
            "info", "starting", config=self.config_path, frontends=len(self.config.lb.frontends),
            backends=len(self.config.lb.backends), pid=os.getpid(),
        )
        self._open_netns(settings.probe_netns)
        now = time.time()
        for name, backend in self.config.lb.backends.items():
            self._add_backend(name, backend, now)
        if settings.warmup_max_delay <= 0:
            self._finish_warmup("warm-up disabled")
        self._publish()
        loop = asyncio.get_running_loop()
        self.vpp.start()
        self._tasks = [
            loop.create_task(self._timers(), name="timers"),
            loop.create_task(self._state_writer(), name="state-file"),
        ]

    async def stop(self) -> None:
        """Clean shutdown: probes and VPP connection end; nothing is changed in VPP."""
        logs.emit("info", "stopping")
        for rt in self.backends.values():
            _cancel(rt)
        tasks = self._tasks + [rt.task for rt in self.backends.values() if rt.task]
        for task in self._tasks:
            task.cancel()
        if self._publish_handle is not None:
            self._publish_handle.cancel()
        await bounded_wait(tasks, "probes and timers")
        await self.vpp.stop()
        if self.netns is not None:
            self.netns.close()
        # No agent any more: the modules must not trust a view that will go stale. (Blocks the
        # loop for at most the one write in flight: nothing else runs any more.)
        self._remove_state_file()
        self._stopped.set()

    def _remove_state_file(self) -> None:
        with self._state_file_lock:
            self._state_file_closed = True
            try:
                os.unlink(self.config.settings.state_file)
            except OSError:
                pass

    # -- backends and probes -------------------------------------------------------------------

    def _add_backend(self, name: str, backend: Backend, now: float) -> None:
        check = self.config.lb.healthchecks.get(backend.healthcheck) if backend.healthcheck else None
        machine = health_mod.BackendHealth(name, check, now, self.config.settings.transition_history)
        rt = BackendRuntime(backend, machine)
        self.backends[name] = rt
        self._start_probing(rt)

    def _start_probing(self, rt: BackendRuntime) -> None:
        if rt.health.probing and (rt.task is None or rt.task.done()):
            rt.task = asyncio.get_running_loop().create_task(self._probe_loop(rt), name=f"probe-{rt.backend.name}")

    async def _probe_loop(self, rt: BackendRuntime) -> None:
        loop = asyncio.get_running_loop()
        check = rt.health.check
        # The first probes spread over a whole interval, the steady rate: squeezed into fast_interval,
        # a thousand backends overran the loop, timed out and all went down at once (and stayed in
        # step, docs/performance.md, "Agent").
        due = loop.time() + self.rng.random() * check.interval
        while rt.health.probing:
            await asyncio.sleep(max(0.0, due - loop.time()))
            started = loop.time()
            self._note_lag(started - due)
            result = await self._probe(rt)
            if asyncio.current_task() is not rt.task or not rt.health.probing:
                return  # reconfigured, paused or disabled while the probe ran
            self._record(rt, result)
            if not rt.health.probing:
                return
            due = started + rt.health.next_delay(self.rng)

    async def _probe(self, rt: BackendRuntime) -> probes.ProbeResult:
        if self.netns_error is not None:
            return probes.ProbeResult(False, "NETNS", self.netns_error, 0.0)
        try:
            return await probes.run_probe(rt.health.check, rt.backend.address, netns=self.netns)
        except Exception as exc:  # a bug in a probe: count it as a failure, keep probing
            logs.emit("error", "probe-crashed", backend=rt.backend.name, exc_info=exc, reason=repr(exc))
            return probes.ProbeResult(False, "ERROR", repr(exc), 0.0)

    def _note_lag(self, lag: float) -> None:
        if len(self.probe_lag) >= PROBE_LAG_SAMPLES:
            del self.probe_lag[: PROBE_LAG_SAMPLES // 2]
        self.probe_lag.append(lag)

    def _record(self, rt: BackendRuntime, result: probes.ProbeResult) -> None:
        now = time.time()
        logs.emit("debug", "probe", backend=rt.backend.name, ok=result.ok, code=result.code,
                  detail=result.detail, duration=round(result.duration, 6))
        self.counters.probe(rt.backend.name, rt.health.check.type, result.ok, result.code, result.duration)
        transition = rt.health.record(result.ok, result.code, result.detail, now, result.duration)
        if transition is not None:
            self._on_transition(rt.backend.name, transition)
        else:
            self._publish_backend(rt)

    def _on_transition(self, name: str, transition: health_mod.Transition) -> None:
        logs.emit(
            "info", "backend-transition", backend=name, **{"from": transition.from_state, "to": transition.to_state},
            code=transition.code, detail=transition.detail,
        )
        self.counters.transition(name, transition.from_state, transition.to_state)
        self.events.publish({
            "type": "backend", "backend": name, "from": transition.from_state, "to": transition.to_state,
            "at": transition.at, "code": transition.code, "detail": transition.detail,
        })
        self.inputs.on_transition(name, transition.from_state, transition.to_state, transition.at)
        affected = self._frontends_of(name)
        self._release_ready(affected)
        self.vpp.request_frontends(f for f in affected if self._is_released(f))
        self._timer_wake.set()
        self._publish_soon(affected)

    def _frontends_of(self, backend: str) -> List[str]:
        return [f.name for f in self.config.lb.frontends.values() if backend in f.backend_names()]

    # -- operator actions (the status API calls these) -----------------------------------------

    def backend_action(self, name: str, action: str) -> health_mod.Transition:
        """pause / resume / disable / enable; raises KeyError or health.HealthError."""
        rt = self.backends.get(name)
        if rt is None or rt.health.state == health_mod.REMOVED:
            raise KeyError(f"no such backend {name}")
        method = {"pause": rt.health.pause, "resume": rt.health.resume,
                  "disable": rt.health.disable, "enable": rt.health.enable}.get(action)
        if method is None:
            raise ValueError(f"unknown action {action!r} (pause, resume, disable, enable)")
        transition = method(time.time(), "operator")
        if not rt.health.probing:
            _cancel(rt)
        else:
            self._start_probing(rt)
        self._on_transition(name, transition)
        self._publish()  # an operator sees the result of the action at once
        return transition

    def set_weight(self, frontend: str, pool: str, backend: str, weight: Optional[int]) -> None:
        """Runtime weight override of one pool member (0..100; None removes it); survives playbook runs."""
        fe = self.config.lb.frontends.get(frontend)
        if fe is None:
            raise KeyError(f"no such frontend {frontend}")
        members = next((p.members for p in fe.pools if p.name == pool), None)
        if members is None:
            raise KeyError(f"frontend {frontend} has no pool {pool}")
        if backend not in members:
            raise KeyError(f"pool {pool} of frontend {frontend} has no backend {backend}")
        bad = weight is not None and (isinstance(weight, bool) or not isinstance(weight, int))
        if bad or (weight is not None and not 0 <= weight <= model.MAX_WEIGHT):
            raise ValueError(f"weight must be an integer 0..{model.MAX_WEIGHT} (or null to remove), got {weight!r}")
        self.inputs.set_override(frontend, backend, weight)
        logs.emit("info", "weight-override", frontend=frontend, pool=pool, backend=backend, weight=weight)
        if self._is_released(frontend):
            self.vpp.request_frontends([frontend])
        self._publish()

    # -- reload --------------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Validate the file, then apply it; on any error the old config keeps running."""
        path = self.config_path
        try:
            new = await asyncio.get_running_loop().run_in_executor(None, load_config, path)
        except ConfigFileError as exc:
            logs.emit("error", "config-reload-failed", path=path, kind="parse", errors=[str(exc)])
            return False
        except ConfigError as exc:
            logs.emit("error", "config-reload-failed", path=path, kind="semantic", errors=exc.errors)
            return False
        vpp_changed = new.settings.vpp != self.config.settings.vpp
        self.apply_config(new)
        if vpp_changed:  # other sockets or timeout: a new connection with the new settings
            logs.emit("info", "vpp-reconnect", reason="agent.vpp changed in the config")
            await self.vpp.stop()
            self.vpp = VppSync(new.settings, self, self._changed)
            self.vpp.start()
        return True

    def apply_config(self, new: AgentConfig) -> None:
        old = self.config
        now = time.time()
        self.config = new
        self.config_loaded_at = now
        logs.set_level(self.log_level_override or new.settings.log_level)
        probes.clear_tls_contexts()  # certificate files named in the checks are read again
        self.vpp.settings = new.settings  # intervals; a changed agent.vpp reconnects (reload())
        kept, reset, added, removed = [], [], [], []
        for name, rt in list(self.backends.items()):
            backend = new.lb.backends.get(name)
            if backend is None or backend.address != rt.backend.address:
                _cancel(rt)
                rt.health.remove(now, "reload")
                del self.backends[name]
                self.inputs.forget_backend(name)
                removed.append(name)
                continue
            if backend.enabled != rt.backend.enabled:
                self.inputs.config_enabled_changed(name, backend.enabled, now)
            rt.backend = backend
            check = new.lb.healthchecks.get(backend.healthcheck) if backend.healthcheck else None
            outcome = rt.health.reconfigure(check, now)
            if outcome.kind == health_mod.RESET:
                _cancel(rt)
                self._start_probing(rt)
                reset.append(name)
                if outcome.transition is not None:
                    self._on_transition(name, outcome.transition)
            else:
                kept.append(name)
        for name, backend in new.lb.backends.items():
            if name not in self.backends:
                self._add_backend(name, backend, now)
                if name not in removed:
                    added.append(name)
        self.inputs.keep_members_of(new.lb)
        self.released &= set(new.lb.frontends)
        self._release_ready(list(new.lb.frontends))
        if new.settings.status_socket != old.settings.status_socket:
            logs.emit("warning", "config-reload-restart-needed", setting="agent.status_socket",
                      detail="the status API keeps its socket until the agent restarts")
        if new.settings.metrics_listen != old.settings.metrics_listen:
            logs.emit("warning", "config-reload-restart-needed", setting="agent.metrics.listen",
                      detail="the metrics listener keeps its address until the agent restarts")
        if new.settings.probe_netns != old.settings.probe_netns:
            if self.netns is not None:
                self.netns.close()
                self.netns = None
            self._open_netns(new.settings.probe_netns)
        logs.emit("info", "config-reload", path=self.config_path, kept=len(kept), reset=sorted(reset),
                  added=sorted(added), removed=sorted(removed), frontends=len(new.lb.frontends))
        self.vpp.request_full("reload")
        self._timer_wake.set()
        self._publish()

    # -- warm-up -------------------------------------------------------------------------------

    def _since_start(self) -> float:
        return time.monotonic() - self._started_mono

    def _is_released(self, frontend: str) -> bool:
        return self.warmup == "done" or frontend in self.released

    def _release_ready(self, frontends) -> None:
        """Release frontends whose backends all have a result (after min_delay)."""
        if self.warmup == "done" or self._since_start() < self.config.settings.warmup_min_delay:
            return
        states = self._health()
        for name in frontends:
            fe = self.config.lb.frontends.get(name)
            if fe is None or name in self.released:
                continue
            if all(states.get(b) != weights.UNKNOWN for b in fe.backend_names()):
                self.released.add(name)
                logs.emit("info", "warmup", frontend=name, action="released")
                self.vpp.request_frontends([name])
        if self.warmup == "holding":
            self.warmup = "releasing"

    def _finish_warmup(self, reason: str) -> None:
        if self.warmup != "done":
            self.warmup = "done"
            logs.emit("info", "warmup", action="done", reason=reason)
            self.vpp.request_full(reason)

    # -- timers: warm-up edges, slow-start steps, drain deadlines -------------------------------

    async def _timers(self) -> None:
        settings = self.config.settings
        while True:
            self._timer_wake.clear()
            now_mono = self._since_start()
            if self.warmup != "done":
                if now_mono >= settings.warmup_max_delay:
                    self._finish_warmup("max_delay reached")
                elif now_mono >= settings.warmup_min_delay and self.warmup == "holding":
                    self._release_ready(list(self.config.lb.frontends))
                    self._publish()
            try:
                due = self._expire_ramps_and_drains()
            except Exception as exc:  # a bug must not stop warm-up, ramps and drains for good
                logs.emit("error", "timers-crashed", exc_info=exc, reason=repr(exc))
                due = [1.0]
            if self.warmup != "done":
                edge = settings.warmup_min_delay if self.warmup == "holding" else settings.warmup_max_delay
                due.append(max(0.0, edge - self._since_start()))
            timeout = min(due) if due else None
            await within(self._timer_wake.wait(), timeout)

    def _expire_ramps_and_drains(self) -> List[float]:
        """Push ramp steps and drain ends that are due; return the delays until the next ones.

        Re-planning a frontend whose weights did not change costs no VPP call (the plan against
        the cached state is empty), so every frontend with a running ramp is simply re-synced.
        """
        due = self.inputs.due(self.config.lb, time.time())
        if due.drain_ended:
            self.vpp.request_full("drain timeout")  # a fresh dump has the flow counts to flush
        elif due.ramping:
            self.vpp.request_frontends(f for f in due.ramping if self._is_released(f))
        if due.ramping or due.drain_ended:
            self._publish()
        # A hair late rather than early: a step computed a microsecond early repeats the old one.
        return [d + 0.001 for d in due.delays]

    # -- desired state (for VppSync) -----------------------------------------------------------

    def _health(self, names: Optional[List[str]] = None) -> Dict[str, str]:
        """State per backend (all, or only ``names``) as the weights see it."""
        backends = self.config.lb.backends
        if names is not None:
            backends = {n: backends[n] for n in names}
        states = {name: self.backends[name].health.state for name in backends if name in self.backends}
        return weights.backend_states(backends, states)

    def adjustments(self, now: Optional[float] = None) -> Dict[str, Dict[str, weights.MemberAdjustment]]:
        return self.inputs.adjustments(self.config.lb, time.time() if now is None else now)

    def desired_full(self) -> Optional[model.LbState]:
        if self.warmup == "holding":
            return None
        state = desired.desired_state(self.config.lb, self._health(), self.adjustments())
        names = {fe.key: fe.name for fe in self.config.lb.frontends.values()}
        vips = {k: v for k, v in state.vips.items() if self._is_released(names[k])}
        return model.LbState(conf=state.conf, vips=vips)

    def desired_frontend(self, name: str) -> Optional[model.VipState]:
        fe = self.config.lb.frontends.get(name)
        if fe is None or not self._is_released(name):
            return None
        # Only this frontend's members: after a transition the targeted sync stays O(frontend).
        members = fe.backend_names()
        adjustments = self.inputs.adjustments_of(fe, time.time())
        return desired.desired_vip(self.config.lb, fe, self._health(members), adjustments)

    # -- publishing ----------------------------------------------------------------------------

    def _changed(self, frontends: Optional[Iterable[str]] = None) -> None:
        """VppSync's callback: the LB state (of ``frontends``, or all), VPP info or counters changed."""
        self._publish_soon(frontends)

    def publish_pending(self) -> None:
        """Publish now if a coalesced publish is waiting (a reader that must see its own action)."""
        if self._publish_handle is not None:
            self._publish(everything=False)

    def _mark_dirty(self, frontends: Optional[Iterable[str]]) -> None:
        if frontends is None:
            self._dirty_frontends = None  # every view
        elif self._dirty_frontends is not None:
            self._dirty_frontends.update(frontends)

    def _publish_soon(self, frontends: Optional[Iterable[str]] = None) -> None:
        """Publish, at most once per PUBLISH_COALESCE; ``frontends``: whose views changed (None: all)."""
        self._mark_dirty(frontends)
        if self._publish_handle is not None:
            return  # a publish at the end of this window is due already
        wait = self._published_at + PUBLISH_COALESCE - time.monotonic()
        if wait <= 0:
            self._publish(everything=False)
        else:
            self._publish_handle = asyncio.get_running_loop().call_later(wait, self._publish, False)

    def _publish(self, everything: bool = True) -> None:
        """Publish a new snapshot now: every frontend view rebuilt, or only the dirty ones.

        A transition marks only its backend's frontends (_publish_soon), so with many frontends
        a failover does not rebuild them all; a reload, warm-up step, operator action or full
        sync rebuilds every one.
        """
        if self._publish_handle is not None:
            self._publish_handle.cancel()
            self._publish_handle = None
        self._published_at = time.monotonic()
        if everything:
            self._mark_dirty(None)
        dirty, self._dirty_frontends = self._dirty_frontends, set()
        previous = self.snapshot.frontends if self.snapshot is not None else {}
        if not previous:
            dirty = None
        now = time.time()
        lb_state = self.vpp.lb_state
        views = {}
        for fe in self.config.lb.frontends.values():
            if dirty is not None and fe.name not in dirty and fe.name in previous:
                views[fe.name] = previous[fe.name]
                continue
            members = fe.backend_names()
            view = self._frontend_view(fe, self._health(members), self.inputs.adjustments_of(fe, now), lb_state)
            old = self.frontend_states.get(fe.name)
            if old != view.state:
                if old is not None:
                    logs.emit("info", "frontend-transition", frontend=fe.name, **{"from": old, "to": view.state})
                    self.events.publish({"type": "frontend", "frontend": fe.name, "from": old, "to": view.state,
                                         "at": time.time()})
                self.frontend_states[fe.name] = view.state
            views[fe.name] = view
        for name in list(self.frontend_states):
            if name not in self.config.lb.frontends:
                del self.frontend_states[name]
        self.snapshot = AgentSnapshot(
            at=time.time(),
            started_at=self.started_at,
            warmup=self.warmup,
            backends=MappingProxyType({n: rt.health.snapshot() for n, rt in self.backends.items()}),
            frontends=MappingProxyType(views),
            vpp=self.vpp.info,
            lb_state=lb_state,
            counters=self.vpp.counters,
            mutations=MappingProxyType(dict(self.vpp.mutations)),
            config_loaded_at=self.config_loaded_at,
        )
        self._state_dirty.set()

    def _publish_backend(self, rt: BackendRuntime) -> None:
        """A probe result without a transition changes only that backend's view: swap in just that.

        A full _publish costs ~25 ms at 1,000 backends (docs/performance.md, "Agent"); after every
        probe it would take more CPU than the probes. Frontend views and the state file's content
        (states, since, adjustments) are unchanged, so the state file is not marked dirty either.
        """
        snap = self.snapshot
        if snap is None:
            self._publish()
            return
        backends = snap.backends.copy()  # MappingProxyType.copy: the dict's fast copy (dict(proxy) is ~15x slower)
        backends[rt.backend.name] = rt.health.snapshot()
        self.snapshot = dataclasses.replace(snap, at=time.time(), backends=MappingProxyType(backends))

    def _frontend_view(self, fe: Frontend, states, adjustments, lb_state) -> FrontendView:
        effective = weights.effective_weights(fe, states, adjustments)
        live = lb_state.vips.get(fe.key) if lb_state is not None else None
        members = []
        for pool in fe.pools:
            for name, configured in pool.members.items():
                address = self.config.lb.backends[name].address
                adjust = adjustments.get(name, weights.NO_ADJUSTMENT)
                live_as = live.ases.get(address) if live is not None else None
                members.append(MemberView(
                    backend=name, address=address, pool=pool.name, configured_weight=configured,
                    effective_weight=effective[name].weight, flush=effective[name].flush, state=states[name],
                    override=adjust.override, ramp=adjust.ramp, draining=adjust.draining,
                    buckets=live_as.num_buckets if live_as is not None else None,
                ))
        return FrontendView(
            name=fe.name, vip=fe.key, spec=fe.spec, state=weights.frontend_state(fe, states, adjustments),
            active_pool=weights.active_pool(fe, states), flush_on_down=fe.flush_on_down,
            released=self._is_released(fe.name), members=tuple(members), description=fe.description,
        )

    async def _state_writer(self) -> None:
        """The state file: rewritten on every change, and at least every REFRESH_INTERVAL."""
        loop = asyncio.get_running_loop()
        while True:
            await within(self._state_dirty.wait(), agent_state.REFRESH_INTERVAL)
            self._state_dirty.clear()
            snap = self.snapshot
            try:
                await loop.run_in_executor(None, self._write_state_file, snap)
            except Exception as exc:  # disk full, permissions, a bug: keep serving, say so
                logs.emit("error", "state-file-failed", path=self.config.settings.state_file, reason=str(exc))

    def _write_state_file(self, snap: AgentSnapshot) -> None:
        with self._state_file_lock:
            if not self._state_file_closed:
                self._write_state_file_now(snap)

    def _write_state_file_now(self, snap: AgentSnapshot) -> None:
        backends = {n: v.state for n, v in snap.backends.items() if v.state != health_mod.REMOVED}
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
            digest=config_digest.config_digest(self.config.lb),
        )

    # -- netns ---------------------------------------------------------------------------------

    def _open_netns(self, name: str) -> None:
        self.netns_error = None
        if not name:
            return
        try:
            self.netns = probes.NetnsSockets.open(name)
        except (probes.NetnsError, OSError) as exc:
            # As vpp-maglev: probes that cannot reach their namespace mark the backends down.
            self.netns_error = f"cannot enter network namespace {name}: {exc}"
            logs.emit("error", "netns-failed", netns=name, reason=str(exc))


def _cancel(rt: BackendRuntime) -> None:
    if rt.task is not None and not rt.task.done():
        rt.task.cancel()
    rt.task = None
