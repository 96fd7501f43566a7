"""Profile at scale: the planner, the dump and its parsing, the stats-segment read and the
agent's Prometheus exporter at N VIPs x 8 ASes (default 5,000), each timed (median of --rounds)
and profiled once with cProfile; prints the functions that dominate each (own time).

Run: .venv/bin/python bench/bench_profile.py [--vips 5000] [--ases 8] [--rounds 5] [--top 6] [--write]
With --write the results replace the marked section of docs/performance.md ("Profile at 5,000 VIPs").
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_core  # noqa: E402  (sets up the collection link and sys.path)
import bench_metrics  # noqa: E402
from ansible_collections.maglev.vpp.agent.exporter import encode_text, families  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, planner, schema  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.cli_parser import parse_vips_verbose  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import LbState  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.stats import LbStatsReader  # noqa: E402

from vppsim import launcher  # noqa: E402

MARK_BEGIN = "<!-- bench_profile:begin -->"
MARK_END = "<!-- bench_profile:end -->"
HEADING = "## Profile at 5,000 VIPs"
SIM_ARGS = ("--stats-size", str(256 << 20))


def measure(fn, rounds: int, top: int) -> tuple:
    """(median CPU seconds of this process, median wall seconds, of ``rounds`` calls; the ``top``
    functions by own time in one profiled call). CPU time is the steadier figure on a shared
    machine; wall time adds what vppsim (another process) takes to answer."""
    cpu, wall = [], []
    for _round in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    profile = cProfile.Profile()
    profile.runcall(fn)
    stats = pstats.Stats(profile)
    total = stats.total_tt or 1e-9
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    hot = [(f"{os.path.basename(file)}:{func}" if file != "~" else func, tottime / total, calls)
           for (file, _line, func), (_cc, calls, tottime, _ct, _callers) in rows]
    return statistics.median(cpu), statistics.median(wall), hot


def workloads(sim, n_vips: int, n_ases: int, exporter_members: int) -> dict:
    """name -> a function doing that part once at this size, on a vppsim holding the pushed state."""
    maglev_lb = bench_core.generate_maglev_lb(n_vips, n_ases)
    want = desired.desired_state(schema.parse_config(maglev_lb))
    # A long read timeout: on a loaded shared machine vppsim can take seconds to answer a 5,000-VIP dump.
    client = VppLbClient(sim.api_socket, timeout=120.0)
    client.connect()
    client.apply(planner.plan(want, LbState()))
    actual = client.dump()
    verbose = client.cli("show lb vips verbose")
    reader = LbStatsReader(sim.stats_socket)
    reader.connect()
    pool_indexes = {key: vip.index for key, vip in actual.vips.items()}
    route_indexes = {key: client.route_stats_index(key.prefix) for key in actual.vips}
    route_indexes = {k: v for k, v in route_indexes.items() if v is not None}
    inputs = bench_metrics.synthetic_inputs(n_vips, exporter_members)
    return {
        "validate + desired state": lambda: desired.desired_state(schema.parse_config(maglev_lb)),
        "plan: push from empty": lambda: planner.plan(want, LbState()),
        "plan: no-op": lambda: planner.plan(want, actual),
        "parse `show lb vips verbose`": lambda: parse_vips_verbose(verbose),
        "dump: lb_conf_get + lb_vip_dump + CLI scrape + parse": client.dump,
        "stats read: VIP and route counters": lambda: (reader.vip_counters(pool_indexes),
                                                       reader.route_counters(route_indexes)),
        f"exporter: families + text ({n_vips:,} frontends x {exporter_members} backends)":
            lambda: encode_text(families(inputs)),
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--vips", type=int, default=5000)
    p.add_argument("--ases", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5, help="timed calls per part; the median is reported")
    p.add_argument("--exporter-members", type=int, default=8,
                   help="backends per frontend in the exporter's synthetic state (one frontend per VIP)")
    p.add_argument("--top", type=int, default=6, help="functions listed per part")
    p.add_argument("--write", action="store_true", help="write results into docs/performance.md")
    args = p.parse_args()

    lines = [
        MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on {bench_core.machine()}; vppsim as the VPP holding "
        f"{args.vips:,} VIPs x {args.ases} ASes; median of {args.rounds} calls per part (CPU: this process; "
        "wall: with vppsim's answers), then one call under "
        "cProfile (own time per function, as a share of the profiled call); "
        "`.venv/bin/python bench/bench_profile.py --write`.",
        "",
        "| part | CPU (median) | wall (median) | dominant functions (share of own time, calls) |",
        "|---|---|---|---|",
    ]
    with launcher.start(*SIM_ARGS) as sim:
        for name, fn in workloads(sim, args.vips, args.ases, args.exporter_members).items():
            cpu, wall, hot = measure(fn, args.rounds, args.top)
            listed = "; ".join(f"`{func}` {share:.0%} ({calls:,})" for func, share, calls in hot)
            lines.append(f"| {name} | {cpu * 1000:.0f} ms | {wall * 1000:.0f} ms | {listed} |")
            print(f"# {name}: {cpu * 1000:.0f} ms CPU, {wall * 1000:.0f} ms wall", file=sys.stderr)
    lines.append(MARK_END)
    text = "\n".join(lines)
    print(text)
    if args.write:
        bench_core.write_section(MARK_BEGIN, MARK_END, text, HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
