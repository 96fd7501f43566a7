"""Effective weights: from configured pool weights and backend health to what VPP gets.

Shared by the modules and the agent, so both push exactly the same weights for the same view
of health. Pure functions; the rules follow vpp-maglev's health/weights (design.md "Health
model"):

* Backend states: ``unknown`` (no probe result yet), ``up``, ``down``, and the operator states
  ``paused`` (probing stopped, drain) and ``disabled`` (taken out, flush).
* The active pool is the first pool (in the frontend's order) with at least one ``up`` backend
  of nonzero weight (a pool whose up members all weigh 0 cannot take traffic). Only ``up``
  members of the active pool get their configured weight; everything else gets 0, except
  while the active pool returns with slow start (see ``pool_loads``): then the pool it
  replaces keeps the share the returning one does not take yet.
* With ``spill`` (an overprovisioning factor) on the frontend, pools share new flows by
  Envoy's priority load instead (``pool_loads``): a pool that lost part of its members keeps
  what it can carry and the rest spills to the next pool.
  When no backend is up there is no active pool and every weight is 0 (the VIP drops new
  flows, exactly as vpp-maglev does); nothing is "least bad" enough to send traffic to.
* Flush (evict existing sticky flows when the weight drops to 0):
  ``down`` -> the frontend's ``flush_on_down``; ``disabled`` -> always; ``unknown`` and
  ``paused`` -> never (unknown is not evidence of failure; paused means drain);
  an ``up`` backend outside the active pool -> never, so flows that failed over to a standby
  pool drain back gently when the primary recovers.
* A backend's configured weight 0 is a drain inside its pool; it does not stop the pool from
  being active while another up member of it has weight. To fail over deliberately, pause or
  disable the pool's backends.

The agent adds three runtime inputs per pool member (``MemberAdjustment``), which it publishes
in its state file so that a playbook computes exactly the agent's weights:

* ``override``: a runtime weight (0..100) set by the operator, replacing the configured one;
* ``ramp``: slow start, a fraction in (0, 1) of the weight while a recovered backend warms up
  (``slow_start_fraction``); the weight is rounded and at least 1;
* ``draining``: a disabled backend of a frontend with ``drain_timeout`` gets weight 0 without
  flush until the timeout, then the usual flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Mapping, Optional, Tuple

from .schema import Backend, Frontend

UNKNOWN = "unknown"
UP = "up"
DOWN = "down"
PAUSED = "paused"
DISABLED = "disabled"
BACKEND_STATES = (UNKNOWN, UP, DOWN, PAUSED, DISABLED)

# States that carry a probe result; the frontend is "unknown" only while none has one.
_RESULT_STATES = (UP, DOWN)


# Slow start: 20, 40, 60 and 80 % of the weight, one step per quarter of the frontend's
# slow_start, then the full weight. Few steps keep the VPP writes (and table rebuilds) few.
SLOW_START_STEPS = 4

MAX_WEIGHT = 100  # VPP's per-AS weight range is 0..100 (LB API 1.2.0)


@dataclass(frozen=True)
class MemberAdjustment:
    """Runtime inputs of one pool member's weight beyond the inventory (see the module doc)."""

    override: Optional[int] = None
    ramp: Optional[float] = None
    draining: bool = False

    def is_neutral(self) -> bool:
        return self.override is None and self.ramp is None and not self.draining


NO_ADJUSTMENT = MemberAdjustment()


def slow_start_fraction(elapsed: float, duration: float) -> Optional[float]:
    """The ramp fraction ``elapsed`` seconds after a backend recovered, None once it is over.

    Step k (k = 0..SLOW_START_STEPS-1) covers [k, k+1) * duration / SLOW_START_STEPS and gives
    (k + 1) / (SLOW_START_STEPS + 1) of the weight.
    """
    if duration <= 0 or elapsed >= duration:
        return None
    step = int(max(elapsed, 0.0) * SLOW_START_STEPS / duration)
    return (step + 1) / (SLOW_START_STEPS + 1)


def slow_start_next_step(elapsed: float, duration: float) -> Optional[float]:
    """Seconds from ``elapsed`` until the ramp's next step (or its end), None once it is over."""
    if duration <= 0 or elapsed >= duration:
        return None
    step = int(max(elapsed, 0.0) * SLOW_START_STEPS / duration)
    return (step + 1) * duration / SLOW_START_STEPS - elapsed


def ramped(weight: int, ramp: Optional[float]) -> int:
    """``weight`` scaled by a slow-start fraction: rounded, at least 1 for a nonzero weight."""
    if ramp is None or weight == 0:
        return weight
    return max(1, min(weight, int(weight * ramp + 0.5)))


@dataclass(frozen=True)
class EffectiveWeight:
    """What to program for one AS: weight 0..100 and whether a drop to 0 evicts sticky flows."""

    weight: int
    flush: bool = False


def _state_of(name: str, health: Optional[Mapping[str, str]]) -> str:
    """The state of one backend; None means "no agent", where every backend counts as up."""
    if health is None:
        return UP
    state = health.get(name, UNKNOWN)
    if state not in BACKEND_STATES:
        raise ValueError(f"backend {name}: unknown health state {state!r}")
    return state


def backend_states(
    backends: Mapping[str, Backend], health: Optional[Mapping[str, str]] = None
) -> Dict[str, str]:
    """Complete state per configured backend, merging the config with the agent's view.

    * ``enabled: false`` in the config wins: ``disabled``.
    * ``health`` None (no agent, or its view is stale): every other backend is ``up``.
    * A backend missing from the agent's view: ``up`` when it has no healthcheck (nothing to
      wait for), else ``unknown`` (the agent has not probed it yet, e.g. just added).
    """
    states: Dict[str, str] = {}
    for name, backend in backends.items():
        if not backend.enabled:
            states[name] = DISABLED
        elif health is None:
            states[name] = UP
        elif name in health:
            states[name] = _state_of(name, health)
        else:
            states[name] = UP if backend.healthcheck is None else UNKNOWN
    return states


def _base_weight(configured: int, adjust: MemberAdjustment) -> int:
    """A member's weight before slow start: the runtime override when set, else the configured one."""
    return configured if adjust.override is None else adjust.override


def active_pool(
    frontend: Frontend,
    health: Optional[Mapping[str, str]] = None,
    adjustments: Optional[Mapping[str, MemberAdjustment]] = None,
) -> Optional[str]:
    """Name of the first pool with an up backend of nonzero weight, or None when no backend is up.

    A pool whose up members all weigh 0 (configured or overridden) cannot take traffic, so the
    next pool with a weighted up member is active instead. Only when no pool has one is the
    first pool with any up member active (the VIP then has total weight 0 whatever we pick).
    """
    adjustments = adjustments or {}
    first_up = None
    for pool in frontend.pools:
        up = [name for name in pool.members if _state_of(name, health) == UP]
        if not up:
            continue
        if any(_base_weight(pool.members[n], adjustments.get(n, NO_ADJUSTMENT)) > 0 for n in up):
            return pool.name
        first_up = first_up or pool.name
    return first_up


@dataclass(frozen=True)
class PoolShare:
    """One pool's part in a frontend's new flows, as ``pool_shares`` computes it.

    ``healthy_fraction``: the weight of its up members (override, slow start) over its configured
    weight, capped at 1. ``health``: with spill, ``healthy_fraction`` x overprovisioning capped at
    1 (Envoy's priority health); None without spill. ``share``: the part of new flows it is
    meant to carry (0..1). ``spilled``: the part it leaves to the pools after it (the sum of
    their shares), so a reader sees where the rest went.
    """

    pool: str
    healthy_fraction: float
    health: Optional[float]
    share: float
    spilled: float


def pool_shares(
    frontend: Frontend,
    health: Optional[Mapping[str, str]] = None,
    adjustments: Optional[Mapping[str, MemberAdjustment]] = None,
) -> Tuple[PoolShare, ...]:
    """Every pool's ``PoolShare``, in pool order: the one computation of how a frontend splits new
    flows between its pools; ``pool_loads`` and every view (status API, maglevctl, state file)
    read it, so what they show is what the weights carry."""
    adjustments = adjustments or {}
    fractions = {pool.name: healthy_fraction(pool.members, health, adjustments) for pool in frontend.pools}
    loads = _loads(frontend, fractions, health, adjustments)
    names = [pool.name for pool in frontend.pools]
    return tuple(
        PoolShare(
            pool=name,
            healthy_fraction=fractions[name],
            health=None if frontend.spill is None else min(1.0, frontend.spill * fractions[name]),
            share=loads[name],
            spilled=sum(loads[later] for later in names[i + 1:]),
        )
        for i, name in enumerate(names)
    )


def shows_pool_shares(spill: bool, shares: Iterable[Optional[float]]) -> bool:
    """Whether a frontend's split of new flows between its pools is worth showing (maglevctl,
    the status page): when spill is on or more than one pool carries flows (a fail-back ramp).
    ``spill``: the frontend has spill on; ``shares``: each pool's ``PoolShare.share`` (None
    where a view has none)."""
    return spill or sum(1 for share in shares if share) >= 2


def pool_loads(
    frontend: Frontend,
    health: Optional[Mapping[str, str]] = None,
    adjustments: Optional[Mapping[str, MemberAdjustment]] = None,
) -> Dict[str, float]:
    """The share of new flows each pool is meant to carry (0..1, summing to 1, or all 0).

    One rule set, two shapes, chosen by the frontend's ``spill``:

    * Off (default): all or nothing. The active pool carries everything, except while it
      returns with slow start (every weighted up member still ramping): then it carries the
      most advanced ramp ``r`` and the next pool with a weighted up member keeps ``1 - r``,
      so a fail-back is as gradual as a backend's own recovery.
    * On (``spill = overprovisioning factor``): Envoy's priority load. A pool's health is its
      healthy fraction (``healthy_fraction``: slow start and overrides count in) times the
      factor, capped at 1; in priority order each pool takes its health of what the pools
      before it left, the rest spills on. When the pools' healths sum to less than 1, the
      loads are scaled up to sum to 1 (Envoy's normalisation: degraded, but nothing dropped
      while a backend is up).
    """
    return {share.pool: share.share for share in pool_shares(frontend, health, adjustments)}


def _loads(frontend: Frontend, fractions: Mapping[str, float], health, adjustments) -> Dict[str, float]:
    loads = {pool.name: 0.0 for pool in frontend.pools}
    if frontend.spill is not None:
        healths = {name: min(1.0, frontend.spill * fraction) for name, fraction in fractions.items()}
        total = sum(healths.values())
        left = 1.0
        for name, value in healths.items():
            loads[name] = min(left, value) / min(1.0, total) if total > 0 else 0.0
            left -= min(left, value)
        return loads
    active = active_pool(frontend, health, adjustments)
    if active is None:
        return loads
    loads[active] = 1.0
    spill, share = _failback_pool(frontend, active, health, adjustments)
    if spill is not None:
        loads[active], loads[spill] = 1.0 - share, share
    return loads


def healthy_fraction(
    members: Mapping[str, int],
    health: Optional[Mapping[str, str]] = None,
    adjustments: Optional[Mapping[str, MemberAdjustment]] = None,
) -> float:
    """The weight of a pool's up members (override and slow start applied) over its configured
    weight, capped at 1; 0 for a pool whose configured weights are all 0."""
    adjustments = adjustments or {}
    configured = sum(members.values())
    if configured == 0:
        return 0.0
    healthy = sum(
        _current_weight(weight, adjustments.get(name, NO_ADJUSTMENT))
        for name, weight in members.items()
        if _state_of(name, health) == UP
    )
    return min(1.0, healthy / configured)


def _current_weight(configured: int, adjust: MemberAdjustment) -> int:
    return ramped(_base_weight(configured, adjust), adjust.ramp)


def _weighted_up(members: Mapping[str, int], health, adjustments) -> list:
    return [
        adjustments.get(name, NO_ADJUSTMENT)
        for name, configured in members.items()
        if _state_of(name, health) == UP and _base_weight(configured, adjustments.get(name, NO_ADJUSTMENT)) > 0
    ]


def _failback_pool(frontend: Frontend, active: str, health, adjustments) -> Tuple[Optional[str], float]:
    """Without spill: the pool that keeps part of the traffic while a returning active pool ramps
    up, and the share it keeps (``1 - r``, ``r`` the most advanced ramp of the active pool);
    (None, 0) unless every weighted up member of the active pool is ramping."""
    pools = list(frontend.pools)
    index = next(i for i, p in enumerate(pools) if p.name == active)
    ramps = [adjust.ramp for adjust in _weighted_up(pools[index].members, health, adjustments)]
    if not ramps or any(r is None for r in ramps):
        return None, 0.0
    for later in pools[index + 1:]:
        if _weighted_up(later.members, health, adjustments):
            return later.name, 1.0 - max(ramps)
    return None, 0.0


def _pool_scales(
    frontend: Frontend, loads: Mapping[str, float], current: Mapping[str, Dict[str, int]]
) -> Dict[str, float]:
    """Per pool, the factor its members' current weights are multiplied by to give its load.

    Without spill the active pool's ramp is already in its members' weights, so the returning
    pool keeps factor 1 and the pool it replaces gets its share (``1 - r``) as factor. With
    spill the shares are exact: VPP gives an AS ``weight / total weight`` of the table, so a
    pool's factor is its load over its current weight, relative to the first loaded pool
    (whose weights so stay as configured when nothing spills), scaled down when a weight would
    pass 100.
    """
    if frontend.spill is None:
        active = next((name for name, load in loads.items() if load > 0), None)
        return {name: (1.0 if name == active else load) for name, load in loads.items()}
    totals = {name: sum(current[name].values()) for name in loads}
    per_weight = {name: loads[name] / totals[name] for name in loads if loads[name] > 0 and totals[name] > 0}
    if not per_weight:
        return {name: 0.0 for name in loads}
    first = next(iter(per_weight.values()))
    scales = {name: per_weight.get(name, 0.0) / first for name in loads}
    highest = max(weight * scales[name] for name in loads for weight in current[name].values())
    if highest > MAX_WEIGHT:
        scales = {name: scale * MAX_WEIGHT / highest for name, scale in scales.items()}
    return scales


def _scaled(weight: int, scale: float) -> int:
    """``weight`` times a pool's scale: rounded, at least 1 (a loaded pool's member keeps a
    replica), at most 100."""
    if weight == 0 or scale == 1.0:
        return weight
    return max(1, min(MAX_WEIGHT, int(weight * scale + 0.5)))


def effective_weights(
    frontend: Frontend,
    health: Optional[Mapping[str, str]] = None,
    adjustments: Optional[Mapping[str, MemberAdjustment]] = None,
) -> Dict[str, EffectiveWeight]:
    """Weight and flush per backend name of ``frontend``, in pool order.

    ``health`` maps backend name -> state; None means no agent (all up); a missing name is
    ``unknown``. Use ``backend_states`` first to fold in ``enabled`` and healthcheck-less
    backends. ``adjustments`` maps backend name -> the agent's runtime inputs for this
    frontend (override, slow-start ramp, drain). Every up member gets its current weight
    (override, ramp) times its pool's scale (``pool_loads`` turned into weights); a pool
    without load gives 0.
    """
    adjustments = adjustments or {}
    loads = pool_loads(frontend, health, adjustments)
    current = {
        pool.name: {
            name: _current_weight(configured, adjustments.get(name, NO_ADJUSTMENT))
            for name, configured in pool.members.items()
            if _state_of(name, health) == UP
        }
        for pool in frontend.pools
    }
    scales = _pool_scales(frontend, loads, current)
    result: Dict[str, EffectiveWeight] = {}
    for pool in frontend.pools:
        for name in pool.members:
            state = _state_of(name, health)
            adjust = adjustments.get(name, NO_ADJUSTMENT)
            if state == UP:
                weight = _scaled(current[pool.name][name], scales[pool.name]) if loads[pool.name] > 0 else 0
                result[name] = EffectiveWeight(weight, flush=False)
            elif state == DOWN:
                result[name] = EffectiveWeight(0, flush=frontend.flush_on_down)
            elif state == DISABLED:
                result[name] = EffectiveWeight(0, flush=not adjust.draining)
            else:  # unknown, paused: drain, keep existing flows
                result[name] = EffectiveWeight(0, flush=False)
    return result


def settled_weights(
    frontend: Frontend,
    health: Optional[Mapping[str, str]] = None,
    adjustments: Optional[Mapping[str, MemberAdjustment]] = None,
) -> Dict[str, int]:
    """The weight per backend name once every slow start of ``frontend`` is over, health and the
    other adjustments (override, drain) as they are now: where ``effective_weights`` is heading."""
    adjustments = adjustments or {}
    unramped = {name: MemberAdjustment(adjust.override, None, adjust.draining) for name, adjust in adjustments.items()}
    return {name: w.weight for name, w in effective_weights(frontend, health, unramped).items()}


def frontend_state(
    frontend: Frontend,
    health: Optional[Mapping[str, str]] = None,
    adjustments: Optional[Mapping[str, MemberAdjustment]] = None,
) -> str:
    """``up`` iff some backend has a nonzero effective weight; ``unknown`` iff no backend has a
    probe result yet (and at least one is still unknown); else ``down``."""
    effective = effective_weights(frontend, health, adjustments)
    return state_of_weights(effective, {name: _state_of(name, health) for name in effective})


def state_of_weights(effective: Mapping[str, EffectiveWeight], states: Mapping[str, str]) -> str:
    """frontend_state from weights already computed and the members' states."""
    if any(w.weight > 0 for w in effective.values()):
        return UP
    values = [states[name] for name in effective]
    if UNKNOWN in values and not any(state in _RESULT_STATES for state in values):
        return UNKNOWN
    return DOWN
