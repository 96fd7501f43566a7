"""The status page's packet rates: a bounded history of each VIP's monotonic packet counters.

The web server records one sample per counters scrape (``stats_interval``) from the exporter's
monotonic totals (``MonotonicCounters``: a VPP restart or a re-created VIP never reads as a
negative rate). Samples share one time axis, so a VIP holds only its values: a VIP absent from a
scrape (VPP not connected, VIP not in VPP) gets NaN there, a gap in its chart. Memory is bounded:
``points`` samples (at most MAX_POINTS) of RATE_KINDS doubles per configured VIP, ~3 KB a VIP.

Rates are computed on demand (pure ``rates_between``): packets per second between neighbours.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from typing import Deque, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from ..plugins.module_utils.vpp_lb import model

# The exporter's packet kinds the page draws: packets of known flows, of new flows, and new
# flows dropped because the VIP has no AS (exporter.PACKET_KINDS names).
RATE_KINDS = ("next", "first", "no-server")
WINDOW = 600.0  # seconds of history the page shows (at the default 5 s scrape: 120 samples)
MAX_POINTS = 121  # samples kept at most, whatever the scrape interval: rates between them


def points_for(interval: float, window: float = WINDOW, cap: int = MAX_POINTS) -> int:
    """Samples that cover ``window`` at one per ``interval`` (plus the first), at most ``cap``, at least 2."""
    return max(2, min(cap, int(math.ceil(window / interval)) + 1))


def rates_between(times: Sequence[float], values: Sequence[float]) -> List[Optional[float]]:
    """Per second between neighbouring samples (one fewer than the samples); None where a side is
    missing (NaN), time did not advance, or the counter went down."""
    rates: List[Optional[float]] = []
    for i in range(1, len(times)):
        before, after, dt = values[i - 1], values[i], times[i] - times[i - 1]
        if math.isnan(before) or math.isnan(after) or dt <= 0 or after < before:
            rates.append(None)
        else:
            rates.append((after - before) / dt)
    return rates


class RateHistory:
    """The last ``points`` samples of every kept VIP's RATE_KINDS totals (see the module doc)."""

    def __init__(self, points: int):
        if points < 2:
            raise ValueError(f"points must be at least 2, not {points}")
        self.points = points
        self.times: Deque[float] = deque(maxlen=points)
        self._values: Dict[model.VipKey, array] = {}  # len(RATE_KINDS) doubles per sample, aligned to times
        self._names: Dict[model.VipKey, str] = {}  # str(vip), as the page keys VIPs
        self._keys: Dict[model.VipKey, Tuple[Tuple[model.VipKey, str], ...]] = {}  # its totals' keys, made once

    def record(self, at: float, totals: Mapping[Tuple[model.VipKey, str], int], keep: FrozenSet[model.VipKey]) -> None:
        """One sample at ``at`` (unix seconds) of ``totals`` ((VIP, kind) -> count) for the VIPs in
        ``keep`` (the configured ones; others are forgotten). A sample not later than the last is ignored."""
        if self.times and at <= self.times[-1]:
            return
        self.times.append(at)
        width = len(RATE_KINDS)
        for vip in [v for v in self._values if v not in keep]:
            del self._values[vip], self._names[vip], self._keys[vip]
        for vip in keep:
            values = self._values.get(vip)
            if values is None:  # a new VIP: gaps for the samples before it
                values = self._values[vip] = array("d", [math.nan] * (width * (len(self.times) - 1)))
                self._names[vip] = str(vip)
                self._keys[vip] = tuple((vip, kind) for kind in RATE_KINDS)
            values.extend([float(totals.get(key, math.nan)) for key in self._keys[vip]])
            excess = len(values) - width * len(self.times)
            if excess > 0:
                del values[:excess]

    def series(self, vip: model.VipKey) -> Optional[Dict[str, List[Optional[float]]]]:
        """{kind: rates per second} over the kept samples (aligned to ``times[1:]``), None for an unknown VIP."""
        values = self._values.get(vip)
        return None if values is None else _series(list(self.times), values)

    def copy(self) -> RatesCopy:
        """The samples as they are now, for ``view_of`` in a worker thread (``record`` goes on meanwhile)."""
        return RatesCopy(self.points, tuple(self.times), {vip: array("d", v) for vip, v in self._values.items()})

    def view(self) -> Dict:
        return view_of(self.copy())

    def latest(self) -> Optional[Dict]:
        """The newest rate of every VIP (the page appends it), None before the second sample."""
        if len(self.times) < 2:
            return None
        width = len(RATE_KINDS)
        dt = self.times[-1] - self.times[-2]
        newest: Dict[str, List[Optional[float]]] = {}
        for vip, values in self._values.items():
            before, after = values[-2 * width:-width], values[-width:]
            newest[self._names[vip]] = [None if math.isnan(b) or math.isnan(a) or a < b else (a - b) / dt
                                        for b, a in zip(before, after, strict=True)]
        return {"at": self.times[-1], "vips": newest}


class RatesCopy(NamedTuple):
    points: int
    times: Tuple[float, ...]
    values: Dict[model.VipKey, array]


def _series(times: Sequence[float], values: array) -> Dict[str, List[Optional[float]]]:
    width = len(RATE_KINDS)
    return {kind: rates_between(times, values[i::width]) for i, kind in enumerate(RATE_KINDS)}


def view_of(copy: RatesCopy) -> Dict:
    """The JSON the page draws (/rates.json): sample times (ends of the rate intervals) and rates per VIP."""
    return {
        "kinds": list(RATE_KINDS),
        "times": list(copy.times)[1:],
        "points": copy.points - 1,
        "vips": {str(vip): _series(copy.times, values) for vip, values in copy.values.items()},
    }
