"""The agent's decision core (agent/decisions.py), with an explicit clock: no asyncio, no I/O.

Each scenario is a script of inputs at given times; the assertions are on the core's answers
(what to sync, what to log, which probes start) and on what it would have VPP hold. A "write"
below is what the core hands the VPP sync: its planned weights for released frontends.
"""

from __future__ import annotations

import copy
import random
from typing import Dict, List, Optional

import pytest
from ansible_collections.maglev.vpp.agent import decisions, warmup
from ansible_collections.maglev.vpp.agent.config import parse_agent_config
from ansible_collections.maglev.vpp.agent.decisions import Actions, AgentCore
from ansible_collections.maglev.vpp.agent.health import HealthError
from ansible_collections.maglev.vpp.agent.operator_state import OperatorState
from ansible_collections.maglev.vpp.agent.probes.result import AGENT, NETNS, ProbeResult

T0 = 1_000_000.0
CHECK = {"type": "tcp", "port": 80, "interval": "2s", "fast_interval": "500ms", "down_interval": "4s",
         "timeout": "1s", "rise": 2, "fall": 2}


def document(**agent) -> dict:
    return {
        "conf": {"ip4_src_address": "10.255.0.1"},
        "healthchecks": {"h": dict(CHECK)},
        "backends": {
            "b1": {"address": "10.0.0.1", "healthcheck": "h"},
            "b2": {"address": "10.0.0.2", "healthcheck": "h"},
            "s1": {"address": "10.0.0.3", "healthcheck": "h"},
        },
        "frontends": {"www": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "pools": [
            {"name": "primary", "backends": {"b1": {}, "b2": {"weight": 50}}},
            {"name": "standby", "backends": {"s1": {}}},
        ]}},
        "agent": {"warmup": {"min_delay": "1s", "max_delay": "4s"}, **agent},
    }


def core(doc: Optional[dict] = None, persisted: Optional[OperatorState] = None, seed: int = 1) -> AgentCore:
    return AgentCore(parse_agent_config(doc or document()), T0, random.Random(seed), persisted)


PASS = ProbeResult(True, "L4OK", "", 0.001)
FAIL = ProbeResult(False, "L4CON", "refused", 0.001)


def feed(c: AgentCore, script: str, at: float) -> List[Actions]:
    """'b1+ b2- s1+' : one probe result per word, all at ``at``."""
    out = []
    for word in script.split():
        out.append(c.probe_result(word[:-1], PASS if word[-1] == "+" else FAIL, at))
    return out


def weights_of(c: AgentCore, frontend: str = "www") -> Optional[Dict[str, int]]:
    """What the core would have VPP hold for the frontend; None while it is held."""
    vip = c.desired_frontend(frontend)
    if vip is None:
        return None
    names = {b.address: n for n, b in c.config.lb.backends.items()}
    return {names[a]: s.weight for a, s in vip.ases.items()}


def up(c: AgentCore, at: float) -> None:
    """Every backend up (rise 2: two passes)."""
    feed(c, "b1+ b2+ s1+", at)
    feed(c, "b1+ b2+ s1+", at + 0.1)


# -- start and warm-up ----------------------------------------------------------------------------

def test_first_probes_come_before_min_delay_even_with_a_long_interval():
    doc = document(warmup={"min_delay": "1s", "max_delay": "4s"})
    doc["healthchecks"]["h"].update(interval="20s", down_interval="20s")
    c = core(doc)
    a = c.start(T0)
    assert set(a.start_probes) == {"b1", "b2", "s1"}
    assert all(0 <= d <= 1.0 for d in a.start_probes.values())  # min_delay, not the 20 s interval


# (script of (time offset, inputs), whether released, the weights written or None)
WARMUP = [
    ([(0.5, "b1+ b2+ s1+")], None, "results before min_delay: held"),
    ([(0.5, "b1+ b2+ s1+"), (1.0, "")], {"b1": 100, "b2": 50, "s1": 0}, "released at min_delay"),
    ([(1.5, "b1+ b2+")], None, "one backend without a result: held"),
    ([(1.5, "b1+ b2+"), (5.0, "")], None, "still held after max_delay (VPP keeps its weights)"),
    ([(1.5, "b1+ b2+"), (5.0, ""), (6.0, "s1-")], {"b1": 100, "b2": 50, "s1": 0}, "released by the late result"),
    ([(1.5, "b1- b2- s1-")], {"b1": 0, "b2": 0, "s1": 0}, "results, even bad ones, release"),
]


@pytest.mark.parametrize("script, expected, label", WARMUP, ids=[w[2] for w in WARMUP])
def test_warmup_releases_only_on_results(script, expected, label):
    c = core()
    c.start(T0)
    for offset, inputs in script:
        feed(c, inputs, T0 + offset)
        c.tick(T0 + offset)
    assert weights_of(c) == expected


def test_warmup_overdue_is_said_and_status_is_consistent():
    c = core()
    c.start(T0)
    feed(c, "b1+ b2+", T0 + 1.5)
    assert c.warmup_status(T0 + 1.5) == warmup.RELEASING
    a = c.tick(T0 + 4.5)
    [overdue] = [r for r in a.logs if r.event == "warmup-overdue"]
    assert overdue.fields["frontends"] == ["www"] and overdue.fields["waiting_for"] == ["s1"]
    assert c.tick(T0 + 5.0).logs == []  # said once per REMINDER
    assert any(r.event == "warmup-overdue" for r in c.tick(T0 + 4.5 + decisions.REMINDER).logs)
    a = c.probe_result("s1", PASS, T0 + 70)
    assert ("warmup", "done") in [(r.event, r.fields.get("action")) for r in a.logs]
    assert c.warmup_status(T0 + 70) == warmup.DONE and "www" in a.sync


def test_warmup_delays_changed_by_a_reload_apply():
    c = core()
    c.start(T0)
    feed(c, "b1+ b2+ s1+", T0 + 0.2)
    c.tick(T0 + 0.5)
    assert weights_of(c) is None
    c.reload(parse_agent_config(document(warmup={"min_delay": "300ms", "max_delay": "4s"})), T0 + 0.6)
    assert weights_of(c) == {"b1": 100, "b2": 50, "s1": 0}


# -- reload ----------------------------------------------------------------------------------------

def released(c: Optional[AgentCore] = None) -> AgentCore:
    c = c or core()
    c.start(T0)
    up(c, T0 + 0.5)
    c.tick(T0 + 1.0)
    assert weights_of(c) == {"b1": 100, "b2": 50, "s1": 0}
    return c


@pytest.mark.parametrize("change", [
    {"path": "/other", "type": "http"}, {"port": 8080}, {"type": "http", "expect_status": [204]},
])
def test_a_changed_check_keeps_weights_and_probes_promptly(change):
    c = released()
    doc = document()
    doc["healthchecks"]["h"].update(change)
    a = c.reload(parse_agent_config(doc), T0 + 10)
    assert weights_of(c) == {"b1": 100, "b2": 50, "s1": 0}  # nothing moves before a result
    assert a.transitions == [] and a.sync == set()
    assert set(a.start_probes) == {"b1", "b2", "s1"} and set(a.stop_probes) == {"b1", "b2", "s1"}
    assert all(d <= 0.5 for d in a.start_probes.values())  # within fast_interval
    a = c.probe_result("b1", FAIL, T0 + 10.2)  # the new check's first result decides
    assert weights_of(c) == {"b1": 0, "b2": 50, "s1": 0} and a.sync == {"www"}


def test_a_reload_removing_a_backend_says_so_and_forgets_its_series():
    c = released()
    doc = document()
    del doc["backends"]["b2"]
    doc["frontends"]["www"]["pools"][0]["backends"].pop("b2")
    a = c.reload(parse_agent_config(doc), T0 + 10)
    assert [(n, t.to_state) for n, t in a.transitions] == [("b2", "removed")]
    assert a.forget == {"b2"} and "b2" in a.stop_probes
    assert [e["to"] for e in a.events if e.get("backend") == "b2"] == ["removed"]
    assert weights_of(c) == {"b1": 100, "s1": 0}


# -- blindness -------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [NETNS, AGENT])
def test_blind_results_move_nothing_and_are_said(code):
    c = released()
    blind = ProbeResult(False, code, "cannot enter network namespace x", 0.0)
    actions = [c.probe_result(n, blind, T0 + 10 + i) for i, n in enumerate(("b1", "b2", "s1")) for _repeat in range(5)]
    assert weights_of(c) == {"b1": 100, "b2": 50, "s1": 0}
    assert all(not a.sync and not a.transitions for a in actions)
    assert [r.event for a in actions for r in a.logs] == ["agent-blind"]  # once, at the start
    assert any(r.event == "agent-blind" for r in c.tick(T0 + 10 + decisions.REMINDER).logs)  # and again
    a = c.probe_result("b1", PASS, T0 + 100)
    assert [r.event for r in a.logs] == []  # b2 and s1 still blind
    feed(c, "b2+", T0 + 101)
    a = c.probe_result("s1", FAIL, T0 + 102)
    assert "agent-sight-restored" in [r.event for r in a.logs]
    assert weights_of(c) == {"b1": 100, "b2": 50, "s1": 0}  # s1 down: a standby at 0 anyway


def test_blind_at_start_holds_every_frontend():
    c = core()
    c.start(T0)
    blind = ProbeResult(False, NETNS, "no namespace", 0.0)
    for n in ("b1", "b2", "s1"):
        c.probe_result(n, blind, T0 + 0.5)
    c.tick(T0 + 10)
    assert weights_of(c) is None and c.desired_full().vips == {}
    assert c.desired_full().conf is not None  # the conf still goes out first


# -- operator actions and their persistence ---------------------------------------------------------

def test_repeated_actions_are_idempotent_and_invalid_ones_change_nothing():
    c = released()
    transition, a = c.backend_action("b1", "pause", T0 + 10)
    assert transition.to_state == "paused" and a.persist and "b1" in a.stop_probes
    transition, a = c.backend_action("b1", "pause", T0 + 11)
    assert transition is None and not a.persist and not a.changed_anything
    c.backend_action("b1", "disable", T0 + 12)
    with pytest.raises(HealthError):
        c.backend_action("b1", "resume", T0 + 13)
    with pytest.raises(KeyError):
        c.backend_action("nope", "pause", T0 + 13)
    assert c.machines["b1"].state == "disabled"


def test_operator_state_round_trip_through_a_restart():
    c = released()
    c.backend_action("b1", "disable", T0 + 10)
    c.set_weight("www", "primary", "b2", 30, T0 + 11)
    saved = c.operator_state()
    assert saved.backends == {"b1": ("disabled", T0 + 10)} and saved.overrides == {("www", "b2"): 30}

    restarted = core(persisted=saved)
    a = restarted.start(T0 + 100)
    assert "b1" not in a.start_probes  # disabled: no probing
    assert restarted.source_of("b1") == decisions.SOURCE_PERSISTED
    feed(restarted, "b2+ s1+", T0 + 100.5)
    feed(restarted, "b2+ s1+", T0 + 100.6)
    restarted.tick(T0 + 101.5)
    assert weights_of(restarted) == {"b1": 0, "b2": 30, "s1": 0}
    restarted.backend_action("b1", "enable", T0 + 102)
    assert restarted.operator_state().backends == {}


def test_persisted_entries_of_backends_that_left_the_config_are_dropped():
    saved = OperatorState({"gone": ("paused", T0)}, {("www", "gone"): 10, ("old", "b1"): 20})
    c = core(persisted=saved)
    a = c.start(T0 + 1)
    [dropped] = [r for r in a.logs if r.event == "operator-state-dropped"]
    assert sorted(dropped.fields["dropped"]) == ["gone", "old/b1", "www/gone"]
    assert a.persist and c.operator_state().is_empty()


def test_a_removed_backend_ends_its_operator_state():
    c = released()
    c.backend_action("b2", "pause", T0 + 10)
    doc = document()
    del doc["backends"]["b2"]
    doc["frontends"]["www"]["pools"][0]["backends"].pop("b2")
    a = c.reload(parse_agent_config(doc), T0 + 11)
    assert a.persist and c.operator_state().backends == {}


# -- weights rules the core applies ------------------------------------------------------------------

def test_an_all_zero_pool_is_not_active():
    c = released()
    c.set_weight("www", "primary", "b1", 0, T0 + 10)
    c.set_weight("www", "primary", "b2", 0, T0 + 10)
    assert weights_of(c) == {"b1": 0, "b2": 0, "s1": 100}
    assert c.plans["www"].active_pool == "standby"


def test_failback_with_slow_start_ramps_the_primary_in_and_the_standby_out():
    doc = document()
    doc["frontends"]["www"]["slow_start"] = "40s"
    doc["frontends"]["www"]["pools"][0]["backends"] = {"b1": {}}
    del doc["backends"]["b2"]
    c = core(doc)
    c.start(T0)
    feed(c, "b1+ s1+", T0 + 0.5)
    feed(c, "b1+ s1+", T0 + 0.6)
    c.tick(T0 + 1)
    assert weights_of(c) == {"b1": 100, "s1": 0}
    feed(c, "b1- b1-", T0 + 10)
    assert weights_of(c) == {"b1": 0, "s1": 100}
    feed(c, "b1+ b1+", T0 + 20)  # recovered at T0 + 20: ramps 20/40/60/80 %
    assert weights_of(c) == {"b1": 20, "s1": 80}  # never a 100 % step
    c.tick(T0 + 30.01)
    assert weights_of(c) == {"b1": 40, "s1": 60}
    c.tick(T0 + 60.01)
    assert weights_of(c) == {"b1": 100, "s1": 0}


def test_the_view_is_the_plan():
    """The published plan and what VPP is told are one computation."""
    c = released()
    feed(c, "b1- b1-", T0 + 10)
    plan = c.plans["www"]
    assert {n: w.weight for n, w in plan.effective.items()} == weights_of(c)
    assert (plan.state, plan.active_pool) == ("up", "primary")


def test_a_transition_syncs_only_its_frontends():
    doc = document()
    doc["backends"]["x1"] = {"address": "10.0.1.1", "healthcheck": "h"}
    doc["frontends"]["other"] = {"prefix": "192.0.2.2/32", "pools": [{"name": "p", "backends": {"x1": {}}}]}
    c = core(doc)
    c.start(T0)
    feed(c, "b1+ b2+ s1+ x1+", T0 + 0.5)
    feed(c, "b1+ b2+ s1+ x1+", T0 + 0.6)
    c.tick(T0 + 1)
    assert c.probe_result("b1", PASS, T0 + 10).sync == set()  # no transition, nothing to do
    a = c.probe_result("b1", FAIL, T0 + 11)
    a = c.probe_result("b1", FAIL, T0 + 11.1) if not a.transitions else a
    assert a.sync == {"www"} and a.dirty == {"www"}
    a = c.probe_result("x1", FAIL, T0 + 12)
    a = c.probe_result("x1", FAIL, T0 + 12.1) if not a.transitions else a
    assert a.sync == {"other"} and a.dirty == {"other"}


def test_the_core_is_deterministic_for_a_seed():
    def run(seed):
        c = core(seed=seed)
        return copy.deepcopy(c.start(T0).start_probes)
    assert run(7) == run(7)


def test_counters_of_a_removed_backend_are_dropped():
    from ansible_collections.maglev.vpp.agent.counters import AgentCounters
    counters = AgentCounters()
    for name in ("b1", "b2"):
        counters.probe(name, "tcp", True, "L4OK", 0.001)
        counters.transition(name, "unknown", "up")
    counters.forget("b2")
    assert {k[0] for k in counters.probes} == {"b1"}
    assert {k[0] for k in counters.durations} == {"b1"}
    assert {k[0] for k in counters.transitions} == {"b1"}
