"""within(): a bounded await that never swallows the caller's cancellation."""

from __future__ import annotations

import asyncio

from ansible_collections.maglev.vpp.agent.aiotools import within


def test_result_and_timeout() -> None:
    async def scenario():
        ready = asyncio.Event()
        ready.set()
        got = await within(ready.wait(), 1.0)
        never = await within(asyncio.Event().wait(), 0.01)
        return got, never

    assert asyncio.run(scenario()) == ((True, True), (False, None))


def test_a_cancellation_that_meets_completion_ends_the_loop() -> None:
    """The agent's loops wait on an event that is often set just as shutdown cancels them."""

    async def scenario() -> bool:
        wake = asyncio.Event()
        rounds = []

        async def loop_forever() -> None:
            while True:
                await within(wake.wait(), None)
                wake.clear()
                rounds.append(1)

        task = asyncio.create_task(loop_forever())
        await asyncio.sleep(0)  # the loop is waiting now
        wake.set()
        task.cancel()  # in the same step as the wake-up
        done, _unused = await asyncio.wait({task}, timeout=2)
        return task in done and task.cancelled()

    assert asyncio.run(scenario())


def test_the_inner_wait_is_cancelled_on_timeout() -> None:
    async def scenario():
        queue: asyncio.Queue = asyncio.Queue()
        got = await within(queue.get(), 0.01)
        queue.put_nowait("kept")  # no abandoned getter took it
        return got, queue.get_nowait()

    assert asyncio.run(scenario()) == ((False, None), "kept")
