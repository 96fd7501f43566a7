"""maglev-agent --event-loop: the agent runs, probes and syncs on the loop asked for (uvloop is
a requirement; docs/performance.md, "Agent", measures it against asyncio's own)."""

from __future__ import annotations

import pytest
from test_agent_daemon import config_for, expect_weights


@pytest.mark.parametrize("choice", ["asyncio", "uvloop", "auto"])
def test_the_agent_runs_on_the_event_loop_asked_for(sim, tmp_path, backends, client, agent, choice):
    proc = agent(config_for(sim, tmp_path, backends), ["--event-loop", choice])
    assert proc.events("starting")[0]["event_loop"] == ("uvloop" if choice == "auto" else choice)
    for name in ("web1", "web2", "web3"):
        proc.wait_event("backend-transition", backend=name, to="up")
    expect_weights(client, backends, 100, 100, 0)
