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
    # A pool whose only up member weighs 0 cannot take traffic: the next pool is active.
    ("a=up b=down c=up", {"a_weight": 0}, "a=0 b=0! c=100", "fallback", "up", "configured-zero-pool-fails-over"),
    ("a=up b=down c=down", {"a_weight": 0}, "a=0 b=0! c=0!", "primary", "down", "configured-zero-nothing-else-up"),
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


A = weights.MemberAdjustment
# (health, adjustments per backend, effective weights ("!" = flush), frontend state)
ADJUSTMENT_CASES = [
    ("a=up b=up c=up", {"b": A(override=80)}, "a=100 b=80 c=0", "up", "override-raises"),
    ("a=up b=up c=up", {"a": A(override=0)}, "a=0 b=50 c=0", "up", "override-zero-drains-in-pool"),
    ("a=up b=up c=up", {"a": A(override=0), "b": A(override=0)}, "a=0 b=0 c=100", "up", "overrides-zero-fail-over"),
    ("a=up b=up c=down", {"a": A(override=0), "b": A(override=0)}, "a=0 b=0 c=0!", "down", "overrides-zero-no-standby"),
    # Fail-back with slow start: the returning pool ramps in, the pool it replaces keeps the rest.
    ("a=up b=down c=up", {"a": A(ramp=0.2)}, "a=20 b=0! c=80", "up", "failback-standby-keeps-the-rest"),
    ("a=up b=up c=up", {"a": A(ramp=0.4), "b": A(ramp=0.2)}, "a=40 b=10 c=60", "up", "failback-most-advanced-ramp"),
    ("a=up b=down c=down", {"a": A(ramp=0.2)}, "a=20 b=0! c=0!", "up", "failback-nothing-to-spill-to"),
    ("a=up b=up c=up", {"a": A(ramp=0.2), "c": A(ramp=0.5)}, "a=20 b=50 c=0", "up", "no-spill-while-a-member-is-full"),
    ("a=up b=up c=up", {"c": A(override=10)}, "a=100 b=50 c=0", "up", "override-of-standby-stays-0"),
    ("a=up b=up c=up", {"a": A(ramp=0.2)}, "a=20 b=50 c=0", "up", "ramp-scales"),
    ("a=up b=up c=up", {"b": A(ramp=0.01)}, "a=100 b=1 c=0", "up", "ramp-at-least-1"),
    ("a=up b=up c=up", {"a": A(override=50, ramp=0.4)}, "a=20 b=50 c=0", "up", "ramp-of-override"),
    ("a=up b=up c=up", {"a": A(override=0, ramp=0.4)}, "a=0 b=50 c=0", "up", "ramp-of-zero-is-zero"),
    ("a=disabled b=up c=up", {"a": A(draining=True)}, "a=0 b=50 c=0", "up", "draining-disabled-no-flush"),
    ("a=down b=up c=up", {"a": A(draining=True)}, "a=0! b=50 c=0", "up", "draining-only-for-disabled"),
    ("a=down b=down c=up", {"c": A(ramp=0.6)}, "a=0! b=0! c=60", "up", "ramp-in-failover-pool"),
]


@pytest.mark.parametrize(
    "health, adjustments, expected, state", [pytest.param(*case[:4], id=case[4]) for case in ADJUSTMENT_CASES]
)
def test_effective_weights_with_adjustments(health: str, adjustments: dict, expected: str, state: str) -> None:
    fe = frontend()
    view = parse_health(health)
    result = weights.effective_weights(fe, view, adjustments)
    assert {name: (w.weight, w.flush) for name, w in result.items()} == parse_weights(expected)
    assert weights.frontend_state(fe, view, adjustments) == state


# (health, adjustments, settled weights: where the effective weights head once slow start is over)
SETTLED_CASES = [
    ("a=up b=up c=up", {}, "a=100 b=50 c=0", "nothing-ramping-is-effective"),
    ("a=up b=up c=up", {"a": A(ramp=0.2)}, "a=100 b=50 c=0", "ramp-ends-at-full-weight"),
    ("a=up b=down c=up", {"a": A(ramp=0.2)}, "a=100 b=0 c=0", "failback-ends-with-standby-at-0"),
    ("a=up b=up c=up", {"a": A(override=50, ramp=0.4)}, "a=50 b=50 c=0", "override-stays"),
    ("a=disabled b=up c=up", {"a": A(draining=True)}, "a=0 b=50 c=0", "drain-stays-0"),
]


@pytest.mark.parametrize("health, adjustments, expected", [pytest.param(*c[:3], id=c[3]) for c in SETTLED_CASES])
def test_settled_weights(health: str, adjustments: dict, expected: str) -> None:
    settled = weights.settled_weights(frontend(), parse_health(health), adjustments)
    assert settled == {name: weight for name, (weight, _flush) in parse_weights(expected).items()}


# (elapsed, duration, fraction, seconds to the next step)
SLOW_START_CASES = [
    (0.0, 40.0, 0.2, 10.0),
    (9.99, 40.0, 0.2, 0.01),
    (10.0, 40.0, 0.4, 10.0),
    (25.0, 40.0, 0.6, 5.0),
    (39.0, 40.0, 0.8, 1.0),
    (40.0, 40.0, None, None),
    (100.0, 40.0, None, None),
    (-1.0, 40.0, 0.2, 11.0),  # clock stepped back: first step, not an error
    (5.0, 0.0, None, None),  # no slow start
]


@pytest.mark.parametrize("elapsed, duration, fraction, next_step", SLOW_START_CASES)
def test_slow_start_steps(elapsed, duration, fraction, next_step) -> None:
    assert weights.slow_start_fraction(elapsed, duration) == pytest.approx(fraction)
    got = weights.slow_start_next_step(elapsed, duration)
    assert got == (pytest.approx(next_step) if next_step is not None else None)


@pytest.mark.parametrize(
    "weight, ramp, expected", [(100, None, 100), (100, 0.2, 20), (3, 0.2, 1), (0, 0.2, 0), (7, 0.5, 4)]
)
def test_ramped(weight, ramp, expected) -> None:
    assert weights.ramped(weight, ramp) == expected


def spill_frontend(overprovisioning: Optional[float] = 1.4) -> schema.Frontend:
    """Five primaries and two fallbacks at weight 100, with graceful spill."""
    return schema.Frontend(
        name="www",
        key=model.VipKey("192.0.2.1/32", 6, 80),
        spec=model.VipSpec(),
        pools=(
            schema.Pool("primary", {n: 100 for n in "abcde"}),
            schema.Pool("fallback", {"x": 100, "y": 100}),
        ),
        spill=overprovisioning,
    )


ALL_UP = "a=up b=up c=up d=up e=up x=up y=up"


def health_with(changes: str) -> Dict[str, str]:
    view = parse_health(ALL_UP)
    view.update(parse_health(changes))
    return view


# Spill (Envoy's priority load): pool health = healthy fraction x overprovisioning, capped at 1.
# (health changes from all up, adjustments, overprovisioning, expected weights, loads primary/fallback)
SPILL_CASES = [
    ("", {}, 1.4, "a=100 b=100 c=100 d=100 e=100 x=0 y=0", (1.0, 0.0), "all-up-primary-takes-all"),
    ("a=down", {}, 1.4, "a=0! b=100 c=100 d=100 e=100 x=0 y=0", (1.0, 0.0), "overprovisioning-absorbs-one-loss"),
    # 3/5 healthy: 0.6 x 1.4 = 0.84 stays, 0.16 spills: 200 x f / (300 + 200 x f) = 0.16 -> f = 0.2857
    ("a=down b=down", {}, 1.4, "a=0! b=0! c=100 d=100 e=100 x=29 y=29", (0.84, 0.16), "two-lost-spill-16-percent"),
    # 1/5 healthy: 0.28 stays; the fallback would need 128.57 per AS, so all scale to fit 100
    ("a=down b=down c=down d=down", {}, 1.4, "a=0! b=0! c=0! d=0! e=78 x=100 y=100", (0.28, 0.72),
     "last-primary-keeps-28-percent"),
    ("a=down b=down c=down d=down e=down", {}, 1.4, "a=0! b=0! c=0! d=0! e=0! x=100 y=100", (0.0, 1.0),
     "all-primaries-lost-fallback-takes-all"),
    # healths 0.28 + 0.7 < 1: normalised to 0.2857 / 0.7143
    ("a=down b=down c=down d=down x=down", {}, 1.4, "a=0! b=0! c=0! d=0! e=40 x=0! y=100",
     (0.28 / 0.98, 0.7 / 0.98), "degraded-loads-normalised"),
    ("a=down", {}, 1.0, "a=0! b=100 c=100 d=100 e=100 x=50 y=50", (0.8, 0.2), "factor-1-spills-every-loss"),
    ("a=paused b=disabled", {}, 1.4, "a=0 b=0! c=100 d=100 e=100 x=29 y=29", (0.84, 0.16),
     "operator-states-count-as-lost"),
    # Fail-back with slow start is the same rule: ramping weights are a smaller healthy fraction.
    ("", {n: A(ramp=0.2) for n in "abcde"}, 1.4, "a=16 b=16 c=16 d=16 e=16 x=100 y=100", (0.28, 0.72),
     "failback-ramp-is-healthy-fraction"),
    ("a=down b=down", {"c": A(override=50)}, 1.4, "a=0! b=0! c=50 d=100 e=100 x=54 y=54", (0.7, 0.3),
     "override-lowers-healthy-fraction"),
    ("a=down b=down c=down d=down e=down x=down y=down", {}, 1.4,
     "a=0! b=0! c=0! d=0! e=0! x=0! y=0!", (0.0, 0.0), "nothing-up-nothing-loaded"),
]


@pytest.mark.parametrize(
    "changes, adjustments, factor, expected, loads", [pytest.param(*case[:5], id=case[5]) for case in SPILL_CASES]
)
def test_spill_weights(changes: str, adjustments: dict, factor: float, expected: str, loads: Tuple) -> None:
    fe = spill_frontend(factor)
    view = health_with(changes)
    got = weights.pool_loads(fe, view, adjustments)
    assert got == {"primary": pytest.approx(loads[0]), "fallback": pytest.approx(loads[1])}
    result = weights.effective_weights(fe, view, adjustments)
    assert {name: (w.weight, w.flush) for name, w in result.items()} == parse_weights(expected)
    # The weights give each pool its load (VPP's share of an AS is its weight over the total).
    total = sum(w.weight for w in result.values())
    if total:
        primary = sum(result[n].weight for n in "abcde") / total
        assert primary == pytest.approx(loads[0], abs=0.01)


# pool_shares: what every view shows per pool (healthy fraction, capped health, share, spilled on).
# (health changes, overprovisioning, primary (fraction, health, share, spilled), fallback (...))
POOL_SHARE_CASES = [
    ("", 1.4, (1.0, 1.0, 1.0, 0.0), (1.0, 1.0, 0.0, 0.0), "all-up-nothing-spills"),
    ("a=down", 1.4, (0.8, 1.0, 1.0, 0.0), (1.0, 1.0, 0.0, 0.0), "health-capped-at-100"),
    ("a=down b=down", 1.4, (0.6, 0.84, 0.84, 0.16), (1.0, 1.0, 0.16, 0.0), "16-percent-spills"),
    ("a=down b=down c=down d=down", 1.4, (0.2, 0.28, 0.28, 0.72), (1.0, 1.0, 0.72, 0.0), "72-percent-spills"),
    ("a=down b=down c=down d=down x=down", 1.4, (0.2, 0.28, 0.28 / 0.98, 0.7 / 0.98), (0.5, 0.7, 0.7 / 0.98, 0.0),
     "degraded-normalised"),
    ("a=down b=down c=down d=down e=down x=down y=down", 1.4, (0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0),
     "nothing-up"),
    ("a=down b=down", None, (0.6, None, 1.0, 0.0), (1.0, None, 0.0, 0.0), "spill-off-all-or-nothing"),
    ("a=down b=down c=down d=down e=down", None, (0.0, None, 0.0, 1.0), (1.0, None, 1.0, 0.0),
     "spill-off-failover-passes-everything-on"),
]


@pytest.mark.parametrize("changes, factor, primary, fallback",
                         [pytest.param(*case[:4], id=case[4]) for case in POOL_SHARE_CASES])
def test_pool_shares(changes: str, factor: Optional[float], primary: Tuple, fallback: Tuple) -> None:
    fe = spill_frontend(factor)
    got = weights.pool_shares(fe, health_with(changes))
    assert [share.pool for share in got] == ["primary", "fallback"]
    for share, (fraction, capped, load, spilled) in zip(got, (primary, fallback), strict=True):
        assert share.healthy_fraction == pytest.approx(fraction)
        assert share.health == (None if capped is None else pytest.approx(capped))
        assert (share.share, share.spilled) == (pytest.approx(load), pytest.approx(spilled))
    # pool_loads is the same computation, not a second one.
    assert weights.pool_loads(fe, health_with(changes)) == {share.pool: share.share for share in got}


def test_spill_off_is_all_or_nothing() -> None:
    """Without spill, the last primary takes everything (vpp-maglev's rule, today's default)."""
    view = health_with("a=down b=down c=down d=down")
    result = weights.effective_weights(spill_frontend(None), view)
    assert [result[n].weight for n in "exy"] == [100, 0, 0]
    assert weights.pool_loads(spill_frontend(None), view) == {"primary": 1.0, "fallback": 0.0}


@pytest.mark.parametrize(
    "members, health, adjustments, fraction",
    [
        ({"a": 100, "b": 50}, "a=up b=up", {}, 1.0),
        ({"a": 100, "b": 50}, "a=down b=up", {}, 50 / 150),
        ({"a": 100, "b": 50}, "a=up b=up", {"a": A(override=100), "b": A(override=100)}, 1.0),  # capped
        ({"a": 100, "b": 100}, "a=up b=up", {"a": A(ramp=0.4)}, 140 / 200),
        ({"a": 0}, "a=up", {}, 0.0),
    ],
)
def test_healthy_fraction(members, health, adjustments, fraction) -> None:
    assert weights.healthy_fraction(members, parse_health(health), adjustments) == pytest.approx(fraction)


# (spill on, each pool's share, shown): the one rule maglevctl and the status page both read
SHOWS_POOL_SHARES = [
    (True, [1.0, 0.0], True),  # spill on: always, even with one pool carrying all
    (True, [], True),
    (False, [1.0, 0.0], False),  # all or nothing: nothing to show
    (False, [1.0, None], False),  # a view without the numbers
    (False, [0.7, 0.3], True),  # a fail-back ramp: two pools carry flows
    (False, [0.0, 0.7, 0.3], True),
    (False, [None, None], False),
]


@pytest.mark.parametrize("spill, shares, shown", SHOWS_POOL_SHARES)
def test_shows_pool_shares(spill: bool, shares: list, shown: bool) -> None:
    assert weights.shows_pool_shares(spill, iter(shares)) is shown
