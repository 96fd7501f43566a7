"""bench/bench_modules.py runs as documented, at a tiny size (a broken benchmark is caught here;
nothing about its timings is asserted)."""

from __future__ import annotations

import subprocess
import sys

from ansible_runner_helpers import REPO_ROOT


def test_bench_modules_runs_at_a_tiny_size():
    argv = [sys.executable, str(REPO_ROOT / "bench" / "bench_modules.py"),
            "--vips", "3", "--ases", "2", "--small", "2", "--rounds", "1"]
    out = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for row in ("whole lb no-op task / the module's own time", "normal templating of", "lb no-op rerun task"):
        assert row in out.stdout, out.stdout
