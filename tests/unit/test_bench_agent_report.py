"""bench_agent's report survives a throughput round in which nginx answered no check (a starved
machine): it crashed with ZeroDivisionError after a 16-minute run (2026-12-07)."""

from __future__ import annotations

import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import bench_agent  # noqa: E402


def run(per_cpu: float, rate: float) -> dict:
    return {"per_cpu": per_cpu, "rate": rate}


def test_a_round_without_answered_checks_is_reported_not_a_crash():
    result = {"n": 1000, "interval": "1s", "runs": {
        "streams": [run(0.0, 0.0), run(3000.0, 1000.0)],
        "run_probe": [run(2800.0, 990.0), run(2900.0, 995.0)],
        "agent": [run(2500.0, 900.0), run(0.0, 0.0)],
    }}
    rows = bench_agent.throughput_rows(result)
    assert len(rows) == 3
    assert "nan" in rows[2]  # the ratio of a round without checks is unknown, said so
    assert math.isnan(bench_agent.ratio_of(3000.0, 0.0)) and bench_agent.ratio_of(3000.0, 2500.0) == 1.2


def failover_result(**extra) -> dict:
    return {"up_at_start": 5000, "down_at_start": 0, "spurious_down": 0, "unfinished": 0, "not_started": 0,
            **extra}


def test_the_failover_note_says_when_the_schedule_ran_unstretched_or_that_it_never_did():
    settled = bench_agent.failover_note("5,000 backends", failover_result(unstretched_after=21.44))
    assert "at its configured intervals 21.4 s after the agent's start" in settled
    stretched = bench_agent.failover_note("5,000 backends", failover_result(unstretched_after=None))
    assert "still stretched after 120 s (the trials ran stretched)" in stretched


def test_the_failover_note_says_whether_the_schedule_stretched_during_the_trials():
    # The bound assumes the configured intervals: a stretch in the trials explains a slow detection.
    again = bench_agent.failover_note("5,000 backends", failover_result(unstretched_after=30.0, stretched_during=2))
    assert "; the schedule stretched 2 times during the trials;" in again
    calm = bench_agent.failover_note("5,000 backends", failover_result(unstretched_after=30.0, stretched_during=0))
    assert "; no stretch during the trials;" in calm
