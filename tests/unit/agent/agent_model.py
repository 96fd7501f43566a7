"""A stateful model of the agent's decision core (agent/decisions.py AgentCore), for hypothesis.

``AgentModel`` drives one AgentCore with an explicit clock through random probe results, blind
results (NETNS/AGENT), operator actions and weight overrides, reloads of random configs (checks
changed, backends and pools added and removed, ``enabled`` flipped), agent restarts carrying the
persisted operator state, and clock ticks through warm-up, slow start and drains. It keeps its
own record of what the operator asked for, and checks the invariants after every step (see
``check_*``). Used by tests/unit/agent/test_decisions_model.py (bounded, in the suite) and
scripts/model_soak.py (long runs).

The oracles here are written from the rules in the docstrings (weights.py, health.py,
warmup.py, decisions.py), not by calling the core's own helpers, so a defect in a helper
shows up as a broken invariant.
"""

from __future__ import annotations

import random
from typing import Dict, List, Optional, Tuple

from ansible_collections.maglev.vpp.agent.config import AgentConfig, parse_agent_config
from ansible_collections.maglev.vpp.agent.decisions import AgentCore
from ansible_collections.maglev.vpp.agent.health import HealthError
from ansible_collections.maglev.vpp.agent.probes.result import AGENT, NETNS, ProbeResult
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import weights
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

T0 = 1_000_000.0
BACKENDS = ("b0", "b1", "b2", "b3", "b4")
FRONTENDS = ("f0", "f1", "f2")
# Two probes that differ (a reload switching between them resets the probe), one retune of "a".
CHECKS = {
    "a": {"type": "tcp", "port": 80, "interval": "2s", "fast_interval": "500ms", "down_interval": "4s",
          "timeout": "1s", "rise": 2, "fall": 2},
    "a_retuned": {"type": "tcp", "port": 80, "interval": "3s", "fast_interval": "500ms",
                  "down_interval": "4s", "timeout": "1s", "rise": 3, "fall": 1},
    "b": {"type": "tcp", "port": 8080, "interval": "2s", "fast_interval": "500ms", "down_interval": "4s",
          "timeout": "1s", "rise": 1, "fall": 3},
}
PASS = ProbeResult(True, "L4OK", "", 0.001)
FAIL = ProbeResult(False, "L4CON", "refused", 0.001)
BLIND = {NETNS: ProbeResult(False, NETNS, "netns gone", 0.0), AGENT: ProbeResult(False, AGENT, "EMFILE", 0.0)}
ACTIONS = ("pause", "resume", "disable", "enable")
OPERATOR_STATES = (weights.PAUSED, weights.DISABLED)
PROBING = (weights.UNKNOWN, weights.UP, weights.DOWN)

# -- random configs ---------------------------------------------------------------------------------

backend_spec = st.fixed_dictionaries({
    "check": st.sampled_from(["a", "a_retuned", "b", None]),
    "enabled": st.booleans(),
    "moved": st.booleans(),  # another address: the config drops the old backend and adds a new one
})
member_weight = st.sampled_from([0, 1, 37, 100])
pool_spec = st.dictionaries(st.sampled_from(BACKENDS), member_weight, min_size=1, max_size=3)
frontend_spec = st.fixed_dictionaries({
    "pools": st.lists(pool_spec, min_size=1, max_size=3),
    "flush_on_down": st.booleans(),
    "slow_start": st.sampled_from([0, 8]),
    "drain_timeout": st.sampled_from([0, 6]),
})
config_spec = st.fixed_dictionaries({
    "backends": st.dictionaries(st.sampled_from(BACKENDS), backend_spec, min_size=1, max_size=5),
    "frontends": st.dictionaries(st.sampled_from(FRONTENDS), frontend_spec, min_size=1, max_size=3),
    "warmup": st.sampled_from([(1, 4), (0, 0), (2, 3)]),
})


def build_document(spec: dict) -> dict:
    """A valid agent config document from a ``config_spec`` draw (members not configured are dropped)."""
    backends = {}
    for name, b in sorted(spec["backends"].items()):
        entry = {"address": f"10.0.{1 if b['moved'] else 0}.{BACKENDS.index(name) + 1}", "enabled": b["enabled"]}
        if b["check"] is not None:
            entry["healthcheck"] = b["check"]
        backends[name] = entry
    frontends = {}
    for i, (name, fe) in enumerate(sorted(spec["frontends"].items())):
        pools, seen = [], set()
        for p, members in enumerate(fe["pools"]):
            kept = {b: {"weight": w} for b, w in sorted(members.items()) if b in backends and b not in seen}
            seen.update(kept)
            if kept:
                pools.append({"name": f"p{p}", "backends": kept})
        if not pools:
            continue
        frontends[name] = {
            "prefix": f"192.0.2.{i + 1}/32", "protocol": "tcp", "port": 80, "pools": pools,
            "flush_on_down": fe["flush_on_down"], "slow_start": f"{fe['slow_start']}s",
            "drain_timeout": f"{fe['drain_timeout']}s",
        }
    low, high = spec["warmup"]
    return {
        "conf": {"ip4_src_address": "10.255.0.1"},
        "healthchecks": dict(CHECKS),
        "backends": backends,
        "frontends": frontends,
        "agent": {"warmup": {"min_delay": f"{low}s", "max_delay": f"{high}s"}},
    }


FIRST = {
    "backends": {n: {"check": "a", "enabled": True, "moved": False} for n in BACKENDS},
    "frontends": {
        "f0": {"pools": [{"b0": 100, "b1": 37}, {"b2": 100}], "flush_on_down": True, "slow_start": 8,
               "drain_timeout": 6},
        "f1": {"pools": [{"b3": 0, "b4": 100}, {"b0": 1}], "flush_on_down": False, "slow_start": 0,
               "drain_timeout": 0},
        # A pool drained by its configured weights: the next pool carries the traffic.
        "f2": {"pools": [{"b3": 0}, {"b4": 100, "b1": 37}], "flush_on_down": True, "slow_start": 8,
               "drain_timeout": 0},
    },
    "warmup": (1, 4),
}


# -- oracles (from the rules, not from the core's helpers) ------------------------------------------

def expected_flush(state: str, flush_on_down: bool, draining: bool) -> bool:
    """weights.py: down -> flush_on_down; disabled -> always (unless draining); else never."""
    if state == weights.DOWN:
        return flush_on_down
    if state == weights.DISABLED:
        return not draining
    return False


def member_states(config: AgentConfig, core: AgentCore, fe) -> Dict[str, str]:
    """Each member's state as the weights must see it: enabled: false wins, no check is up."""
    states = {}
    for name in fe.backend_names():
        backend = config.lb.backends[name]
        machine = core.machines.get(name)
        if not backend.enabled:
            states[name] = weights.DISABLED
        elif machine is not None:
            states[name] = machine.state
        else:
            states[name] = weights.UP if backend.healthcheck is None else weights.UNKNOWN
    return states


class AgentModel(RuleBasedStateMachine):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.config: Optional[AgentConfig] = None
        self.core: Optional[AgentCore] = None
        self.rng = random.Random(0)
        # What the operator asked for and has not ended; dropped when the config drops the backend.
        self.intent: Dict[str, str] = {}
        self.overrides: Dict[Tuple[str, str], int] = {}

    @initialize()
    def start(self) -> None:
        self.config = parse_agent_config(build_document(FIRST))
        self.core = AgentCore(self.config, self.now, self.rng)
        self.core.start(self.now)

    # -- rules -------------------------------------------------------------------------------------

    def _written(self) -> Dict[str, object]:
        return {name: self.core.desired_frontend(name) for name in self.config.lb.frontends}

    def _draining(self) -> set:
        return {(fe.name, n) for fe in self.config.lb.frontends.values()
                for n, adj in self.core.plans[fe.name].adjustments.items() if adj.draining}

    def _told(self, before: Dict[str, object], actions) -> None:
        """Every frontend whose write changed is handed to the VPP sync (targeted or full)."""
        if actions.full_sync:
            return
        for name, vip in self._written().items():
            if vip is not None and vip != before.get(name):
                assert name in actions.sync, f"{name}: planned weights changed but no sync was asked for"

    def _probing(self) -> List[str]:
        return sorted(n for n, m in self.core.machines.items() if m.probing)

    @precondition(lambda self: self.core is not None and self._probing())
    @rule(data=st.data(), ok=st.booleans())
    def probe(self, data, ok: bool) -> None:
        backend = data.draw(st.sampled_from(self._probing()), label="backend")
        before = self._written()
        self._told(before, self.core.probe_result(backend, PASS if ok else FAIL, self.now))

    @precondition(lambda self: self.core is not None and self._probing())
    @rule(data=st.data(), ok=st.booleans())
    def settle(self, data, ok: bool) -> None:
        """Results of one kind until the backend's state follows them (rise or fall in a row)."""
        backend = data.draw(st.sampled_from(self._probing()), label="backend")
        check = self.core.machines[backend].check
        for _probe in range(check.rise + check.fall):
            before = self._written()
            self._told(before, self.core.probe_result(backend, PASS if ok else FAIL, self.now))
            self.now += 0.05
        self.core.tick(self.now)

    @precondition(lambda self: self.core is not None and self._probing())
    @rule(data=st.data(), code=st.sampled_from(sorted(BLIND)))
    def blind_result(self, data, code: str) -> None:
        backend = data.draw(st.sampled_from(self._probing()), label="backend")
        before = {n: m.state for n, m in self.core.machines.items()}
        plans = dict(self.core.plans)
        a = self.core.probe_result(backend, BLIND[code], self.now)
        assert {n: m.state for n, m in self.core.machines.items()} == before, "a blind result moved a backend"
        assert self.core.plans == plans and not a.sync and not a.transitions, "a blind result changed weights"

    @rule(backend=st.sampled_from(BACKENDS), action=st.sampled_from(ACTIONS))
    def operator_action(self, backend: str, action: str) -> None:
        if backend not in self.core.machines:
            return
        before, written = self.core.machines[backend].state, self._written()
        try:
            transition, actions = self.core.backend_action(backend, action, self.now)
        except HealthError:
            assert self.core.machines[backend].state == before, "a refused action changed the state"
            return
        self._told(written, actions)
        if transition is None:
            return
        if transition.to_state in OPERATOR_STATES:
            self.intent[backend] = transition.to_state
        else:
            self.intent.pop(backend, None)

    def _members(self) -> List[Tuple[str, str, str]]:
        return [(fe.name, pool.name, b) for fe in self.config.lb.frontends.values()
                for pool in fe.pools for b in pool.members]

    @precondition(lambda self: self.core is not None and self._members())
    @rule(data=st.data(), weight=st.sampled_from([None, 0, 5, 100]))
    def override(self, data, weight: Optional[int]) -> None:
        members = self._members()
        frontend, pool, backend = data.draw(st.sampled_from(members), label="member")
        written = self._written()
        self._told(written, self.core.set_weight(frontend, pool, backend, weight, self.now))
        if weight is None:
            self.overrides.pop((frontend, backend), None)
        else:
            self.overrides[(frontend, backend)] = weight

    @rule(spec=config_spec)
    def reload(self, spec: dict) -> None:
        new = parse_agent_config(build_document(spec))
        old = self.config
        before = {n: m.state for n, m in self.core.machines.items()}
        self.core.reload(new, self.now)
        self.config = new
        for name, state in before.items():
            kept = name in new.lb.backends and new.lb.backends[name].address == old.lb.backends[name].address
            if not kept:
                self.intent.pop(name, None)
                assert name not in self.core.machines or self.core.machines[name].state == weights.UNKNOWN \
                    or new.lb.backends[name].healthcheck is None
                continue
            after = self.core.machines[name].state
            if new.lb.backends[name].healthcheck is None and state in PROBING:
                assert after == weights.UP, f"{name}: check removed, {state} -> {after} (expected up)"
            else:
                assert after == state, f"{name}: a reload moved it {state} -> {after} (health.py: it keeps its state)"
        self.overrides = {(f, b): w for (f, b), w in self.overrides.items()
                          if f in new.lb.frontends and b in new.lb.frontends[f].backend_names()}

    @rule()
    def restart(self) -> None:
        """The agent restarts: a new core from the persisted operator state, warm-up again."""
        persisted = self.core.operator_state()
        self.core = AgentCore(self.config, self.now, self.rng, persisted)
        self.core.start(self.now)

    def _tick(self, dt: float) -> None:
        written, draining = self._written(), self._draining()
        self.now += dt
        actions = self.core.tick(self.now)
        self._told(written, actions)
        ended = {(f, b) for f, b in draining - self._draining()
                 if f in self.core.plans and self.core.plans[f].states.get(b) == weights.DISABLED}
        if ended:  # weights.py: the flush of a disabled backend comes when its drain ends
            assert actions.full_sync == "drain timeout", f"drains ended {sorted(ended)}, no full sync"

    @rule(dt=st.sampled_from([0.01, 0.3, 1.0, 2.5, 7.0, 65.0]))
    def tick(self, dt: float) -> None:
        self._tick(dt)

    @precondition(lambda self: self.core is not None and self.core.next_wake is not None)
    @rule()
    def tick_at_next_wake(self) -> None:
        self._tick(self.core.next_wake)

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def check_written_only_when_released(self) -> None:
        if self.core is None:
            return
        full = self.core.desired_full()
        for fe in self.config.lb.frontends.values():
            vip = self.core.desired_frontend(fe.name)
            if not self.core.warmup.is_released(fe.name):
                assert vip is None and fe.key not in full.vips, f"{fe.name} written while not released"
            else:
                assert vip is not None and full.vips[fe.key] == vip, f"{fe.name}: full and targeted plans differ"

    @invariant()
    def check_view_is_the_plan(self) -> None:
        """The published plan is current (what the rules give now) and is what VPP is asked for."""
        if self.core is None:
            return
        for fe in self.config.lb.frontends.values():
            plan = self.core.plans[fe.name]
            states = member_states(self.config, self.core, fe)
            assert dict(plan.states) == states, f"{fe.name}: stale states in the plan"
            adjustments = self.core.inputs.adjustments_of(fe, self.now)
            assert dict(plan.adjustments) == adjustments, f"{fe.name}: stale adjustments in the plan"
            vip = self.core.desired_frontend(fe.name)
            if vip is not None:
                lb = self.config.lb
                written = {n: (vip.ases[lb.backends[n].address].weight, vip.ases[lb.backends[n].address].flush)
                           for n in fe.backend_names()}
                assert written == {n: (w.weight, w.flush) for n, w in plan.effective.items()}

    @invariant()
    def check_weight_and_flush_rules(self) -> None:
        if self.core is None:
            return
        for fe in self.config.lb.frontends.values():
            plan = self.core.plans[fe.name]
            total = sum(w.weight for w in plan.effective.values())
            weighted_up = [
                n for pool in fe.pools for n, configured in pool.members.items()
                if plan.states[n] == weights.UP
                and (configured if plan.adjustments.get(n, weights.NO_ADJUSTMENT).override is None
                     else plan.adjustments[n].override) > 0
            ]
            assert not weighted_up or total > 0, f"{fe.name}: up and weighted {weighted_up}, total weight 0"
            for name, value in plan.effective.items():
                state = plan.states[name]
                draining = plan.adjustments.get(name, weights.NO_ADJUSTMENT).draining
                assert value.flush == expected_flush(state, fe.flush_on_down, draining), \
                    f"{fe.name}/{name}: {state} flush={value.flush}"
                if state != weights.UP:
                    assert value.weight == 0, f"{fe.name}/{name}: {state} with weight {value.weight}"

    @invariant()
    def check_operator_intent_holds(self) -> None:
        if self.core is None:
            return
        for name, state in self.intent.items():
            assert self.core.machines[name].state == state, \
                f"{name}: operator said {state}, core has {self.core.machines[name].state}"
        assert self.core.inputs.overrides == self.overrides, "overrides differ from what the operator set"
        persisted = self.core.operator_state()
        assert {n: s for n, (s, _since) in persisted.backends.items()} == self.intent
        assert persisted.overrides == self.overrides
