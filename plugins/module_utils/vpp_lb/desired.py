"""The desired LB state: configuration plus health -> what VPP should hold."""

from __future__ import annotations

from typing import Dict, Mapping, Optional

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
