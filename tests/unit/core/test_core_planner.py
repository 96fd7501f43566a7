"""The planner: tables of desired/actual states -> exact op lists."""

from __future__ import annotations

from typing import List

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import planner
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    ADD_AS,
    ADD_VIP,
    DEL_AS,
    DEL_VIP,
    SET_CONF,
    SET_WEIGHT,
    AsState,
    LbConf,
    LbState,
    Op,
    VipKey,
    VipSpec,
    VipState,
)

P1 = VipKey("192.0.2.1/32")  # all-port
P1_TCP80 = VipKey("192.0.2.1/32", 6, 80)
P1_UDP53 = VipKey("192.0.2.1/32", 17, 53)
P9 = VipKey("192.0.2.9/32")
P10 = VipKey("192.0.2.10/32")
V6 = VipKey("2001:db8::1/128")
GRE4 = VipSpec()
STICKY = VipSpec(src_ip_sticky=True)
DSR = VipSpec(encap="l3dsr")


def A(address: str, weight: int = 100, flush: bool = False, flows=None) -> AsState:
    return AsState(address, weight, flush, flows=flows)


def vip(key: VipKey, *ases: AsState, spec: VipSpec = GRE4, name=None) -> VipState:
    return VipState(key=key, spec=spec, ases={a.address: a for a in ases}, name=name)


def state(*vips: VipState, conf=None) -> LbState:
    return LbState(conf=conf, vips={v.key: v for v in vips})


def add_vip(key, spec=GRE4, reason="new VIP"):
    return Op(ADD_VIP, vip=key, spec=spec, reason=reason)


def add_as(key, address, weight=100, reason="new AS"):
    return Op(ADD_AS, vip=key, address=address, weight=weight, reason=reason)


def del_as(key, address, reason="not desired"):
    return Op(DEL_AS, vip=key, address=address, flush=True, reason=reason)


def del_vip(key, reason="not desired"):
    return Op(DEL_VIP, vip=key, reason=reason)


def set_weight(key, address, old, new, flush=False):
    return Op(SET_WEIGHT, vip=key, address=address, weight=new, flush=flush, reason=f"weight {old} -> {new}")


CONF = LbConf("192.0.2.254", "2001:db8::fe", 1024, 40)
STICKY_RECREATE = "recreate: src_ip_sticky changed"
ENCAP_RECREATE = "recreate: encap changed"

CASES = [
    pytest.param(state(), state(), False, [], id="empty"),
    pytest.param(
        state(vip(P1, A("10.0.0.1"), A("10.0.0.2", 0, True)), conf=CONF),
        state(vip(P1, A("10.0.0.1", flows=7), A("10.0.0.2", 0, flows=0)), conf=CONF),
        True,
        [],
        id="in-sync",
    ),
    pytest.param(state(), state(conf=CONF), False, [], id="conf-left-alone"),
    pytest.param(
        state(conf=CONF),
        state(conf=LbConf("192.0.2.254", "2001:db8::fe", 1024, 60)),
        False,
        [Op(SET_CONF, conf=CONF, reason="conf: flow_timeout changed")],
        id="conf-changed",
    ),
    pytest.param(
        state(conf=CONF),
        state(),
        False,
        [Op(SET_CONF, conf=CONF, reason="conf: not known in VPP")],
        id="conf-unknown",
    ),
    pytest.param(
        state(vip(P1, A("10.0.0.10"), A("10.0.0.9", 50), A("10.0.0.100", 0), name="www"), conf=CONF),
        state(),
        False,
        [
            Op(SET_CONF, conf=CONF, reason="conf: not known in VPP"),
            add_vip(P1, reason="new VIP for www"),
            add_as(P1, "10.0.0.9", 50, reason="new VIP for www"),
            add_as(P1, "10.0.0.10", 100, reason="new VIP for www"),
            add_as(P1, "10.0.0.100", 0, reason="new VIP for www"),
        ],
        id="new-vip-ases-in-numeric-order",
    ),
    pytest.param(
        state(
            vip(
                P1,
                A("10.0.0.1", 100),
                A("10.0.0.3", 0, True),
                A("10.0.0.4", 0, False),
                A("10.0.0.5", 40, True),
                A("10.0.0.6", 0, True),
                A("10.0.0.20", 7),
            )
        ),
        state(
            vip(
                P1,
                A("10.0.0.1"),
                A("10.0.0.2"),
                A("10.0.0.3"),
                A("10.0.0.4"),
                A("10.0.0.5"),
                A("10.0.0.6", 0, flows=0),
                A("10.0.0.11"),
            )
        ),
        False,
        [
            add_as(P1, "10.0.0.20", 7),  # make before break
            del_as(P1, "10.0.0.2"),
            set_weight(P1, "10.0.0.3", 100, 0, flush=True),  # down with flush_on_down
            set_weight(P1, "10.0.0.4", 100, 0, flush=False),  # paused / standby: drain
            set_weight(P1, "10.0.0.5", 100, 40, flush=False),  # flush only on a drop to 0
            # 10.0.0.6 already at 0 without sticky flows: nothing to do, even though it says flush
            del_as(P1, "10.0.0.11"),
        ],
        id="as-changes",
    ),
    pytest.param(
        state(vip(P1, A("10.0.0.1", 100), A("10.0.0.3", 50), spec=STICKY)),
        state(vip(P1, A("10.0.0.2"), A("10.0.0.1", 20))),
        False,
        [
            del_as(P1, "10.0.0.1", STICKY_RECREATE),
            del_as(P1, "10.0.0.2", STICKY_RECREATE),
            del_vip(P1, STICKY_RECREATE),
            add_vip(P1, STICKY, STICKY_RECREATE),
            add_as(P1, "10.0.0.1", 100, STICKY_RECREATE),
            add_as(P1, "10.0.0.3", 50, STICKY_RECREATE),
        ],
        id="recreate-sticky",
    ),
    pytest.param(
        state(vip(P1, A("10.0.0.1"), spec=VipSpec(encap="l3dsr", new_flows_table_length=4096, dscp=3))),
        state(vip(P1, A("10.0.0.1"))),
        False,
        [
            del_as(P1, "10.0.0.1", "recreate: encap, new_flows_table_length, dscp changed"),
            del_vip(P1, "recreate: encap, new_flows_table_length, dscp changed"),
            add_vip(
                P1,
                VipSpec(encap="l3dsr", new_flows_table_length=4096, dscp=3),
                "recreate: encap, new_flows_table_length, dscp changed",
            ),
            add_as(P1, "10.0.0.1", 100, "recreate: encap, new_flows_table_length, dscp changed"),
        ],
        id="recreate-several-fields",
    ),
    pytest.param(
        state(vip(P10, A("10.0.0.1"))),
        state(vip(P9, A("10.0.0.2"), A("10.0.0.1")), vip(V6, A("2001:db8::2"))),
        False,
        [add_vip(P10), add_as(P10, "10.0.0.1", reason="new VIP")],
        id="foreign-vips-left-alone",
    ),
    pytest.param(
        state(vip(P10, A("10.0.0.1"))),
        state(vip(V6, A("2001:db8::2")), vip(P9, A("10.0.0.2"), A("10.0.0.1"))),
        True,
        [
            add_vip(P10),
            add_as(P10, "10.0.0.1", reason="new VIP"),
            del_as(P9, "10.0.0.1"),
            del_as(P9, "10.0.0.2"),
            del_vip(P9),
            del_as(V6, "2001:db8::2"),
            del_vip(V6),
        ],
        id="prune-after-desired-vips",
    ),
    pytest.param(
        state(vip(V6, A("2001:db8::2")), vip(P10, A("10.0.0.1")), vip(P9, A("10.0.0.1"))),
        state(),
        False,
        [
            add_vip(P9),
            add_as(P9, "10.0.0.1", reason="new VIP"),
            add_vip(P10),
            add_as(P10, "10.0.0.1", reason="new VIP"),
            add_vip(V6),
            add_as(V6, "2001:db8::2", reason="new VIP"),
        ],
        id="vips-in-numeric-order",
    ),
    pytest.param(
        state(vip(P1_TCP80, A("10.0.0.1")), vip(P9)),
        state(vip(P1, A("10.0.0.5"))),
        True,
        [
            del_as(P1, "10.0.0.5", "not desired; removed before adding 192.0.2.1/32 tcp/80"),
            del_vip(P1, "not desired; removed before adding 192.0.2.1/32 tcp/80"),
            add_vip(P1_TCP80),
            add_as(P1_TCP80, "10.0.0.1", reason="new VIP"),
            add_vip(P9),
        ],
        id="prune-all-port-before-per-port-add",
    ),
    pytest.param(
        state(vip(P1, A("10.0.0.1"))),
        state(vip(P1_UDP53), vip(P1_TCP80, A("10.0.0.2"))),
        True,
        [
            del_as(P1_TCP80, "10.0.0.2", "not desired; removed before adding 192.0.2.1/32"),
            del_vip(P1_TCP80, "not desired; removed before adding 192.0.2.1/32"),
            del_vip(P1_UDP53, "not desired; removed before adding 192.0.2.1/32"),
            add_vip(P1),
            add_as(P1, "10.0.0.1", reason="new VIP"),
        ],
        id="prune-per-port-before-all-port-add",
    ),
    pytest.param(
        state(vip(P1_TCP80, A("10.0.0.1"), spec=DSR)),
        state(vip(P1_UDP53, A("10.0.0.2")), vip(V6)),
        True,
        [
            del_as(P1_UDP53, "10.0.0.2", "not desired; removed before adding 192.0.2.1/32 tcp/80"),
            del_vip(P1_UDP53, "not desired; removed before adding 192.0.2.1/32 tcp/80"),
            add_vip(P1_TCP80, DSR),
            add_as(P1_TCP80, "10.0.0.1", reason="new VIP"),
            del_vip(V6),
        ],
        id="prune-other-encap-before-per-port-add",
    ),
    pytest.param(
        state(vip(P1_TCP80, A("10.0.0.1"), spec=GRE4)),
        state(vip(P1_UDP53, A("10.0.0.2"), spec=GRE4)),
        True,
        [
            add_vip(P1_TCP80),
            add_as(P1_TCP80, "10.0.0.1", reason="new VIP"),
            del_as(P1_UDP53, "10.0.0.2"),
            del_vip(P1_UDP53),
        ],
        id="compatible-per-port-prune-stays-last",
    ),
    pytest.param(
        state(vip(P1_TCP80, A("10.0.0.1"), spec=DSR), vip(P1_UDP53, A("10.0.0.2"), spec=DSR)),
        state(vip(P1_TCP80, A("10.0.0.1")), vip(P1_UDP53, A("10.0.0.2"), A("10.0.0.3"))),
        False,
        [
            # tcp/80 sorts first; udp/53 (gre4) would block the l3dsr add, so it goes early too.
            del_as(P1_TCP80, "10.0.0.1", ENCAP_RECREATE),
            del_vip(P1_TCP80, ENCAP_RECREATE),
            del_as(P1_UDP53, "10.0.0.2", ENCAP_RECREATE),
            del_as(P1_UDP53, "10.0.0.3", ENCAP_RECREATE),
            del_vip(P1_UDP53, ENCAP_RECREATE),
            add_vip(P1_TCP80, DSR, ENCAP_RECREATE),
            add_as(P1_TCP80, "10.0.0.1", 100, ENCAP_RECREATE),
            add_vip(P1_UDP53, DSR, ENCAP_RECREATE),
            add_as(P1_UDP53, "10.0.0.2", 100, ENCAP_RECREATE),
        ],
        id="recreate-encap-of-all-per-port-vips-on-a-prefix",
    ),
]


@pytest.mark.parametrize("desired, actual, prune, expected", CASES)
def test_plan(desired: LbState, actual: LbState, prune: bool, expected: List[Op]) -> None:
    assert planner.plan(desired, actual, prune_vips=prune) == expected
    assert planner.conflicts(desired, actual, prune_vips=prune) == []


def test_num_buckets_and_names_do_not_matter() -> None:
    desired = state(vip(P1, A("10.0.0.1"), name="www"))
    actual = state(vip(P1, AsState("10.0.0.1", 100, num_buckets=1024)))
    actual.vips[P1].index = 3
    assert planner.plan(desired, actual) == []


def test_blocked_add_without_prune_is_planned_and_reported() -> None:
    desired = state(vip(P1_TCP80, A("10.0.0.1")))
    actual = state(vip(P1, A("10.0.0.5")))
    assert planner.plan(desired, actual) == [
        add_vip(P1_TCP80),
        add_as(P1_TCP80, "10.0.0.1", reason="new VIP"),
    ]
    assert planner.conflicts(desired, actual) == [
        "cannot add VIP 192.0.2.1/32 tcp/80: VPP already has VIP 192.0.2.1/32 on that prefix"
    ]


def test_blocked_vips_names_each_refused_vip_once() -> None:
    desired = state(vip(P1_TCP80, A("10.0.0.1")), vip(P9, A("10.0.0.2")))
    actual = state(vip(P1, A("10.0.0.5")))
    assert planner.blocked_vips(desired, actual) == {
        P1_TCP80: "cannot add VIP 192.0.2.1/32 tcp/80: VPP already has VIP 192.0.2.1/32 on that prefix"
    }
    assert planner.blocked_vips(desired, actual, prune_vips=True) == {}


def test_ops_describe_is_cli_and_keeps_the_reason_apart() -> None:
    ops = planner.plan(state(vip(P1, A("10.0.0.1", 0, True))), state(vip(P1, A("10.0.0.1"))))
    assert [op.describe() for op in ops] == ["lb as 192.0.2.1/32 10.0.0.1 weight 0 flush"]
    assert [op.reason for op in ops] == ["weight 100 -> 0"]


NAT = VipSpec(encap="nat4", srv_type="nodeport", target_port=8080, new_flows_table_length=64)


@pytest.mark.parametrize("op, with_weights, without_weights", [
    (Op(SET_CONF, conf=LbConf("192.0.2.254", "2001:db8::fe", 2048, 30)),
     "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe buckets 2048 timeout 30", None),
    (Op(ADD_VIP, P1_TCP80, spec=STICKY),
     "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024 src_ip_sticky", None),
    (Op(ADD_VIP, P1_UDP53, spec=NAT),
     "lb vip 192.0.2.1/32 protocol udp port 53 encap nat4 type nodeport target_port 8080 new_len 64", None),
    (Op(ADD_VIP, P1, spec=VipSpec(encap="l3dsr", dscp=10)), "lb vip 192.0.2.1/32 encap l3dsr dscp 10 new_len 1024",
     None),
    (Op(DEL_VIP, V6), "lb vip 2001:db8::1/128 del", None),
    (Op(ADD_AS, P1_TCP80, address="10.0.0.1", weight=30),
     "lb as 192.0.2.1/32 protocol tcp port 80 10.0.0.1 weight 30", "lb as 192.0.2.1/32 protocol tcp port 80 10.0.0.1"),
    (Op(DEL_AS, P1, address="10.0.0.1", flush=True), "lb as 192.0.2.1/32 10.0.0.1 del flush", None),
    (Op(DEL_AS, P1, address="10.0.0.1"), "lb as 192.0.2.1/32 10.0.0.1 del", None),
    (Op(SET_WEIGHT, P1, address="10.0.0.1", weight=50), "lb as 192.0.2.1/32 10.0.0.1 weight 50", None),
])
def test_ops_describe_table(op: Op, with_weights: str, without_weights) -> None:
    assert op.describe() == with_weights
    assert op.describe(as_weights=False) == (without_weights or with_weights)


def test_conf_fields_vpp_cannot_report_are_not_compared() -> None:
    # LB API 1.1.0 reads back the addresses only.
    rel_conf = LbConf("192.0.2.254", "2001:db8::fe", None, None)
    assert planner.plan(state(conf=CONF), state(conf=rel_conf)) == []
    other = LbConf("192.0.2.1", "2001:db8::fe", None, None)
    assert planner.plan(state(conf=CONF), state(conf=other)) == [
        Op(SET_CONF, conf=CONF, reason="conf: ip4_src_address changed")
    ]


NO_WEIGHTS = "weight 0 (no AS weights in this VPP)"


def test_without_as_weights_zero_means_absent_and_health_decides_flush() -> None:
    desired = state(
        vip(P1, A("10.0.0.1", 50), A("10.0.0.2", 0, True), A("10.0.0.3", 0, False), A("10.0.0.4", 0, True)),
        vip(P9, A("10.0.0.1", 0, True), A("10.0.0.2", 30)),
    )
    actual = state(vip(P1, A("10.0.0.1"), A("10.0.0.2"), A("10.0.0.3"), A("10.0.0.5")))
    assert planner.plan(desired, actual, as_weights=False) == [
        Op(DEL_AS, vip=P1, address="10.0.0.2", flush=True, reason=NO_WEIGHTS),  # down/disabled
        Op(DEL_AS, vip=P1, address="10.0.0.3", flush=False, reason=NO_WEIGHTS),  # paused: drain
        del_as(P1, "10.0.0.5"),  # not desired at all
        add_vip(P9),
        add_as(P9, "10.0.0.2", 30, reason="new VIP"),  # weight-0 10.0.0.1 is not added
    ]
    # Weights VPP cannot hold are never planned, so the rerun is a no-op.
    converged = state(vip(P1, A("10.0.0.1")), vip(P9, A("10.0.0.2")))
    assert planner.plan(desired, converged, as_weights=False) == []


# --------------------------------------------------------------------------------------------
# Make before break: per VIP, adds and raises first, then drops, flushes and deletes.

MBB_CASES = [
    pytest.param(
        # Primary pool p1/p2 fails over to standby s1: s1 is raised before p1/p2 drop.
        vip(P1, A("10.0.0.1", 0), A("10.0.0.2", 0), A("10.0.0.3", 100)),
        vip(P1, A("10.0.0.1"), A("10.0.0.2"), A("10.0.0.3", 0)),
        True,
        [
            set_weight(P1, "10.0.0.3", 0, 100),
            set_weight(P1, "10.0.0.1", 100, 0),
            set_weight(P1, "10.0.0.2", 100, 0),
        ],
        id="failover-to-standby",
    ),
    pytest.param(
        # Primary recovers: the standby drains only after the primary is back.
        vip(P1, A("10.0.0.1"), A("10.0.0.3", 0)),
        vip(P1, A("10.0.0.1", 0), A("10.0.0.3")),
        True,
        [set_weight(P1, "10.0.0.1", 0, 100), set_weight(P1, "10.0.0.3", 100, 0)],
        id="failback",
    ),
    pytest.param(
        # Each group in numeric address order, whatever the action.
        vip(P1, A("10.0.0.2", 30), A("10.0.0.4", 100), A("10.0.0.10", 50), A("10.0.0.20", 60)),
        vip(P1, A("10.0.0.1"), A("10.0.0.2", 80), A("10.0.0.4", 20), A("10.0.0.9"), A("10.0.0.20", 70)),
        True,
        [
            set_weight(P1, "10.0.0.4", 20, 100),
            add_as(P1, "10.0.0.10", 50),
            del_as(P1, "10.0.0.1"),
            set_weight(P1, "10.0.0.2", 80, 30),
            del_as(P1, "10.0.0.9"),
            set_weight(P1, "10.0.0.20", 70, 60),
        ],
        id="groups-by-address",
    ),
    pytest.param(
        # LB API 1.1.0: the standby is added before the primary goes.
        vip(P1, A("10.0.0.1", 0), A("10.0.0.3", 100)),
        vip(P1, A("10.0.0.1")),
        False,
        [add_as(P1, "10.0.0.3", 100), Op(DEL_AS, vip=P1, address="10.0.0.1", reason=NO_WEIGHTS)],
        id="without-weights-adds-first",
    ),
    pytest.param(
        # Replacing every AS: the new ones go in before the old ones leave.
        vip(P1, A("10.0.0.5"), A("10.0.0.6")),
        vip(P1, A("10.0.0.1"), A("10.0.0.9")),
        False,
        [
            add_as(P1, "10.0.0.5"),
            add_as(P1, "10.0.0.6"),
            del_as(P1, "10.0.0.1"),
            del_as(P1, "10.0.0.9"),
        ],
        id="replace-all-ases",
    ),
]


@pytest.mark.parametrize("desired, actual, as_weights, expected", MBB_CASES)
def test_make_before_break(desired: VipState, actual: VipState, as_weights: bool, expected: List[Op]) -> None:
    assert planner.plan(state(desired), state(actual), as_weights=as_weights) == expected
    assert planner.plan_vip(desired, actual, as_weights=as_weights) == expected


# --------------------------------------------------------------------------------------------
# Flush after a drain: an AS already at weight 0 that must now be flushed.


def flush_at_zero(address: str, flows: str) -> Op:
    reason = f"flush: weight 0, sticky flows {flows}"
    return Op(SET_WEIGHT, vip=P1, address=address, weight=0, flush=True, reason=reason)


FLUSH_CASES = [
    # (desired weight, desired flush, live weight, live flows, as_weights) -> ops
    pytest.param(0, True, 0, 12, True, [flush_at_zero("10.0.0.1", "12")], id="drained-with-flows-flushed"),
    pytest.param(0, True, 0, None, True, [flush_at_zero("10.0.0.1", "unknown")], id="flows-unknown-flushed"),
    pytest.param(0, True, 0, 0, True, [], id="no-flows-nothing-to-flush"),
    pytest.param(0, False, 0, 12, True, [], id="drain-keeps-flows"),
    pytest.param(0, True, 100, 12, True, [set_weight(P1, "10.0.0.1", 100, 0, flush=True)], id="drop-flushes"),
    pytest.param(50, True, 0, 12, True, [set_weight(P1, "10.0.0.1", 0, 50)], id="raise-never-flushes"),
    # LB API 1.1.0: a weight-0 AS is not in VPP; a removed one is not in the live state (limitation).
    pytest.param(0, True, None, None, False, [], id="without-weights-absent-stays-absent"),
]


@pytest.mark.parametrize("weight, flush, live_weight, flows, as_weights, expected", FLUSH_CASES)
def test_flush_after_drain(weight, flush, live_weight, flows, as_weights, expected) -> None:
    desired = vip(P1, A("10.0.0.1", weight, flush), A("10.0.0.2"))
    live = [A("10.0.0.2", flows=3)]
    if live_weight is not None:
        live.append(A("10.0.0.1", live_weight, flows=flows))
    actual = vip(P1, *live)
    assert planner.plan(state(desired), state(actual), as_weights=as_weights) == expected


def test_flush_after_drain_is_a_break() -> None:
    # A raise elsewhere on the VIP still comes first.
    desired = vip(P1, A("10.0.0.1", 0, True), A("10.0.0.9", 100))
    actual = vip(P1, A("10.0.0.1", 0, flows=4), A("10.0.0.9", 0, flows=0))
    assert planner.plan_vip(desired, actual) == [set_weight(P1, "10.0.0.9", 0, 100), flush_at_zero("10.0.0.1", "4")]


# --------------------------------------------------------------------------------------------
# plan_vip: one VIP, same rules as plan()

PLAN_VIP_CASES = [
    pytest.param(
        vip(P1, A("10.0.0.2", 0), A("10.0.0.1", 50), name="www"),
        None,
        True,
        [
            add_vip(P1, reason="new VIP for www"),
            add_as(P1, "10.0.0.1", 50, reason="new VIP for www"),
            add_as(P1, "10.0.0.2", 0, reason="new VIP for www"),
        ],
        id="new",
    ),
    pytest.param(
        vip(P1, A("10.0.0.2", 0), A("10.0.0.1", 50)),
        None,
        False,
        [add_vip(P1), add_as(P1, "10.0.0.1", 50, reason="new VIP")],
        id="new-without-weights",
    ),
    pytest.param(
        vip(P1, A("10.0.0.1"), spec=STICKY),
        vip(P1, A("10.0.0.1"), A("10.0.0.2")),
        True,
        [
            del_as(P1, "10.0.0.1", STICKY_RECREATE),
            del_as(P1, "10.0.0.2", STICKY_RECREATE),
            del_vip(P1, STICKY_RECREATE),
            add_vip(P1, STICKY, STICKY_RECREATE),
            add_as(P1, "10.0.0.1", 100, STICKY_RECREATE),
        ],
        id="recreate",
    ),
    pytest.param(vip(P1, A("10.0.0.1", 0, True)), vip(P1, A("10.0.0.1", 0, flows=0)), True, [], id="in-sync"),
]


@pytest.mark.parametrize("desired, actual, as_weights, expected", PLAN_VIP_CASES)
def test_plan_vip(desired: VipState, actual, as_weights: bool, expected: List[Op]) -> None:
    assert planner.plan_vip(desired, actual, as_weights=as_weights) == expected
    whole = planner.plan(state(desired), state(actual) if actual else state(), as_weights=as_weights)
    assert whole == expected
