"""The probe loops' sleeps follow the schedule's stretch (agent/probe_sleeps.py): a change of the
factor rescales what is left of every sleeping probe, shorter as it relaxes, longer as it grows,
keeping their order and spread; a first probe (paced by the warm-up) is never stretched; no sleep
ends before it began."""

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
        started = loop.time()
        factor = LONG / 0.05  # stretched: a 0.05 s interval due after LONG seconds
        sleeper = asyncio.ensure_future(sleeps.until(started + 0.05 * factor))
        await asyncio.sleep(0)
        assert len(sleeps) == 1
        sleeps.rescale(1.0 / factor)
        due = await sleeper
        return started, due, loop.time(), len(sleeps)

    started, due, woke, left = run(scenario)
    assert due == pytest.approx(started + 0.05, abs=0.005)
    assert woke >= due and woke < started + LONG
    assert left == 0


def test_a_growing_stretch_moves_a_sleeping_probe_later():
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        started = loop.time()
        sleeper = asyncio.ensure_future(sleeps.until(started + 0.05))
        await asyncio.sleep(0)
        sleeps.rescale(4.0)
        return started, await sleeper, loop.time()

    started, due, woke = run(scenario)
    assert due == pytest.approx(started + 0.2, abs=0.01)
    assert woke >= due


def test_the_rescale_keeps_the_probes_spread_out():
    """Two probes last started 0.4 s apart (the same interval): at 8x one is due in 0.4 s, the
    other in 0.8 s. When the factor falls to 1 they stay apart, in 0.05 s and 0.1 s; re-anchored
    on their last starts both would be due at once, and a burst of them is a stretch again."""
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        now = loop.time()
        earlier = asyncio.ensure_future(sleeps.until(now - 0.4 + 0.1 * 8.0))
        later = asyncio.ensure_future(sleeps.until(now + 0.1 * 8.0))
        await asyncio.sleep(0)
        rescaled = loop.time()
        sleeps.rescale(1.0 / 8.0)
        return rescaled, await earlier, await later

    rescaled, earlier, later = run(scenario)
    assert earlier == pytest.approx(rescaled + 0.05, abs=0.005)
    assert later == pytest.approx(rescaled + 0.1, abs=0.005)


def test_a_first_probe_is_not_stretched_nor_moved():
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        started = loop.time()
        sleeper = asyncio.ensure_future(sleeps.until(started + 0.05, movable=False))
        await asyncio.sleep(0)
        assert len(sleeps) == 0  # nothing to move
        sleeps.rescale(LONG / 0.05)
        return started, await sleeper

    started, due = run(scenario)
    assert due == pytest.approx(started + 0.05)


def test_a_sleep_is_never_due_before_it_began():
    """A starved probe's first rerun (no delay after the start of the probe that timed out) runs
    now, and its lag counts from now: not from that probe's start, seconds ago."""
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        long_ago = loop.time() - 5.0
        before = loop.time()
        return before, await sleeps.until(long_ago + 0.0 * 8.0)

    before, due = run(scenario)
    assert due >= before


def test_a_cancelled_sleep_leaves_nothing_behind():
    async def scenario():
        loop = asyncio.get_running_loop()
        sleeps = ProbeSleeps()
        sleeper = asyncio.ensure_future(sleeps.until(loop.time() + LONG))
        await asyncio.sleep(0)
        assert len(sleeps) == 1
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        sleeps.rescale(2.0)  # nothing to move, nothing fails
        return len(sleeps)

    assert run(scenario) == 0
