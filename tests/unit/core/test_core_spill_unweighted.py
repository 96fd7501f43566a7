"""Spill on LB API 1.1.0 (no AS weights): what the core says a spilled frontend's new flows do
there (compose.spill_without_weights, the lb module's and the agent's warning)."""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import compose, desired, schema

PRIMARIES = {f"p{i}": f"198.51.100.{i + 1}" for i in range(10)}
SECONDARIES = {"s0": "198.51.100.101", "s1": "198.51.100.102"}


def config(spill: Optional[dict], weights: Optional[Dict[str, int]] = None) -> schema.LbConfig:
    weights = weights or {}
    frontend = {
        "prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80,
        "pools": [{"name": "primary", "backends": {n: {"weight": weights.get(n, 100)} for n in PRIMARIES}},
                  {"name": "secondary", "backends": {n: {"weight": weights.get(n, 100)} for n in SECONDARIES}}],
    }
    if spill is not None:
        frontend["spill"] = spill
    return schema.parse_config({
        "backends": {n: {"address": a} for n, a in {**PRIMARIES, **SECONDARIES}.items()},
        "frontends": {"www": frontend},
    })


def health(primaries_up: int, secondaries_up: int = 2) -> Dict[str, str]:
    states = {n: ("up" if i < primaries_up else "down") for i, n in enumerate(PRIMARIES)}
    states.update({n: ("up" if i < secondaries_up else "down") for i, n in enumerate(SECONDARIES)})
    return states


# (case, spill, primaries up, secondaries up, expected warning fragments or None for no warning)
CASES = [
    ("three-of-ten-spills", {"overprovisioning": 1.4}, 3, 2,
     ["frontend www (VIP 192.0.2.1/32 tcp/80) spills between pools",
      "new flows split primary 60% / secondary 40% (3 and 2 ASes)",
      "instead of the planned primary 42% / secondary 58%",
      "the proportions need LB API 1.2.0"]),
    # healths 0.14 + 0.7 < 1: the planned shares are normalised
    ("one-of-ten-one-secondary", {"overprovisioning": 1.4}, 1, 1,
     ["new flows split primary 50% / secondary 50% (1 and 1 ASes)", "planned primary 17% / secondary 83%"]),
    ("nothing-spills-no-warning", {"overprovisioning": 1.4}, 8, 2, None),  # 0.8 x 1.4 caps at 100 %
    ("all-primaries-down-no-warning", {"overprovisioning": 1.4}, 0, 2, None),  # one pool: 1.1.0 does that
    ("spill-off-no-warning", None, 3, 2, None),  # all or nothing: 1.1.0 expresses it
]


@pytest.mark.parametrize("spill, primaries_up, secondaries_up, expected",
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_spill_without_weights(spill, primaries_up, secondaries_up, expected):
    lb = config(spill)
    want = desired.desired_state(lb, health(primaries_up, secondaries_up))
    warnings = compose.spill_without_weights(lb, want.vips.values())
    if expected is None:
        assert warnings == {}
    else:
        assert list(warnings) == ["www"]
        for fragment in expected:
            assert fragment in warnings["www"], warnings["www"]


def test_unweighted_pool_shares_count_present_ases_and_weigh_the_planned_ones():
    lb = config({"overprovisioning": 1.4})
    vips = list(desired.desired_state(lb, health(3)).vips.values())
    assert len(vips) == 1
    vip = vips[0]
    shares = compose.unweighted_pool_shares(lb, vip)
    assert shares["primary"]["ases"] == 3 and shares["secondary"]["ases"] == 2
    assert shares["primary"]["unweighted"] == pytest.approx(0.6)
    # The pushed weights (48 x 3 next to 100 x 2) give 1.2.0 the planned 42 %, rounded.
    assert shares["primary"]["weighted"] == pytest.approx(144 / 344)
    assert compose.unweighted_pool_shares(lb, dataclasses.replace(vip, name=None)) == {}  # no frontend
    assert compose.unweighted_pool_shares(lb, dataclasses.replace(vip, ases={})) == {
        "primary": {"weighted": 0.0, "unweighted": 0.0, "ases": 0.0},
        "secondary": {"weighted": 0.0, "unweighted": 0.0, "ases": 0.0}}
