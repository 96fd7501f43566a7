"""livestate.apply_ops: a cached live state plus the ops VPP accepted -> the live state after."""

from __future__ import annotations

import copy
from typing import List, Optional

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast, livestate
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
    VipCounters,
    VipKey,
    VipSpec,
    VipState,
)

P1 = VipKey("192.0.2.1/32")
P2 = VipKey("192.0.2.2/32", 6, 80)
STICKY = VipSpec(src_ip_sticky=True)
CONF = LbConf("192.0.2.254", "2001:db8::fe", 1024, 40)


def live(address: str, weight: int = 100, flows: Optional[int] = 5, buckets: Optional[int] = 512) -> AsState:
    return AsState(address, weight, num_buckets=buckets, flows=flows)


def start() -> LbState:
    """A dumped state: P1 with a weighted and a drained AS, P2 untouched by most ops."""
    return LbState(
        conf=LbConf("192.0.2.254", "2001:db8::fe", None, None),
        vips={
            P1: VipState(
                P1,
                ases={"10.0.0.1": live("10.0.0.1"), "10.0.0.2": live("10.0.0.2", 0, flows=3, buckets=0)},
                index=1,
                counters=VipCounters(next_packets=9),
            ),
            P2: VipState(P2, ases={"10.0.1.1": live("10.0.1.1", 100, flows=2, buckets=1024)}, index=2),
        },
    )


def set_weight(address: str, weight: int, flush: bool = False, key: VipKey = P1) -> Op:
    return Op(SET_WEIGHT, vip=key, address=address, weight=weight, flush=flush)


# (ops, expected ASes of P1 as {address: (weight, flows)}; num_buckets as VPP's rebuilt table has them)
P1_CASES = [
    pytest.param([set_weight("10.0.0.2", 0, flush=True)], {"10.0.0.1": (100, 5), "10.0.0.2": (0, 0)},
                 id="flush-at-zero-clears-flows"),
    pytest.param([set_weight("10.0.0.2", 0)], {"10.0.0.1": (100, 5), "10.0.0.2": (0, 3)},
                 id="staying-at-zero-keeps-flows"),
    pytest.param([set_weight("10.0.0.1", 0)], {"10.0.0.1": (0, None), "10.0.0.2": (0, 3)},
                 id="drain-of-a-weighted-as-makes-flows-unknown"),
    pytest.param([set_weight("10.0.0.1", 0, flush=True)], {"10.0.0.1": (0, 0), "10.0.0.2": (0, 3)},
                 id="drop-with-flush"),
    pytest.param([set_weight("10.0.0.2", 40)], {"10.0.0.1": (100, 5), "10.0.0.2": (40, None)},
                 id="raise-makes-flows-unknown"),
    pytest.param(
        [Op(ADD_AS, vip=P1, address="10.0.0.3", weight=0), Op(ADD_AS, vip=P1, address="10.0.0.4", weight=60)],
        {"10.0.0.1": (100, 5), "10.0.0.2": (0, 3), "10.0.0.3": (0, 0), "10.0.0.4": (60, None)},
        id="add",
    ),
    pytest.param([Op(DEL_AS, vip=P1, address="10.0.0.1", flush=True)], {"10.0.0.2": (0, 3)}, id="delete"),
    pytest.param([Op(DEL_AS, vip=P1, address="10.0.0.9")], {"10.0.0.1": (100, 5), "10.0.0.2": (0, 3)},
                 id="delete-of-unknown-as-ignored"),
    pytest.param([set_weight("10.0.0.9", 50)], {"10.0.0.1": (100, 5), "10.0.0.2": (0, 3)},
                 id="set-weight-of-unknown-as-ignored"),
]


@pytest.mark.parametrize("ops, expected", P1_CASES)
def test_as_ops(ops: List[Op], expected) -> None:
    before = start()
    kept = copy.deepcopy(before)
    after = livestate.apply_ops(before, ops)
    assert before == kept  # the input is not changed
    vip = after.vips[P1]
    assert {a: (s.weight, s.flows) for a, s in vip.ases.items()} == expected
    # The table was rebuilt: counts from the new weights (P1's table: the default 1024 buckets).
    expected_buckets = blast.bucket_counts(1024, {a: s.weight for a, s in vip.ases.items()})
    assert {a: s.num_buckets for a, s in vip.ases.items()} == expected_buckets
    assert (vip.index, vip.counters) == (1, VipCounters(next_packets=9))
    assert after.vips[P2] == before.vips[P2]  # untouched VIP: buckets still known
    assert after.conf == before.conf


def test_vip_and_conf_ops() -> None:
    ops = [
        Op(SET_CONF, conf=CONF),
        Op(DEL_AS, vip=P2, address="10.0.1.1", flush=True),
        Op(DEL_VIP, vip=P2),
        Op(DEL_AS, vip=P1, address="10.0.0.1", flush=True),
        Op(DEL_AS, vip=P1, address="10.0.0.2", flush=True),
        Op(DEL_VIP, vip=P1),
        Op(ADD_VIP, vip=P1, spec=STICKY),
        Op(ADD_AS, vip=P1, address="10.0.0.1", weight=100),
    ]
    after = livestate.apply_ops(start(), ops)
    assert after.conf == CONF
    assert after.vips == {P1: VipState(P1, spec=STICKY, ases={"10.0.0.1": AsState("10.0.0.1", 100, num_buckets=1024)})}


# (weights after the ops, table length, expected buckets): counts as VPP's Maglev fill gives them
BUCKET_CASES = [
    pytest.param({"10.0.0.1": 100, "10.0.0.2": 50}, 1024, {"10.0.0.1": 674, "10.0.0.2": 350}, id="2-to-1"),
    pytest.param({"10.0.0.1": 0, "10.0.0.2": 100}, 1024, {"10.0.0.1": 0, "10.0.0.2": 1024}, id="failover"),
    pytest.param({"10.0.0.1": 0, "10.0.0.2": 0}, 64, {"10.0.0.1": 0, "10.0.0.2": 0}, id="all-zero-drop"),
    pytest.param({"10.0.0.1": 1, "10.0.0.2": 1, "10.0.0.3": 1}, 7, {"10.0.0.1": 3, "10.0.0.2": 2, "10.0.0.3": 2},
                 id="remainder-to-the-lowest-address"),
]


@pytest.mark.parametrize("weights, length, expected", BUCKET_CASES)
def test_bucket_counts_after_writes(weights, length, expected) -> None:
    spec = VipSpec(new_flows_table_length=length)
    before = LbState(vips={P1: VipState(P1, spec=spec, ases={a: live(a) for a in weights})})
    after = livestate.apply_ops(before, [set_weight(a, w) for a, w in weights.items()])
    assert {a: s.num_buckets for a, s in after.vips[P1].ases.items()} == expected


def test_ops_on_a_vip_not_in_the_state_are_ignored() -> None:
    other = VipKey("192.0.2.9/32")
    ops = [
        Op(ADD_AS, vip=other, address="10.0.0.1", weight=1),
        Op(DEL_VIP, vip=other),
        set_weight("10.0.0.1", 5, key=other),
    ]
    assert livestate.apply_ops(start(), ops) == start()


def test_without_as_weights_added_ases_read_as_weight_100() -> None:
    # LB API 1.1.0 dumps report every used AS at 100; the cache must match a later dump.
    after = livestate.apply_ops(start(), [Op(ADD_AS, vip=P1, address="10.0.0.3", weight=30)], as_weights=False)
    assert after.vips[P1].ases["10.0.0.3"] == AsState("10.0.0.3", 100, num_buckets=512)


def test_no_ops_gives_an_equal_state() -> None:
    before = start()
    after = livestate.apply_ops(before, [])
    assert after == before and after is not before
