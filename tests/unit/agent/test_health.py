"""Backend health state machine: rise/fall, operator actions, intervals, jitter, reload."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
from typing import List, Optional, Tuple

import pytest
from ansible_collections.maglev.vpp.agent import health
from ansible_collections.maglev.vpp.agent.health import (
    DISABLED,
    DOWN,
    PAUSED,
    REMOVED,
    UNKNOWN,
    UP,
    BackendHealth,
    HealthError,
    ResultRejected,
)
from ansible_collections.maglev.vpp.agent.probes.result import ProbeResult
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema, weights

INTERVAL, FAST, SLOW = 2.0, 0.5, 10.0
T0 = 1000.0


def check(rise: int = 2, fall: int = 3, **changes) -> schema.HealthCheck:
    base = schema.HealthCheck(
        name="web",
        type="tcp",
        port=80,
        interval=INTERVAL,
        fast_interval=FAST,
        down_interval=SLOW,
        timeout=1.0,
        rise=rise,
        fall=fall,
    )
    return dataclasses.replace(base, **changes)


def machine(rise: int = 2, fall: int = 3, history_size: int = health.DEFAULT_HISTORY) -> BackendHealth:
    return BackendHealth("b1", check(rise, fall), T0, history_size=history_size)


def feed(backend: BackendHealth, steps: str, start: float = T0) -> List[Tuple[str, int]]:
    """Apply 'P' (pass) / 'F' (fail) results at 1 s spacing; (state, counter) after each."""
    trace = []
    for i, step in enumerate(steps):
        ok = step == "P"
        backend.record(ok, "L4OK" if ok else "L4CON", f"step {i}", start + 1 + i, 0.01)
        view = backend.snapshot()
        trace.append((view.state, view.counter))
    return trace


def apply(backend: BackendHealth, script: str, start: float = T0) -> None:
    """Space-separated steps: P/F strings of results or operator action names."""
    now = start
    for word in script.split():
        now += 1
        if word in ("pause", "resume", "disable", "enable", "remove"):
            getattr(backend, word)(now)
        else:
            feed(backend, word, now)
            now += len(word)


# -- rise/fall counter --------------------------------------------------------------------

U, D = UP, DOWN

# (rise, fall, results, [(state, counter) after each result])
SEQUENCES = [
    # vpp-maglev's example rise=2 fall=3: max 4, counters 0,1 down, 2,3,4 up, start at 1.
    (2, 3, "P", [(U, 4)]),
    (2, 3, "F", [(D, 0)]),
    (2, 3, "PPPP", [(U, 4)] * 4),  # capped at max
    (2, 3, "FFFF", [(D, 0)] * 4),  # floored at 0
    (2, 3, "PF", [(U, 4), (U, 3)]),
    (2, 3, "PFF", [(U, 4), (U, 3), (U, 2)]),
    (2, 3, "PFFF", [(U, 4), (U, 3), (U, 2), (D, 0)]),  # fall=3 failures take it down
    (2, 3, "PFFP", [(U, 4), (U, 3), (U, 2), (U, 4)]),  # a pass resets the fall run
    (2, 3, "FP", [(D, 0), (D, 1)]),
    (2, 3, "FPP", [(D, 0), (D, 1), (U, 4)]),  # rise=2 passes bring it up
    (2, 3, "FPF", [(D, 0), (D, 1), (D, 0)]),  # a failure resets the rise run
    # hysteresis: alternating results never flip the state, up or down
    (2, 3, "PFPFPF", [(U, 4), (U, 3)] * 3),
    (2, 3, "FPFPFP", [(D, 0), (D, 1)] * 3),
    (2, 3, "PFFFPFP", [(U, 4), (U, 3), (U, 2), (D, 0), (D, 1), (D, 0), (D, 1)]),
    # rise=1 fall=1: max 1, every result decides
    (1, 1, "P", [(U, 1)]),
    (1, 1, "F", [(D, 0)]),
    (1, 1, "PFPF", [(U, 1), (D, 0), (U, 1), (D, 0)]),
    (1, 1, "PPFF", [(U, 1), (U, 1), (D, 0), (D, 0)]),
    # rise=1 fall=3: one pass brings it up, three failures take it down
    (1, 3, "F", [(D, 0)]),
    (1, 3, "FP", [(D, 0), (U, 3)]),
    (1, 3, "PFFF", [(U, 3), (U, 2), (U, 1), (D, 0)]),
    (1, 3, "PFFPF", [(U, 3), (U, 2), (U, 1), (U, 3), (U, 2)]),
    # rise=3 fall=1: one failure takes it down, three passes bring it up
    (3, 1, "P", [(U, 3)]),
    (3, 1, "PF", [(U, 3), (D, 0)]),
    (3, 1, "PFPPP", [(U, 3), (D, 0), (D, 1), (D, 2), (U, 3)]),
    (3, 1, "PFPPFPPP", [(U, 3), (D, 0), (D, 1), (D, 2), (D, 0), (D, 1), (D, 2), (U, 3)]),
]


@pytest.mark.parametrize("rise, fall, results, expected", SEQUENCES)
def test_rise_fall_sequences(rise: int, fall: int, results: str, expected: List[Tuple[str, int]]) -> None:
    assert feed(machine(rise, fall), results) == expected


@pytest.mark.parametrize("rise, fall", [(1, 1), (1, 3), (2, 3), (3, 1), (3, 2), (4, 4)])
def test_counter_invariants_over_every_short_sequence(rise: int, fall: int) -> None:
    """Exhaustive up to 7 results: counter in range, up iff counter >= rise, and every flip
    after the first result needs a full run (rise passes to come up, fall failures to go down)."""
    top = rise + fall - 1
    for length in range(1, 8):
        for steps in itertools.product("PF", repeat=length):
            results = "".join(steps)
            trace = feed(machine(rise, fall), results)
            for i, (state, counter) in enumerate(trace):
                assert 0 <= counter <= top, results
                assert (state == UP) == (counter >= rise), results
                if i == 0:
                    assert state == (UP if results[0] == "P" else DOWN), results  # expedited
                    continue
                before = trace[i - 1][0]
                if before == DOWN and state == UP:
                    assert results[i - rise + 1 : i + 1] == "P" * rise and i - rise + 1 >= 1, results
                if before == UP and state == DOWN:
                    assert results[i - fall + 1 : i + 1] == "F" * fall and i - fall + 1 >= 1, results


def test_transitions_only_on_state_change_and_carry_the_probe_result() -> None:
    backend = machine(2, 3)
    first = backend.record(True, "L7OK", "200 OK", T0 + 1, 0.02)
    assert first == health.Transition(UNKNOWN, UP, T0 + 1, "L7OK", "200 OK")
    assert backend.record(False, "L7STS", "503", T0 + 2, 0.03) is None
    assert backend.record(False, "L4TOUT", "timeout", T0 + 3, 1.0) is None
    last = backend.record(False, "L4CON", "connection refused", T0 + 4, 0.001)
    assert last == health.Transition(UP, DOWN, T0 + 4, "L4CON", "connection refused")
    view = backend.snapshot()
    assert view.history == (first, last)
    assert view.since == T0 + 4
    assert view.last_result == ProbeResult(False, "L4CON", "connection refused", 0.001, at=T0 + 4)


def test_since_and_last_result_without_transition() -> None:
    backend = machine(2, 3)
    assert backend.snapshot().since == T0  # creation
    assert backend.snapshot().last_result is None
    backend.record(True, "L4OK", "", T0 + 1, 0.01)
    assert backend.record(True, "L4OK", "again", T0 + 7, 0.5) is None
    view = backend.snapshot()
    assert view.since == T0 + 1  # only transitions move it
    assert view.last_result == ProbeResult(True, "L4OK", "again", 0.5, at=T0 + 7)


# -- expedited unknown ------------------------------------------------------------------

# (how the backend (re-)entered unknown, after a history that would otherwise matter)
ENTRIES = [
    ("new", ""),
    ("resumed from down", "F pause resume"),
    ("resumed from up", "P pause resume"),
    ("enabled from down", "F disable enable"),
    ("enabled from up", "P disable enable"),
    ("enabled from paused", "F pause disable enable"),
]


@pytest.mark.parametrize("rise, fall", [(1, 1), (2, 3), (3, 1), (5, 5)])
@pytest.mark.parametrize("label, script", ENTRIES)
@pytest.mark.parametrize("result, expected", [("P", UP), ("F", DOWN)])
def test_expedited_unknown(rise: int, fall: int, label: str, script: str, result: str, expected: str) -> None:
    backend = machine(rise, fall)
    apply(backend, script)
    view = backend.snapshot()
    assert (view.state, view.counter) == (UNKNOWN, rise - 1), label
    assert feed(backend, result, T0 + 100)[0][0] == expected, label


# -- operator actions -------------------------------------------------------------------

SETUPS = {
    UNKNOWN: "",
    UP: "P",
    DOWN: "F",
    PAUSED: "P pause",
    DISABLED: "P disable",
    REMOVED: "P remove",
}

# (from state, action, resulting state or "!" + error text)
ACTIONS = [
    (UNKNOWN, "pause", PAUSED),
    (UNKNOWN, "resume", None),
    (UNKNOWN, "disable", DISABLED),
    (UNKNOWN, "enable", None),
    (UNKNOWN, "remove", REMOVED),
    (UP, "pause", PAUSED),
    (UP, "resume", None),
    (UP, "disable", DISABLED),
    (UP, "enable", None),
    (UP, "remove", REMOVED),
    (DOWN, "pause", PAUSED),
    (DOWN, "resume", None),
    (DOWN, "disable", DISABLED),
    (DOWN, "enable", None),
    (DOWN, "remove", REMOVED),
    (PAUSED, "pause", None),
    (PAUSED, "resume", UNKNOWN),
    (PAUSED, "disable", DISABLED),
    (PAUSED, "enable", None),
    (PAUSED, "remove", REMOVED),
    (DISABLED, "pause", "!cannot pause: it is disabled (enable it first)"),
    (DISABLED, "resume", "!cannot resume: it is disabled (enable it first)"),
    (DISABLED, "disable", None),
    (DISABLED, "enable", UNKNOWN),
    (DISABLED, "remove", REMOVED),
    (REMOVED, "pause", "!cannot pause: it is removed"),
    (REMOVED, "resume", "!cannot resume: it is removed"),
    (REMOVED, "disable", "!cannot disable: it is removed"),
    (REMOVED, "enable", "!cannot enable: it is removed"),
    (REMOVED, "remove", "!cannot remove: it is removed"),
]

ACTION_CODES = {"pause": "paused", "resume": "resumed", "disable": "disabled", "enable": "enabled", "remove": "removed"}


def test_action_table_covers_every_state_and_action() -> None:
    assert {(entry[0], entry[1]) for entry in ACTIONS} == set(itertools.product(SETUPS, ACTION_CODES))


@pytest.mark.parametrize("start, action, outcome", ACTIONS)
def test_operator_actions(start: str, action: str, outcome: str) -> None:
    backend = machine(2, 3)
    apply(backend, SETUPS[start])
    before = backend.snapshot()
    assert before.state == start
    if outcome is None:  # repeated or moot action: idempotent, nothing changes
        assert getattr(backend, action)(T0 + 50) is None
        assert backend.snapshot() == before
        return
    if outcome.startswith("!"):
        with pytest.raises(HealthError, match="^" + re.escape(f"backend b1: {outcome[1:]}") + "$"):
            getattr(backend, action)(T0 + 50)
        assert backend.snapshot() == before  # a refused action changes nothing
        return
    transition = getattr(backend, action)(T0 + 50, detail="by test")
    assert transition == health.Transition(start, outcome, T0 + 50, ACTION_CODES[action], "by test")
    view = backend.snapshot()
    assert view.state == outcome
    assert view.since == T0 + 50
    assert view.history[-1] == transition
    assert backend.probing == (outcome in (UNKNOWN, UP, DOWN))
    if outcome != REMOVED:
        assert outcome in weights.BACKEND_STATES  # what weights can consume


@pytest.mark.parametrize("setup", ["P pause", "F pause", "P disable", "F pause disable", "P remove"])
@pytest.mark.parametrize("ok", [True, False])
def test_results_rejected_while_not_probing(setup: str, ok: bool) -> None:
    backend = machine(2, 3)
    apply(backend, setup)
    before = backend.snapshot()
    with pytest.raises(ResultRejected, match=f"^backend b1: probe result X ignored: it is {before.state}$"):
        backend.record(ok, "X", "late", T0 + 60, 0.1)
    with pytest.raises(ResultRejected):
        backend.record(ok, "X", "late", T0 + 61, 0.1)
    after = backend.snapshot()
    assert after == dataclasses.replace(before, rejected=2)  # only the rejection count moved


# -- history ----------------------------------------------------------------------------


def test_history_keeps_the_last_n_newest_last() -> None:
    backend = machine(1, 1, history_size=3)
    made = []
    for i, ok in enumerate([True, False, True, False, True]):
        made.append(backend.record(ok, f"c{i}", "", T0 + i, 0.0))
    assert all(t is not None for t in made)
    history = backend.snapshot().history
    assert history == tuple(made[-3:])
    assert [t.code for t in history] == ["c2", "c3", "c4"]
    assert [t.at for t in history] == [T0 + 2, T0 + 3, T0 + 4]


def test_history_default_size_and_mixed_causes() -> None:
    backend = machine(1, 1)
    apply(backend, "P F pause resume P disable enable F")
    history = backend.snapshot().history
    assert len(history) == health.DEFAULT_HISTORY == 5
    assert [(t.from_state, t.to_state, t.code) for t in history] == [
        (PAUSED, UNKNOWN, "resumed"),
        (UNKNOWN, UP, "L4OK"),
        (UP, DISABLED, "disabled"),
        (DISABLED, UNKNOWN, "enabled"),
        (UNKNOWN, DOWN, "L4CON"),
    ]


def test_snapshot_is_immutable_and_detached() -> None:
    backend = machine(2, 3)
    view = backend.snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.state = UP  # type: ignore[misc]
    backend.record(True, "L4OK", "", T0 + 1, 0.0)
    assert (view.state, view.history) == (UNKNOWN, ())
    assert backend.snapshot().state == UP


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"history_size": 0}, "history_size must be at least 1"),
        ({"check": check(rise=0)}, "rise and fall must be at least 1"),
        ({"check": check(fall=0)}, "rise and fall must be at least 1"),
    ],
)
def test_invalid_construction(kwargs: dict, message: str) -> None:
    args = {"name": "b1", "check": check(), "now": T0, **kwargs}
    with pytest.raises(ValueError, match=message):
        BackendHealth(**args)


# -- intervals --------------------------------------------------------------------------

# (rise, fall, script, base delay)
DELAYS = [
    (2, 3, "", FAST),  # unknown
    (2, 3, "P", INTERVAL),  # up, counter at max
    (2, 3, "PF", FAST),  # up, failures seen
    (2, 3, "PFF", FAST),
    (2, 3, "PFP", INTERVAL),  # failures cleared
    (2, 3, "F", SLOW),  # down, counter 0
    (2, 3, "PFFF", SLOW),
    (2, 3, "FP", FAST),  # down, passes seen
    (2, 3, "FPF", SLOW),
    (2, 3, "FPP", INTERVAL),
    (2, 3, "P pause resume", FAST),  # unknown again
    (2, 3, "F disable enable", FAST),
    (1, 1, "", FAST),
    (1, 1, "P", INTERVAL),  # fall=1: up is always at max
    (1, 1, "F", SLOW),  # rise=1: down is always at 0
    (1, 3, "F", SLOW),
    (1, 3, "PF", FAST),
    (1, 3, "PFF", FAST),
    (3, 1, "PF", SLOW),
    (3, 1, "FP", FAST),
    (3, 1, "FPP", FAST),
    (3, 1, "FPPP", INTERVAL),
]


@pytest.mark.parametrize("rise, fall, script, expected", DELAYS)
def test_base_delay(rise: int, fall: int, script: str, expected: float) -> None:
    backend = machine(rise, fall)
    apply(backend, script)
    assert backend.base_delay() == expected


@pytest.mark.parametrize("script", ["P pause", "P disable", "P remove"])
def test_no_delay_when_not_probing(script: str) -> None:
    backend = machine()
    apply(backend, script)
    assert not backend.probing
    with pytest.raises(HealthError, match="not probing"):
        backend.base_delay()
    with pytest.raises(HealthError, match="not probing"):
        backend.next_delay(random.Random(1))


@pytest.mark.parametrize("script, base", [("", FAST), ("P", INTERVAL), ("F", SLOW)])
def test_jitter_stays_within_ten_percent_and_spreads(script: str, base: float) -> None:
    backend = machine()
    apply(backend, script)
    rng = random.Random(20261201)
    delays = [backend.next_delay(rng) for _round in range(2000)]
    assert all(0.9 * base <= d < 1.1 * base for d in delays)
    assert min(delays) < 0.91 * base and max(delays) > 1.09 * base  # really spread over the band
    assert len(set(delays)) > 1900


class FixedUnit:
    """A RandomSource that always answers the same unit value."""

    def __init__(self, unit: float) -> None:
        self.unit = unit

    def random(self) -> float:
        return self.unit


@pytest.mark.parametrize("unit, factor", [(0.0, 0.9), (0.25, 0.95), (0.5, 1.0), (0.75, 1.05)])
def test_jitter_maps_the_unit_linearly(unit: float, factor: float) -> None:
    backend = machine()
    apply(backend, "P")
    assert backend.next_delay(FixedUnit(unit)) == pytest.approx(INTERVAL * factor)
    assert health.jittered(10.0, unit) == pytest.approx(10.0 * factor)


@pytest.mark.parametrize("unit", [1.0, -0.01, 1.5])
def test_jitter_unit_outside_range(unit: float) -> None:
    with pytest.raises(ValueError, match="not in"):
        health.jittered(1.0, unit)


# -- no healthcheck ---------------------------------------------------------------------


def test_backend_without_healthcheck_is_up_and_never_probes() -> None:
    backend = BackendHealth("static", None, T0)
    view = backend.snapshot()
    assert (view.state, view.counter, view.rise, view.fall) == (UP, 0, 0, 0)
    assert not backend.probing
    with pytest.raises(ResultRejected, match="it has no healthcheck"):
        backend.record(True, "L4OK", "", T0 + 1, 0.0)
    with pytest.raises(HealthError, match="no healthcheck"):
        backend.base_delay()
    assert backend.pause(T0 + 2).to_state == PAUSED
    assert backend.resume(T0 + 3) == health.Transition(PAUSED, UP, T0 + 3, "resumed")
    assert backend.disable(T0 + 4).to_state == DISABLED
    assert backend.enable(T0 + 5) == health.Transition(DISABLED, UP, T0 + 5, "enabled")
    assert backend.snapshot().rejected == 1


# -- reload -----------------------------------------------------------------------------


def test_reconfigure_same_check_keeps_everything() -> None:
    backend = machine()
    apply(backend, "PF")
    before = backend.snapshot()
    assert backend.reconfigure(check(), T0 + 50) == health.Reconfigured(health.UNCHANGED)
    assert backend.snapshot() == before


# (rise, fall, script, changes to the check, state, counter, base delay after)
RETUNES = [
    (2, 3, "P", {"interval": 3.0}, UP, 4, 3.0),
    (2, 3, "F", {"down_interval": 30.0}, DOWN, 0, 30.0),
    (2, 3, "PF", {"fast_interval": 0.2, "timeout": 0.1}, UP, 3, 0.2),
    (2, 3, "P", {"name": "web-renamed"}, UP, 4, INTERVAL),
    (2, 3, "P", {"rise": 3, "fall": 4}, UP, 6, INTERVAL),  # still fully up
    (2, 3, "PF", {"rise": 3, "fall": 4}, UP, 5, FAST),  # still one failure seen
    (2, 3, "PFF", {"rise": 2, "fall": 1}, UP, 2, INTERVAL),  # clamped to barely up (= max)
    (2, 3, "PFF", {"rise": 1, "fall": 2}, UP, 1, FAST),  # one more failure takes it down
    (2, 3, "FP", {"rise": 3, "fall": 2}, DOWN, 1, FAST),  # passes seen are kept
    (3, 2, "FPP", {"rise": 2, "fall": 2}, DOWN, 1, FAST),  # capped below the new rise
    (2, 3, "FP", {"rise": 1}, DOWN, 0, SLOW),
    (2, 3, "", {"rise": 4}, UNKNOWN, 3, FAST),  # preset for the new rise
]


@pytest.mark.parametrize("rise, fall, script, changes, state, counter, delay", RETUNES)
def test_reconfigure_retunes_without_losing_state(
    rise: int, fall: int, script: str, changes: dict, state: str, counter: int, delay: float
) -> None:
    backend = machine(rise, fall)
    apply(backend, script)
    before = backend.snapshot()
    outcome = backend.reconfigure(dataclasses.replace(check(rise, fall), **changes), T0 + 50)
    assert outcome == health.Reconfigured(health.RETUNED)
    view = backend.snapshot()
    assert (view.state, view.counter) == (state, counter)
    assert (view.history, view.since, view.last_result) == (before.history, before.since, before.last_result)
    assert backend.base_delay() == delay


def test_retune_while_paused_keeps_pause_and_resume_uses_new_rise() -> None:
    backend = machine(2, 3)
    apply(backend, "P pause")
    assert backend.reconfigure(check(rise=1, fall=1), T0 + 50).kind == health.RETUNED
    view = backend.snapshot()
    assert (view.state, view.counter) == (PAUSED, 1)  # kept in the new range [0, 1]
    backend.resume(T0 + 51)
    assert backend.snapshot().counter == 0


# (script, new check (None: no check), state after, transition (from, to) or None, counter after)
# A changed probe keeps the state (and so the weight): the new probe's first result decides.
RESETS: List[Tuple[str, Optional[schema.HealthCheck], str, Optional[Tuple[str, str]], int]] = [
    ("P", check(port=8080), UP, None, 2),
    ("F", check(type="http", port=80, path="/healthz"), DOWN, None, 1),
    ("PF", check(source_address="192.0.2.9", rise=3), UP, None, 3),
    ("", check(port=81), UNKNOWN, None, 1),
    ("P pause", check(port=81), PAUSED, None, 1),  # operator intent outlives the reload
    ("F disable", check(port=81), DISABLED, None, 1),
    ("F", None, UP, (DOWN, UP), 0),  # check removed: always up
    ("P", None, UP, None, 0),
    ("P pause", None, PAUSED, None, 0),
]


@pytest.mark.parametrize("script, new_check, state, moved, counter", RESETS)
def test_reconfigure_new_probe_keeps_the_state_until_its_first_result(
    script: str, new_check: Optional[schema.HealthCheck], state: str, moved: Optional[Tuple[str, str]], counter: int
) -> None:
    backend = machine(2, 3)
    apply(backend, script)
    before = backend.snapshot()
    outcome = backend.reconfigure(new_check, T0 + 50)
    assert outcome.kind == health.RESET
    view = backend.snapshot()
    assert view.state == state
    assert view.last_result is None  # evidence of the old probe is gone
    assert view.counter == counter
    if moved is None:
        assert outcome.transition is None
        assert (view.history, view.since) == (before.history, before.since)
    else:
        expected = health.Transition(moved[0], moved[1], T0 + 50, "reloaded", "healthcheck removed")
        assert outcome.transition == expected
        assert view.history == before.history + (expected,)
        assert view.since == T0 + 50
    assert backend.check == new_check


@pytest.mark.parametrize("script, result, expected", [
    ("P", "P", UP), ("P", "F", DOWN), ("F", "P", UP), ("F", "F", DOWN), ("", "P", UP), ("", "F", DOWN),
])
def test_after_a_changed_probe_its_first_result_decides(script: str, result: str, expected: str) -> None:
    backend = machine(2, 3)
    apply(backend, script)
    backend.reconfigure(check(port=8080), T0 + 50)
    feed(backend, result, T0 + 51)
    assert backend.state == expected


def test_reconfigure_adds_a_check_to_an_unchecked_backend() -> None:
    backend = BackendHealth("static", None, T0)
    outcome = backend.reconfigure(check(rise=3), T0 + 5)
    # It was up (no check: always up) and stays up until the new probe's first result.
    assert outcome == health.Reconfigured(health.RESET, None)
    assert (backend.state, backend.snapshot().counter, backend.probing) == (UP, 3, True)
    assert feed(backend, "P", T0 + 6) == [(UP, 5)]


def test_reconfigure_refusals() -> None:
    backend = machine()
    with pytest.raises(ValueError, match="rise and fall must be at least 1"):
        backend.reconfigure(check(fall=0), T0 + 1)
    assert backend.check == check()
    backend.remove(T0 + 2)
    with pytest.raises(HealthError, match="cannot reconfigure: it is removed"):
        backend.reconfigure(check(port=81), T0 + 3)
