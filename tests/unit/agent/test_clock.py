"""The wall clock steps; the agent's timers and timestamps do not (agent/clock.py).

The agent's core takes ``now`` from the daemon; the daemon reads it from ``clock.now()``, the
wall clock at start advanced by the monotonic clock. Here the wall clock is a variable the test
steps forward and back while the monotonic clock runs steadily: slow-start ramps, warm-up and
drains keep their monotonic durations, and the history (transitions, ``since``) stays ordered.
End to end, under libfaketime: tests/integration/agent/test_agent_clock.py.
"""

from __future__ import annotations

import os
import random
import re
from typing import List

import pytest
from ansible_collections.maglev.vpp.agent.clock import SteadyClock
from ansible_collections.maglev.vpp.agent.config import parse_agent_config
from ansible_collections.maglev.vpp.agent.decisions import AgentCore
from test_decisions import FAIL, PASS, document, weights_of

HOUR = 3600.0
AGENT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "agent")


class Clocks:
    """A wall clock the test steps and a monotonic clock that only the test's ``run`` advances."""

    def __init__(self, wall: float = 1_767_225_600.0, monotonic: float = 5_000.0):
        self.wall, self.monotonic = wall, monotonic

    def run(self, seconds: float) -> None:
        self.wall += seconds
        self.monotonic += seconds

    def step_wall(self, seconds: float) -> None:
        self.wall += seconds


@pytest.mark.parametrize("step", [HOUR, -HOUR, -365 * 24 * HOUR, 0.5, -0.5])
def test_the_clock_moves_with_monotonic_time_only(step):
    clocks = Clocks()
    clock = SteadyClock(lambda: clocks.wall, lambda: clocks.monotonic)
    start = clock.now()
    assert start == clocks.wall  # unix seconds: the wall clock at creation
    clocks.run(2.0)
    clocks.step_wall(step)
    clocks.run(3.0)
    assert clock.now() - start == pytest.approx(5.0)


# (wall step, where) -> slow start of 40 s keeps its 10 s steps of monotonic time
STEPS = [(HOUR, "forward"), (-HOUR, "back")]


@pytest.mark.parametrize("step, label", STEPS, ids=[s[1] for s in STEPS])
def test_slow_start_and_drain_keep_their_durations_across_a_wall_clock_step(step, label):
    doc = document()
    doc["frontends"]["www"]["slow_start"] = "40s"
    doc["frontends"]["www"]["drain_timeout"] = "6s"
    doc["frontends"]["www"]["pools"][0]["backends"] = {"b1": {}}
    del doc["backends"]["b2"]
    clocks = Clocks()
    clock = SteadyClock(lambda: clocks.wall, lambda: clocks.monotonic)
    c = AgentCore(parse_agent_config(doc), clock.now(), random.Random(1))
    c.start(clock.now())
    for _round in range(2):
        clocks.run(0.1)
        c.probe_result("b1", PASS, clock.now())
        c.probe_result("s1", PASS, clock.now())
    clocks.run(1.0)
    c.tick(clock.now())
    assert weights_of(c) == {"b1": 100, "s1": 0}
    for _round in range(2):
        c.probe_result("b1", FAIL, clock.now())
    for _round in range(2):
        clocks.run(0.1)
        c.probe_result("b1", PASS, clock.now())  # up again: the ramp starts now
    assert weights_of(c) == {"b1": 20, "s1": 80}
    clocks.run(5.0)
    clocks.step_wall(step)
    c.tick(clock.now())
    assert weights_of(c) == {"b1": 20, "s1": 80}  # 5 s into the ramp, whichever way the wall went
    clocks.run(5.01)
    c.tick(clock.now())
    assert weights_of(c) == {"b1": 40, "s1": 60}  # the step came after 10 s, not at once, not an hour late
    clocks.run(30.0)
    c.tick(clock.now())
    assert weights_of(c) == {"b1": 100, "s1": 0}

    c.backend_action("b1", "disable", clock.now())  # a drain of 6 s
    clocks.run(3.0)
    clocks.step_wall(-step)
    c.tick(clock.now())
    assert c.plans["www"].adjustments["b1"].draining
    clocks.run(2.9)
    c.tick(clock.now())
    assert c.plans["www"].adjustments["b1"].draining
    clocks.run(0.11)
    c.tick(clock.now())
    assert "b1" not in c.plans["www"].adjustments  # the drain ended after 6 s of monotonic time
    assert c.plans["www"].effective["b1"].flush


def test_history_timestamps_stay_ordered_and_durations_positive_across_wall_steps():
    clocks = Clocks()
    clock = SteadyClock(lambda: clocks.wall, lambda: clocks.monotonic)
    c = AgentCore(parse_agent_config(document()), clock.now(), random.Random(1))
    c.start(clock.now())
    times: List[float] = []
    for i, step in enumerate([-HOUR, HOUR, -24 * HOUR, 2 * HOUR, -HOUR]):
        clocks.run(0.5)
        clocks.step_wall(step)
        result = PASS if i % 2 == 0 else FAIL
        for _round in range(2):
            actions = c.probe_result("b1", result, clock.now())
            times += [e["at"] for e in actions.events if e.get("type") == "backend"]
        view = c.machines["b1"].snapshot()
        assert 0 <= clock.now() - view.since <= 0.5 * (i + 1)  # an age, never negative
    assert len(times) == 5  # up, down, up, down, up: one transition per step
    assert times == sorted(times) and len(set(times)) == len(times)
    assert [t.at for t in c.machines["b1"].snapshot().history] == sorted(times)


def test_the_agent_reads_the_time_only_through_its_clock():
    """The defect this guards: the daemon passed ``time.time()`` to the core, so a wall clock step
    ended drains and warm-up at once (forward) or an hour late (back). Wall time is read in
    clock.py, by the maglevctl client (its own process: the wall clock only until the agent's answer
    says the agent's time), and for VPP's boottime (VPP's wall clock)."""
    allowed = {"clock.py", "ctl_client.py", "exporter.py", "logs.py"}
    offenders = []
    for folder, _dirs, files in os.walk(AGENT_DIR):
        for name in files:
            if not name.endswith(".py") or name in allowed:
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if re.search(r"\btime\.time\(|datetime\.now\(|\btime\.time\b", line):
                        offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []
