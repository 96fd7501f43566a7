"""The page's pictures' data: exact table shares (current and planned) and backend transitions."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent.health import BackendHealthView, Transition
from ansible_collections.maglev.vpp.agent.page_views import table_share, transitions
from ansible_collections.maglev.vpp.agent.snapshot import FrontendView, MemberView
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import AsState, VipKey, VipSpec, VipState

WWW = VipKey("192.0.2.1/32", 6, 80)
A, B = "198.51.100.11", "198.51.100.12"
LENGTH = 1024


def members(effective, planned=(None, None), draining=(False, False)):
    return tuple(MemberView(backend=name, address=address, pool="primary", configured_weight=100, effective_weight=e,
                            flush=False, state="up", planned_weight=p, draining=d)
                 for name, address, e, p, d in zip(("a", "b"), (A, B), effective, planned, draining, strict=True))


def frontend(*member_views):
    return FrontendView(name="www", vip=WWW, spec=VipSpec(new_flows_table_length=LENGTH), state="up",
                        active_pool="primary", flush_on_down=True, released=True, members=member_views)


def live(weight_a, weight_b):
    return VipState(WWW, VipSpec(new_flows_table_length=LENGTH),
                    {A: AsState(A, weight_a), B: AsState(B, weight_b)})


def owners(bars):
    return None if bars is None else ({o["backend"]: o["buckets"] for o in bars["owners"]}, bars["drop"])


def exact(weights):
    counts = blast.bucket_counts(LENGTH, {a: w for a, w in weights.items() if w})
    return {name: counts[address] for name, address in (("a", A), ("b", B)) if counts.get(address)}


# (members, live VIP, LB API, current (owners, drop), planned (owners, drop) or None)
CASES = [
    (members((100, 100)), live(100, 100), "1.2.0", ({"a": 512, "b": 512}, 0), None, "settled"),
    (members((20, 100), planned=(100, 100)), live(20, 100), "1.2.0",
     (exact({A: 20, B: 100}), 0), ({"a": 512, "b": 512}, 0), "slow-start-heads-for-full-weight"),
    (members((50, 100)), live(100, 100), "1.2.0", ({"a": 512, "b": 512}, 0), (exact({A: 50, B: 100}), 0),
     "plan-not-written-yet"),
    (members((100, 100)), None, "1.2.0", None, ({"a": 512, "b": 512}, 0), "vip-not-in-vpp"),
    (members((0, 0)), live(0, 0), "1.2.0", ({}, LENGTH), None, "nothing-up-drops-all"),
    (members((20, 100), planned=(100, 100)), live(20, 100), "1.1.0", ({"a": 512, "b": 512}, 0), None,
     "lb-api-1.1.0-counts-each-as-once"),
]


@pytest.mark.parametrize("views, live_vip, generation, current, planned",
                         [pytest.param(*c[:5], id=c[5]) for c in CASES])
def test_table_share(views, live_vip, generation, current, planned):
    share = table_share(frontend(*views), live_vip, generation)
    assert share["table_length"] == LENGTH
    assert owners(share["current"]) == current
    assert owners(share["planned"]) == planned


def test_draining_members_are_named():
    share = table_share(frontend(*members((0, 100), draining=(True, False))), live(0, 100), "1.2.0")
    assert share["draining"] == ["a"] and owners(share["current"]) == ({"b": LENGTH}, 0)


def test_transitions_oldest_first():
    history = (Transition("unknown", "up", 10.0, "L7OK"), Transition("up", "down", 20.0, "L4CON"))
    view = BackendHealthView(name="a", state="down", counter=0, rise=2, fall=2, since=20.0, last_result=None,
                             history=history, rejected=0)
    assert transitions(view) == [{"from": "unknown", "to": "up", "at": 10.0, "code": "L7OK"},
                                 {"from": "up", "to": "down", "at": 20.0, "code": "L4CON"}]
