"""VppWorker's hand-over of jobs between the event loop and the VPP thread.

The jobs here are plain functions that do not touch VPP: what is tested is the hand-over (which
thread runs what, and whether the loop turns while it waits), not the client.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from ansible_collections.maglev.vpp.agent import vppconn
from ansible_collections.maglev.vpp.agent.config import VppSettings

# Long enough that a hold never expires in these tests, however loaded the machine: the tests
# assert on what the loop did meanwhile, never on time.
NEVER = 600.0


def run_with_worker(scenario):
    async def main():
        worker = vppconn.VppWorker(VppSettings(api_socket="/nonexistent/api.sock"), asyncio.get_running_loop(),
                                   on_eof=lambda: None)
        worker.hold_limit = NEVER
        try:
            return await scenario(worker)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, worker.stop)

    return asyncio.run(main())


def in_vpp_thread(value):
    def job(client, stats):
        return value, threading.current_thread().name

    return job


@pytest.mark.parametrize("urgent", [False, True])
def test_a_job_runs_in_the_vpp_thread_and_its_result_comes_back(urgent):
    async def scenario(worker):
        return await worker.call(in_vpp_thread(42), urgent=urgent)

    assert run_with_worker(scenario) == (42, "vpp")


@pytest.mark.parametrize("urgent", [False, True])
def test_a_jobs_exception_is_raised_in_the_caller(urgent):
    def job(client, stats):
        raise ValueError("refused")

    async def scenario(worker):
        with pytest.raises(ValueError, match="refused"):
            await worker.call(job, urgent=urgent)
        return await worker.call(in_vpp_thread("after"), urgent=urgent)  # the thread lives on

    assert run_with_worker(scenario) == ("after", "vpp")


@pytest.mark.parametrize("urgent, loop_turned", [(False, True), (True, False)])
def test_an_urgent_job_for_an_idle_thread_holds_the_loop_still(urgent, loop_turned):
    async def scenario(worker):
        turned = []
        asyncio.get_running_loop().call_soon(turned.append, True)
        result = await worker.call(in_vpp_thread(1), urgent=urgent)
        return result, bool(turned), worker.holds, worker.holds_expired

    result, turned, holds, expired = run_with_worker(scenario)
    assert result == (1, "vpp")
    assert turned is loop_turned
    assert (holds, expired) == ((1, 0) if urgent else (0, 0))


def test_an_urgent_job_behind_a_running_one_does_not_hold_the_loop():
    """The thread is busy (a dump, say): holding would stall the probes for the whole job. Here
    the running job waits for the loop itself, so a hold would stand still until it expired."""
    gate = threading.Event()

    def slow(client, stats):
        gate.wait(NEVER)
        return "slow"

    async def scenario(worker):
        loop = asyncio.get_running_loop()
        first = loop.create_task(worker.call(slow))
        await asyncio.sleep(0)  # `first` submits `slow`: queued or running from here on
        loop.call_soon(gate.set)  # only a loop that turns opens the gate
        second = await worker.call(in_vpp_thread("urgent"), urgent=True)
        return await first, second, worker.holds

    assert run_with_worker(scenario) == ("slow", ("urgent", "vpp"), 0)
