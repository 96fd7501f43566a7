"""scripts/soak_criteria.py: the soak's verdicts on recorded series (a leak, a late peak, a late
restore, a false down each fail; noise and a flat line pass)."""

from __future__ import annotations

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, "scripts"))
import soak_criteria  # noqa: E402
from soak_criteria import Flatness  # noqa: E402

DURATION = 1800.0
WARMUP = 300.0
RSS = Flatness(0.05, 2.0)


def run(value_at) -> list:
    return [(float(t), float(value_at(t))) for t in range(0, int(DURATION))]


@pytest.mark.parametrize("name, values, ok, trend_ok, peak_ok", [
    ("flat", run(lambda t: 50.0), True, True, True),
    ("noise around a level", run(lambda t: 50.0 + (t % 7) * 0.1), True, True, True),
    ("start-up growth inside the warm-up only", run(lambda t: 30.0 + min(t, 250) * 0.08), True, True, True),
    ("a leak of 1 MB a minute", run(lambda t: 50.0 + t / 60), False, False, False),
    ("a slow leak: 3 MB over the run", run(lambda t: 50.0 + 3 * t / DURATION), False, False, True),
    ("a late peak without a trend", run(lambda t: 80.0 if t == DURATION - 10 else 50.0), False, True, False),
])
def test_flatness(name, values, ok, trend_ok, peak_ok):
    verdict = soak_criteria.flatness(values, WARMUP, DURATION, RSS)
    assert (verdict["ok"], verdict["trend_ok"], verdict["peak_ok"]) == (ok, trend_ok, peak_ok), (name, verdict)


FDS = Flatness(0.10, 3.0, floor_of=5)


@pytest.mark.parametrize("name, values, ok", [
    ("a floor of 17 with late spikes of probe sockets", run(lambda t: 81 if t % 97 == 0 and t > 1500 else 17), True),
    ("a leak: one more descriptor a minute", run(lambda t: 17 + t // 60), False),
])
def test_fds_are_judged_on_their_floor(name, values, ok):
    assert soak_criteria.flatness(values, WARMUP, DURATION, FDS)["ok"] == ok, name


def test_too_few_samples_after_warm_up_fail_with_a_reason():
    verdict = soak_criteria.flatness([(0.0, 1.0), (400.0, 1.0)], WARMUP, DURATION, RSS)
    assert not verdict["ok"] and "too few" in verdict["reason"]


@pytest.mark.parametrize("points, expected", [
    ([(0, 1), (1, 3), (2, 5)], 2.0),
    ([(0, 5), (10, 5)], 0.0),
    ([(0, 2), (1, 0), (2, 2), (3, 0)], -0.4),
    ([(3, 7)], 0.0),
])
def test_slope(points, expected):
    assert soak_criteria.slope(points) == pytest.approx(expected)


@pytest.mark.parametrize("times, ok", [
    ([1.2, 3.0, 29.9], True),
    ([1.2, 30.5], False),
    ([1.2, None], False),  # never restored
    ([], True),
])
def test_restores_within_max_delay(times, ok):
    verdict = soak_criteria.restores([{"t": 10.0 * i, "restored_after": r} for i, r in enumerate(times)], 30.0)
    assert verdict["ok"] == ok
    assert verdict["count"] == len(times)


WINDOWS = {"b9": [(100.0, 140.0), (220.0, 260.0)]}  # b9 flaps: down 100-140 s and 220-260 s


@pytest.mark.parametrize("transitions, vpp_zero, ok", [
    ([{"t": 103.0, "backend": "b9", "to": "down"}, {"t": 143.0, "backend": "b9", "to": "up"},
      {"t": 1.0, "backend": "b1", "to": "up"}], [], True),
    ([{"t": 148.0, "backend": "b9", "to": "down"}], [], True),  # within the detection slack of a window's end
    ([{"t": 180.0, "backend": "b9", "to": "down"}], [], False),  # a flapper down between its windows
    ([{"t": 90.0, "backend": "b9", "to": "down"}], [], False),  # ... or before its first
    ([{"t": 120.0, "backend": "b1", "to": "down"}], [], False),  # not in the flapping schedule
    ([], [{"t": 12.0, "vip": "198.18.0.1/32", "address": "127.78.0.2"}], False),  # weight 0 in VPP
])
def test_false_downs(transitions, vpp_zero, ok):
    assert soak_criteria.false_downs(transitions, WINDOWS, vpp_zero)["ok"] == ok


def test_the_verdict_fails_when_any_criterion_fails():
    flat = {name: run(lambda t: 10.0) for name in soak_criteria.FLATNESS}
    args = (WARMUP, DURATION, [{"t": 90.0, "restored_after": 1.0}], 30.0, [], WINDOWS, [])
    assert soak_criteria.verdict(flat, *args)["passed"]
    assert not soak_criteria.verdict(flat, *args, reloads={"ok": False})["passed"]
    leaking = dict(flat, tasks=run(lambda t: 10.0 + t / 10))
    result = soak_criteria.verdict(leaking, *args)
    assert not result["passed"] and not result["criteria"]["tasks"]["ok"] and result["criteria"]["fds"]["ok"]
