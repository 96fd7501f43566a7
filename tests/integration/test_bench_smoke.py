"""Every benchmark in bench/ runs, at its smallest size, as the documented command does: a
subprocess from the checkout, exit 0, its result table printed; so does the soak
(scripts/soak.py). Catches a broken benchmark (an import, an argument, a renamed API) without
timing anything."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
NEEDS_NGINX = "needs nginx on PATH (apt-get install nginx-light), as the benchmark's own docstring says"

# script, tiny-size arguments, needs nginx
SMOKE_RUNS = [
    ("bench_core.py", ["--vips", "3", "--ases", "2", "--pings", "20", "--rounds", "1"], False),
    ("bench_metrics.py", ["--frontends", "2", "--members", "1", "--rounds", "1"], False),
    ("bench_modules.py", ["--vips", "2", "--ases", "1", "--small", "2", "--rounds", "1"], False),
    ("bench_probes.py", ["--checks", "10", "--concurrency", "2", "--rounds", "1", "--no-tls"], True),
    ("bench_agent.py", ["--only", "lag", "--backends", "10", "--lag-seconds", "3", "--no-priority", "--cpu-hog"], True),
    ("bench_table.py", ["--vips", "3", "--large-sample", "1"], False),
    ("bench_scale.py", ["--sizes", "2,4", "--ases", "2", "--rounds", "1", "--floor-sample", "2"], False),
    ("bench_profile.py", ["--vips", "3", "--ases", "2", "--rounds", "1", "--top", "2", "--scrape-backends", "5",
                          "--scrape-rounds", "1", "--observe-rounds", "1"], False),
]


def test_every_benchmark_has_a_smoke_run():
    scripts = sorted(f for f in os.listdir(BENCH) if f.startswith("bench_") and f.endswith(".py"))
    assert scripts == sorted(script for script, _args, _nginx in SMOKE_RUNS)


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    # From another directory, as a fresh checkout's user would: nothing leaks in from pytest's path.
    return subprocess.run(
        [sys.executable, os.path.join(BENCH, script), *args], cwd="/", capture_output=True, text=True,
        timeout=300, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, check=False,
    )


@pytest.mark.parametrize("script", [script for script, _args, _nginx in SMOKE_RUNS])
def test_benchmark_imports_and_parses_its_arguments(script):
    done = run(script, "--help")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--write" in done.stdout


@pytest.mark.parametrize("script, args, nginx", SMOKE_RUNS, ids=[s for s, _a, _n in SMOKE_RUNS])
def test_benchmark_runs_at_its_smallest_size(script, args, nginx):
    if nginx and shutil.which("nginx") is None:
        pytest.skip(NEEDS_NGINX)
    done = run(script, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    name = script[: -len(".py")]
    out = done.stdout
    if name == "bench_table":  # prints its result lines (CPU per VIP) rather than a table
        assert "blast radius" in out and "ms CPU per VIP" in out, out[-3000:]
        return
    assert f"<!-- {name}:begin -->" in out and f"<!-- {name}:end -->" in out, out[-3000:]
    table = out[out.index(f"<!-- {name}:begin -->"): out.index(f"<!-- {name}:end -->")]
    assert table.count("\n|") >= 3, table  # a header, its rule and at least one result row


SOAK = os.path.join(ROOT, "scripts", "soak.py")
# A tiny soak: 20 backends (2 flapping), two VPP restarts and three reloads in 20 s.
SOAK_SMOKE = ["--seconds", "20", "--backends", "20", "--flapping", "2", "--flap-period", "8", "--flap-down", "4",
              "--reload-every", "5", "--restart-every", "10", "--warmup", "5", "--no-priority"]


def test_the_soak_runs_at_a_tiny_size_and_computes_its_criteria(tmp_path):
    """scripts/soak.py end to end: its outputs exist and every criterion has a verdict; whether
    the criteria pass on a busy machine in 20 s is not asserted (the 30-minute run is the proof)."""
    if shutil.which("nginx") is None:
        pytest.skip(NEEDS_NGINX)
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("needs root and nft: the soak's flapping backends are nftables rules")
    out = tmp_path / "soak"
    done = subprocess.run(
        [sys.executable, SOAK, *SOAK_SMOKE, "--out", str(out)], cwd="/", capture_output=True, text=True,
        timeout=300, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, check=False,
    )
    assert (out / "summary.json").exists(), done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert done.returncode == (0 if summary["passed"] else 1), done.stderr[-3000:]
    criteria = summary["criteria"]
    assert set(criteria) == {"rss_mb", "fds", "tasks", "restores", "false_downs", "reloads"}
    assert all(isinstance(c["ok"], bool) for c in criteria.values()), criteria
    assert summary["passed"] == all(c["ok"] for c in criteria.values())
    assert summary["restarts"] == 2 and len(summary["restore_times_s"]) == 2
    assert summary["reloads"] == 3 and summary["flapping"] == ["b9", "b19"]
    with open(out / "soak.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 10 and {"rss_mb", "fds", "tasks", "probe_lag_p99_ms", "lb_writes_per_s"} <= set(rows[0])
    assert all(float(r["rss_mb"]) > 0 and int(r["fds"]) > 0 and int(r["tasks"]) > 0 for r in rows)
    assert sum(1 for r in rows if "restart" in r["event"]) == 2
    assert (out / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| verdict |" in done.stdout
