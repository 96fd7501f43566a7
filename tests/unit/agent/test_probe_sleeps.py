"""The probe loops' sleeps follow the schedule's stretch (agent/probe_sleeps.py): a change of the
factor moves every sleeping probe, earlier as it relaxes, later as it grows; a first probe (paced
by the warm-up) is never stretched; no sleep ends before it began."""

from __future__ import annotations

import asyncio

import pytest
from ansible_collections.maglev.vpp.agent.probe_sleeps import ProbeSleeps

LONG = 60.0  # a due time no test waits for: reaching it means the sleep was not moved


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_relaxing_stretch_wakes_a_sleeping_probe_at_its_new_due_time():
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        sleeps.restretch(LONG / 0.05)  # stretched: due after LONG seconds
        started = loop.time()
        sleeper = asyncio.ensure_future(sleeps.until_due(started, 0.05))
        await asyncio.sleep(0)
        assert len(sleeps) == 1
        sleeps.restretch(1.0)
        due = await sleeper
        return started, due, loop.time(), len(sleeps)

    started, due, woke, left = run(scenario)
    assert due == pytest.approx(started + 0.05)
    assert woke >= due and woke < started + LONG
    assert left == 0


def test_a_growing_stretch_moves_a_sleeping_probe_later():
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        started = loop.time()
        sleeper = asyncio.ensure_future(sleeps.until_due(started, 0.05))
        await asyncio.sleep(0)
        sleeps.restretch(4.0)
        return started, await sleeper, loop.time()

    started, due, woke = run(scenario)
    assert due == pytest.approx(started + 0.2)
    assert woke >= due


def test_a_first_probe_is_not_stretched_nor_moved():
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        sleeps.restretch(8.0)
        started = loop.time()
        sleeper = asyncio.ensure_future(sleeps.until_due(started, 0.05, stretched=False))
        await asyncio.sleep(0)
        assert len(sleeps) == 0  # nothing to move
        sleeps.restretch(LONG / 0.05)
        return started, await sleeper

    started, due = run(scenario)
    assert due == pytest.approx(started + 0.05)


def test_a_sleep_is_never_due_before_it_began():
    """A starved probe's first rerun (no delay after the start of the probe that timed out) runs
    now, and its lag counts from now: not from that probe's start, seconds ago."""
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        sleeps.restretch(8.0)
        long_ago = loop.time() - 5.0
        before = loop.time()
        return before, await sleeps.until_due(long_ago, 0.0)

    before, due = run(scenario)
    assert due >= before


def test_a_cancelled_sleep_leaves_nothing_behind():
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        sleeper = asyncio.ensure_future(sleeps.until_due(loop.time(), LONG))
        await asyncio.sleep(0)
        assert len(sleeps) == 1
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        sleeps.restretch(2.0)  # nothing to move, nothing fails
        return len(sleeps)

    assert run(scenario) == 0
