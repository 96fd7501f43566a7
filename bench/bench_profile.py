"""Profile at scale: the planner, the dump and its parsing, the stats-segment read and the
agent's Prometheus exporter at N VIPs x 8 ASes (default 5,000), each timed (median of --rounds)
and profiled once with cProfile; prints the functions that dominate each (own time).

Then the agent's /metrics scrape at --scrape-backends (default 1,000 and 5,000 backends, one per
frontend): the real web server (agent/web.py) over a synthetic agent, its event-loop part (the
inputs gathered on the loop) and its worker-thread part (families and text) in CPU time of the
thread that runs each, and the loop's lateness during real HTTP scrapes (curl in another process)
against the same loop beside a thread doing plain Python work for as long (the GIL's floor).
And the VIP counters' observation at the same sizes (one VIP per frontend): what a new counters
read costs the loop and the observer's thread (agent/vipobserver.py), and the loop's lateness
meanwhile.

Run: .venv/bin/python bench/bench_profile.py [--vips 5000] [--ases 8] [--rounds 5] [--top 6] [--write]
     [--scrape-backends 1000,5000] [--only-scrape]
With --write the results replace the marked section of docs/performance.md ("Profile at 5,000 VIPs").
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import os
import pstats
import statistics
import sys
import tempfile
import time
from types import MappingProxyType

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_core  # noqa: E402  (sets up the collection link and sys.path)
import bench_metrics  # noqa: E402
from ansible_collections.maglev.vpp.agent.config import parse_agent_config  # noqa: E402
from ansible_collections.maglev.vpp.agent.events import EventBus  # noqa: E402
from ansible_collections.maglev.vpp.agent.exporter import ExportInputs, encode_text, families  # noqa: E402
from ansible_collections.maglev.vpp.agent.status import SyncStatus  # noqa: E402
from ansible_collections.maglev.vpp.agent.web import WebServer  # noqa: E402
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


# -- the /metrics scrape: event-loop part vs worker-thread part ----------------------------------

AGENT_DOC = {
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {"b1": {"address": "10.0.0.1", "healthcheck": "h"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"b1": {}}}]}},
}


class SyntheticAgent:
    """What the metrics listener reads of the agent (agent/status.py), over bench_metrics' synthetic state."""

    def __init__(self, inputs: ExportInputs, state_file: str) -> None:
        self.config = parse_agent_config({**AGENT_DOC, "agent": {"state_file": state_file}})
        self.config_path = None
        self.started_at = inputs.snapshot.started_at
        self.events = EventBus()
        self.snapshot = inputs.snapshot
        self.counters = inputs.counters
        self.probe_loop_crashes = 0
        self.probe_schedule_stretch = 1.0
        self.write_errors: dict = {}
        self._api_calls = dict(inputs.api_calls)

    def publish_pending(self) -> None:
        pass

    def sync_status(self) -> SyncStatus:
        return SyncStatus(last_full_sync=None, sync_errors=0)

    def vpp_api_calls(self) -> dict:
        return dict(self._api_calls)


def _thread_cpu(fn, *args):
    """(result, CPU seconds of the calling thread)."""
    start = time.thread_time()
    result = fn(*args)
    return result, time.thread_time() - start


def _lateness(samples: list) -> str:
    samples = sorted(samples)
    if not samples:
        return "-"
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"p99 {p99 * 1000:.0f} ms, max {samples[-1] * 1000:.0f} ms ({len(samples)} wake-ups)"


async def _ticks_while(work, lags: list) -> None:
    """Sleep 1 ms at a time on the loop, recording each wake-up's lateness, until ``work`` is done."""
    task = asyncio.ensure_future(work)
    while not task.done():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - start - 0.001)
    await task


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def scrape_parts(n_backends: int, rounds: int) -> list:
    """One row per figure of the agent's /metrics scrape at ``n_backends`` (one per frontend)."""
    inputs = bench_metrics.synthetic_inputs(n_backends, 1)
    with tempfile.TemporaryDirectory() as tmp:
        agent = SyntheticAgent(inputs, os.path.join(tmp, "state.json"))

        async def run() -> dict:
            server = WebServer(agent, "127.0.0.1", 0)
            await server.start()
            loop_cpu, worker_cpu, walls, scrape_lags, floor_lags, sizes = [], [], [], [], [], []
            try:
                # The VIP counters observed once before the scrapes are measured (the agent's observer
                # task does that every stats interval, not the scrape).
                await server.observer.observe(agent.snapshot)
                for _round in range(rounds):
                    gathered, cpu = _thread_cpu(server.export_inputs)  # what the handler does on the loop
                    loop_cpu.append(cpu)
                    body, cpu = await asyncio.get_running_loop().run_in_executor(
                        None, _thread_cpu, server.render, gathered)
                    worker_cpu.append(cpu)
                    sizes.append(len(body))
                    curl = await asyncio.create_subprocess_exec(
                        "curl", "-sf", "-o", os.devnull, f"http://127.0.0.1:{server.port}/metrics")
                    start = time.perf_counter()
                    await _ticks_while(curl.wait(), scrape_lags)
                    walls.append(time.perf_counter() - start)
                    if curl.returncode != 0:
                        raise RuntimeError(f"curl /metrics exited {curl.returncode}")
                    floor = asyncio.get_running_loop().run_in_executor(None, _busy, walls[-1])
                    await _ticks_while(floor, floor_lags)
            finally:
                await server.close()
            return {"loop": loop_cpu, "worker": worker_cpu, "wall": walls, "lags": scrape_lags,
                    "floor": floor_lags, "bytes": sizes[-1]}

        got = asyncio.run(run())
    size = f"{n_backends:,} backends"
    med = statistics.median
    return [
        f"| {size}: on the event loop (inputs: snapshot, counters copy, VIP totals) | "
        f"{med(got['loop']) * 1000:.1f} ms CPU |",
        f"| {size}: in the worker thread (families + text, {got['bytes'] / 1e6:.1f} MB) | "
        f"{med(got['worker']) * 1000:.0f} ms CPU |",
        f"| {size}: a whole HTTP scrape (curl) | {med(got['wall']) * 1000:.0f} ms wall |",
        f"| {size}: the loop's lateness during those scrapes (1 ms sleeps) | {_lateness(got['lags'])} |",
        f"| {size}: ... beside a thread doing plain Python for as long (the GIL's floor) | "
        f"{_lateness(got['floor'])} |",
    ]


def _next_read(snap, step: int):
    """``snap`` with a new counters read ``step`` intervals later (every VIP counted more packets)."""
    old = snap.counters
    vips = {vip: dataclasses.replace(c, next_packets=c.next_packets + 1000 * step,
                                     first_packets=c.first_packets + 10 * step) for vip, c in old.vips.items()}
    return dataclasses.replace(snap, counters=dataclasses.replace(old, at=old.at + 5.0 * step,
                                                                  vips=MappingProxyType(vips)))


def observation_parts(n_vips: int, rounds: int) -> list:
    """One row per figure of a counters read's observation at ``n_vips`` (one per frontend)."""
    inputs = bench_metrics.synthetic_inputs(n_vips, 1)
    reads = [_next_read(inputs.snapshot, step) for step in range(2 * rounds + 2)]
    with tempfile.TemporaryDirectory() as tmp:
        agent = SyntheticAgent(inputs, os.path.join(tmp, "state.json"))

        async def run() -> dict:
            server = WebServer(agent, "127.0.0.1", 0)  # not listening: the observer alone
            loop_cpu, thread_cpu, lags = [], [], []
            try:
                for snap in reads[:2]:  # the history's first samples: steady state from here on
                    await server.observer.observe(snap)
                for snap in reads[2:2 + rounds]:
                    agent.snapshot = snap
                    c0, t0 = time.process_time(), time.thread_time()
                    await server.observer.observe(snap)
                    loop = time.thread_time() - t0
                    loop_cpu.append(loop)
                    thread_cpu.append(time.process_time() - c0 - loop)  # nothing else runs meanwhile
                for snap in reads[2 + rounds:]:
                    agent.snapshot = snap
                    await _ticks_while(server.observer.observe(snap), lags)
                if server.observer.totals.get((next(iter(snap.counters.vips)), "next")) is None:
                    raise RuntimeError("the observation left no totals")
            finally:
                await server.close()
            return {"loop": loop_cpu, "thread": thread_cpu, "lags": lags}

        got = asyncio.run(run())
    size = f"{n_vips:,} VIPs"
    med = statistics.median
    return [
        f"| {size}: a counters read's observation, on the event loop | {med(got['loop']) * 1000:.1f} ms CPU |",
        f"| {size}: ... in the observer's thread (offsets, totals, rate history, newest rates) | "
        f"{med(got['thread']) * 1000:.0f} ms CPU |",
        f"| {size}: the loop's lateness during those observations (1 ms sleeps) | {_lateness(got['lags'])} |",
    ]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--vips", type=int, default=5000)
    p.add_argument("--ases", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5, help="timed calls per part; the median is reported")
    p.add_argument("--exporter-members", type=int, default=8,
                   help="backends per frontend in the exporter's synthetic state (one frontend per VIP)")
    p.add_argument("--top", type=int, default=6, help="functions listed per part")
    p.add_argument("--scrape-backends", default="1000,5000",
                   help="comma-separated backend counts for the /metrics scrape's loop and worker parts")
    p.add_argument("--scrape-rounds", type=int, default=3, help="scrapes per backend count")
    p.add_argument("--observe-rounds", type=int, default=5, help="counters reads observed per backend count")
    p.add_argument("--only-scrape", action="store_true", help="only the /metrics scrape (no vppsim)")
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
    # The scrapes first: their own event loops, before the VPP parts' clients exist.
    scrape_lines = []
    for n in (int(x) for x in args.scrape_backends.split(",") if x):
        rows = scrape_parts(n, args.scrape_rounds)
        scrape_lines += rows
        print("\n".join(rows), file=sys.stderr)
    observe_lines = []
    for n in (int(x) for x in args.scrape_backends.split(",") if x):
        rows = observation_parts(n, args.observe_rounds)
        observe_lines += rows
        print("\n".join(rows), file=sys.stderr)
    if not args.only_scrape:
        with launcher.start(*SIM_ARGS) as sim:
            for name, fn in workloads(sim, args.vips, args.ases, args.exporter_members).items():
                cpu, wall, hot = measure(fn, args.rounds, args.top)
                listed = "; ".join(f"`{func}` {share:.0%} ({calls:,})" for func, share, calls in hot)
                lines.append(f"| {name} | {cpu * 1000:.0f} ms | {wall * 1000:.0f} ms | {listed} |")
                print(f"# {name}: {cpu * 1000:.0f} ms CPU, {wall * 1000:.0f} ms wall", file=sys.stderr)
    lines += [
        "",
        f"The agent's `/metrics` scrape (median of {args.scrape_rounds} per size; CPU of the thread that "
        f"runs each part; load average {os.getloadavg()[0]:.1f}):",
        "",
        "| scrape part | result |",
        "|---|---|",
    ]
    lines += scrape_lines
    lines += [
        "",
        f"The VIP counters' observation, once per counters read (`stats_interval`; median of {args.observe_rounds} "
        "reads per size, then the same number of reads beside the lateness coroutine):",
        "",
        "| observation part | result |",
        "|---|---|",
    ]
    lines += observe_lines
    lines.append(MARK_END)
    text = "\n".join(lines)
    print(text)
    if args.write:
        bench_core.write_section(MARK_BEGIN, MARK_END, text, HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
