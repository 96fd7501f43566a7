"""Every benchmark in bench/ runs, at its smallest size, as the documented command does: a
subprocess from the checkout, exit 0, its result table printed. Catches a broken benchmark
(an import, an argument, a renamed API) without timing anything."""

from __future__ import annotations

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
    ("bench_agent.py", ["--only", "lag", "--backends", "10", "--lag-seconds", "3", "--no-priority"], True),
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
