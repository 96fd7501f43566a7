"""Property: plans never make VPP refuse an op, converge, are deterministic, make before they
break, and ``livestate.apply_ops`` predicts what they leave in VPP.

The VPP stand-in below is a deliberately small, independent reading of the lb plugin's rules
(vpp-facts.md Part 1 §2); it is not the simulator.
"""

from __future__ import annotations

import copy
import random
from typing import Dict, List, Optional, Tuple

from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast, livestate, model, planner
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    AsState,
    LbConf,
    LbState,
    Op,
    VipKey,
    VipSpec,
    VipState,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# --------------------------------------------------------------------------------------------
# A tiny model of the lb plugin


class Refused(Exception):
    def __init__(self, op: Op, retval: int) -> None:
        super().__init__(f"{op.describe()} -> {retval}")
        self.op = op
        self.retval = retval


VALUE_EXIST, NO_SUCH_ENTRY, INVALID_ARGUMENT, INVALID_MEMORY_SIZE, INVALID_ADDRESS_FAMILY = (
    -81,
    -6,
    -73,
    -70,
    -97,
)


def _family(text: str) -> int:
    return 6 if ":" in text else 4


class FakeLb:
    def __init__(self, state: LbState, as_weights: bool = True) -> None:
        self.as_weights = as_weights  # False: LB API 1.1.0, no set_weight, every AS counts equally
        self.conf: Optional[LbConf] = state.conf
        # key -> (spec, {used AS address: weight})
        self.vips: Dict[VipKey, Tuple[VipSpec, Dict[str, int]]] = {
            key: (vip.spec, {a: s.weight for a, s in vip.ases.items()}) for key, vip in state.vips.items()
        }

    def apply(self, op: Op) -> None:
        handler = getattr(self, "_" + op.action)
        handler(op)

    def _set_conf(self, op: Op) -> None:
        buckets = op.conf.sticky_buckets_per_core
        if buckets <= 0 or buckets & (buckets - 1):
            raise Refused(op, INVALID_MEMORY_SIZE)  # 0 would "pass" in VPP: never send it
        self.conf = op.conf

    def _add_vip(self, op: Op) -> None:
        key, spec = op.vip, op.spec
        if key in self.vips:
            raise Refused(op, VALUE_EXIST)
        for other, (other_spec, _other_ases) in self.vips.items():
            if other.prefix != key.prefix:
                continue
            if other.is_all_port != key.is_all_port:
                raise Refused(op, VALUE_EXIST)
            if not key.is_all_port and other_spec.encap != spec.encap:
                raise Refused(op, INVALID_ARGUMENT)
        length = spec.new_flows_table_length
        if length <= 0 or length & (length - 1):
            raise Refused(op, INVALID_MEMORY_SIZE)
        if _family(key.prefix) not in model.ENCAP_VIP_FAMILIES[spec.encap]:
            raise Refused(op, INVALID_ADDRESS_FAMILY)
        if not 0 <= spec.dscp <= 63:
            raise Refused(op, VALUE_EXIST)
        self.vips[key] = (spec, {})

    def _del_vip(self, op: Op) -> None:
        if op.vip not in self.vips:
            raise Refused(op, NO_SUCH_ENTRY)
        del self.vips[op.vip]

    def _ases(self, op: Op) -> Dict[str, int]:
        if op.vip not in self.vips:
            raise Refused(op, NO_SUCH_ENTRY)
        return self.vips[op.vip][1]

    def _add_as(self, op: Op) -> None:
        ases = self._ases(op)
        if op.address in ases:
            raise Refused(op, VALUE_EXIST)
        if _family(op.address) != model.ENCAP_AS_FAMILY[self.vips[op.vip][0].encap]:
            raise Refused(op, INVALID_ADDRESS_FAMILY)
        if not 0 <= op.weight <= 100:
            raise Refused(op, INVALID_ARGUMENT)
        ases[op.address] = op.weight if self.as_weights else 100

    def _del_as(self, op: Op) -> None:
        ases = self._ases(op)
        if op.address not in ases:
            raise Refused(op, NO_SUCH_ENTRY)  # strict: the planner only deletes used ASes
        del ases[op.address]

    def _set_weight(self, op: Op) -> None:
        if not self.as_weights:
            raise Refused(op, -1)  # lb_as_set_weight does not exist
        ases = self._ases(op)
        if op.address not in ases:
            raise Refused(op, NO_SUCH_ENTRY)
        if not 0 <= op.weight <= 100:
            raise Refused(op, INVALID_ARGUMENT)
        ases[op.address] = op.weight

    def state(self) -> LbState:
        """What the client would dump: used ASes only, no flush flags; no traffic, so no flows."""
        return LbState(
            conf=self.conf,
            vips={
                key: VipState(key=key, spec=spec, ases={a: AsState(a, w, flows=0) for a, w in ases.items()})
                for key, (spec, ases) in self.vips.items()
            },
        )

    def total_weight(self, key: VipKey) -> int:
        return sum(self.vips[key][1].values()) if key in self.vips else 0


# --------------------------------------------------------------------------------------------
# Strategies: VPP-consistent states over a small universe, so desired and actual overlap a lot

PREFIXES = ["192.0.2.1/32", "192.0.2.2/32", "192.0.2.0/24", "2001:db8::1/128", "2001:db8::/64"]
PORTS = [(6, 80), (6, 443), (17, 53)]
AS_ADDRESSES = {
    4: ["10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.10", "10.0.0.100", "10.0.1.1"],
    6: ["2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::a", "2001:db8:2::1"],
}
CONFS = [
    LbConf("192.0.2.254", "2001:db8::fe", 1024, 40),
    LbConf("192.0.2.253", "2001:db8::fe", 1024, 40),
    LbConf("192.0.2.254", "2001:db8::fe", 4096, 60),
]


def _encaps_for(prefix: str) -> List[str]:
    return [e for e in model.ENCAPS if _family(prefix) in model.ENCAP_VIP_FAMILIES[e]]


@st.composite
def ases_for(draw, encap: str) -> Dict[str, AsState]:
    addresses = draw(
        st.lists(st.sampled_from(AS_ADDRESSES[model.ENCAP_AS_FAMILY[encap]]), unique=True, max_size=4)
    )
    return {a: AsState(a, draw(st.integers(0, 100)), draw(st.booleans())) for a in addresses}


@st.composite
def spec_for(draw, encap: str) -> VipSpec:
    return VipSpec(
        encap=encap,
        src_ip_sticky=draw(st.booleans()),
        new_flows_table_length=draw(st.sampled_from([256, 1024])),
        dscp=draw(st.sampled_from([0, 10])) if encap == "l3dsr" else 0,
        target_port=draw(st.sampled_from([0, 8080])) if encap in ("nat4", "nat6") else 0,
    )


@st.composite
def prefix_vips(draw, prefix: str) -> List[VipState]:
    """The VIPs of one prefix as VPP could hold them: none, one all-port, or per-port sharing an encap."""
    mode = draw(st.sampled_from(["none", "all-port", "per-port"]))
    if mode == "none":
        return []
    encap = draw(st.sampled_from(_encaps_for(prefix)))
    if mode == "all-port":
        keys = [VipKey(prefix)]
    else:
        ports = draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=3, unique=True))
        keys = [VipKey(prefix, proto, port) for proto, port in ports]
    return [VipState(key=k, spec=draw(spec_for(encap)), ases=draw(ases_for(encap))) for k in keys]


@st.composite
def lb_states(draw) -> LbState:
    vips = [v for prefix in PREFIXES for v in draw(prefix_vips(prefix))]
    conf = draw(st.one_of(st.none(), st.sampled_from(CONFS)))
    return LbState(conf=conf, vips={v.key: v for v in vips})


FLOWS = st.sampled_from([None, 0, 0, 7])  # sticky flows as dumped (None: a state without counts)


@st.composite
def perturbed(draw, vips: List[VipState]) -> List[VipState]:
    """Same VIPs (so same keys and, mostly, specs) with ASes, weights and flows shuffled about."""
    result = []
    for v in vips:
        spec = v.spec if draw(st.integers(0, 4)) else draw(spec_for(v.spec.encap))
        ases = {a: AsState(a, s.weight, flows=draw(FLOWS)) for a, s in v.ases.items() if draw(st.integers(0, 3))}
        for a, s in draw(ases_for(v.spec.encap)).items():
            ases.setdefault(a, AsState(a, s.weight, flows=draw(FLOWS)))
        for a in list(ases):
            if draw(st.booleans()):
                ases[a] = AsState(a, draw(st.integers(0, 100)), flows=draw(FLOWS))
        result.append(VipState(key=v.key, spec=spec, ases=ases))
    return result


@st.composite
def desired_and_actual(draw) -> Tuple[LbState, LbState]:
    """A desired state and a VPP state that shares some of it, per prefix: the same VIPs,
    the same VIPs with other ASes/weights/specs, or unrelated VIPs (to prune or conflict)."""
    desired = draw(lb_states())
    actual_vips: List[VipState] = []
    for prefix in PREFIXES:
        mine = [v for v in desired.vips.values() if v.key.prefix == prefix]
        choice = draw(st.sampled_from(["same", "perturbed", "other"]))
        if choice == "same":
            # As dumped: no flush flags.
            actual_vips += [
                VipState(v.key, v.spec, {a: AsState(a, s.weight, flows=draw(FLOWS)) for a, s in v.ases.items()})
                for v in mine
            ]
        elif choice == "perturbed":
            actual_vips += draw(perturbed(mine))
        else:
            actual_vips += draw(prefix_vips(prefix))
    conf = draw(st.one_of(st.none(), st.sampled_from(CONFS)))
    return desired, LbState(conf=conf, vips={v.key: v for v in actual_vips})


# --------------------------------------------------------------------------------------------
# Properties


def _apply(ops: List[Op], actual: LbState, as_weights: bool = True) -> FakeLb:
    lb = FakeLb(actual, as_weights)
    for op in ops:
        lb.apply(op)
    return lb


def _shape(vip: VipState) -> Tuple[VipSpec, Dict[str, int]]:
    return vip.spec, {a: s.weight for a, s in vip.ases.items()}


def _check_as_order(ops: List[Op], actual: LbState, as_weights: bool = True) -> None:
    """Per VIP, AS ops that add or raise come before those that drop, flush or delete, each
    group in numeric address order (make before break); removals of undesired ASes flush."""
    lb = FakeLb(actual, as_weights)
    last: Dict[VipKey, Tuple[int, Tuple[int, int]]] = {}  # VIP -> (group, address key) of its last AS op
    for op in ops:
        if op.address is None:
            last.pop(op.vip, None)  # a VIP op ends the VIP's run of AS ops (recreate)
        else:
            old = lb.vips[op.vip][1].get(op.address)
            grows = op.action == model.ADD_AS or (op.action == model.SET_WEIGHT and op.weight > old)
            here = (0 if grows else 1, model.address_sort_key(op.address))
            if op.vip in last:
                assert here > last[op.vip], f"{op.describe()} out of order"
            last[op.vip] = here
        lb.apply(op)
    if as_weights:
        assert all(op.flush for op in ops if op.action == model.DEL_AS)


@settings(max_examples=150, deadline=None)
@given(desired_and_actual())
def test_pruning_plan_applies_cleanly_and_converges(pair: Tuple[LbState, LbState]) -> None:
    desired, actual = pair
    ops = planner.plan(desired, actual, prune_vips=True)
    assert planner.conflicts(desired, actual, prune_vips=True) == []
    _check_as_order(ops, actual)
    result = _apply(ops, actual).state()  # raises Refused if VPP would refuse an op
    assert {k: _shape(v) for k, v in result.vips.items()} == {k: _shape(v) for k, v in desired.vips.items()}
    if desired.conf is not None:
        assert result.conf == desired.conf
    assert planner.plan(desired, result, prune_vips=True) == []


@settings(max_examples=150, deadline=None)
@given(desired_and_actual())
def test_non_pruning_plan_keeps_foreign_vips_and_predicts_refusals(pair: Tuple[LbState, LbState]) -> None:
    desired, actual = pair
    ops = planner.plan(desired, actual)
    blocked = planner.conflicts(desired, actual)
    lb = FakeLb(actual)
    refused = []
    for op in ops:
        try:
            lb.apply(op)
        except Refused as exc:
            refused.append(exc)
            break
    if not blocked:
        assert refused == []
        result = lb.state()
        for key, vip in desired.vips.items():
            assert _shape(result.vips[key]) == _shape(vip)
        for key, vip in actual.vips.items():
            if key not in desired.vips:
                assert _shape(result.vips[key]) == _shape(vip)  # foreign: untouched
        assert planner.plan(desired, result) == []
    else:
        # conflicts() foresaw it: the first refusal is an add_vip on an occupied prefix.
        assert refused and refused[0].op.action == model.ADD_VIP


@settings(max_examples=60, deadline=None)
@given(desired_and_actual(), st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_dict_order(pair: Tuple[LbState, LbState], rnd: random.Random) -> None:
    desired, actual = pair

    def shuffled(state: LbState) -> LbState:
        vips = list(state.vips.values())
        rnd.shuffle(vips)
        copies = []
        for v in vips:
            ases = list(v.ases.items())
            rnd.shuffle(ases)
            copies.append(VipState(key=v.key, spec=v.spec, ases=dict(ases), name=v.name))
        return LbState(conf=state.conf, vips={v.key: v for v in copies})

    for prune in (False, True):
        assert planner.plan(shuffled(desired), shuffled(actual), prune_vips=prune) == planner.plan(
            desired, actual, prune_vips=prune
        )


@settings(max_examples=100, deadline=None)
@given(desired_and_actual(), st.booleans())
def test_plan_without_as_weights_converges(pair: Tuple[LbState, LbState], prune: bool) -> None:
    desired, actual = pair
    # LB API 1.1.0 dumps report every used AS the same (no weights).
    actual = LbState(
        conf=actual.conf,
        vips={k: VipState(k, v.spec, {a: AsState(a, 100) for a in v.ases}) for k, v in actual.vips.items()},
    )
    if planner.conflicts(desired, actual, prune_vips=prune, as_weights=False):
        return  # covered by the non-pruning property above
    ops = planner.plan(desired, actual, prune_vips=prune, as_weights=False)
    assert not any(op.action == model.SET_WEIGHT for op in ops)
    _check_as_order(ops, actual, as_weights=False)
    result = _apply(ops, actual, as_weights=False).state()
    for key, vip in desired.vips.items():
        assert result.vips[key].spec == vip.spec
        assert set(result.vips[key].ases) == {a for a, s in vip.ases.items() if s.weight > 0}
    assert planner.plan(desired, result, prune_vips=prune, as_weights=False) == []


# --------------------------------------------------------------------------------------------
# Make before break: no prefix of a VIP's plan leaves it with less than it starts and ends with

MBB_KEY = VipKey("192.0.2.1/32")


@st.composite
def vip_start_and_end(draw) -> Tuple[VipState, VipState]:
    """One VIP as VPP holds it and as desired, same spec (the non-recreate path)."""
    start = {a: AsState(a, s.weight, flows=draw(FLOWS)) for a, s in draw(ases_for("gre4")).items()}
    end = draw(ases_for("gre4"))
    return VipState(MBB_KEY, ases=start), VipState(MBB_KEY, ases=end)


@settings(max_examples=300, deadline=None)
@given(vip_start_and_end())
def test_no_prefix_of_a_plan_leaves_the_vip_without_weight(pair: Tuple[VipState, VipState]) -> None:
    have, want = pair
    ops = planner.plan_vip(want, have)
    assert ops == planner.plan(LbState(vips={MBB_KEY: want}), LbState(vips={MBB_KEY: have}))
    start = sum(a.weight for a in have.ases.values())
    end = sum(a.weight for a in want.ases.values())
    lb = FakeLb(LbState(vips={MBB_KEY: have}))
    totals = [lb.total_weight(MBB_KEY)]
    for op in ops:
        lb.apply(op)
        totals.append(lb.total_weight(MBB_KEY))
    assert totals[-1] == end
    # Weights only rise, then only fall: every step holds at least min(start, end), so a VIP
    # weighted before and after never drops new flows in between.
    assert min(totals) == min(start, end)
    if start > 0 and end > 0:
        assert min(totals) > 0


@settings(max_examples=300, deadline=None)
@given(vip_start_and_end())
def test_without_as_weights_no_prefix_of_a_plan_leaves_the_vip_without_an_as(
    pair: Tuple[VipState, VipState],
) -> None:
    have, want = pair
    have = VipState(MBB_KEY, ases={a: AsState(a, 100) for a in have.ases})  # 1.1.0 dumps: no weights
    ops = planner.plan_vip(want, have, as_weights=False)
    start = len(have.ases)
    end = sum(1 for a in want.ases.values() if a.weight > 0)
    lb = FakeLb(LbState(vips={MBB_KEY: have}), as_weights=False)
    counts = [len(lb.vips[MBB_KEY][1])]
    for op in ops:
        lb.apply(op)
        counts.append(len(lb.vips[MBB_KEY][1]))
    assert counts[-1] == end
    assert min(counts) == min(start, end)
    if start > 0 and end > 0:
        assert min(counts) > 0


# --------------------------------------------------------------------------------------------
# plan_vip is plan() for one VIP; apply_ops predicts the state a plan leaves


@settings(max_examples=100, deadline=None)
@given(desired_and_actual(), st.booleans(), st.booleans())
def test_plan_vip_is_plan_restricted_to_that_vip(
    pair: Tuple[LbState, LbState], prune: bool, as_weights: bool
) -> None:
    desired, actual = pair
    ops = planner.plan(desired, actual, prune_vips=prune, as_weights=as_weights)
    for key, want in desired.vips.items():
        mine = [op for op in ops if op.vip == key]
        assert planner.plan_vip(want, actual.vips.get(key), as_weights=as_weights) == mine


def _compared(state: LbState, as_weights: bool) -> Dict[VipKey, Tuple[VipSpec, Dict[str, int]]]:
    """Spec and AS weights per VIP; without AS weights, the set of present ASes."""
    if as_weights:
        return {k: _shape(v) for k, v in state.vips.items()}
    return {k: (v.spec, {a: 100 for a, s in v.ases.items() if s.weight > 0}) for k, v in state.vips.items()}


@settings(max_examples=150, deadline=None)
@given(desired_and_actual(), st.booleans())
def test_apply_ops_of_a_plan_gives_the_desired_state(pair: Tuple[LbState, LbState], as_weights: bool) -> None:
    desired, actual = pair
    if not as_weights:
        actual = LbState(
            conf=actual.conf,
            vips={k: VipState(k, v.spec, {a: AsState(a, 100, flows=s.flows) for a, s in v.ases.items()})
                  for k, v in actual.vips.items()},
        )
    before = copy.deepcopy(actual)
    ops = planner.plan(desired, actual, prune_vips=True, as_weights=as_weights)
    result = livestate.apply_ops(actual, ops, as_weights=as_weights)
    assert actual == before  # the input is not changed
    assert _compared(result, as_weights) == _compared(desired, as_weights)
    if desired.conf is not None:
        assert result.conf == desired.conf
    assert planner.plan(desired, result, prune_vips=True, as_weights=as_weights) == []
    # Two independent readings of VPP agree on what the ops leave.
    fake = _apply(ops, actual, as_weights).state()
    assert {k: _shape(v) for k, v in result.vips.items()} == {k: _shape(v) for k, v in fake.vips.items()}
    touched = {op.vip for op in ops if op.vip is not None}
    for key, vip in result.vips.items():
        if key in touched:  # the rebuilt table's counts, from the weights after the ops
            weights = {a.address: a.weight for a in vip.ases.values()}
            counts = blast.bucket_counts(vip.spec.new_flows_table_length, weights)
            assert {a.address: a.num_buckets for a in vip.ases.values()} == counts
        else:
            assert vip is actual.vips[key]


@settings(max_examples=100, deadline=None)
@given(desired_and_actual())
def test_apply_ops_without_pruning_keeps_foreign_vips(pair: Tuple[LbState, LbState]) -> None:
    desired, actual = pair
    if planner.conflicts(desired, actual):
        return  # such a plan is not executed
    result = livestate.apply_ops(actual, planner.plan(desired, actual))
    for key, vip in actual.vips.items():
        if key not in desired.vips:
            assert result.vips[key] is vip
    assert planner.plan(desired, result) == []


# --------------------------------------------------------------------------------------------
# Make before break across a whole plan: every VIP that keeps its spec and is weighted before
# and after stays weighted after every op of the plan (not only of its own ops), on both
# generations (1.1.0: a VIP counts its ASes).


def _weighted(lb: FakeLb, key: VipKey) -> int:
    if key not in lb.vips:
        return 0
    return lb.total_weight(key) if lb.as_weights else len(lb.vips[key][1])


@settings(max_examples=150, deadline=None)
@given(desired_and_actual(), st.booleans(), st.booleans())
def test_no_prefix_of_a_whole_plan_leaves_a_kept_vip_without_weight(
    pair: Tuple[LbState, LbState], prune: bool, as_weights: bool
) -> None:
    desired, actual = pair
    if not as_weights:
        actual = LbState(
            conf=actual.conf,
            vips={k: VipState(k, v.spec, {a: AsState(a, 100) for a in v.ases}) for k, v in actual.vips.items()},
        )
    if planner.conflicts(desired, actual, prune_vips=prune, as_weights=as_weights):
        return  # such a plan is not executed
    ops = planner.plan(desired, actual, prune_vips=prune, as_weights=as_weights)
    lb = FakeLb(actual, as_weights)
    end = _apply(ops, actual, as_weights)
    kept = [key for key, want in desired.vips.items()
            if key in actual.vips and actual.vips[key].spec == want.spec
            and _weighted(lb, key) > 0 and _weighted(end, key) > 0]
    for op in ops:
        lb.apply(op)
        for key in kept:
            assert _weighted(lb, key) > 0, f"{key} without weight after {op.describe()}"
    assert planner.plan(desired, lb.state(), prune_vips=prune, as_weights=as_weights) == []  # one step
