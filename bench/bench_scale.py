"""The scale curve: the core's push (validate, dump, plan, apply) and no-op rerun (dump + plan) of
N VIPs x 8 ASes on vppsim for several N, each next to the floor (a bare synchronous vpp_papi loop
of the same calls) and the pipelined limit (the same calls sent at once from a bare asyncio
vpp_papi loop). Reports time and API calls per size, the per-VIP cost and the exponent of a
log-log fit (1.0 = linear), and with --write draws docs/img/scale.png (matplotlib).

Run: .venv/bin/python bench/bench_scale.py [--sizes 10,100,1000,5000] [--ases 8] [--rounds 3]
     [--floor-sample 1000] [--write]
The sync floor of a size above --floor-sample is measured on a sample of that many VIPs and
scaled by VIP count (said so in the table); the bare loop is linear by construction.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_core  # noqa: E402  (sets up the collection link and sys.path)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import (  # noqa: E402
    desired,
    pipeline,
    planner,
    schema,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import LbState  # noqa: E402

from vppsim import launcher  # noqa: E402

MARK_BEGIN = "<!-- bench_scale:begin -->"
MARK_END = "<!-- bench_scale:end -->"
HEADING = "## Scale curve: push and no-op rerun from 10 to 5,000 VIPs"
PLOT = os.path.join(bench_core.ROOT, "docs", "img", "scale.png")
# Room to spare in the stats segment for 5,000 VIPs' counters (vppsim's default is 64 MB; a full
# segment would stop the push with vppsim's MemoryError).
SIM_ARGS = ("--stats-size", str(256 << 20))


def fit_exponent(sizes: list, seconds: list) -> float:
    """The slope of a least-squares line through (log size, log seconds): 1.0 is linear."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(s) for s in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def worst_step(sizes: list, seconds: list) -> tuple:
    """The step between neighbouring sizes whose cost grew most against n log n (1.0 = exactly
    n log n, below 1 = better): (ratio, from size, to size)."""
    steps = []
    points = list(zip(sizes, seconds, strict=True))
    for (n0, s0), (n1, s1) in zip(points, points[1:], strict=False):
        nlogn = (n1 * math.log(max(n1, 2))) / (n0 * math.log(max(n0, 2)))
        steps.append(((s1 / s0) / nlogn, n0, n1))
    return max(steps)


def measure_size(n_vips: int, args) -> dict:
    """Interleaved rounds at one size: the core, the sync floor, the pipelined limit, and the
    no-op dump's floors; medians."""
    maglev_lb = bench_core.generate_maglev_lb(n_vips, args.ases)
    ops = planner.plan(desired.desired_state(schema.parse_config(maglev_lb)), LbState())
    sample_vips = min(n_vips, args.floor_sample)
    sample_ops = ops if sample_vips == n_vips else planner.plan(
        desired.desired_state(schema.parse_config(bench_core.generate_maglev_lb(sample_vips, args.ases))), LbState())
    push_calls = functools.partial(bench_core.papi_calls, ops=ops)
    rounds = {k: [] for k in ("core", "sync", "pipelined", "noop_sync", "noop_pipelined")}
    for _round in range(args.rounds):
        with launcher.start(*SIM_ARGS) as sim:
            core, _ops = bench_core.bench_core(sim, maglev_lb, args.window)
            rounds["core"].append(core)
            # The no-op rerun's calls against the state the push left: dumps of n_vips VIPs.
            rounds["noop_sync"].append(bench_core.sync_floor(sim, bench_core.dump_calls))
            rounds["noop_pipelined"].append(bench_core.asyncio_floor(sim, bench_core.dump_calls, pipelined=True))
        with launcher.start(*SIM_ARGS) as sim:
            sample = bench_core.sync_floor(sim, functools.partial(bench_core.papi_calls, ops=sample_ops))
            rounds["sync"].append(sample * len(ops) / len(sample_ops))
        with launcher.start(*SIM_ARGS) as sim:
            rounds["pipelined"].append(bench_core.asyncio_floor(sim, push_calls, pipelined=True))
    cores = rounds["core"]

    def med(key: str) -> float:
        return statistics.median(c[key] for c in cores)

    return {
        "vips": n_vips, "ops": len(ops), "sampled_floor": sample_vips != n_vips, "sample_vips": sample_vips,
        "push_calls": cores[0]["push_calls"], "noop_calls": cores[0]["noop_calls"],
        "validate_s": med("validate_and_desired_s"), "dump_s": med("first_dump_s"), "plan_s": med("plan_s"),
        "apply_s": med("apply_s"), "push_s": med("push_total_s"), "noop_s": med("noop_dump_and_plan_s"),
        "push_cpu_s": med("push_cpu_s"), "noop_cpu_s": med("noop_cpu_s"),
        "push_runs": [c["push_total_s"] for c in cores],
        "sync_s": statistics.median(rounds["sync"]), "pipelined_s": statistics.median(rounds["pipelined"]),
        "noop_sync_s": statistics.median(rounds["noop_sync"]),
        "noop_pipelined_s": statistics.median(rounds["noop_pipelined"]),
    }


def table(results: list, args) -> list:
    lines = [
        "| VIPs x ASes | push calls | push (validate / dump / plan / apply) | push CPU per VIP | sync floor | "
        "pipelined limit | no-op calls | no-op rerun | no-op CPU per VIP | no-op sync floor | no-op pipelined |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        floor_note = f" (from {r['sample_vips']:,} VIPs, scaled)" if r["sampled_floor"] else ""
        lines.append(
            f"| {r['vips']:,} x {args.ases} | {r['push_calls']:,} | {r['push_s']:.3f} s "
            f"({r['validate_s']:.3f} / {r['dump_s']:.3f} / {r['plan_s']:.3f} / {r['apply_s']:.3f}) | "
            f"{1000 * r['push_cpu_s'] / r['vips']:.2f} ms | {r['sync_s']:.3f} s{floor_note} | "
            f"{r['pipelined_s']:.3f} s | "
            f"{r['noop_calls']:,} | {r['noop_s']:.3f} s | {1000 * r['noop_cpu_s'] / r['vips']:.3f} ms | "
            f"{r['noop_sync_s']:.3f} s | {r['noop_pipelined_s']:.3f} s |")
    sizes = [r["vips"] for r in results]
    if len(sizes) >= 2:
        lines.append("")
        for label, key in (("push, CPU of the core's process", "push_cpu_s"), ("push, wall", "push_s"),
                           ("apply, wall", "apply_s"), ("plan, wall", "plan_s"),
                           ("validate + desired, wall", "validate_s"),
                           ("no-op rerun, CPU of the core's process", "noop_cpu_s"), ("no-op rerun, wall", "noop_s")):
            seconds = [r[key] for r in results]
            ratio, n0, n1 = worst_step(sizes, seconds)
            lines.append(f"- {label}: log-log slope **{fit_exponent(sizes, seconds):.2f}** "
                         f"(1.00 = linear); worst step against n log n: {ratio:.2f}x ({n0:,} -> {n1:,} VIPs)")
    return lines


def plot(results: list, args, path: str) -> None:
    import matplotlib  # only for --write: the smoke run needs no plotting library

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sizes = [r["vips"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for key, label, style in (("push_s", "core push (validate+dump+plan+apply)", "o-"),
                              ("apply_s", "core apply", "s--"),
                              ("sync_s", "floor: bare sync vpp_papi loop", "^-"),
                              ("pipelined_s", "limit: bare pipelined asyncio loop", "v-")):
        left.plot(sizes, [r[key] for r in results], style, label=label)
    for key, label, style in (("noop_s", "core no-op rerun (dump+plan)", "o-"),
                              ("noop_sync_s", "floor: same dump calls, bare sync", "^-"),
                              ("noop_pipelined_s", "limit: same dump calls, pipelined", "v-")):
        right.plot(sizes, [r[key] for r in results], style, label=label)
    for ax, title in ((left, f"push, N VIPs x {args.ases} ASes"), (right, "no-op rerun")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("VIPs")
        ax.set_ylabel("seconds (median)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"maglev.vpp core on vppsim, {time.strftime('%Y-%m-%d')} (shared 2-core machine)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="10,100,1000,5000", help="VIP counts, comma-separated")
    p.add_argument("--ases", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per size; medians reported")
    p.add_argument("--floor-sample", type=int, default=1000,
                   help="measure the sync floor of bigger sizes on this many VIPs and scale it")
    p.add_argument("--window", type=int, default=pipeline.DEFAULT_WINDOW, help="the core's pipeline window")
    p.add_argument("--write", action="store_true", help="write docs/performance.md's section and docs/img/scale.png")
    args = p.parse_args()

    t0 = time.perf_counter()
    results = []
    for n_vips in (int(s) for s in args.sizes.split(",")):
        results.append(measure_size(n_vips, args))
        print(f"# {n_vips} VIPs done, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    lines = [
        MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on {bench_core.machine()}; vppsim as the VPP; "
        f"{args.rounds} interleaved rounds per size (core, sync floor, pipelined limit), medians; "
        f"core pipeline window {args.window}; whole run {time.perf_counter() - t0:.0f} s; "
        "`.venv/bin/python bench/bench_scale.py --write`. API calls are the core client's own count "
        "(`VppLbClient.api_calls`); the floors issue the same calls.",
        "",
        *table(results, args),
        "",
        "![scale curve](img/scale.png)",
        MARK_END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        plot(results, args, PLOT)
        bench_core.write_section(MARK_BEGIN, MARK_END, text, HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
