"""A starved agent does not blame its backends: a probe that timed out with its timer fired
late is run again instead of counted (agent/starvation.py), at most MAX_RERUNS times in a row."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent import starvation
from ansible_collections.maglev.vpp.agent.probes.result import L4CON, L4TOUT, L7OK, L7RSP, L7TOUT, ProbeResult
from scripted import run_script

TIMEOUT = 0.3
LATE = starvation.LATE_LIMIT


@pytest.mark.parametrize("code, duration, reruns, expected", [
    # the timer fired late: the loop was starved at the deadline -> run again
    (L7TOUT, TIMEOUT + LATE + 0.001, 0, True),
    (L4TOUT, TIMEOUT + 2.0, 0, True),
    # on time (a loop that keeps up fires within LATE_LIMIT): the backend's doing
    (L7TOUT, TIMEOUT, 0, False),
    (L7TOUT, TIMEOUT + LATE - 0.001, 0, False),
    # late, but already rerun as often as allowed: counted, so a real hang is still detected
    (L7TOUT, TIMEOUT + 2.0, starvation.MAX_RERUNS, False),
    # not a timeout: a refusal or a bad answer is evidence however late it came
    (L4CON, TIMEOUT + 2.0, 0, False),
    (L7RSP, TIMEOUT + 2.0, 0, False),
    (L7OK, TIMEOUT + 2.0, 0, False),
])
def test_the_starvation_rule(code, duration, reruns, expected):
    assert starvation.starved(code, duration, TIMEOUT, reruns) is expected


DOC = {
    "healthchecks": {"h": {"type": "tcp", "port": 80, "interval": "100ms", "fast_interval": "100ms",
                           "down_interval": "100ms", "timeout": "50ms", "rise": 1, "fall": 1}},
    "backends": {"b1": {"address": "10.0.0.1", "healthcheck": "h"}},
    "frontends": {"one": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"b1": {}}}]}},
    "agent": {"metrics": {"listen": ""}, "warmup": {"min_delay": "0s", "max_delay": "0s"}},
}
CHECK_TIMEOUT = 0.05
LATE_TIMEOUT = ProbeResult(False, L4TOUT, "no connection within 0.05s", CHECK_TIMEOUT + 0.5)
TIMELY_TIMEOUT = ProbeResult(False, L4TOUT, "no connection within 0.05s", CHECK_TIMEOUT + 0.001)


def states_seen(script):
    agent = run_script(DOC, {"b1": script})
    return [snap.state_of("b1") for snap in agent.seen["b1"]], agent.starved_reruns


def test_a_late_timeout_followed_by_a_pass_does_not_take_the_backend_down():
    # fall 1: one counted failure would take b1 down
    states, reruns = states_seen([True, LATE_TIMEOUT, True, True])
    assert "down" not in states
    assert states[-1] == "up"
    assert reruns == 1


def test_a_timely_timeout_counts():
    states, reruns = states_seen([True, TIMELY_TIMEOUT])
    assert states[-1] == "down"
    assert reruns == 0


def test_late_timeouts_in_a_row_still_take_a_hanging_backend_down():
    states, reruns = states_seen([True] + [LATE_TIMEOUT] * (starvation.MAX_RERUNS + 1))
    assert states[-1] == "down"
    assert reruns == starvation.MAX_RERUNS
