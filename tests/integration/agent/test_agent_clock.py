"""The wall clock steps under a running agent, end to end (libfaketime).

An NTP step, an operator's ``date -s`` or a VM restored from a snapshot moves the wall clock
(CLOCK_REALTIME) and leaves the monotonic clock alone. libfaketime does the same to the
processes started with ``SteppedWallClock.env()``: the offset in a file the test rewrites, read
on every clock call (FAKETIME_NO_CACHE), CLOCK_MONOTONIC left real (FAKETIME_DONT_FAKE_MONOTONIC).
The agent's timers and timestamps run on agent/clock.py's steady clock, so a drain lasts its
timeout, transitions stay in order and maglevctl's ages stay true across a step either way
(tests/unit/agent/test_clock.py has the clock's own rules).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Dict, List

import pytest
from agentproc import AgentProcess, wait_for
from test_agent_daemon import config_for, expect_weights
from test_maglevctl import Ctl

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"  # Debian's faketime package
DAY = 86400
DRAIN = 6.0  # seconds: long enough that a drain ended by the step would end well before it


# The clock is the agent's own, the same on both LB API generations.
@pytest.fixture(params=["1.2.0"], ids=["lb-api-1.2.0"])
def lb_api(request) -> str:
    return request.param


class SteppedWallClock:
    """The wall clock of the processes started with ``env()``: the real one plus an offset the
    test steps; their monotonic clock stays the real one."""

    def __init__(self, path: str):
        self.path = path
        self.step_to(0)

    def step_to(self, offset: int) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(f"{offset:+d}\n")
        os.replace(tmp, self.path)  # a reader sees the old offset or the new one, never half a file

    def env(self) -> Dict[str, str]:
        return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": self.path, "FAKETIME_NO_CACHE": "1",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    def prefix(self) -> List[str]:
        return ["env", *(f"{key}={value}" for key, value in self.env().items())]

    def offset_seen(self) -> float:
        """The step a process started now sees: its wall clock minus ours (proves the preload works)."""
        done = subprocess.run([*self.prefix(), sys.executable, "-c", "import time; print(time.time())"],
                              capture_output=True, text=True, check=True, timeout=30)
        return float(done.stdout) - time.time()


class SteppedCtl(Ctl):
    """maglevctl on the stepped wall clock, as on the agent's machine."""

    def __init__(self, socket_path: str, wall: SteppedWallClock):
        super().__init__(socket_path)
        self.wall = wall

    def env(self) -> dict:
        return dict(super().env(), **self.wall.env())


@pytest.fixture
def stepped(sim, tmp_path, backends, client):
    """(wall clock, agent process, ctl, config): the agent on the stepped wall clock, VPP at 100/100/0."""
    if not os.path.exists(FAKETIME_LIB):
        pytest.fail(f"{FAKETIME_LIB} is missing: scripts/setup.sh installs Debian's faketime")
    wall = SteppedWallClock(str(tmp_path / "faketime"))
    socket_path = str(tmp_path / "status.sock")
    config = config_for(sim, tmp_path, backends, drain_timeout=f"{DRAIN:g}s", status_socket=socket_path)
    proc = AgentProcess(config, str(tmp_path), command_prefix=wall.prefix()).start()
    try:
        proc.wait_event("status-api")
        for name in ("web1", "web2", "web3"):
            proc.wait_event("backend-transition", backend=name, to="up")
        expect_weights(client, backends, 100, 100, 0)
        yield wall, proc, SteppedCtl(socket_path, wall), config
    finally:
        proc.stop()


def logged_at(record: dict) -> float:
    """A log record's time stamp (the logging module's: the process's wall clock) in unix seconds."""
    return time.mktime(time.strptime(record["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


def test_a_step_forward_does_not_end_a_drain(stepped, backends):
    wall, proc, _ctl, config = stepped
    config["backends"]["web1"]["enabled"] = False
    proc.write_config(config)
    before_reload = time.monotonic()  # the drain starts after this, when the agent takes the reload
    proc.signal(signal.SIGHUP)
    drained = proc.wait_event("vpp-lbsync", address=backends[0].address, weight=0, flush=False)

    wall.step_to(DAY)
    assert wall.offset_seen() == pytest.approx(DAY, abs=600)
    # A transition wakes the agent's timers, which then read the clock: a drain deadline on the
    # wall clock would be a day overdue and end at once.
    backends[2].stop()
    down = proc.wait_event("backend-transition", backend="web3", to="down")
    assert logged_at(down) - time.time() == pytest.approx(DAY, abs=600)  # the step reached the agent

    # The agent's own record that the drain's deadline came (a drain of a VIP without flows
    # writes nothing to VPP when it ends).
    ended = proc.wait_event("vpp-lbsync-done", timeout=3 * DRAIN, trigger="drain timeout")
    assert time.monotonic() - before_reload >= DRAIN, (drained, ended)


def test_a_step_keeps_transitions_in_order_and_maglevctls_ages_true(stepped, backends):
    wall, proc, ctl, _config = stepped
    started = ctl.json("show", "version")["started_at"]
    real_start = time.time()
    wall.step_to(DAY)
    assert wall.offset_seen() == pytest.approx(DAY, abs=600)
    backends[2].stop()
    proc.wait_event("backend-transition", backend="web3", to="down")
    down_since = wait_for(lambda: since_if(ctl, "web3", "down"), 15, "web3 down in the status API")
    # maglevctl, on the same stepped clock, shows ages against the agent's time: seconds, not a day.
    assert_ages_in_seconds(ctl)

    wall.step_to(-DAY)
    assert wall.offset_seen() == pytest.approx(-DAY, abs=600)
    backends[2].start()
    proc.wait_event("backend-transition", backend="web3", to="up")
    up_since = wait_for(lambda: since_if(ctl, "web3", "up"), 15, "web3 up again in the status API")
    # The agent's time stamps: in order, and within the real time the test ran.
    assert started <= down_since <= up_since <= time.time() + 5, (started, down_since, up_since)
    assert up_since >= real_start - 5


AGE = r"(\d+(\.\d+)?s|\d+m\d\ds)"  # ctl_render.duration below an hour: "0.52s", "3.4s", "45s", "2m05s"


def assert_ages_in_seconds(ctl: Ctl) -> None:
    shown = ctl.ok("show", "backends")
    rows = [line for line in shown.splitlines() if line.split()[:1] in (["web1"], ["web2"], ["web3"])]
    assert len(rows) == 3 and all(re.search(rf"\s{AGE} ago", row) for row in rows), shown
    version = ctl.ok("show", "version")
    assert re.search(rf"started: .*\(up {AGE}\)", version), version


def since_if(ctl: Ctl, backend: str, state: str):
    """The backend's ``since`` when the status API shows it in ``state``, else None."""
    shown = {b["name"]: b for b in ctl.json("show", "backends")}
    return shown[backend]["since"] if shown[backend]["state"] == state else None


def test_the_status_api_says_the_agents_time(stepped):
    _wall, _proc, ctl, _config = stepped
    done = subprocess.run(["curl", "-s", "-i", "--unix-socket", ctl.socket_path, "http://agent/"],
                          capture_output=True, text=True, check=True, timeout=30)
    header = re.search(r"^maglev-agent-time: ([0-9.]+)$", done.stdout, re.I | re.M)
    assert header, done.stdout[:500]
    assert float(header.group(1)) == pytest.approx(time.time(), abs=60)
    assert json.loads(done.stdout.split("\n\n", 1)[1])["started_at"] <= float(header.group(1))
