"""Route announcement decisions (agent/announce.py): what to announce, serialised, coalesced,
retried, re-announced after a VPP reconnect. Pure: the clock is passed in."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent.announce import (
    CHANGE,
    DOWN,
    NONE,
    RECONNECT,
    RETRY,
    START,
    UP,
    Announcer,
    announce_state,
)

# (frontend state, released, vpp connected, weighted in VPP, announced); VPP seen
STATE_CASES = [
    ("up", True, True, True, UP),
    ("up", True, False, True, DOWN),  # VPP gone: down whatever the plan says
    ("up", True, True, False, None),  # planned but not written yet: the Announcer withdraws if announced
    ("down", True, True, True, DOWN),  # no weighted backend in the plan
    ("down", True, True, False, DOWN),
    ("unknown", True, True, True, UP),  # no result yet: VPP keeps its weights and serves
    ("unknown", True, True, False, None),  # not judged, VPP does not serve it: nothing yet
    ("unknown", False, False, False, None),  # warm-up, VPP not answered yet
    ("unknown", False, True, True, UP),
    ("down", False, True, True, UP),  # warm-up holds: VPP's weights still serve
    ("down", False, True, False, None),
    ("up", False, False, True, None),
]


@pytest.mark.parametrize("state, released, connected, weighted, expected", STATE_CASES)
def test_announce_state_table(state, released, connected, weighted, expected):
    assert announce_state(state, released, connected, weighted) == expected


# The agent's first connect still under way (never connected, no attempt failed): VPP's state
# is unknown, so nothing is announced, however the frontend was judged.
@pytest.mark.parametrize("state, released", [("up", True), ("down", True), ("unknown", False), ("down", False)])
def test_nothing_is_announced_before_vpp_was_seen(state, released):
    assert announce_state(state, released, False, False, vpp_seen=False) is None
    assert announce_state(state, released, False, False, vpp_seen=True) == (DOWN if released and state != "unknown"
                                                                            else None)


def runs(announcer, now):
    return [(r.frontend, r.state, r.previous, r.reason, r.attempt) for r in announcer.due(now)]


def test_start_announces_each_frontend_once():
    a = Announcer()
    a.observe({"www": (UP, True), "dns": (DOWN, True), "held": (None, False)}, epoch=1.0)
    first = a.due(0.0)
    assert [(r.frontend, r.state, r.previous, r.reason) for r in first] == [
        ("dns", DOWN, NONE, START), ("www", UP, NONE, START)]
    for run in first:
        a.finished(run, True, 0.1)
    a.observe({"www": (UP, True), "dns": (DOWN, True), "held": (None, False)}, epoch=1.0)
    assert runs(a, 0.2) == []
    assert a.announced() == {"www": UP, "dns": DOWN, "held": None}


def test_serialised_and_coalesced_while_a_run_is_under_way():
    a = Announcer()
    a.observe({"www": (UP, True)}, epoch=1.0)
    [run] = a.due(0.0)
    for state in (DOWN, UP, DOWN):  # flaps while the hook runs
        a.observe({"www": (state, True)}, epoch=1.0)
        assert runs(a, 0.1) == []  # one run at a time per frontend
    a.finished(run, True, 0.2)
    assert runs(a, 0.2) == [("www", DOWN, UP, CHANGE, 1)]  # only the latest state


def test_a_flap_that_ends_where_it_started_runs_nothing():
    a = Announcer()
    a.observe({"www": (UP, True)}, epoch=1.0)
    [run] = a.due(0.0)
    a.observe({"www": (DOWN, True)}, epoch=1.0)
    a.observe({"www": (UP, True)}, epoch=1.0)
    a.finished(run, True, 0.5)
    assert runs(a, 0.5) == []


# (failures before, now offset after the last failure, runs) with retry 5s doubling up to 12s
RETRY_CASES = [
    (1, 4.9, []),
    (1, 5.0, [("www", UP, NONE, RETRY, 2)]),
    (2, 9.9, []),
    (2, 10.0, [("www", UP, NONE, RETRY, 3)]),
    (3, 11.9, []),
    (3, 12.0, [("www", UP, NONE, RETRY, 4)]),  # capped at retry_max_interval
]


@pytest.mark.parametrize("failures, offset, expected", RETRY_CASES)
def test_retry_backoff_table(failures, offset, expected):
    a = Announcer(retry_interval=5.0, retry_max_interval=12.0)
    a.observe({"www": (UP, True)}, epoch=1.0)
    now = 0.0
    for attempt in range(failures):
        [run] = a.due(now)
        assert run.attempt == attempt + 1
        a.finished(run, False, now)
        last = now
        now += 100.0
    assert runs(a, last + offset) == expected


def test_failed_state_no_longer_wanted_gives_way_at_once():
    a = Announcer(retry_interval=5.0)
    a.observe({"www": (UP, True)}, epoch=1.0)
    [run] = a.due(0.0)
    a.finished(run, False, 0.0)
    assert a.next_wake(1.0) == pytest.approx(4.0)
    a.observe({"www": (DOWN, False)}, epoch=None)
    assert runs(a, 1.0) == [("www", DOWN, NONE, START, 1)]


def test_reconnect_announces_once_even_unchanged():
    a = Announcer()
    a.observe({"www": (UP, True)}, epoch=1.0)
    [run] = a.due(0.0)
    a.finished(run, True, 0.0)
    a.observe({"www": (UP, True)}, epoch=1.0)
    assert runs(a, 1.0) == []
    a.observe({"www": (UP, True)}, epoch=2.0)  # a new connection between two publishes
    [again] = a.due(2.0)
    assert (again.state, again.previous, again.reason) == (UP, UP, RECONNECT)
    a.finished(again, True, 2.1)
    a.observe({"www": (UP, True)}, epoch=2.0)
    assert runs(a, 3.0) == []


def test_an_announced_frontend_that_cannot_be_judged_is_withdrawn():
    a = Announcer()
    a.observe({"www": (UP, True)}, epoch=1.0)
    [run] = a.due(0.0)
    a.finished(run, True, 0.0)
    a.observe({"www": (None, False)}, epoch=None)
    assert runs(a, 1.0) == [("www", DOWN, UP, CHANGE, 1)]


def test_frontend_that_leaves_is_forgotten_and_its_late_result_ignored():
    a = Announcer()
    a.observe({"www": (UP, True)}, epoch=1.0)
    [run] = a.due(0.0)
    a.observe({}, epoch=1.0)
    a.finished(run, True, 0.5)
    assert a.announced() == {}
    a.observe({"www": (UP, True)}, epoch=1.0)
    assert runs(a, 1.0) == [("www", UP, NONE, START, 1)]
