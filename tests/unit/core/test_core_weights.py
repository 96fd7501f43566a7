"""Effective weights: pools x health states -> weight, flush, active pool, frontend state."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import model, schema, weights


def frontend(flush_on_down: bool = True, a_weight: int = 100) -> schema.Frontend:
    return schema.Frontend(
        name="www",
        key=model.VipKey("192.0.2.1/32", 6, 80),
        spec=model.VipSpec(),
        pools=(
            schema.Pool("primary", {"a": a_weight, "b": 50}),
            schema.Pool("fallback", {"c": 100}),
        ),
        flush_on_down=flush_on_down,
    )


def parse_health(text: Optional[str]) -> Optional[Dict[str, str]]:
    """ "a=up b=down" -> {"a": "up", "b": "down"}; "-" -> None (no agent); "" -> {}."""
    if text == "-":
        return None
    return dict(item.split("=") for item in text.split())


def parse_weights(text: str) -> Dict[str, Tuple[int, bool]]:
    """ "a=0! b=50" -> {"a": (0, True), "b": (50, False)}; "!" marks flush."""
    result = {}
    for item in text.split():
        name, value = item.split("=")
        result[name] = (int(value.rstrip("!")), value.endswith("!"))
    return result


# Frontend: pools primary {a: 100, b: 50}, fallback {c: 100}; flush_on_down true unless noted.
# (health, frontend kwargs, effective weights ("!" = flush), active pool, frontend state)
CASES = [
    ("-", {}, "a=100 b=50 c=0", "primary", "up", "no-agent"),
    ("a=up b=up c=up", {}, "a=100 b=50 c=0", "primary", "up", "all-up"),
    ("a=down b=up c=up", {}, "a=0! b=50 c=0", "primary", "up", "one-primary-down"),
    ("a=down b=up c=up", {"flush_on_down": False}, "a=0 b=50 c=0", "primary", "up", "down-no-flush-on-down"),
    ("a=down b=down c=up", {}, "a=0! b=0! c=100", "fallback", "up", "failover"),
    ("a=down b=unknown c=up", {}, "a=0! b=0 c=100", "fallback", "up", "failover-down-and-unknown"),
    ("a=unknown b=unknown c=up", {}, "a=0 b=0 c=100", "fallback", "up", "primary-unknown-fallback-up"),
    ("a=down b=down c=down", {}, "a=0! b=0! c=0!", None, "down", "all-down"),
    ("a=unknown b=unknown c=unknown", {}, "a=0 b=0 c=0", None, "unknown", "all-unknown"),
    ("", {}, "a=0 b=0 c=0", None, "unknown", "empty-view-means-unknown"),
    ("a=up", {}, "a=100 b=0 c=0", "primary", "up", "missing-entries-are-unknown"),
    ("a=paused b=up c=up", {}, "a=0 b=50 c=0", "primary", "up", "paused-drains"),
    ("a=disabled b=up c=up", {}, "a=0! b=50 c=0", "primary", "up", "disabled-flushes"),
    ("a=paused b=disabled c=up", {}, "a=0 b=0! c=100", "fallback", "up", "operator-failover"),
    ("a=disabled b=paused c=down", {}, "a=0! b=0 c=0!", None, "down", "nothing-up"),
    ("a=paused b=paused c=unknown", {}, "a=0 b=0 c=0", None, "unknown", "paused-and-unknown"),
    ("a=paused b=disabled c=paused", {}, "a=0 b=0! c=0", None, "down", "all-operator-states"),
    ("a=up b=down c=up", {"a_weight": 0}, "a=0 b=0! c=0", "primary", "down", "configured-zero-keeps-pool"),
    ("a=up b=up c=up", {"a_weight": 0}, "a=0 b=50 c=0", "primary", "up", "configured-zero-drains"),
]


@pytest.mark.parametrize(
    "health, kwargs, expected, active, state", [pytest.param(*case[:5], id=case[5]) for case in CASES]
)
def test_effective_weights(
    health: str, kwargs: dict, expected: str, active: Optional[str], state: str
) -> None:
    fe = frontend(**kwargs)
    view = parse_health(health)
    result = weights.effective_weights(fe, view)
    assert {name: (w.weight, w.flush) for name, w in result.items()} == parse_weights(expected)
    assert list(result) == ["a", "b", "c"]
    assert weights.active_pool(fe, view) == active
    assert weights.frontend_state(fe, view) == state


def test_unknown_state_is_rejected() -> None:
    with pytest.raises(ValueError, match="backend a: unknown health state 'removed'"):
        weights.effective_weights(frontend(), {"a": "removed"})


def test_backend_states_merges_config_and_agent_view() -> None:
    backends = {
        "probed": schema.Backend("probed", "198.51.100.1", healthcheck="h"),
        "static": schema.Backend("static", "198.51.100.2"),
        "off": schema.Backend("off", "198.51.100.3", healthcheck="h", enabled=False),
        "known": schema.Backend("known", "198.51.100.4", healthcheck="h"),
        "paused_static": schema.Backend("paused_static", "198.51.100.5"),
    }
    assert weights.backend_states(backends, None) == {
        "probed": "up",
        "static": "up",
        "off": "disabled",
        "known": "up",
        "paused_static": "up",
    }
    view = {"known": "down", "off": "up", "paused_static": "paused"}
    assert weights.backend_states(backends, view) == {
        "probed": "unknown",  # not probed yet
        "static": "up",  # nothing to wait for
        "off": "disabled",  # config wins
        "known": "down",
        "paused_static": "paused",  # operator state from the agent
    }
    with pytest.raises(ValueError):
        weights.backend_states(backends, {"known": "sideways"})
