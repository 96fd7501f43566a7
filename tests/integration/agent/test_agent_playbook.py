"""The agent and a playbook on the same VPP: one view of weights (design.md "Who owns what")."""

from __future__ import annotations

import json

from agentproc import wait_for
from ansible_runner_helpers import lb_task
from test_agent_daemon import config_for, expect_weights, in_vpp, weights_in_vpp


def test_playbook_run_while_a_backend_is_down_changes_nothing(sim, tmp_path, backends, client, agent, runner):
    config = config_for(sim, tmp_path, backends)
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    backends[1].stop()
    expect_weights(client, backends, 100, 0, 0)
    proc.wait_event("backend-transition", backend="web2", to="down")
    state_file = tmp_path / "state.json"
    wait_for(lambda: json.loads(state_file.read_text())["backends"]["web2"]["state"] == "down", 5, "state file")

    # The operator's playbook pushes the very file the agent runs on (its agent: section is ignored).
    run = runner.playbook([lb_task(sim, config, agent_state=str(state_file))])
    assert run.ok, run.explain()
    assert not run.only().changed, run.explain()
    assert run.only()["agent"]["used"] is True
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 0, 0)

    # A configured weight change is applied at once for the healthy backend, remembered for the down one.
    config["frontends"]["www"]["pools"][0]["backends"] = {"web1": {"weight": 30}, "web2": {"weight": 70}}
    changed = runner.playbook([lb_task(sim, config, agent_state=str(state_file))])
    # LB API 1.1.0 has no weights: web1 stays present, so there is nothing to change.
    assert changed.ok and changed.only().changed == client.capabilities.as_weights, changed.explain()
    assert weights_in_vpp(client) == in_vpp(client, backends, 30, 0, 0)
