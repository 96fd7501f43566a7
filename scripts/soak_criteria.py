"""The soak's pass criteria (scripts/soak.py), as pure functions of the recorded series.

A resource is flat after warm-up when both hold:

* no upward trend: the least-squares slope over the second half of the run, times the run's
  duration (the growth the trend would add over a whole run), stays below a threshold: a share
  of the resource's median after warm-up, with an absolute floor (fds and tasks jump by a few
  while probes are in flight);
* no higher peaks: the maximum over the last window is at most 1.1 x the maximum over the first
  window after warm-up (the windows: 5 minutes, shorter in short runs).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple


@dataclass(frozen=True)
class Flatness:
    """How much growth a resource may show: ``share`` of its median, at least ``floor``."""

    share: float
    floor: float
    # Judge the rolling minimum over this many samples (1: the samples): descriptors in flight
    # (probe sockets) spike for a second, a leaked one raises the floor.
    floor_of: int = 1


# RSS in MB, fds and tasks as counts.
FLATNESS = {"rss_mb": Flatness(0.05, 2.0), "fds": Flatness(0.10, 3.0, floor_of=5), "tasks": Flatness(0.10, 3.0)}
PEAK_MARGIN = 1.1
WINDOW = 300.0  # seconds of the first-after-warm-up and last windows
# A scheduled failure's down transition may come this long after the window ends: the soak's
# check detects in interval + (fall - 1) x fast_interval + timeout (about 4.3 s, +10 % jitter),
# doubled for a loaded machine.
DETECTION_SLACK = 10.0


def slope(points: Sequence[Tuple[float, float]]) -> float:
    """Least-squares slope of (t, value) points (0 for fewer than two distinct times)."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _v in points)
    mean_v = statistics.fmean(v for _t, v in points)
    var = sum((t - mean_t) ** 2 for t, _v in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def windows(start: float, end: float) -> Tuple[Tuple[float, float], Tuple[float, float]]:
    """(first window after warm-up, last window): ``WINDOW`` long, or a third of a shorter span."""
    length = min(WINDOW, (end - start) / 3)
    return (start, start + length), (end - length, end)


def flatness(points: Sequence[Tuple[float, float]], warmup: float, duration: float, rule: Flatness) -> Dict:
    """The flatness verdict of one resource's (t, value) series, t in seconds from the start."""
    if rule.floor_of > 1:
        points = [(t, min(v for _t, v in points[max(0, i - rule.floor_of + 1): i + 1])) for i, (t, _v) in
                  enumerate(points)]
    after = [(t, v) for t, v in points if t >= warmup]
    if len(after) < 6:
        return {"ok": False, "reason": f"{len(after)} samples after warm-up: too few to judge"}
    end = after[-1][0]
    half = [(t, v) for t, v in after if t >= (warmup + end) / 2]
    growth = slope(half) * duration
    median = statistics.median(v for _t, v in after)
    allowed = max(rule.floor, rule.share * median)
    (f0, f1), (l0, l1) = windows(warmup, end)
    first_max = max(v for t, v in after if f0 <= t <= f1)
    last_max = max(v for t, v in after if l0 <= t <= l1)
    trend_ok = growth <= allowed
    peak_ok = last_max <= first_max * PEAK_MARGIN
    return {
        "ok": trend_ok and peak_ok, "trend_ok": trend_ok, "peak_ok": peak_ok,
        "growth_over_run": growth, "allowed_growth": allowed, "median": median,
        "first": after[0][1], "last": after[-1][1], "first_window_max": first_max, "last_window_max": last_max,
        "windows": [[f0, f1], [l0, l1]],
    }


def restores(restarts: List[Dict], max_delay: float) -> Dict:
    """Every VPP restart restored (all weights back) within ``max_delay`` seconds."""
    times = [r["restored_after"] for r in restarts]
    late = [r for r in restarts if r["restored_after"] is None or r["restored_after"] > max_delay]
    done = [t for t in times if t is not None]
    return {"ok": not late, "count": len(restarts), "max_delay": max_delay, "late": late,
            "max": max(done) if done else None, "median": statistics.median(done) if done else None}


def false_downs(transitions: List[Dict], down_windows: Mapping[str, Sequence[Tuple[float, float]]],
                vpp_zero: List[Dict], slack: float = DETECTION_SLACK) -> Dict:
    """No backend went down outside its scheduled down windows (a backend with none: never), the
    agent's detection given ``slack`` seconds; nor was a non-flapping backend at weight 0 or
    missing in VPP outside a restart's restore window (``vpp_zero``)."""
    def scheduled(r: Dict) -> bool:
        return any(start <= r["t"] <= end + slack for start, end in down_windows.get(r["backend"], ()))

    agent = [r for r in transitions if r["to"] == "down" and not scheduled(r)]
    return {"ok": not agent and not vpp_zero, "agent": agent, "vpp": vpp_zero[:20], "vpp_count": len(vpp_zero)}


def verdict(series: Dict[str, List[Tuple[float, float]]], warmup: float, duration: float, restarts: List[Dict],
            max_delay: float, transitions: List[Dict], down_windows: Mapping[str, Sequence[Tuple[float, float]]],
            vpp_zero: List[Dict], reloads: Optional[Dict] = None) -> Dict:
    """Every criterion, and ``passed`` when all hold."""
    criteria = {name: flatness(series[name], warmup, duration, rule) for name, rule in FLATNESS.items()}
    criteria["restores"] = restores(restarts, max_delay)
    criteria["false_downs"] = false_downs(transitions, down_windows, vpp_zero)
    if reloads is not None:
        criteria["reloads"] = reloads
    return {"passed": all(c["ok"] for c in criteria.values()), "criteria": criteria}
