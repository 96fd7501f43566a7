"""A starved agent does not blame its backends: a probe that timed out with its timer fired
late is not counted and probed again after fast_interval (agent/starvation.py), at most
MAX_STARVED times in a row; while the loop cannot keep up, the probe schedule is stretched."""

from __future__ import annotations

import asyncio
import io
import json
import time

import pytest
from ansible_collections.maglev.vpp.agent import logs, starvation
from ansible_collections.maglev.vpp.agent.config import parse_agent_config
from ansible_collections.maglev.vpp.agent.probes.result import L4CON, L4TOUT, L7OK, L7RSP, L7TOUT, ProbeResult
from scripted import ScriptedProbes, run_script

TIMEOUT = 0.3
LATE = starvation.LATE_LIMIT


@pytest.mark.parametrize("code, duration, reruns, expected", [
    # the timer fired late: the loop was starved at the deadline -> not counted
    (L7TOUT, TIMEOUT + LATE + 0.001, 0, True),
    (L4TOUT, TIMEOUT + 2.0, 0, True),
    # on time (a loop that keeps up fires within LATE_LIMIT): the backend's doing
    (L7TOUT, TIMEOUT, 0, False),
    (L7TOUT, TIMEOUT + LATE - 0.001, 0, False),
    # late, but as many uncounted in a row as allowed: counted, so a real hang is still detected
    (L7TOUT, TIMEOUT + 2.0, starvation.MAX_STARVED, False),
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


def test_a_start_up_burst_of_late_timeouts_does_not_take_an_unknown_backend_down():
    # from unknown, one counted failure is down at once: the starved ones in a row are not counted
    states, reruns = states_seen([LATE_TIMEOUT] * starvation.MAX_STARVED + [True])
    assert "down" not in states and states[-1] == "up"
    assert reruns == starvation.MAX_STARVED


class TimedProbes(ScriptedProbes):
    """Records when each probe starts (the loop's clock)."""

    async def _probe(self, name, check, address):
        self.starts = getattr(self, "starts", [])
        self.starts.append(asyncio.get_running_loop().time())
        return await super()._probe(name, check, address)


@pytest.mark.parametrize("in_a_row, expected", [
    (0, 0.0),  # the first: at once (the loop runs now)
    (1, 0.5),  # the next: fast_interval after its start (already due: as soon as the loop can)
    (starvation.MAX_STARVED - 1, 0.5),
])
def test_when_a_starved_probe_is_probed_again(in_a_row, expected):
    assert starvation.starved_retry_delay(0.5, in_a_row) == expected


def test_a_second_starved_probe_is_probed_again_after_fast_interval_not_at_once():
    """Rerunning again at once would land in the same starvation (and add to it): after the
    first rerun, the next probe waits fast_interval, as a failing backend's does."""
    check = {**DOC["healthchecks"]["h"], "interval": "1s", "fast_interval": "1s", "down_interval": "1s"}
    doc = {**DOC, "healthchecks": {"h": check}}
    agent = TimedProbes(parse_agent_config(doc), {"b1": [True, LATE_TIMEOUT, LATE_TIMEOUT, True]})

    async def scenario():
        agent._execute(agent.core.start(0.0))
        agent._publish()
        await asyncio.wait_for(agent.finished["b1"].wait(), 30)
        for task in agent._probe_tasks.values():
            task.cancel()
        await asyncio.gather(*agent._probe_tasks.values(), return_exceptions=True)

    asyncio.run(scenario())
    assert agent.starved_reruns == 2
    # starts: the pass, the late timeouts, the probe after them (then the one that finds no answer)
    assert agent.starts[2] - agent.starts[1] < 0.5  # the first rerun: at once
    assert agent.starts[3] - agent.starts[2] >= 1.0  # the second: fast_interval after the last start


def test_late_timeouts_in_a_row_still_take_a_hanging_backend_down():
    states, reruns = states_seen([True] + [LATE_TIMEOUT] * (starvation.MAX_STARVED + 1))
    assert states[-1] == "down"
    assert reruns == starvation.MAX_STARVED


# -- the probe schedule's stretch -----------------------------------------------------------------

HIGH, LOW, GROW = starvation.STRETCH_HIGH, starvation.STRETCH_LOW, starvation.STRETCH_GROW


@pytest.mark.parametrize("factor, lag, behind_before, expected", [
    (1.0, 0.0, False, 1.0),  # keeping up, not stretched: stays at the configured schedule
    (1.0, LOW - 0.001, True, 1.0),
    (1.0, HIGH + 0.001, False, 1.0),  # one period behind: a burst, held
    (2.0, 5.0, False, 2.0),  # however far behind, one period is held
    (1.0, HIGH + 0.001, True, GROW),  # behind two periods in a row: the schedule stretches
    (1.5, 5.0, True, 1.5 * GROW),  # far behind: grows by one step per period, no jump
    (starvation.MAX_STRETCH, 5.0, True, starvation.MAX_STRETCH),  # bounded
    (starvation.MAX_STRETCH / 1.1, 5.0, True, starvation.MAX_STRETCH),
    (2.0, (LOW + HIGH) / 2, True, 2.0),  # between the marks: held (no flapping)
    (2.0, LOW - 0.001, True, 2.0 * starvation.STRETCH_SHRINK),  # room to spare: relaxes
    (1.05, 0.0, False, 1.0),  # never below the configured schedule
])
def test_the_stretch_rule(factor, lag, behind_before, expected):
    assert starvation.next_stretch(factor, lag, behind_before) == pytest.approx(expected)


def test_the_period_lag_is_its_high_quantile_not_one_outlier():
    assert starvation.lag_quantile([0.001] * 95 + [3.0] * 5) == 0.001
    assert starvation.lag_quantile([0.001] * 80 + [3.0] * 20) == 3.0
    assert starvation.lag_quantile([0.2]) == 0.2


@pytest.mark.parametrize("periods, factors", [
    # per period: the probe start lags noted, then how late the period's timer fired; the factor
    # after each period (None: no change reported)
    ([([0.5, 0.5], 0.5)], [None]),  # one period behind: a burst, held
    ([([0.5], 0.5), ([0.5], 0.5)], [None, GROW]),  # two periods behind: stretched
    ([([0.001] * 10, 0.001)], [None]),  # a period keeping up: no change at 1
    ([([0.5], 0.5)] * 3 + [([0.001], 0.001), ([0.01], 0.01)],
     [None, GROW, GROW * GROW, GROW * GROW * starvation.STRETCH_SHRINK, None]),
    # behind, a quiet period, behind again: no two in a row, never stretched
    ([([0.5], 0.5), ([0.001], 0.001), ([0.5], 0.5), ([0.01], 0.01), ([0.5], 0.5)], [None] * 5),
    # no probe due in a period (a stretched schedule): its timer alone judges it, and it relaxes
    ([([0.5], 0.5)] * 2 + [([], 0.001)] * 2, [None, GROW, GROW * starvation.STRETCH_SHRINK,
                                              GROW * starvation.STRETCH_SHRINK ** 2]),
    # ... and a late timer with no probe due is a loop that is behind
    ([([], 0.5), ([], 0.5)], [None, GROW]),
    # many punctual starts outweigh one late timer (the period's high quantile, not its worst)
    ([([0.001] * 20, 0.5)] * 2, [None, None]),
])
def test_the_stretch_is_judged_once_per_period(periods, factors):
    stretch = starvation.ScheduleStretch()
    decided = []
    for lags, timer_lag in periods:
        for lag in lags:
            stretch.note(lag)
        decided.append(stretch.close(timer_lag))
    assert decided == [pytest.approx(f) if f is not None else None for f in factors]


def test_a_starved_loop_stretches_the_probe_schedule_and_says_so():
    """A real starved loop (the test holds it for longer than a period): the probes start late,
    the agent stretches its schedule and logs it, and the next probe waits interval x factor."""
    doc = DOC  # every interval 100 ms
    out = io.StringIO()
    logs.setup("debug", stream=out)
    agent = ScriptedProbes(parse_agent_config(doc), {"b1": [True] * 300})
    starts = []

    async def scenario():
        loop = asyncio.get_running_loop()
        agent._execute(agent.core.start(0.0))
        agent._publish()
        agent._start_stretch_clock()
        deadline = loop.time() + 20
        while agent.stretch.factor == 1.0 and loop.time() < deadline:
            time.sleep(0.15)  # the loop itself is held: every probe due meanwhile starts late
            await asyncio.sleep(0)
        starts.append(loop.time())
        n = len(agent.seen["b1"])
        while len(agent.seen["b1"]) < n + 2 and loop.time() < deadline:
            await asyncio.sleep(0.005)
        starts.append(loop.time())
        agent._stretch_handle.cancel()
        for task in agent._probe_tasks.values():
            task.cancel()
        await asyncio.gather(*agent._probe_tasks.values(), return_exceptions=True)

    try:
        asyncio.run(scenario())
    finally:
        logs.setup("info", stream=io.StringIO())
    assert agent.stretch.factor > 1.0
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    stretched = [r for r in records if r["event"] == "probe-schedule-stretched"]
    assert len(stretched) == 1 and stretched[0]["level"] == "warning"
    # two probes after the stretch took at least one stretched interval (100 ms x factor x 0.9 jitter)
    assert starts[1] - starts[0] >= 0.1 * agent.stretch.factor * 0.9


def test_quiet_periods_relax_the_stretch_and_bring_a_sleeping_probe_forward():
    """A probe put to sleep at the full stretch (8 intervals) does not wait that long once the
    agent keeps up again: each quiet period (judged by its own timer; no probe is due in it)
    relaxes the factor and moves the sleeping probe with it, back to its configured interval."""
    check = {**DOC["healthchecks"]["h"], "interval": "1s", "fast_interval": "1s", "down_interval": "1s"}
    doc = {**DOC, "healthchecks": {"h": check}}
    agent = TimedProbes(parse_agent_config(doc), {"b1": [True, True]})
    factors = []

    async def scenario():
        loop = asyncio.get_running_loop()
        agent.stretch.factor = starvation.MAX_STRETCH  # as a starved start-up leaves it
        agent._execute(agent.core.start(0.0))
        agent._publish()
        deadline = loop.time() + 20
        while not getattr(agent, "starts", None) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert len(agent.sleeps) == 1  # the second probe sleeps, due 8 x 1 s after the first
        while agent.stretch.factor > 1.0 and len(factors) < 100:
            agent._stretch_period_ends(loop.time())  # a period ends, its timer on time
            factors.append(agent.stretch.factor)
        agent._stretch_handle.cancel()  # no real period may end (and judge this loop) meanwhile
        await asyncio.wait_for(agent.finished["b1"].wait(), 20)
        for task in agent._probe_tasks.values():
            task.cancel()
        await asyncio.gather(*agent._probe_tasks.values(), return_exceptions=True)

    asyncio.run(scenario())
    assert factors[-1] == 1.0 and factors == sorted(factors, reverse=True)
    # the second probe came one configured interval (1 s +-10 %) after the first, not eight
    assert agent.starts[1] - agent.starts[0] < starvation.MAX_STRETCH * 0.9 / 2
