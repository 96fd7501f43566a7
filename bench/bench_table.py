"""Benchmark of the core's new-flow table (maglev_table.py) and of the exact blast radius.

* Table build: VIPs with their own 8 ASes (weights 100..93) at the default length (1,024) and at
  the largest length the schema accepts (2^20), each VIP's table distinct; and 1,000 VIPs at
  2^20 that share 10 pools (the table cache builds each distinct table once).
* Blast radius in check mode: ``blast.plan_blast_radius`` for a change of one weight on every
  VIP (what the lb module adds to a check-mode run), next to ``planner.plan`` for the same
  change (what check mode costs without it).

Run: .venv/bin/python bench/bench_table.py [--vips 1000] [--large-sample 3] [--write]
CPU seconds (process_time) are reported next to wall seconds: the machine is shared.
With --write the results replace the marked section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import platform
import sys
import time
from typing import Callable, Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import collection_link  # noqa: E402

collection_link.ensure_collection_link()
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import (  # noqa: E402
    blast,
    maglev_table,
    model,
    planner,
    schema,
)
from bench_core import write_section  # noqa: E402

MARK_BEGIN = "<!-- bench_table:begin -->"
MARK_END = "<!-- bench_table:end -->"
LARGEST = schema.MAX_TABLE_LENGTH
ASES_PER_VIP = 8


def pool_weights(v: int) -> Dict[str, int]:
    base = int(ipaddress.ip_address("198.19.0.1")) + v * ASES_PER_VIP
    return {str(ipaddress.ip_address(base + a)): 100 - a for a in range(ASES_PER_VIP)}


def lb_state(n_vips: int, length: int, pools: int, bump: bool = False) -> model.LbState:
    """n_vips per-port VIPs; VIP v uses pool v % pools; ``bump`` lowers the first AS's weight by 10."""
    vips = {}
    for v in range(n_vips):
        key = model.VipKey(f"{ipaddress.ip_address(int(ipaddress.ip_address('198.18.0.1')) + v)}/32", 6, 80)
        weights = pool_weights(v % pools)
        if bump:
            first = next(iter(weights))
            weights[first] -= 10
        vips[key] = model.VipState(key, model.VipSpec(new_flows_table_length=length),
                                   {a: model.AsState(a, w) for a, w in weights.items()})
    return model.LbState(vips=vips)


def clear_caches() -> None:
    maglev_table._cached_table.cache_clear()
    maglev_table._digest_of_inputs.cache_clear()
    maglev_table._digest_cached.cache_clear()
    maglev_table._seeds.cache_clear()


def timed(run: Callable[[], object]) -> Tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def digests(state: model.LbState) -> List[str]:
    return [blast.vip_digest(vip) for vip in state.vips.values()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vips", type=int, default=1000)
    parser.add_argument("--large-sample", type=int, default=3,
                        help="distinct VIPs built at 2^20 (each takes seconds; the result is per VIP)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows: List[Tuple[str, str]] = []

    def record(label: str, seconds: Tuple[float, float], per: int = 0) -> None:
        wall, cpu = seconds
        text = f"{wall:.2f} s wall, {cpu:.2f} s CPU"
        if per:
            text += f" ({cpu / per * 1000:.1f} ms CPU per VIP)"
        rows.append((label, text))
        print(f"{label}: {text}", flush=True)

    n = args.vips
    clear_caches()
    small = lb_state(n, 1024, n)
    record(f"table + digest, {n} VIPs x {ASES_PER_VIP} ASes, length 1,024, every table distinct",
           timed(lambda: digests(small)), n)
    clear_caches()
    k = args.large_sample
    large = lb_state(k, LARGEST, k)
    wall, cpu = timed(lambda: digests(large))
    record(f"table + digest, {k} VIPs x {ASES_PER_VIP} ASes, length {LARGEST:,} (2^20), every table distinct",
           (wall, cpu), k)
    rows.append((f"  so {n} distinct VIPs at 2^20 (extrapolated, not run)",
                 f"about {cpu / k * n / 60:.0f} min CPU"))
    clear_caches()
    shared = lb_state(n, LARGEST, 10)
    record(f"table + digest, {n} VIPs at 2^20 sharing 10 pools (10 distinct tables)",
           timed(lambda: digests(shared)), n)

    clear_caches()
    before, after = lb_state(n, 1024, n), lb_state(n, 1024, n, bump=True)
    record(f"check mode without blast radius: planner.plan, {n} VIPs, one weight each, length 1,024",
           timed(lambda: planner.plan(after, before)))
    record(f"blast radius (both tables, compare), {n} VIPs, one weight each, length 1,024",
           timed(lambda: blast.plan_blast_radius(before, after)), n)
    clear_caches()
    before_l, after_l = lb_state(k, LARGEST, k), lb_state(k, LARGEST, k, bump=True)
    record(f"blast radius, {k} VIPs, one weight each, length 2^20",
           timed(lambda: blast.plan_blast_radius(before_l, after_l)), k)

    text = "\n".join([
        MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} with `bench/bench_table.py --vips {n} "
        f"--large-sample {k}` on {platform.python_implementation()} {platform.python_version()}, a shared "
        f"2-core machine ({os.cpu_count()} CPUs visible; other jobs running, so CPU seconds are the figure "
        "to read).",
        "",
        "| what | cost |",
        "|---|---|",
        *[f"| {label} | {value} |" for label, value in rows],
        MARK_END,
    ])
    if args.write:
        write_section(MARK_BEGIN, MARK_END, text, "## The new-flow table and the exact blast radius")
    return 0


if __name__ == "__main__":
    sys.exit(main())
