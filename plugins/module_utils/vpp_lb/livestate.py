"""Targeted sync: the live LB state after ops VPP accepted, without dumping it again. Pure.

The agent keeps the LbState of its last dump. After a health transition it plans one frontend
against it (``planner.plan_vip``), applies the ops, and folds the ops VPP accepted
(``client.apply`` returns them, also inside an ApplyError) back in with ``apply_ops``.

What the result knows, field by field:
* conf, VIP keys and specs, AS sets and weights: exactly what VPP holds after the ops.
* ``num_buckets``: for every AS of a VIP the ops touched, the count VPP's rebuilt table gives
  it, computed from the weights and the table length (``blast.bucket_counts``: VPP's Maglev
  fill hands out exact counts, vpp-facts Part 1 §3), so bucket shares stay current after a
  write without a dump. None when the table length is not known (0).
* ``flows`` (sticky entries per AS): 0 after a flush, and for an AS added at weight 0 (a new
  AS has none, and at weight 0 it gains none). Otherwise an op that leaves or puts an AS at a
  weight above 0, or drains one that had weight, makes its count unknown (None): a weighted
  AS gains and loses flows with traffic, so a count read before is no longer worth anything.
  An AS that stays at weight 0 keeps its count. The planner flushes a drained AS whose count is
  unknown when a flush is due (planner.py, "Flush after a drain").
* ``index`` and ``counters`` of a VIP the ops added: None (VPP picks the index).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable

from . import blast, model
from .model import AsState, LbState, Op, VipKey, VipState


def apply_ops(state: LbState, ops: Iterable[Op], *, as_weights: bool = True) -> LbState:
    """A new LbState: ``state`` as VPP holds it after ``ops``, applied in order.

    ``state`` is not changed; VIPs the ops do not touch are shared with it (states are values).
    ``ops`` are ops VPP accepted, so each applies (an op on a VIP or AS that is not in the state
    is ignored rather than guessed at). ``as_weights`` False (LB API 1.1.0) records added ASes
    at weight 100, as the client's dump reports them there.
    """
    conf = state.conf
    vips: Dict[VipKey, VipState] = dict(state.vips)
    copied = set()  # VIPs already copied for this call; the input's stay untouched
    for op in ops:
        if op.action == model.SET_CONF:
            conf = op.conf
            continue
        if op.action == model.ADD_VIP:
            vips[op.vip] = VipState(key=op.vip, spec=op.spec)
            copied.add(op.vip)
            continue
        if op.action == model.DEL_VIP:
            vips.pop(op.vip, None)
            continue
        vip = vips.get(op.vip)
        if vip is None:
            continue
        if op.vip not in copied:
            ases = {a: dataclasses.replace(s, num_buckets=None) for a, s in vip.ases.items()}
            vip = dataclasses.replace(vip, ases=ases)
            vips[op.vip] = vip
            copied.add(op.vip)
        _apply_as_op(vip.ases, op, as_weights)
    for key in copied:
        if key in vips:
            _count_buckets(vips[key])
    return LbState(conf=conf, vips=vips)


def _count_buckets(vip: VipState) -> None:
    """Fill in num_buckets of a VIP copied by this call (its AS dict is this call's own)."""
    length = vip.spec.new_flows_table_length
    if not length or length < 1:
        return
    counts = blast.bucket_counts(length, {address: a.weight for address, a in vip.ases.items()})
    for address, count in counts.items():
        vip.ases[address] = dataclasses.replace(vip.ases[address], num_buckets=count)


def _apply_as_op(ases: Dict[str, AsState], op: Op, as_weights: bool) -> None:
    address = op.address
    if op.action == model.ADD_AS:
        weight = op.weight if as_weights else model.DEFAULT_WEIGHT
        ases[address] = AsState(address, weight, flows=0 if weight == 0 else None)
    elif op.action == model.DEL_AS:
        ases.pop(address, None)
    elif op.action == model.SET_WEIGHT and address in ases:
        old = ases[address]
        if op.weight > 0:
            flows = None
        elif op.flush:
            flows = 0
        elif old.weight == 0:
            flows = old.flows
        else:
            flows = None
        ases[address] = dataclasses.replace(old, weight=op.weight, flows=flows)
