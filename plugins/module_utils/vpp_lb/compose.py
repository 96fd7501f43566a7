"""Composing LB states: what VPP must hold for each module state, and what it holds after a plan.

Pure functions over model.LbState, used by the modules (merged/deleted semantics, the predicted
`after`) and available to the agent.
"""

from __future__ import annotations

import dataclasses
from typing import Dict

from . import model


def merge_kept_ases(want: model.LbState, actual: model.LbState) -> model.LbState:
    """``want`` where each declared VIP also keeps the ASes VPP has on it that it does not declare.

    Those ASes keep their live weight. This is what `merged` means for ASes; the planner then
    never deletes an AS of a declared VIP (a recreate re-adds them with their weight).
    """
    vips = {}
    for key, vip in want.vips.items():
        have = actual.vips.get(key)
        if have is None:
            vips[key] = vip
            continue
        ases = {
            address: model.AsState(address=address, weight=live.weight)
            for address, live in have.ases.items()
            if address not in vip.ases
        }
        ases.update(vip.ases)
        ordered = {address: ases[address] for address in sorted(ases, key=model.address_sort_key)}
        vips[key] = dataclasses.replace(vip, ases=ordered)
    return model.LbState(conf=want.conf, vips=vips)


def without_vips(actual: model.LbState, keys) -> model.LbState:
    """``actual`` minus the VIPs ``keys`` (what `deleted` leaves); conf untouched."""
    keys = set(keys)
    return model.LbState(conf=None, vips={k: v for k, v in actual.vips.items() if k not in keys})


def predict_after(want: model.LbState, actual: model.LbState, *, prune_vips: bool, as_weights: bool) -> model.LbState:
    """The LB state VPP holds once the plan for (want, actual) is applied.

    VIPs that are not desired stay unless pruned; without AS weights (LB API 1.1.0) an AS of
    weight 0 is absent and the others read back with VPP's reported weight 100.
    """
    conf = want.conf if want.conf is not None else actual.conf
    vips: Dict[model.VipKey, model.VipState] = {}
    if not prune_vips:
        for key, vip in actual.vips.items():
            if key not in want.vips:
                vips[key] = _structure_only(vip)
    for key, vip in want.vips.items():
        ases = {}
        for address, a in vip.ases.items():
            if as_weights:
                ases[address] = model.AsState(address=address, weight=a.weight)
            elif a.weight > 0:
                ases[address] = model.AsState(address=address, weight=model.DEFAULT_WEIGHT)
        vips[key] = model.VipState(key=key, spec=vip.spec, ases=ases, name=vip.name)
    ordered = {key: vips[key] for key in sorted(vips, key=model.VipKey.sort_key)}
    return model.LbState(conf=conf, vips=ordered)


def _structure_only(vip: model.VipState) -> model.VipState:
    """A VIP without runtime data (bucket counts, pool index, counters)."""
    ases = {address: model.AsState(address=address, weight=a.weight) for address, a in vip.ases.items()}
    return model.VipState(key=vip.key, spec=vip.spec, ases=ases, name=vip.name)


def named_like(state: model.LbState, want: model.LbState) -> model.LbState:
    """``state`` with the frontend names of ``want`` on the VIPs both have (VPP has no names)."""
    vips = {}
    for key, vip in state.vips.items():
        declared = want.vips.get(key)
        vips[key] = dataclasses.replace(vip, name=declared.name) if declared is not None else vip
    return model.LbState(conf=state.conf, vips=vips)
