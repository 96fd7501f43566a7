"""Pure decisions of the agent's VPP sync (agent/vppsync.py carries them out).

* ``plan_full``: the full sync's ops with the same conflict check as the ``lb`` module, leaving
  out the frontends VPP would refuse to (re)create, so they stay as they are in VPP.
* ``ConnectFailures``: when a VPP the agent cannot reach is worth a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ..plugins.module_utils.vpp_lb import model, planner

CONNECT_WARN_EVERY = 60.0  # seconds between warnings while VPP stays unreachable


def plan_full(
    desired: model.LbState, actual: model.LbState, *, as_weights: bool
) -> Tuple[List[model.Op], Dict[model.VipKey, str]]:
    """(ops, blocked): the plan for every desired VIP whose adds VPP accepts, and per VIP left
    out, why VPP would refuse it (``planner.blocked_vips``).

    A VIP left out keeps what VPP has (its old settings, ASes and weights): deleting a VIP that
    cannot be added back would turn a frontend the agent cannot converge into one that does not
    exist. A VIP left out stays on its prefix where the first plan had it leave, so the plan is
    checked again until it is clean (at most once more per desired VIP; in practice whatever
    blocks one per-port VIP of a prefix blocks the others in the same round).
    """
    vips = dict(desired.vips)
    blocked: Dict[model.VipKey, str] = {}
    while True:
        trial = model.LbState(conf=desired.conf, vips=vips)
        ops = planner.plan(trial, actual, prune_vips=False, as_weights=as_weights)
        if not any(op.action == model.ADD_VIP for op in ops):
            return ops, blocked  # only a VIP add can be refused
        refused = planner.blocked_vips(trial, actual, prune_vips=False, as_weights=as_weights)
        if not refused:
            return ops, blocked
        for key, why in refused.items():
            blocked[key] = why
            del vips[key]


def vip_blocked(want: model.VipState, ops: List[model.Op], actual: model.LbState, *, as_weights: bool) -> Optional[str]:
    """Why VPP would refuse the add in ``ops`` (one VIP's targeted plan), or None."""
    if not any(op.action == model.ADD_VIP for op in ops):
        return None
    refused = planner.blocked_vips(model.LbState(vips={want.key: want}), actual, as_weights=as_weights)
    return refused.get(want.key)


@dataclass
class ConnectFailures:
    """A VPP connection that keeps failing: warn at the first failure of an outage, then every
    ``warn_every`` seconds while it lasts (``now`` is any monotonic clock)."""

    warn_every: float = CONNECT_WARN_EVERY
    since: Optional[float] = None  # the first failure of the current outage
    count: int = 0  # failures in the current outage
    warned_at: Optional[float] = None

    def failed(self, now: float) -> bool:
        """Record a failed connect; whether to warn about it."""
        if self.since is None:
            self.since = now
        self.count += 1
        if self.warned_at is None or now - self.warned_at >= self.warn_every:
            self.warned_at = now
            return True
        return False

    def connected(self, now: float) -> Optional[Tuple[float, int]]:
        """Record a connect; (seconds, failures) of the outage it ends, None if there was none."""
        if self.since is None:
            return None
        outage = (now - self.since, self.count)
        self.since, self.count, self.warned_at = None, 0, None
        return outage
