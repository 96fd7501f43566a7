"""The page's rate history: bounded samples per VIP, rates between neighbours, gaps as None."""

from __future__ import annotations

import math

import pytest
from ansible_collections.maglev.vpp.agent.rates import MAX_POINTS, RateHistory, points_for, rates_between
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import VipKey

WWW = VipKey("192.0.2.1/32", 6, 80)
DNS = VipKey("192.0.2.2/32", 17, 53)
NAN = math.nan


@pytest.mark.parametrize("interval, expected", [(5.0, 121), (60.0, 11), (0.2, MAX_POINTS), (1000.0, 2)])
def test_points_cover_the_window_within_the_cap(interval, expected):
    assert points_for(interval) == expected


# (times, values, rates per second)
RATE_CASES = [
    ([0, 2, 4], [0, 10, 30], [5.0, 10.0], "steady"),
    ([0, 2, 4], [NAN, 10, 30], [None, 10.0], "gap-before"),
    ([0, 2, 4], [0, NAN, 30], [None, None], "gap-between"),
    ([0, 0, 4], [0, 10, 30], [None, 5.0], "time-did-not-advance"),
    ([0, 2], [10, 5], [None], "counter-went-down"),
    ([0], [3], [], "one-sample-no-rate"),
]


@pytest.mark.parametrize("times, values, expected", [pytest.param(*c[:3], id=c[3]) for c in RATE_CASES])
def test_rates_between(times, values, expected):
    assert rates_between(times, values) == expected


def totals(vip, next_, first, no_server):
    return {(vip, "next"): next_, (vip, "first"): first, (vip, "no-server"): no_server}


def test_history_is_bounded_and_aligned_per_vip():
    history = RateHistory(points=3)
    history.record(10.0, totals(WWW, 0, 0, 0), frozenset({WWW}))
    history.record(12.0, totals(WWW, 20, 4, 0), frozenset({WWW, DNS}))  # DNS configured, not in VPP yet
    history.record(12.0, totals(WWW, 99, 99, 99), frozenset({WWW}))  # not later: ignored
    history.record(14.0, {**totals(WWW, 40, 4, 2), **totals(DNS, 7, 7, 0)}, frozenset({WWW, DNS}))
    history.record(16.0, {**totals(WWW, 40, 8, 2), **totals(DNS, 9, 7, 0)}, frozenset({WWW, DNS}))
    view = history.view()
    assert view["times"] == [14.0, 16.0] and view["points"] == 2  # the oldest sample fell out
    assert view["vips"][str(WWW)] == {"next": [10.0, 0.0], "first": [0.0, 2.0], "no-server": [1.0, 0.0]}
    assert view["vips"][str(DNS)] == {"next": [None, 1.0], "first": [None, 0.0], "no-server": [None, 0.0]}
    assert history.latest() == {"at": 16.0, "vips": {str(WWW): [0.0, 2.0, 0.0], str(DNS): [1.0, 0.0, 0.0]}}


def test_a_vip_left_out_of_the_config_is_forgotten():
    history = RateHistory(points=4)
    history.record(1.0, {**totals(WWW, 0, 0, 0), **totals(DNS, 0, 0, 0)}, frozenset({WWW, DNS}))
    history.record(2.0, totals(WWW, 5, 5, 0), frozenset({WWW}))
    assert set(history.view()["vips"]) == {str(WWW)}
    assert history.series(DNS) is None


def test_latest_needs_two_samples_and_too_few_points_is_refused():
    history = RateHistory(points=2)
    assert history.latest() is None
    history.record(1.0, totals(WWW, 0, 0, 0), frozenset({WWW}))
    assert history.latest() is None
    with pytest.raises(ValueError):
        RateHistory(points=1)
