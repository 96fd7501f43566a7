"""An Agent whose probes answer from a script: a test double of the network for the shell's
tests (no VPP connection: the agent is not started, only its core and probe loops run)."""

from __future__ import annotations

import asyncio
from typing import Dict, List, Union

from ansible_collections.maglev.vpp.agent import daemon
from ansible_collections.maglev.vpp.agent.config import parse_agent_config
from ansible_collections.maglev.vpp.agent.probes.result import ProbeResult

Answer = Union[bool, ProbeResult]  # True/False: a quick pass or refusal


class ScriptedProbes(daemon.Agent):
    """An agent whose probes answer from a script (backend -> results, a test double of the
    network); each probe first publishes what is pending and keeps the snapshot it sees."""

    def __init__(self, config, script):
        super().__init__(config)
        self.script = {name: list(results) for name, results in script.items()}
        self.seen = {name: [] for name in script}
        self.finished = {name: asyncio.Event() for name in script}

    async def _probe(self, name, check, address):
        self.publish_pending()
        if name in self.seen:
            self.seen[name].append(self.snapshot)
        results = self.script.get(name)
        if not results:
            if name in self.finished:
                self.finished[name].set()
            await asyncio.Event().wait()  # no more answers: this probe never completes
        answer = results.pop(0)
        if isinstance(answer, ProbeResult):
            return answer
        return ProbeResult(answer, "L4OK" if answer else "L4CON", "", 0.001)


def run_script(doc: dict, script: Dict[str, List[Answer]]) -> ScriptedProbes:
    """Run ``doc``'s agent until each scripted backend has had all its answers; the agent
    (``seen``: the snapshots each scripted backend's probes saw, before its first result and
    after each)."""
    agent = ScriptedProbes(parse_agent_config(doc), script)

    async def scenario():
        agent._execute(agent.core.start(0.0))  # probe tasks, no VPP connection
        agent._publish()
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in agent.finished.values())), 30)
        for task in agent._probe_tasks.values():
            task.cancel()
        await asyncio.gather(*agent._probe_tasks.values(), return_exceptions=True)

    asyncio.run(scenario())
    return agent
