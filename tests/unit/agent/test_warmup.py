"""Warm-up (agent/warmup.py): which frontends may be written, by time and readiness. Pure."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent.warmup import DONE, HOLDING, RELEASING, Warmup

T0 = 500.0


# (min, max, now offset, ready frontends, released after the step, status, overdue)
CASES = [
    (5, 30, 1, {"a", "b"}, [], HOLDING, []),
    (5, 30, 5, {"a"}, ["a"], RELEASING, []),
    (5, 30, 5, {"a", "b"}, ["a", "b"], DONE, []),
    (5, 30, 31, {"a"}, ["a"], RELEASING, ["b"]),
    (5, 30, 31, set(), [], RELEASING, ["a", "b"]),
    (0, 0, 0, {"b"}, ["b"], RELEASING, ["a"]),  # timing off: ready frontends go at once
]


@pytest.mark.parametrize("low, high, offset, ready, released, status, overdue", CASES)
def test_warmup_table(low, high, offset, ready, released, status, overdue):
    w = Warmup(T0, low, high)
    assert w.step(T0 + offset, ["a", "b"], lambda name: name in ready) == released
    assert sorted(w.released) == released
    assert w.status(T0 + offset) == status
    assert w.overdue(T0 + offset) == overdue


def test_released_stays_released_and_leaving_the_config_forgets():
    w = Warmup(T0, 1, 2)
    w.step(T0 + 1, ["a", "b"], lambda name: True)
    assert w.step(T0 + 3, ["a", "b", "c"], lambda name: False) == []  # a new frontend waits
    assert w.held() == ["c"] and w.is_released("a")
    w.step(T0 + 4, ["b", "c"], lambda name: name == "c")
    assert sorted(w.released) == ["b", "c"] and w.status(T0 + 4) == DONE


@pytest.mark.parametrize("offset, edge", [(0, 1.0), (0.5, 0.5), (1.5, 0.5), (2.5, None)])
def test_next_edge(offset, edge):
    assert Warmup(T0, 1, 2).next_edge(T0 + offset) == edge


def test_retune_counts_from_the_start():
    w = Warmup(T0, 10, 20)
    assert w.step(T0 + 3, ["a"], lambda name: True) == []
    w.retune(2, 20)
    assert w.step(T0 + 3, ["a"], lambda name: True) == ["a"]
