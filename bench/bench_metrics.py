"""Benchmark of the agent's /metrics render: the real collector (agent/exporter.py) and
prometheus_client's encoders over a synthetic snapshot of the daemon's own types.

Run: .venv/bin/python bench/bench_metrics.py [--frontends 100] [--members 3] [--rounds 20] [--write]
With --write the results replace the marked section of docs/performance.md ("## Metrics").
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from types import MappingProxyType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import collection_link  # noqa: E402

collection_link.ensure_collection_link()  # the checkout as ansible_collections.maglev.vpp
from ansible_collections.maglev.vpp.agent.counters import AgentCounters  # noqa: E402
from ansible_collections.maglev.vpp.agent.exporter import (  # noqa: E402
    AgentCollector,
    ExportInputs,
    MonotonicCounters,
    encode_text,
    families,
)
from ansible_collections.maglev.vpp.agent.health import BackendHealthView, Transition  # noqa: E402
from ansible_collections.maglev.vpp.agent.probes.result import ProbeResult  # noqa: E402
from ansible_collections.maglev.vpp.agent.snapshot import AgentSnapshot, FrontendView, MemberView  # noqa: E402
from ansible_collections.maglev.vpp.agent.vppsync import CountersSnapshot, VppInfo  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (  # noqa: E402
    VipCounters,
    VipKey,
    VipSpec,
)
from prometheus_client.exposition import generate_latest  # noqa: E402
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics  # noqa: E402
from prometheus_client.process_collector import ProcessCollector  # noqa: E402
from prometheus_client.registry import CollectorRegistry  # noqa: E402

MARK_BEGIN = "<!-- bench_metrics:begin -->"
MARK_END = "<!-- bench_metrics:end -->"
HEADING = "## Metrics"


def synthetic_inputs(n_frontends: int, n_members: int) -> ExportInputs:
    """n_frontends VIPs, each with its own n_members backends in two pools (one standby); every
    backend probed by HTTP (successes and one failure code) with one transition; VIP counters read."""
    now = time.time()
    ok = ProbeResult(True, "L7OK", "HTTP 200 OK", 0.002)
    backends, frontends, vips = {}, {}, {}
    counters = AgentCounters()
    for f in range(n_frontends):
        vip = VipKey(f"198.18.{f // 250}.{f % 250 + 1}/32", 6, 80)
        members = []
        for m in range(n_members):
            name = f"b{f}-{m}"
            history = (Transition("unknown", "up", now - 100, "L7OK"),)
            backends[name] = BackendHealthView(name=name, state="up", counter=3, rise=2, fall=2, since=now - 100,
                                               last_result=ok, history=history, rejected=0)
            pool = "standby" if m == n_members - 1 else "primary"
            members.append(MemberView(backend=name, address=f"10.{f // 250}.{f % 250}.{m}", pool=pool,
                                      configured_weight=100, effective_weight=0 if pool == "standby" else 100,
                                      flush=True, state="up", buckets=1024 // n_members))
            for i in range(50):
                counters.probe(name, "http", True, "L7OK", 0.0003 * (i % 20 + 1))
            counters.probe(name, "http", False, "L4CON", 1.0)
            counters.transition(name, "unknown", "up")
        frontends[f"f{f}"] = FrontendView(name=f"f{f}", vip=vip, spec=VipSpec(), state="up", active_pool="primary",
                                          flush_on_down=True, released=True, members=tuple(members))
        vips[vip] = VipCounters(next_packets=10**9 + f, first_packets=10**6, untracked_packets=0,
                                no_server_packets=f, route_packets=10**9 + 2 * f, route_bytes=10**12 + f)
    vpp = VppInfo(connected=True, version="26.06", pid=4242, boottime=now - 86400, connected_since=now - 3600,
                  lb_api_version="1.2.0", api_socket="/run/vpp/api.sock")
    snapshot_counters = CountersSnapshot(at=now, boottime=now - 86400, vips=MappingProxyType(vips))
    snap = AgentSnapshot(
        at=now, started_at=now - 3600, warmup="done", backends=MappingProxyType(backends),
        frontends=MappingProxyType(frontends), vpp=vpp, lb_state=None, counters=snapshot_counters,
        mutations=MappingProxyType({("all", "as_added"): len(backends), ("vip", "as_weight_updated"): 500}),
        config_loaded_at=now - 3600,
    )
    tracker = MonotonicCounters()
    tracker.observe(snapshot_counters)
    api_calls = {(msg, "ok"): 1000 for msg in ("control_ping", "lb_as_set_weight", "lb_add_del_as_v2", "lb_vip_dump",
                                               "lb_conf_get", "ip_route_lookup", "cli_inband", "show_version")}
    return ExportInputs(snapshot=snap, counters=counters, vip_totals=tracker.totals(), api_calls=api_calls,
                        sync_errors=0, last_full_sync=now - 5, state_file_written=now - 1, version="0.1.0", now=now)


def timed(fn, rounds: int) -> tuple:
    """(wall seconds, CPU seconds of this process) of each round."""
    wall, cpu = [], []
    for _round in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def ms(runs: tuple) -> str:
    wall, cpu = runs
    return (f"{statistics.median(cpu) * 1000:.1f} ms CPU, {statistics.median(wall) * 1000:.1f} ms wall "
            f"(wall min {min(wall) * 1000:.1f}, max {max(wall) * 1000:.1f})")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"prometheus-client {metadata.version('prometheus-client')}, load average {os.getloadavg()[0]:.1f}, "
            f"{platform.system()} {platform.release()}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--frontends", type=int, default=100)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--write", action="store_true")
    args = p.parse_args()

    inputs = synthetic_inputs(args.frontends, args.members)
    registry = CollectorRegistry()
    registry.register(AgentCollector(lambda: inputs))
    ProcessCollector(registry=registry)
    text = encode_text(registry.collect())
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    n_backends = len(inputs.snapshot.backends)

    gc.collect()
    collect_runs = timed(lambda: list(families(inputs)), args.rounds)
    render_runs = timed(lambda: encode_text(registry.collect()), args.rounds)
    text_runs = timed(lambda: generate_latest(registry), args.rounds)
    om_runs = timed(lambda: generate_openmetrics(registry), args.rounds)

    rows = [
        ("series (sample lines) in one render", f"{series:,} ({len(text):,} bytes of text)"),
        ("collect: build the metric families from the snapshot", ms(collect_runs)),
        ("**/metrics render: collect + the exporter's text encoder (target <= 100 ms)**", ms(render_runs)),
        ("for comparison: collect + prometheus_client's generate_latest (text)", ms(text_runs)),
        ("for comparison: collect + prometheus_client's OpenMetrics encoder", ms(om_runs)),
    ]
    lines = [
        MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; {args.frontends} frontends x {args.members} "
        f"backends ({n_backends} backends, each probed with a 16-bucket histogram), {args.rounds} rounds, "
        f"medians; `.venv/bin/python bench/bench_metrics.py --write`.",
        "",
        "| measurement | result |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        MARK_END,
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        write_section(section)
    return 0


def write_section(text: str) -> None:
    """Replace the marked section of docs/performance.md (appended under HEADING if absent)."""
    path = os.path.join(ROOT, "docs", "performance.md")
    with open(path) as f:
        doc = f.read()
    if MARK_BEGIN not in doc:
        doc = doc.rstrip("\n") + f"\n\n{HEADING}\n\n{MARK_BEGIN}\n{MARK_END}\n"
    start, stop = doc.index(MARK_BEGIN), doc.index(MARK_END) + len(MARK_END)
    with open(path, "w") as f:
        f.write(doc[:start] + text + doc[stop:])


if __name__ == "__main__":
    sys.exit(main())
