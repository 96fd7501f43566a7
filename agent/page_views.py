"""What the status page's pictures draw, as JSON-ready values: pure functions of the snapshot.

* ``table_share``: a frontend's new-flow table per AS, exact. The bucket counts come from the
  core's closed form of VPP's Maglev fill (``blast.bucket_counts``: the same counts as the table
  built bucket by bucket, at no cost), from VPP's live weights (the agent's last dump plus the
  writes VPP accepted) for the current share, and from the weights the agent heads for (slow
  start over, ``MemberView.planned_weight``) for the planned share.
* ``transitions``: a backend's last state changes (its health machine keeps the last few).
"""

from __future__ import annotations

import functools
from typing import Dict, List, Mapping, Optional, Tuple

from ..plugins.module_utils.vpp_lb import blast, model
from .health import BackendHealthView
from .snapshot import FrontendView


def _counts(length: int, weights: Mapping[str, int], generation: str) -> Dict[str, int]:
    """Buckets per address: only weighted ASes own buckets; on LB API 1.1.0 each counts once."""
    used = tuple((address, weight if generation == "1.2.0" else 1) for address, weight in weights.items() if weight > 0)
    return dict(_cached_counts(length, used))


# ~1 ms a VIP (address parsing, the fill's rounds): every /state.json would pay it for every
# frontend, though weights change rarely. Keyed by the weights, so a change is a miss.
@functools.lru_cache(maxsize=4096)
def _cached_counts(length: int, used: Tuple[Tuple[str, int], ...]) -> Tuple[Tuple[str, int], ...]:
    return tuple(blast.bucket_counts(length, dict(used)).items())


def _bars(length: int, counts: Mapping[str, int], names: Mapping[str, str]) -> Dict:
    owners = [{"backend": names.get(address, address), "address": address, "buckets": buckets}
              for address, buckets in counts.items() if buckets > 0]
    return {"owners": owners, "drop": length - sum(counts.values())}


def table_share(fe: FrontendView, live: Optional[model.VipState], generation: Optional[str]) -> Optional[Dict]:
    """``{"table_length", "current", "planned", "draining"}`` for the page's share bar; None when the
    frontend has no usable table length. ``current`` is None when VPP does not hold the VIP (or
    is not connected: pass ``live`` None); ``planned`` is None when it equals ``current``."""
    length = fe.spec.new_flows_table_length
    if not length or length < 1:
        return None
    gen = generation or "1.2.0"
    names = {m.address: m.backend for m in fe.members}
    planned_weights = {m.address: (m.effective_weight if m.planned_weight is None else m.planned_weight)
                       for m in fe.members}
    planned = _bars(length, _counts(length, planned_weights, gen), names)
    current = None
    if live is not None and live.spec.new_flows_table_length:
        live_length = live.spec.new_flows_table_length
        weights = {address: a.weight for address, a in live.ases.items()}
        current = _bars(live_length, _counts(live_length, weights, gen), names)
        if live_length == length and current == planned:
            planned = None
    return {
        "table_length": length,
        "current": current,
        "planned": planned,
        "draining": [m.backend for m in fe.members if m.draining],
    }


def transitions(view: BackendHealthView) -> List[Dict]:
    """The backend's kept transitions, oldest first."""
    return [{"from": t.from_state, "to": t.to_state, "at": t.at, "code": t.code} for t in view.history]
