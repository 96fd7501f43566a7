"""A soak of the agent: the real agent process against vppsim for a long run, with faults.

    .venv/bin/python scripts/soak.py --minutes 30 --out DIR

Backends: one nginx on ``--backends`` loopback addresses (127.78.x.y), ``--per-frontend`` to a
frontend (one pool); the last member of each of the first ``--flapping`` frontends flaps on a
deterministic schedule (refused by an nftables rule for ``--flap-down`` seconds every
``--flap-period``, the flappers' phases spread over the period). A reload every
``--reload-every`` seconds (SIGHUP after a config change: one non-flapping member's weight
between 100 and 50), a VPP restart (``sim fault restart``) every ``--restart-every`` seconds,
half a reload period after a reload.

Once a second it records the agent's RSS and open fds (/proc), its asyncio task count
(``maglev_agent_asyncio_tasks``), probes and probe lag (``maglev_probe_total``,
``maglev_agent_probe_lag_seconds``) and VPP's LB writes (vppsim's ``sim stats``). Pass criteria
(scripts/soak_criteria.py): RSS, fds and tasks flat after warm-up; every VPP restart restored (VPP's
weights of the non-flapping backends those of the config) within the agent's warm-up
``max_delay``; no false down (no backend down in the agent outside its scheduled windows, no
non-flapping one at weight 0 or missing in VPP outside a restore). Writes DIR/soak.csv,
DIR/summary.json, DIR/soak.png and DIR/agent.log; exit 0 when every criterion holds, 1 when one
fails.

``--lb-api 1.1.0`` soaks against the VPP <= v26.06 personality (no AS weights: an AS reads 100).
Needs root (nftables), nginx (nginx-light) and matplotlib (requirements-test.txt). Runs at nice
-10 by default, as the benchmarks do: the machine is shared (docs/performance.md says why).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "bench"), os.path.dirname(os.path.abspath(__file__))]
import bench_agent  # noqa: E402 (the checkout's paths first: it sets up the collection link)
import soak_criteria  # noqa: E402
from agentproc import AgentProcess, wait_for  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import VipKey  # noqa: E402

from vppsim import launcher  # noqa: E402

ADDRESS_BASE = "127.78"  # not the benchmarks' 127.77: a benchmark may run beside the soak
CHECK = {"type": "http", "path": "/", "interval": "2s", "fast_interval": "500ms", "down_interval": "2s",
         "timeout": "1s", "rise": 2, "fall": 3}
PRIORITY = -10
CSV_FIELDS = ("t", "rss_mb", "fds", "tasks", "probes_per_s", "probe_lag_mean_ms", "probe_lag_p99_ms",
              "lb_writes_per_s", "flapping_down", "event")
TICK = 0.1  # the scheduler's period: flaps, reloads, restarts and restore polls happen on ticks


def note(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the schedule (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    duration: float
    restart_every: float
    reload_every: float
    flap_period: float
    flap_down: float
    flapping: Tuple[str, ...]

    def flapping_down(self, backend: str, t: float) -> bool:
        """Whether ``backend`` is scheduled down at ``t``."""
        return any(start <= t < end for start, end in self.down_windows(backend))

    def down_windows(self, backend: str) -> List[Tuple[float, float]]:
        """The (start, end) times ``backend`` is scheduled down (none for a non-flapping one); the
        flappers' phases are spread over the period by their place among them."""
        if backend not in self.flapping:
            return []
        phase = self.flap_period * self.flapping.index(backend) / len(self.flapping)
        starts = [phase + k * self.flap_period for k in range(int(self.duration / self.flap_period) + 1)]
        return [(s, min(s + self.flap_down, self.duration)) for s in starts if s < self.duration]

    def reloads(self) -> List[float]:
        return [self.reload_every * k for k in range(1, int(self.duration / self.reload_every) + 1)
                if self.reload_every * k < self.duration]

    def restarts(self) -> List[float]:
        """Half a reload period before the next reload: a restore has that long to itself."""
        times, t = [], self.restart_every - self.reload_every / 2
        while t < self.duration:
            times.append(t)
            t += self.restart_every
        return times


def flapping_backends(frontends: int, per_frontend: int, flapping: int) -> Tuple[str, ...]:
    """The last member of each of the first ``flapping`` frontends (a frontend keeps the others)."""
    return tuple(f"b{f * per_frontend + per_frontend - 1}" for f in range(min(flapping, frontends)))


def expected_vpp(config: dict, flapping: Tuple[str, ...], as_weights: bool) -> Dict[VipKey, Dict[str, int]]:
    """The AS weights VPP must hold for the non-flapping backends (always up) under ``config``.
    LB API 1.1.0 has no AS weights: an AS there reads 100."""
    address_of = {name: b["address"] for name, b in config["backends"].items()}
    expected = {}
    for fe in config["frontends"].values():
        members = fe["pools"][0]["backends"]
        want = {}
        for name, member in members.items():
            weight = (member or {}).get("weight", 100)
            if name not in flapping and weight > 0:
                want[address_of[name]] = weight if as_weights else 100
        expected[VipKey(fe["prefix"], 6, fe["port"])] = want
    return expected


def vpp_differences(have: Dict[VipKey, Dict[str, int]], want: Dict[VipKey, Dict[str, int]]) -> List[str]:
    return [f"{vip.prefix} {address}: {have.get(vip, {}).get(address)} (want {weight})"
            for vip, weights in want.items() for address, weight in weights.items()
            if have.get(vip, {}).get(address) != weight]


# -- the agent's side: /proc and /metrics -------------------------------------------------------


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def scrape(port: int) -> Dict[str, float]:
    """The few series the soak reads from the agent's /metrics (summed over labels for probes)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {"probes": 0.0}
    for line in text.splitlines():
        if line.startswith("maglev_agent_asyncio_tasks ") or line.startswith("maglev_agent_probe_lag_seconds"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
        elif line.startswith("maglev_probe_total{"):
            values["probes"] += float(line.rsplit(" ", 1)[1])
    return values


def lag_buckets(values: Dict[str, float]) -> List[Tuple[float, float]]:
    """(upper bound, cumulative count) of the probe lag histogram."""
    prefix = 'maglev_agent_probe_lag_seconds_bucket{le="'
    return sorted((float(k[len(prefix):-2]), v) for k, v in values.items() if k.startswith(prefix))


def lag_quantile(before: Dict[str, float], after: Dict[str, float], q: float) -> Optional[float]:
    """The bucket bound holding quantile ``q`` of the probe lags observed between two scrapes."""
    b0, b1 = dict(lag_buckets(before)), lag_buckets(after)
    total = b1[-1][1] - b0.get(b1[-1][0], 0) if b1 else 0
    if total <= 0:
        return None
    return next(bound for bound, count in b1 if count - b0.get(bound, 0) >= q * total)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- VPP's side ----------------------------------------------------------------------------------


class VppView:
    """The soak's own connection to VPP (the core's client): weights and ``sim stats``; it
    reconnects after a restart."""

    def __init__(self, api_socket: str) -> None:
        self.client = VppLbClient(api_socket, name="soak")
        self.as_weights = True

    def _client(self) -> VppLbClient:
        if not self.client.alive:
            self.client.reconnect()
            self.as_weights = self.client.capabilities.as_weights
        return self.client

    def _guard(self, read):
        try:
            return read(self._client())
        except Exception:  # noqa: BLE001 (VPP restarting: the next call reconnects)
            self.client.disconnect()
            return None

    def weights(self) -> Optional[Dict[VipKey, Dict[str, int]]]:
        state = self._guard(lambda c: c.dump())
        if state is None:
            return None
        return {vip: {a: s.weight for a, s in v.ases.items()} for vip, v in state.vips.items()}

    def stats(self) -> Optional[Tuple[int, int]]:
        """(LB writes, generation) from vppsim's ``sim stats``; None while VPP restarts."""
        text = self._guard(lambda c: c.cli("sim stats"))
        if text is None:
            return None
        words = text.replace(",", "").split()
        return int(words[words.index("writes") + 1]), int(words[words.index("generation") + 1])

    def restart(self) -> None:
        self._guard(lambda c: c.cli("sim fault restart"))
        self.client.disconnect()

    def close(self) -> None:
        self.client.disconnect()


# -- the run -------------------------------------------------------------------------------------


def change_weight(config: dict, n: int, per_frontend: int, frontends: int) -> Tuple[str, int]:
    """Reload ``n``'s change: the first member of frontend n mod frontends (never a flapper)
    switches between weight 100 and 50."""
    fe = config["frontends"][f"f{n % frontends}"]
    members = fe["pools"][0]["backends"]
    name = f"b{(n % frontends) * per_frontend}"
    weight = 50 if (members[name] or {}).get("weight", 100) == 100 else 100
    members[name] = {"weight": weight}
    return name, weight


def delta(before: Dict[str, float], after: Dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


class Recorder:
    """The once-a-second samples (rows of CSV_FIELDS), each also appended to ``csv_path`` at
    once: an interrupted soak keeps what it recorded."""

    def __init__(self, pid: int, metrics_port: int, vpp: VppView, csv_path: str) -> None:
        self.pid, self.port, self.vpp = pid, metrics_port, vpp
        self.rows: List[dict] = []
        self._file = open(csv_path, "w", newline="")  # noqa: SIM115 (open for the whole run; close())
        self._csv = csv.DictWriter(self._file, fieldnames=CSV_FIELDS)
        self._csv.writeheader()
        self.first = self.last = scrape(metrics_port)
        self.t_last = 0.0
        stats = vpp.stats()
        self.writes_first = self.writes_last = stats[0] if stats else 0
        self.t_writes = 0.0

    def sample(self, t: float, flapping_down: int, events: List[str]) -> None:
        now = scrape(self.port)
        dt = max(t - self.t_last, 1e-9)
        count = delta(self.last, now, "maglev_agent_probe_lag_seconds_count")
        total = delta(self.last, now, "maglev_agent_probe_lag_seconds_sum")
        p99 = lag_quantile(self.last, now, 0.99)
        stats = self.vpp.stats()
        writes_rate = None
        if stats is not None:
            writes_rate = (stats[0] - self.writes_last) / max(t - self.t_writes, 1e-9)
            self.writes_last, self.t_writes = stats[0], t
        self.rows.append({
            "t": round(t, 2), "rss_mb": round(bench_agent.memory_mb(self.pid)[0], 2), "fds": open_fds(self.pid),
            "tasks": int(now.get("maglev_agent_asyncio_tasks", 0)),
            "probes_per_s": round(delta(self.last, now, "probes") / dt, 1),
            "probe_lag_mean_ms": round(total / count * 1000, 2) if count else "",
            "probe_lag_p99_ms": round(p99 * 1000, 2) if p99 is not None else "",
            "lb_writes_per_s": round(writes_rate, 1) if writes_rate is not None else "",
            "flapping_down": flapping_down, "event": "+".join(events),
        })
        self._csv.writerow(self.rows[-1])
        self._file.flush()
        self.last, self.t_last = now, t

    def close(self) -> None:
        self._file.close()


def soak_loop(sched: Schedule, proc: AgentProcess, vpp: VppView, faults, config: dict, rec: Recorder,
              per_frontend: int, max_delay: float) -> dict:
    """Run the schedule for its duration; the restores, reloads and VPP false downs it saw."""
    address_of = {name: b["address"] for name, b in config["backends"].items()}
    frontends = len(config["frontends"])
    down = {b: False for b in sched.flapping}
    reload_at, restart_at = sched.reloads(), sched.restarts()
    restarts: List[dict] = []
    reloads: List[dict] = []
    vpp_zero: List[dict] = []
    flaps = 0
    pending: Optional[dict] = None
    events: List[str] = []
    t0, wall0 = time.monotonic(), time.time()
    next_sample = 1.0
    while True:
        t = time.monotonic() - t0
        if t >= sched.duration:
            break
        if proc.proc.poll() is not None:
            raise RuntimeError(f"the agent exited with {proc.proc.returncode}:\n{proc.log_text()}")
        for b in sched.flapping:
            want = sched.flapping_down(b, t)
            if want != down[b]:
                (faults.fail if want else faults.restore)(address_of[b], "refused")
                down[b] = want
                flaps += want
        if reload_at and t >= reload_at[0]:
            reload_at.pop(0)
            name, weight = change_weight(config, len(reloads), per_frontend, frontends)
            proc.write_config(config)
            proc.signal(signal.SIGHUP)
            reloads.append({"t": round(t, 2), "backend": name, "weight": weight})
            events.append("reload")
        if pending is None and restart_at and t >= restart_at[0]:
            restart_at.pop(0)
            stats = vpp.stats()
            vpp.restart()
            pending = {"t": round(t, 2), "generation": stats[1] if stats else None}
            events.append("restart")
            note(f"VPP restart {len(restarts) + 1} at {t:.0f} s")
        if pending is not None:
            pending = poll_restore(pending, vpp, config, sched, t0, max_delay, restarts)
        if t >= next_sample:
            next_sample = max(next_sample + 1.0, t + 0.5)
            rec.sample(t, sum(down.values()), events)
            events = []
            if pending is None:
                vpp_zero.extend(zero_weights(vpp, config, sched, t))
        time.sleep(TICK)  # the scheduler's pace, not a synchronisation
    if pending is not None:
        pending.update(restored_after=None, why="the run ended first")
        restarts.append(pending)
    for b, is_down in down.items():
        if is_down:
            faults.restore(address_of[b], "refused")
    return {"restarts": restarts, "reloads": reloads, "vpp_zero": vpp_zero, "flaps": flaps, "wall0": wall0}


def poll_restore(pending: dict, vpp: VppView, config: dict, sched: Schedule, t0: float, max_delay: float,
                 restarts: List[dict]) -> Optional[dict]:
    """Restored: VPP restarted (a new generation) and holds the config's weights again."""
    stats = vpp.stats()
    have = vpp.weights() if stats is not None and (pending["generation"] is None or stats[1] > pending["generation"]) \
        else None
    t = time.monotonic() - t0
    if have is not None:
        differences = vpp_differences(have, expected_vpp(config, sched.flapping, vpp.as_weights))
        if not differences:
            pending["restored_after"] = round(t - pending["t"], 3)
            restarts.append(pending)
            return None
        pending["last_differences"] = differences[:5]
    if t - pending["t"] > 3 * max_delay:
        pending["restored_after"] = None
        restarts.append(pending)
        return None
    return pending


def zero_weights(vpp: VppView, config: dict, sched: Schedule, t: float) -> List[dict]:
    """Non-flapping backends VPP holds at weight 0 or not at all (none should be)."""
    have = vpp.weights()
    if have is None:
        return [{"t": round(t, 2), "what": "VPP unreachable outside a restart"}]
    want = expected_vpp(config, sched.flapping, vpp.as_weights)
    return [{"t": round(t, 2), "vip": vip.prefix, "address": a}
            for vip, weights in want.items() for a in weights if not have.get(vip, {}).get(a)]


# -- results -------------------------------------------------------------------------------------


def series(rows: List[dict], field: str) -> List[Tuple[float, float]]:
    return [(r["t"], float(r[field])) for r in rows if r[field] != ""]


def agent_results(proc: AgentProcess, wall0: float, reloads: int) -> Tuple[List[dict], dict]:
    """The agent's backend transitions (t from the soak's start) and whether every reload applied."""
    transitions = [{"t": round(bench_agent.log_time(r) - wall0, 1), "backend": r["backend"], "from": r["from"],
                    "to": r["to"]} for r in proc.events("backend-transition")]
    try:
        wait_for(lambda: proc.count("config-reload") >= reloads, 30, "the last reload's log record")
    except AssertionError:
        pass  # reported below
    applied, failed = proc.count("config-reload"), proc.count("config-reload-failed")
    return transitions, {"ok": applied == reloads and failed == 0, "sent": reloads, "applied": applied,
                         "failed": failed}


def summarize(args, sched: Schedule, rec: Recorder, run: dict, transitions: List[dict], reloads: dict) -> dict:
    rows = rec.rows
    data = {name: series(rows, name) for name in soak_criteria.FLATNESS}
    warmup = min(args.warmup, sched.duration / 3)
    result = soak_criteria.verdict(data, warmup, sched.duration, run["restarts"], args.max_delay, transitions,
                                   {b: sched.down_windows(b) for b in sched.flapping}, run["vpp_zero"], reloads)
    lags = [v for _t, v in series(rows, "probe_lag_p99_ms")]
    last = rec.last
    lag_count = delta(rec.first, last, "maglev_agent_probe_lag_seconds_count")
    lag_sum = delta(rec.first, last, "maglev_agent_probe_lag_seconds_sum")
    p99 = lag_quantile(rec.first, last, 0.99)
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run["wall0"])),
        "machine": bench_agent.bench_core.machine(),
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "lb_api": args.lb_api, "duration_s": sched.duration, "warmup_s": warmup, "samples": len(rows),
        "backends": args.backends, "frontends": -(-args.backends // args.per_frontend),
        "flapping": list(sched.flapping), "flaps": run["flaps"],
        "restarts": len(run["restarts"]), "restore_times_s": [r["restored_after"] for r in run["restarts"]],
        "reloads": reloads["sent"],
        "agent_down_transitions": sum(1 for t in transitions if t["to"] == "down"),
        "lb_writes": rec.writes_last - rec.writes_first,
        "lb_writes_per_s_max": max((v for _t, v in series(rows, "lb_writes_per_s")), default=None),
        "probes": int(delta(rec.first, last, "probes")),
        "probe_lag_ms": {"mean": round(lag_sum / lag_count * 1000, 2) if lag_count else None,
                         "p99_bucket": p99 * 1000 if p99 is not None else None,
                         "worst_second_p99_bucket": max(lags, default=None)},
        **result,
    }


def plot(path: str, rows: List[dict], summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("rss_mb", "RSS (MB)"), ("fds", "open fds"), ("tasks", "asyncio tasks"),
              ("probe_lag_p99_ms", "probe lag p99 (ms, bucket)"), ("lb_writes_per_s", "VPP LB writes/s")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 11), sharex=True)
    minutes = [r["t"] / 60 for r in rows]
    for ax, (field, label) in zip(axes, panels, strict=True):
        points = [(m, float(r[field])) for m, r in zip(minutes, rows, strict=True) if r[field] != ""]
        ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=0.8)
        ax.set_ylabel(label)
        ax.axvspan(0, summary["warmup_s"] / 60, color="0.9", zorder=0)
        ax.grid(True, linewidth=0.3)
        for r, m in zip(rows, minutes, strict=True):
            if "restart" in r["event"]:
                ax.axvline(m, color="tab:red", linewidth=0.6, linestyle="--")
            elif "reload" in r["event"]:
                ax.axvline(m, color="tab:green", linewidth=0.4, linestyle=":")
        if field in ("fds", "tasks", "rss_mb"):
            ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("minutes (grey: warm-up; red dashed: VPP restart; green dotted: reload)")
    verdict = "PASSED" if summary["passed"] else "FAILED"
    fig.suptitle(f"maglev agent soak: {summary['backends']} backends, {summary['duration_s'] / 60:.1f} min, "
                 f"{summary['restarts']} VPP restarts, {summary['reloads']} reloads: {verdict}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(summary: dict) -> str:
    """The summary table docs/reliability.md shows."""
    c = summary["criteria"]
    restores = [t for t in summary["restore_times_s"] if t is not None]

    def flat(name: str, unit: str) -> str:
        v = c[name]
        if "first" not in v:
            return f"| {name} | {v['reason']} |"
        return (f"| {name} first / last after warm-up{unit} | {v['first']:g} / {v['last']:g} (median {v['median']:g}); "
                f"trend x run {v['growth_over_run']:+.2f} (allowed {v['allowed_growth']:.2f}); window max "
                f"{v['first_window_max']:g} -> {v['last_window_max']:g}: **{'flat' if v['ok'] else 'NOT FLAT'}** |")

    lag = summary["probe_lag_ms"]
    rows = [
        "| measurement | result |",
        "|---|---|",
        f"| duration, warm-up | {summary['duration_s'] / 60:.1f} min, {summary['warmup_s'] / 60:.1f} min |",
        f"| backends (frontends), flapping | {summary['backends']} ({summary['frontends']}), "
        f"{len(summary['flapping'])} ({summary['flaps']} down periods) |",
        f"| VPP restarts, reloads | {summary['restarts']}, {summary['reloads']} "
        f"(applied {c['reloads']['applied']}, failed {c['reloads']['failed']}) |",
        flat("rss_mb", " (MB)"),
        flat("fds", ""),
        flat("tasks", ""),
        f"| restore after a VPP restart (max_delay {c['restores']['max_delay']:g} s) | max "
        f"{max(restores, default=0):.2f} s, median {c['restores']['median'] or 0:.2f} s, late or never "
        f"{len(c['restores']['late'])}: **{'met' if c['restores']['ok'] else 'MISSED'}** |",
        f"| false downs (agent; VPP weight 0 samples) | {len(c['false_downs']['agent'])}; "
        f"{c['false_downs']['vpp_count']}: **{'none' if c['false_downs']['ok'] else 'SOME'}** |",
        f"| probes, probe lag | {summary['probes']:,}; mean {lag['mean']} ms, p99 <= {lag['p99_bucket']} ms "
        f"(worst second's p99 <= {lag['worst_second_p99_bucket']} ms) |",
        f"| VPP LB writes | {summary['lb_writes']:,} (peak {summary['lb_writes_per_s_max']} per s) |",
        f"| verdict | **{'passed' if summary['passed'] else 'FAILED'}** |",
    ]
    return "\n".join(rows)


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="soak duration in minutes (default 30)")
    p.add_argument("--seconds", type=float, help="soak duration in seconds (overrides --minutes; smoke runs)")
    p.add_argument("--out", required=True, help="directory for soak.csv, summary.json, soak.png, agent.log")
    p.add_argument("--backends", type=int, default=200)
    p.add_argument("--per-frontend", type=int, default=10)
    p.add_argument("--flapping", type=int, default=20, help="flapping backends (one per frontend, at most)")
    p.add_argument("--flap-period", type=float, default=120.0)
    p.add_argument("--flap-down", type=float, default=40.0)
    p.add_argument("--reload-every", type=float, default=60.0)
    p.add_argument("--restart-every", type=float, default=180.0)
    p.add_argument("--warmup", type=float, default=300.0, help="seconds left out of the flatness criteria "
                   "(at most a third of the run)")
    p.add_argument("--lb-api", choices=("1.2.0", "1.1.0"), default="1.2.0",
                   help="vppsim's personality: 1.2.0 = VPP master (default), 1.1.0 = VPP <= v26.06")
    p.add_argument("--max-delay", type=float, default=30.0, help="the agent's warmup.max_delay: the restore bound")
    p.add_argument("--no-priority", dest="priority", action="store_false",
                   help=f"do not run at nice {PRIORITY} (the default, against other jobs on a shared machine)")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    duration = args.seconds if args.seconds is not None else args.minutes * 60
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so nginx, the nft table and vppsim are cleaned up
    if args.priority:
        os.nice(PRIORITY)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    frontends = -(-args.backends // args.per_frontend)
    sched = Schedule(duration, args.restart_every, args.reload_every, args.flap_period, args.flap_down,
                     flapping_backends(frontends, args.per_frontend, args.flapping))
    addresses = [f"{ADDRESS_BASE}.{i // 250}.{i % 250 + 1}" for i in range(args.backends)]
    workdir = tempfile.mkdtemp(prefix="soak-")
    nginx = bench_agent.Nginx(addresses).start()
    faults = proc = vpp = None
    try:
        faults = bench_agent.Faults(nginx.port)
        with launcher.start("--lb-api", args.lb_api) as sim:
            metrics_port = free_port()
            config = bench_agent.lb_config(
                sim, workdir, addresses, args.per_frontend, dict(CHECK, port=nginx.port),
                metrics={"listen": f"127.0.0.1:{metrics_port}"}, stats_interval="1s",
                warmup={"min_delay": "5s", "max_delay": f"{args.max_delay:g}s"})
            note(f"agent: {args.backends} backends in {frontends} frontends; {len(sched.flapping)} flapping")
            proc = AgentProcess(config, workdir).start()
            vpp = VppView(sim.api_socket)
            wait_for(lambda: (have := vpp.weights()) is not None and not vpp_differences(
                have, expected_vpp(config, (), vpp.as_weights)), 120, "every backend at its weight in VPP")
            wait_for(lambda: _scrapes(metrics_port), 30, "the agent's /metrics")
            note(f"every backend up in VPP; soaking for {duration:g} s")
            rec = Recorder(proc.proc.pid, metrics_port, vpp, os.path.join(out, "soak.csv"))
            try:
                run = soak_loop(sched, proc, vpp, faults, config, rec, args.per_frontend, args.max_delay)
            finally:
                rec.close()
            transitions, reloads = agent_results(proc, run["wall0"], len(run["reloads"]))
    finally:
        if vpp is not None:
            vpp.close()
        if proc is not None:
            proc.stop()
            with open(os.path.join(out, "agent.log"), "w") as f:
                f.writelines(proc.raw_lines)
        if faults is not None:
            faults.close()
        nginx.cleanup()
    summary = summarize(args, sched, rec, run, transitions, reloads)
    summary["transitions"] = transitions
    summary["restart_details"] = run["restarts"]
    summary["reload_details"] = run["reloads"]
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    plot(os.path.join(out, "soak.png"), rec.rows, summary)
    print(markdown(summary))
    note(f"{'passed' if summary['passed'] else 'FAILED'}; results in {out}")
    return 0 if summary["passed"] else 1


def _scrapes(port: int) -> bool:
    try:
        scrape(port)
        return True
    except OSError:
        return False


def _exit_on_sigterm(_signo, _frame) -> None:
    raise SystemExit(143)


if __name__ == "__main__":
    sys.exit(main())
