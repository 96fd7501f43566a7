"""The shell's probe-loop supervision: a bug inside a probe loop is counted and the loop
restarts (it used to end silently, leaving the backend unprobed for the agent's life)."""

from __future__ import annotations

import asyncio

from ansible_collections.maglev.vpp.agent import daemon
from ansible_collections.maglev.vpp.agent.config import parse_agent_config

DOC = {
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {"b1": {"address": "10.0.0.1", "healthcheck": "h"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"b1": {}}}]}},
    "agent": {"metrics": {"listen": ""}},
}


class CrashesOnce(daemon.Agent):
    """An agent whose probe loop has a bug the first time it runs (a test double of a bug)."""

    def __init__(self, config):
        super().__init__(config)
        self.delays = []

    async def _probe_loop(self, name: str, first_delay: float) -> None:
        self.delays.append(first_delay)
        if len(self.delays) == 1:
            raise RuntimeError("a bug in the probe loop")


def test_a_crashed_probe_loop_is_counted_and_restarts():
    agent = CrashesOnce(parse_agent_config(DOC))

    async def scenario():
        await asyncio.wait_for(agent._supervised_probe("b1", 0.25), 30)

    asyncio.run(scenario())
    assert agent.delays == [0.25, daemon.PROBE_LOOP_RESTART]
    assert agent.probe_loop_crashes == 1
