"""The agent's decisions, pure: inputs in, what to do out. No asyncio, no logging, no clock.

``AgentCore`` holds what the agent knows (config, one health machine per backend, runtime
inputs, warm-up, blindness, operator decisions) and answers each input with ``Actions``: the
frontends to sync, a full sync and its reason, probes to start or stop, events, log records,
counters to drop, which frontend views changed, whether the operator state must be saved.
The daemon (agent/daemon.py) only carries them out. Every method takes ``now`` (unix seconds).

Effective weights are computed once per change, per frontend (``FrontendPlan``); the VPP sync
plans from that plan and the published view shows that very plan.

Rules beyond health.py, weights.py and warmup.py (design.md "Never make things worse on your
own account"):

* Blind results (``probes.result.BLIND_CODES``: the probe namespace is missing, the agent is out
  of descriptors, a probe crashed) never move a backend: its state and weight stay, the agent
  warns when blindness starts, every ``REMINDER`` seconds while it lasts, and when it ends.
* A frontend is written to VPP only once released by warm-up; until then VPP keeps its weights.
* Operator decisions (pause, disable, weight overrides) persist (agent/operator_state.py); the
  persisted ones are re-applied at start, and entries of backends or members that left the
  config are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from ..plugins.module_utils.vpp_lb import desired, model, weights
from ..plugins.module_utils.vpp_lb.schema import Backend, Frontend
from . import health as health_mod
from . import warmup as warmup_mod
from .config import AgentConfig
from .inputs import RuntimeInputs
from .operator_state import OperatorState
from .probes.result import BLIND_CODES, ProbeResult

REMINDER = 60.0  # seconds between repeated warnings while a bad condition lasts
ACTIONS = ("pause", "resume", "disable", "enable")
# Where a backend's operator state comes from (maglevctl show backend).
SOURCE_OPERATOR = "operator"  # an action of this agent's life
SOURCE_PERSISTED = "persisted"  # restored from the operator-state file at start
SOURCE_CONFIG = "config"  # enabled: false in the config
SOURCE_PROBE = "probe"


@dataclass(frozen=True)
class LogRecord:
    level: str
    event: str
    fields: Mapping[str, Any]


@dataclass
class Actions:
    """What the shell must do after one input."""

    sync: Set[str] = field(default_factory=set)  # frontends to sync (targeted)
    full_sync: Optional[str] = None  # reason of a full sync, if one is needed
    start_probes: Dict[str, float] = field(default_factory=dict)  # backend -> seconds to its first probe
    stop_probes: Set[str] = field(default_factory=set)
    events: List[Dict[str, Any]] = field(default_factory=list)
    logs: List[LogRecord] = field(default_factory=list)
    transitions: List[Tuple[str, health_mod.Transition]] = field(default_factory=list)
    forget: Set[str] = field(default_factory=set)  # backends gone: drop their counter series
    dirty: Optional[Set[str]] = field(default_factory=set)  # frontend views changed (None: all)
    status_changed: bool = False  # agent-wide status (warm-up, blindness) changed
    persist: bool = False  # the operator state changed: save it

    def log(self, level: str, event: str, **fields: Any) -> None:
        self.logs.append(LogRecord(level, event, fields))

    def request_full(self, reason: str) -> None:
        self.full_sync = self.full_sync or reason

    def mark(self, frontends: Optional[Iterable[str]]) -> None:
        if frontends is None:
            self.dirty = None
        elif self.dirty is not None:
            self.dirty.update(frontends)

    def restart_probe(self, backend: str, delay: float) -> None:
        self.stop_probes.add(backend)
        self.start_probes[backend] = delay

    @property
    def changed_anything(self) -> bool:
        return bool(self.dirty is None or self.dirty or self.status_changed or self.transitions)


@dataclass(frozen=True)
class FrontendPlan:
    """One frontend's effective weights and what they rest on, computed once per change."""

    states: Mapping[str, str]  # member -> state as the weights see it
    adjustments: Mapping[str, weights.MemberAdjustment]
    effective: Mapping[str, weights.EffectiveWeight]
    state: str  # up / down / unknown
    active_pool: Optional[str]
    pools: Tuple[weights.PoolShare, ...] = ()  # each pool's share of new flows (weights.pool_shares)


@dataclass(frozen=True)
class Blindness:
    code: str
    detail: str
    since: float


class AgentCore:
    def __init__(self, config: AgentConfig, now: float, rng: health_mod.RandomSource,
                 persisted: Optional[OperatorState] = None) -> None:
        self.config = config
        self.rng = rng
        self.started_at = now
        self.machines: Dict[str, health_mod.BackendHealth] = {}
        self.sources: Dict[str, str] = {}  # backend -> SOURCE_OPERATOR / SOURCE_PERSISTED
        self.inputs = RuntimeInputs()
        settings = config.settings
        self.warmup = warmup_mod.Warmup(now, settings.warmup_min_delay, settings.warmup_max_delay)
        self.blind: Dict[str, Blindness] = {}
        self.plans: Dict[str, FrontendPlan] = {}
        self._members_of = _frontends_by_backend(config)  # a transition replans only these
        self._persisted = persisted or OperatorState()
        self._warmup_status = warmup_mod.HOLDING
        self._blind_reminded = 0.0
        self._overdue_reminded: Optional[float] = None
        self.next_wake: Optional[float] = None  # seconds from the last tick to the next one

    # -- inputs --------------------------------------------------------------------------------

    def start(self, now: float) -> Actions:
        a = Actions()
        for name, backend in self.config.lb.backends.items():
            self._add_backend(name, backend, now, a, self._first_probe_spread)
        self._restore(self._persisted, now, a)
        self._replan(self.config.lb.frontends, now, a)
        self._release(now, a)
        a.mark(None)
        return a

    def probe_result(self, backend: str, result: ProbeResult, now: float) -> Actions:
        a = Actions()
        machine = self.machines.get(backend)
        if machine is None or not machine.probing:
            return a  # the backend left the config or was paused while the probe ran
        if result.code in BLIND_CODES:
            self._went_blind(backend, result, now, a)
            return a
        if backend in self.blind:
            self._sees_again(backend, now, a)
        transition = machine.record(result.ok, result.code, result.detail, now, result.duration)
        if transition is not None:
            self._on_transition(backend, transition, now, a)
        return a

    def backend_action(self, backend: str, action: str, now: float) -> Tuple[Optional[health_mod.Transition], Actions]:
        """pause / resume / disable / enable. None: nothing to do (already so). Raises KeyError,
        ValueError or health.HealthError, changing nothing."""
        machine = self.machines.get(backend)
        if machine is None:
            raise KeyError(f"no such backend {backend}")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} ({', '.join(ACTIONS)})")
        a = Actions()
        transition = getattr(machine, action)(now, "operator")
        if transition is None:
            return None, a
        if transition.to_state in (weights.PAUSED, weights.DISABLED):
            self.sources[backend] = SOURCE_OPERATOR
            self.blind.pop(backend, None)
            a.stop_probes.add(backend)
        else:
            self.sources.pop(backend, None)
            if machine.probing:
                a.restart_probe(backend, self._prompt_spread(machine.check))
        a.persist = True
        self._on_transition(backend, transition, now, a)
        return transition, a

    def set_weight(self, frontend: str, pool: str, backend: str, weight: Optional[int], now: float) -> Actions:
        """Runtime weight override of one pool member (0..100; None removes it). Raises KeyError
        or ValueError, changing nothing."""
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
        a = Actions()
        self.inputs.set_override(frontend, backend, weight)
        a.persist = True
        a.log("info", "weight-override", frontend=frontend, pool=pool, backend=backend, weight=weight)
        self._replan([frontend], now, a)
        return a

    def reload(self, new: AgentConfig, now: float) -> Actions:
        """Adopt a validated config: keep what is still evidence, restart what changed."""
        a = Actions()
        old_lb = self.config.lb
        self.config = new
        self._members_of = _frontends_by_backend(new)
        kept, reset, added, removed = [], [], [], []
        for name, machine in list(self.machines.items()):
            backend = new.lb.backends.get(name)
            if backend is None or backend.address != old_lb.backends[name].address:
                self._remove_backend(name, now, a)
                removed.append(name)
                continue
            if backend.enabled != old_lb.backends[name].enabled:
                self.inputs.config_enabled_changed(name, backend.enabled, now)
            check = new.lb.healthchecks.get(backend.healthcheck) if backend.healthcheck else None
            outcome = machine.reconfigure(check, now)
            if outcome.kind == health_mod.RESET:
                self.blind.pop(name, None)
                a.stop_probes.add(name)
                if machine.probing:
                    # Prompt: until its first result the backend keeps its state and weight.
                    a.start_probes[name] = self._prompt_spread(machine.check)
                reset.append(name)
                if outcome.transition is not None:
                    self._note_transition(name, outcome.transition, a)
            else:
                kept.append(name)
        for name, backend in new.lb.backends.items():
            if name not in self.machines:
                self._add_backend(name, backend, now, a, self._prompt_spread)
                if name not in removed:
                    added.append(name)
        dropped = self.inputs.keep_members_of(new.lb)
        if dropped:
            a.persist = True
        settings = new.settings
        self.warmup.retune(settings.warmup_min_delay, settings.warmup_max_delay)
        self.plans = {n: p for n, p in self.plans.items() if n in new.lb.frontends}
        self._replan(new.lb.frontends, now, a)
        self._release(now, a)
        a.log("info", "config-reload", kept=len(kept), reset=sorted(reset), added=sorted(added),
              removed=sorted(removed), frontends=len(new.lb.frontends))
        a.request_full("reload")
        a.mark(None)
        return a

    def tick(self, now: float) -> Actions:
        """Timers: warm-up edges, slow-start steps, drain ends, reminders. Sets ``next_wake``."""
        a = Actions()
        due = self.inputs.due(self.config.lb, now)
        if due.drain_ended:
            self._replan(self.config.lb.frontends, now, a)
            a.request_full("drain timeout")  # a fresh dump has the flow counts to flush
        elif due.ramping:
            self._replan(due.ramping, now, a)
        self._release(now, a)
        self._remind(now, a)
        # A hair late rather than early: a step computed a microsecond early repeats the old one.
        delays = [d + 0.001 for d in due.delays]
        edge = self.warmup.next_edge(now)
        if edge is not None:
            delays.append(edge)
        if self.blind or self.warmup.overdue(now):
            delays.append(REMINDER)
        self.next_wake = min(delays) if delays else None
        return a

    # -- what the shell asks -------------------------------------------------------------------

    def next_probe_delay(self, backend: str) -> Optional[float]:
        """Seconds until the backend's next probe (jittered); None when it must stop probing."""
        machine = self.machines.get(backend)
        if machine is None or not machine.probing:
            return None
        return machine.next_delay(self.rng)

    def desired_full(self) -> model.LbState:
        """The conf (always: it is the first write after every connect) and released frontends."""
        lb = self.config.lb
        vips = {}
        for fe in sorted(lb.frontends.values(), key=lambda f: f.key.sort_key()):
            if self.warmup.is_released(fe.name) and fe.name in self.plans:
                vips[fe.key] = desired.vip_with_weights(lb, fe, self.plans[fe.name].effective)
        return model.LbState(conf=lb.conf, vips=vips)

    def desired_frontend(self, name: str) -> Optional[model.VipState]:
        fe = self.config.lb.frontends.get(name)
        if fe is None or not self.warmup.is_released(name) or name not in self.plans:
            return None
        return desired.vip_with_weights(self.config.lb, fe, self.plans[name].effective)

    def frontend_of(self, key: model.VipKey) -> Optional[str]:
        return next((fe.name for fe in self.config.lb.frontends.values() if fe.key == key), None)

    def warmup_status(self, now: float) -> str:
        return self.warmup.status(now)

    def source_of(self, backend: str) -> str:
        """Where the backend's current state comes from."""
        configured = self.config.lb.backends.get(backend)
        if configured is not None and not configured.enabled:
            return SOURCE_CONFIG
        return self.sources.get(backend, SOURCE_PROBE)

    def operator_state(self) -> OperatorState:
        """What must survive a restart: the operator states and the overrides, now."""
        backends = {}
        for name in self.sources:
            machine = self.machines.get(name)
            if machine is not None and machine.state in (weights.PAUSED, weights.DISABLED):
                backends[name] = (machine.state, machine.snapshot().since)
        return OperatorState(backends, dict(self.inputs.overrides))

    # -- internals -----------------------------------------------------------------------------

    def _first_probe_spread(self, check) -> float:
        """At start, first probes spread over one interval, but never past warm-up's min_delay,
        so every first result is in before the agent may write (and well before max_delay)."""
        settings = self.config.settings
        window = check.interval
        if settings.warmup_min_delay > 0:
            window = min(window, settings.warmup_min_delay)
        return self.rng.random() * window

    def _prompt_spread(self, check) -> float:
        """A changed, resumed, enabled or new probe: its first result soon (within fast_interval)."""
        return self.rng.random() * min(check.fast_interval, check.interval)

    def _add_backend(self, name: str, backend: Backend, now: float, a: Actions, spread) -> None:
        check = self.config.lb.healthchecks.get(backend.healthcheck) if backend.healthcheck else None
        machine = health_mod.BackendHealth(name, check, now, self.config.settings.transition_history)
        self.machines[name] = machine
        if machine.probing:
            a.start_probes[name] = spread(check)

    def _remove_backend(self, name: str, now: float, a: Actions) -> None:
        transition = self.machines[name].remove(now, "reload")
        self._note_transition(name, transition, a)
        del self.machines[name]
        a.stop_probes.add(name)
        a.forget.add(name)
        self.inputs.forget_backend(name)
        self.blind.pop(name, None)
        if self.sources.pop(name, None) is not None:
            a.persist = True

    def _restore(self, persisted: OperatorState, now: float, a: Actions) -> None:
        restored, dropped = [], []
        for name, (state, since) in sorted(persisted.backends.items()):
            machine = self.machines.get(name)
            if machine is None:
                dropped.append(name)
                continue
            transition = (machine.pause if state == weights.PAUSED else machine.disable)(now, "persisted")
            if transition is None:
                continue
            self.sources[name] = SOURCE_PERSISTED
            self.inputs.on_transition(name, transition.from_state, state, since)
            a.start_probes.pop(name, None)
            restored.append(f"{name}={state}")
        for (frontend, backend), weight in sorted(persisted.overrides.items()):
            fe = self.config.lb.frontends.get(frontend)
            if fe is None or backend not in fe.backend_names():
                dropped.append(f"{frontend}/{backend}")
                continue
            self.inputs.set_override(frontend, backend, weight)
            restored.append(f"{frontend}/{backend}={weight}")
        if restored:
            a.log("info", "operator-state-restored", restored=restored)
        if dropped:
            a.log("info", "operator-state-dropped", dropped=dropped, reason="no longer in the config")
            a.persist = True

    def _went_blind(self, backend: str, result: ProbeResult, now: float, a: Actions) -> None:
        if backend in self.blind:
            return
        first = not self.blind
        self.blind[backend] = Blindness(result.code, result.detail, now)
        a.status_changed = True
        a.mark(self._frontends_of(backend))
        if first:
            self._blind_reminded = now
            a.log("warning", "agent-blind", code=result.code, reason=result.detail, backend=backend,
                  detail="the agent cannot probe; backend states and VPP weights are left as they are")

    def _sees_again(self, backend: str, now: float, a: Actions) -> None:
        gone = self.blind.pop(backend)
        a.status_changed = True
        a.mark(self._frontends_of(backend))
        if not self.blind:
            a.log("warning", "agent-sight-restored", code=gone.code, after=round(now - gone.since, 3))

    def _remind(self, now: float, a: Actions) -> None:
        if self.blind and now - self._blind_reminded >= REMINDER:
            self._blind_reminded = now
            first = min(self.blind.values(), key=lambda b: b.since)
            a.log("warning", "agent-blind", code=first.code, reason=first.detail, backends=len(self.blind),
                  since=first.since, detail="still blind; backend states and VPP weights are left as they are")
        overdue = self.warmup.overdue(now)
        if overdue and (self._overdue_reminded is None or now - self._overdue_reminded >= REMINDER):
            self._overdue_reminded = now
            waiting = sorted({b for f in overdue for b, s in self.plans[f].states.items() if s == weights.UNKNOWN})
            a.log("warning", "warmup-overdue", frontends=overdue, waiting_for=waiting,
                  detail="past warmup.max_delay without a result for every backend: VPP keeps these frontends' weights")

    def _note_transition(self, backend: str, transition: health_mod.Transition, a: Actions) -> None:
        a.transitions.append((backend, transition))
        a.log("info", "backend-transition", backend=backend, code=transition.code, detail=transition.detail,
              **{"from": transition.from_state, "to": transition.to_state})
        a.events.append({
            "type": "backend", "backend": backend, "from": transition.from_state, "to": transition.to_state,
            "at": transition.at, "code": transition.code, "detail": transition.detail,
        })

    def _on_transition(self, backend: str, transition: health_mod.Transition, now: float, a: Actions) -> None:
        self._note_transition(backend, transition, a)
        self.inputs.on_transition(backend, transition.from_state, transition.to_state, transition.at)
        self._replan(self._frontends_of(backend), now, a)
        self._release(now, a)

    def _frontends_of(self, backend: str) -> List[str]:
        return self._members_of.get(backend, [])

    def _plan(self, fe: Frontend, now: float) -> FrontendPlan:
        lb = self.config.lb
        members = fe.backend_names()
        machines = {n: self.machines[n].state for n in members if n in self.machines}
        states = weights.backend_states({n: lb.backends[n] for n in members}, machines)
        adjustments = self.inputs.adjustments_of(fe, now)
        effective = weights.effective_weights(fe, states, adjustments)
        return FrontendPlan(
            states=states, adjustments=adjustments, effective=effective,
            state=weights.state_of_weights(effective, states),
            active_pool=weights.active_pool(fe, states, adjustments),
            pools=weights.pool_shares(fe, states, adjustments),
        )

    def _replan(self, frontends: Iterable[str], now: float, a: Actions) -> None:
        lb = self.config.lb
        for name in frontends:
            fe = lb.frontends.get(name)
            if fe is None:
                continue
            old = self.plans.get(name)
            plan = self._plan(fe, now)
            self.plans[name] = plan
            a.mark([name])
            if old is not None and old.state != plan.state:
                a.log("info", "frontend-transition", frontend=name, **{"from": old.state, "to": plan.state})
                a.events.append({"type": "frontend", "frontend": name, "from": old.state, "to": plan.state, "at": now})
            if self.warmup.is_released(name) and (old is None or old.effective != plan.effective):
                a.sync.add(name)

    def _ready(self, frontend: str) -> bool:
        plan = self.plans.get(frontend)
        return plan is not None and weights.UNKNOWN not in plan.states.values()

    def _release(self, now: float, a: Actions) -> None:
        for name in self.warmup.step(now, self.config.lb.frontends, self._ready):
            a.log("info", "warmup", frontend=name, action="released")
            a.sync.add(name)
            a.mark([name])
        status = self.warmup.status(now)
        if status != self._warmup_status:
            if status == warmup_mod.DONE:
                a.log("info", "warmup", action="done")
            self._warmup_status = status
            a.status_changed = True


def _frontends_by_backend(config: AgentConfig) -> Dict[str, List[str]]:
    """backend -> the frontends that contain it, in config order."""
    index: Dict[str, List[str]] = {}
    for fe in config.lb.frontends.values():
        for name in dict.fromkeys(fe.backend_names()):
            index.setdefault(name, []).append(fe.name)
    return index
