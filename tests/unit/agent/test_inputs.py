"""Runtime inputs of weights: which transitions start a ramp or a drain, and when they end."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent.inputs import RuntimeInputs
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.weights import MemberAdjustment

CONFIG = schema.parse_config({
    "backends": {"a": {"address": "198.51.100.1"}, "b": {"address": "198.51.100.2"}},
    "frontends": {
        "ramped": {"prefix": "192.0.2.1/32", "slow_start": "40s", "drain_timeout": "10s",
                   "pools": [{"name": "p", "backends": {"a": {}, "b": {}}}]},
        "plain": {"prefix": "192.0.2.2/32", "pools": [{"name": "p", "backends": {"a": {}}}]},
    },
})

# (transitions of backend a as (from, to, at), now, adjustment of a in "ramped" (None: neutral))
CASES = [
    ([("unknown", "up", 0)], 1, None, "first-up-is-not-a-recovery"),
    ([("unknown", "up", 0), ("up", "down", 5), ("down", "up", 10)], 10, MemberAdjustment(ramp=0.2), "recovery"),
    ([("unknown", "up", 0), ("up", "down", 5), ("down", "up", 10)], 31, MemberAdjustment(ramp=0.6), "mid-ramp"),
    ([("unknown", "up", 0), ("up", "down", 5), ("down", "up", 10)], 50, None, "ramp-over"),
    ([("up", "paused", 1), ("paused", "unknown", 2), ("unknown", "up", 3)], 3, MemberAdjustment(ramp=0.2),
     "resume-ramps"),
    ([("up", "disabled", 1)], 5, MemberAdjustment(draining=True), "draining"),
    ([("up", "disabled", 1)], 11, None, "drain-over"),
    ([("up", "disabled", 1), ("disabled", "unknown", 3)], 4, None, "enable-ends-drain"),
    ([("up", "disabled", 1), ("disabled", "unknown", 3), ("unknown", "up", 4)], 4, MemberAdjustment(ramp=0.2),
     "enable-then-up-ramps"),
    ([("up", "down", 1), ("down", "up", 2), ("up", "down", 3)], 4, None, "down-again-ends-ramp"),
]


@pytest.mark.parametrize("transitions, now, expected", [pytest.param(*c[:3], id=c[3]) for c in CASES])
def test_adjustments_follow_transitions(transitions, now, expected) -> None:
    inputs = RuntimeInputs()
    for from_state, to_state, at in transitions:
        inputs.on_transition("a", from_state, to_state, at)
    got = inputs.adjustments(CONFIG, now)
    assert got.get("ramped", {}).get("a") == expected
    assert "plain" not in got  # no slow_start, no drain_timeout there


def test_overrides_set_clear_and_survive_only_for_members_still_configured() -> None:
    inputs = RuntimeInputs()
    inputs.set_override("ramped", "b", 30)
    inputs.set_override("plain", "a", 0)
    assert inputs.adjustments(CONFIG, 0) == {
        "ramped": {"b": MemberAdjustment(override=30)}, "plain": {"a": MemberAdjustment(override=0)}}
    inputs.set_override("plain", "a", None)
    smaller = schema.parse_config({
        "backends": {"a": {"address": "198.51.100.1"}},
        "frontends": {"ramped": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"a": {}}}]}},
    })
    inputs.keep_members_of(smaller)
    assert inputs.overrides == {}


def test_due_reports_steps_and_each_drain_end_once() -> None:
    inputs = RuntimeInputs()
    inputs.on_transition("a", "up", "down", 0)
    inputs.on_transition("a", "down", "up", 0)  # ramp from 0 over 40 s: steps every 10 s
    inputs.on_transition("b", "up", "disabled", 0)  # drain for 10 s
    first = inputs.due(CONFIG, 5)
    assert sorted(first.delays) == [5, 5] and first.ramping == {"ramped"} and not first.drain_ended
    ended = inputs.due(CONFIG, 12)
    assert ended.drain_ended and sorted(ended.delays) == [8]
    assert not inputs.due(CONFIG, 13).drain_ended  # reported once
    over = inputs.due(CONFIG, 41)
    assert over.ramping == {"ramped"} and over.delays == []  # the last re-plan: full weight
    assert inputs.due(CONFIG, 42).ramping == set()  # forgotten


def test_a_config_disable_drains_and_forgetting_clears_everything() -> None:
    inputs = RuntimeInputs()
    inputs.config_enabled_changed("b", False, 100)
    assert inputs.adjustments(CONFIG, 105) == {"ramped": {"b": MemberAdjustment(draining=True)}}
    inputs.config_enabled_changed("b", True, 106)
    assert inputs.adjustments(CONFIG, 106) == {}
    inputs.on_transition("a", "up", "disabled", 0)
    inputs.forget_backend("a")
    assert inputs.adjustments(CONFIG, 1) == {}
