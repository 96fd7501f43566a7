"""The VPP sync's pure decisions: the full plan around conflicts, connect-failure warnings."""

from __future__ import annotations

from typing import List, Optional, Tuple

import pytest
from ansible_collections.maglev.vpp.agent import syncplan
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import model
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import AsState, LbState, VipKey, VipSpec, VipState

WWW = VipKey("192.0.2.1/32", 6, 80)
DNS = VipKey("192.0.2.1/32", 17, 53)  # another per-port VIP on www's prefix
ALL = VipKey("192.0.2.1/32")  # an all-port VIP on www's prefix
API = VipKey("192.0.2.2/32", 6, 443)
GRE4, DSR = VipSpec(), VipSpec(encap="l3dsr")
CONF = model.LbConf("10.255.0.1", "2001:db8:ff::1")


def vip(key: VipKey, spec: VipSpec = GRE4, *weights: Tuple[str, int], name: Optional[str] = None) -> VipState:
    return VipState(key=key, spec=spec, ases={a: AsState(a, w) for a, w in weights}, name=name)


def lb(*vips: VipState, conf: Optional[model.LbConf] = None) -> LbState:
    return LbState(conf=conf, vips={v.key: v for v in vips})


def actions(ops: List[model.Op]) -> List[Tuple[str, Optional[VipKey]]]:
    return [(op.action, op.vip) for op in ops]


CASES = [
    pytest.param(
        lb(vip(WWW, DSR, ("10.0.0.1", 100)), vip(API, GRE4, ("10.0.0.3", 100)), conf=CONF),
        lb(vip(WWW, GRE4, ("10.0.0.1", 100)), vip(DNS)),
        [(model.SET_CONF, None), (model.ADD_VIP, API), (model.ADD_AS, API)],
        {WWW},
        id="recreate-blocked-by-a-foreign-vip-is-left-out-rest-syncs",
    ),
    pytest.param(
        lb(vip(WWW, GRE4, ("10.0.0.1", 100)), vip(API, GRE4, ("10.0.0.3", 0))),
        lb(vip(ALL, GRE4), vip(API, GRE4, ("10.0.0.3", 100))),
        [(model.SET_WEIGHT, API)],
        {WWW},
        id="new-vip-blocked-by-a-foreign-all-port-vip",
    ),
    pytest.param(
        lb(vip(WWW, DSR, ("10.0.0.1", 100)), vip(DNS, DSR, ("10.0.0.2", 100))),
        lb(vip(WWW, GRE4, ("10.0.0.1", 100)), vip(DNS, GRE4, ("10.0.0.2", 100))),
        [(model.DEL_AS, WWW), (model.DEL_VIP, WWW), (model.DEL_AS, DNS), (model.DEL_VIP, DNS),
         (model.ADD_VIP, WWW), (model.ADD_AS, WWW), (model.ADD_VIP, DNS), (model.ADD_AS, DNS)],
        set(),
        id="both-per-port-vips-of-a-prefix-recreated-together-are-not-blocked",
    ),
    pytest.param(
        lb(vip(WWW, GRE4, ("10.0.0.1", 50))),
        lb(vip(WWW, GRE4, ("10.0.0.1", 100)), vip(DNS, DSR)),
        [(model.SET_WEIGHT, WWW)],
        set(),
        id="weight-changes-never-conflict",
    ),
]


@pytest.mark.parametrize("desired, actual, expected_actions, expected_blocked", CASES)
def test_plan_full(desired, actual, expected_actions, expected_blocked) -> None:
    ops, blocked = syncplan.plan_full(desired, actual, as_weights=True)
    assert actions(ops) == expected_actions
    assert set(blocked) == expected_blocked
    for key in blocked:
        assert blocked[key].startswith(f"cannot add VIP {key}: VPP already has VIP")


def test_vip_blocked_only_checks_plans_that_add_a_vip() -> None:
    actual = lb(vip(ALL, GRE4))
    want = vip(WWW, GRE4, ("10.0.0.1", 100))
    adds = [model.Op(model.ADD_VIP, vip=WWW, spec=GRE4)]
    assert "VPP already has VIP 192.0.2.1/32" in syncplan.vip_blocked(want, adds, actual, as_weights=True)
    assert syncplan.vip_blocked(want, [], actual, as_weights=True) is None


# (event, time, expected answer): "fail" -> warn?, "connect" -> (outage seconds, failures) or None
OUTAGE = [
    ("connect", 0.0, None),  # no outage to end
    ("fail", 10.0, True),  # the first failure warns
    ("fail", 15.0, False),
    ("fail", 69.9, False),
    ("fail", 70.0, True),  # a minute after the last warning
    ("fail", 75.0, False),
    ("connect", 80.0, (70.0, 5)),
    ("fail", 81.0, True),  # a new outage warns at once
    ("connect", 82.0, (1.0, 1)),
]


def test_connect_failures_warn_at_the_start_and_every_minute() -> None:
    failures = syncplan.ConnectFailures(warn_every=60.0)
    for event, now, expected in OUTAGE:
        answer = failures.failed(now) if event == "fail" else failures.connected(now)
        assert answer == expected, (event, now)
