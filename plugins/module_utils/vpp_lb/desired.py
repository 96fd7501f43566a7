"""The desired LB state: configuration plus health -> what VPP should hold."""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, Mapping, Optional

from . import model, weights
from .schema import Frontend, LbConfig


def desired_state(
    config: LbConfig,
    health: Optional[Mapping[str, str]] = None,
    adjustments: Optional[Mapping[str, Mapping[str, weights.MemberAdjustment]]] = None,
) -> model.LbState:
    """One VipState per frontend (named after it) with every pool member as an AS.

    ASes carry their effective weight and flush (weights.py); standby and unhealthy backends
    stay programmed at weight 0 so a failover only changes weights. ``health`` None means no
    agent: every enabled backend counts as up. ``adjustments`` maps frontend name -> backend
    name -> the agent's runtime inputs (weights.MemberAdjustment). VIPs and ASes come out in
    numeric order.
    """
    adjustments = adjustments or {}
    states = weights.backend_states(config.backends, health)
    vips: Dict[model.VipKey, model.VipState] = {}
    for frontend in sorted(config.frontends.values(), key=lambda f: f.key.sort_key()):
        vips[frontend.key] = desired_vip(config, frontend, states, adjustments.get(frontend.name))
    return model.LbState(conf=config.conf, vips=vips)


def desired_vip(
    config: LbConfig,
    frontend: Frontend,
    states: Mapping[str, str],
    adjustments: Optional[Mapping[str, weights.MemberAdjustment]] = None,
) -> model.VipState:
    """The VipState of one frontend, ASes in numeric order.

    ``states`` is the complete state per backend, from ``weights.backend_states(config.backends,
    health)``; the agent computes it once and plans one frontend after a health transition.
    ``adjustments``: backend name -> the agent's runtime inputs for this frontend.
    """
    return vip_with_weights(config, frontend, weights.effective_weights(frontend, states, adjustments))


def vip_with_weights(
    config: LbConfig, frontend: Frontend, effective: Mapping[str, weights.EffectiveWeight]
) -> model.VipState:
    """The VipState of one frontend whose effective weights are already computed (the agent
    computes them once per change and plans and publishes that one result)."""
    ases = [
        model.AsState(address=config.backends[name].address, weight=value.weight, flush=value.flush)
        for name, value in effective.items()
    ]
    ases.sort(key=lambda a: model.address_sort_key(a.address))
    return model.VipState(
        key=frontend.key,
        spec=frontend.spec,
        ases={a.address: a for a in ases},
        name=frontend.name,
    )


def hold_live_weights(want: model.LbState, actual: model.LbState, frontends: Iterable[str]) -> model.LbState:
    """``want`` with VPP's live AS weights for the VIPs of ``frontends`` (by name): the frontends
    the agent has not released (warm-up), whose weights it does not set yet.

    An AS the VIP already holds keeps its live weight; an AS VPP does not hold yet gets weight 0
    (the safe side: no traffic to a backend nobody has checked; the agent weights it when it
    releases the frontend). Never a flush. The structure (VIPs, their settings, which ASes
    exist) is still ``want``'s. Returns a new state; ``want`` is not changed.
    """
    names = set(frontends)
    vips = dict(want.vips)
    for key, vip in want.vips.items():
        if vip.name not in names:
            continue
        live = actual.vips.get(key)
        live_ases = live.ases if live is not None else {}
        ases = {
            address: dataclasses.replace(
                state, weight=live_ases[address].weight if address in live_ases else 0, flush=False
            )
            for address, state in vip.ases.items()
        }
        vips[key] = dataclasses.replace(vip, ases=ases)
    return dataclasses.replace(want, vips=vips)
