"""The agent's published view: immutable values, swapped in one assignment.

Readers (state file, exporter, status API, page) take ``agent.snapshot`` and read it without
locks; the daemon builds a new one after every change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, List, Mapping, Optional, Tuple

from ..plugins.module_utils.vpp_lb import model, weights
from ..plugins.module_utils.vpp_lb.config_digest import ConfigDigest
from .decisions import Blindness
from .health import BackendHealthView
from .vppsync import CountersSnapshot, VppInfo


@dataclass(frozen=True)
class MemberView:
    """One pool member of a frontend: configured and effective weight and why."""

    backend: str
    address: str
    pool: str
    configured_weight: int
    effective_weight: int
    flush: bool
    state: str  # the backend's state as the weights see it (config `enabled: false` = disabled)
    override: Optional[int] = None
    ramp: Optional[float] = None
    draining: bool = False
    buckets: Optional[int] = None  # VPP's share of the new-flow table, from the last dump
    # The weight once slow start is over (weights.settled_weights); None: the effective weight
    # is already it (nothing in the frontend ramps).
    planned_weight: Optional[int] = None


@dataclass(frozen=True)
class FrontendView:
    name: str
    vip: model.VipKey
    spec: model.VipSpec
    state: str  # up / down / unknown
    active_pool: Optional[str]
    flush_on_down: bool
    released: bool  # warm-up: the agent writes this frontend's VIP
    members: Tuple[MemberView, ...]
    description: str = ""
    pools: Tuple[weights.PoolShare, ...] = ()  # the plan's weights.pool_shares, in pool order
    spill: Optional[float] = None  # the frontend's overprovisioning factor (None: spill off)


def buckets_of(lb_state: Optional[model.LbState], key: model.VipKey) -> Optional[Mapping[str, Optional[int]]]:
    """What a frontend's view shows of VPP (``MemberView.buckets``): each AS's bucket count in
    the VIP ``key`` of ``lb_state``; None if VPP has no such VIP (or nothing is known)."""
    vip = lb_state.vips.get(key) if lb_state is not None else None
    return None if vip is None else {address: a.num_buckets for address, a in vip.ases.items()}


def live_changed(frontends: Iterable[Tuple[str, model.VipKey]], before: Optional[model.LbState],
                 after: Optional[model.LbState]) -> List[str]:
    """The frontends (name, VIP) whose view of VPP differs between two LB states: a full sync's
    fresh dump usually changes none, and rebuilding every view for it cost 40-280 ms of the
    event loop at 5,000 backends (docs/performance.md, "The agent at 5,000 backends")."""
    if before is after:
        return []
    return [name for name, key in frontends if buckets_of(before, key) != buckets_of(after, key)]


@dataclass(frozen=True)
class ReloadStatus:
    """The last config load: ``ok`` whether it succeeded, ``at`` when it was tried,
    ``success_at`` the last successful one (the start counts), ``error`` why the last one failed."""

    ok: bool
    at: float
    success_at: float
    error: str = ""


@dataclass(frozen=True)
class AgentSnapshot:
    at: float  # unix seconds
    started_at: float
    warmup: str  # "holding" (no VPP writes), "releasing" (per frontend), "done"
    backends: Mapping[str, BackendHealthView]
    frontends: Mapping[str, FrontendView]
    vpp: VppInfo
    lb_state: Optional[model.LbState]
    counters: Optional[CountersSnapshot]
    mutations: Mapping[Tuple[str, str], int]
    config_loaded_at: float
    sources: Mapping[str, str] = field(default_factory=dict)  # backend -> where its state comes from
    blind: Mapping[str, Blindness] = field(default_factory=dict)  # backends the agent cannot probe
    held: Tuple[str, ...] = ()  # frontends warm-up has not released (VPP keeps their weights)
    reload: Optional[ReloadStatus] = None
    # backend -> its state as the weights see it: weights.backend_states, where `enabled: false`
    # in the config wins. The one place readers (API, page, exporter) take a backend's state from.
    states: Mapping[str, str] = field(default_factory=dict)
    digest: Optional[ConfigDigest] = None  # of the config these views were planned from (the modules compare)

    def state_of(self, backend: str) -> str:
        return self.states.get(backend) or self.backends[backend].state
