"""Frontends the agent has not released (warm-up) keep VPP's live weights in a push."""

from __future__ import annotations

from typing import Dict

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, model, schema

CONFIG = schema.parse_config({
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {
        "b1": {"address": "198.51.100.1", "healthcheck": "h"},
        "b2": {"address": "198.51.100.2", "healthcheck": "h"},
        "s1": {"address": "198.51.100.3", "healthcheck": "h"},
        "new": {"address": "198.51.100.4", "healthcheck": "h"},
    },
    "frontends": {
        "www": {"prefix": "192.0.2.1/32", "flush_on_down": True,
                "pools": [{"name": "p", "backends": {"b1": {}, "b2": {}, "new": {}}},
                          {"name": "s", "backends": {"s1": {}}}]},
        "api": {"prefix": "192.0.2.2/32", "pools": [{"name": "p", "backends": {"b1": {}, "b2": {}}}]},
    },
})
WWW, API = (CONFIG.frontends[name].key for name in ("www", "api"))
# The issue-15 state: the agent is warming up, the primaries have no result yet, the standby is up.
HEALTH = {"b1": "unknown", "b2": "unknown", "s1": "up", "new": "unknown"}


def live(**vips: Dict[str, int]) -> model.LbState:
    keys = {"www": WWW, "api": API}
    return model.LbState(vips={
        keys[name]: model.VipState(key=keys[name], ases={a: model.AsState(a, w) for a, w in ases.items()})
        for name, ases in vips.items()
    })


def weights_of(state: model.LbState, key: model.VipKey) -> Dict[str, tuple]:
    return {a: (s.weight, s.flush) for a, s in state.vips[key].ases.items()}


CASES = [
    pytest.param(
        live(www={"198.51.100.1": 100, "198.51.100.2": 100, "198.51.100.3": 0}), {"www"},
        {"198.51.100.1": (100, False), "198.51.100.2": (100, False), "198.51.100.3": (0, False),
         "198.51.100.4": (0, False)},  # not in VPP yet: 0, nobody has checked it
        id="unreleased-keeps-live-new-as-gets-0",
    ),
    pytest.param(
        live(), {"www"},
        {"198.51.100.1": (0, False), "198.51.100.2": (0, False), "198.51.100.3": (0, False),
         "198.51.100.4": (0, False)},
        id="unreleased-vip-not-in-vpp",
    ),
    pytest.param(
        live(www={"198.51.100.1": 100, "198.51.100.2": 100, "198.51.100.3": 0}), set(),
        {"198.51.100.1": (0, False), "198.51.100.2": (0, False), "198.51.100.3": (100, False),
         "198.51.100.4": (0, False)},
        id="released-follows-health",
    ),
]


@pytest.mark.parametrize("actual, unreleased, expected", CASES)
def test_hold_live_weights(actual, unreleased, expected) -> None:
    want = desired.desired_state(CONFIG, HEALTH)
    held = desired.hold_live_weights(want, actual, unreleased)
    assert weights_of(held, WWW) == expected
    assert weights_of(held, API) == weights_of(want, API)  # another frontend is untouched
    assert held.vips[WWW].spec == want.vips[WWW].spec and held.vips[WWW].name == "www"


def test_hold_live_weights_does_not_change_its_input() -> None:
    want = desired.desired_state(CONFIG, HEALTH)
    before = weights_of(want, WWW)
    desired.hold_live_weights(want, live(www={"198.51.100.1": 100}), {"www"})
    assert weights_of(want, WWW) == before
