"""The agent and a playbook on the same VPP: one view of weights (design.md "Who owns what")."""

from __future__ import annotations

import copy
import json
import signal

from agentproc import wait_for
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.config_digest import config_digest
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

    # A configured weight change the agent does not run yet is refused before VPP is touched,
    # naming the frontend: the agent would undo it at its next sync (never a silent revert).
    changed_config = copy.deepcopy(config)
    changed_config["frontends"]["www"]["pools"][0]["backends"] = {"web1": {"weight": 30}, "web2": {"weight": 70}}
    refused = runner.playbook([lb_task(sim, changed_config, agent_state=str(state_file))])
    assert not refused.ok, refused.explain()
    assert "frontend www differs from the agent's config" in refused.only().msg, refused.explain()
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 0, 0)

    # Deployed to the agent first (what the role does), the change is the agent's: it publishes
    # the new config's digest, applies the weight to the healthy backend and remembers it for the
    # down one; the same push then agrees with it and has nothing left to do.
    proc.write_config(changed_config)
    proc.signal(signal.SIGHUP)
    adopted = config_digest(schema.parse_config(changed_config)).whole
    wait_for(lambda: json.loads(state_file.read_text()).get("config", {}).get("digest") == adopted, 15,
             "the agent publishes the new config's digest")
    expect_weights(client, backends, 30, 0, 0)
    agreed = runner.playbook([lb_task(sim, changed_config, agent_state=str(state_file))])
    assert agreed.ok and not agreed.only().changed, agreed.explain()
    assert agreed.only()["agent"]["config_differences"] == []
    backends[1].start()
    expect_weights(client, backends, 30, 70, 0)
