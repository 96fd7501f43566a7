"""The agent and a playbook on the same VPP: one view of weights (design.md "Who owns what")."""

from __future__ import annotations

import copy
import json
import signal

from agentproc import wait_for
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.config_digest import config_digest
from ansible_runner_helpers import lb_task, vpp_cli
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


def test_playbook_run_during_the_agents_warmup_keeps_live_weights(sim, tmp_path, backends, client, agent, runner):
    """Issue 15 item 7 with a real agent: while it warms up it writes nothing to VPP and says so
    in its state file; a push then keeps VPP's live weights instead of failing over to the standby
    because the primaries have no good result yet."""
    vpp_cli(sim, "lb conf ip4-src-address 10.255.0.1 ip6-src-address 2001:db8:ff::1",
            "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024",
            *(f"lb as 192.0.2.1/32 protocol tcp port 80 {b.address} weight {w}"
              for b, w in zip(backends, (100, 100, 0), strict=True)))
    backends[0].stop()
    backends[1].stop()
    config = config_for(sim, tmp_path, backends, warmup={"min_delay": "600s", "max_delay": "900s"})
    agent(config)
    state_file = tmp_path / "state.json"

    def warming_up():
        try:
            document = json.loads(state_file.read_text())
        except (OSError, ValueError):
            return None
        states = {name: entry["state"] for name, entry in document["backends"].items()}
        return states["web3"] == "up" and document["frontends"]["www"].get("released") is False

    wait_for(warming_up, 15, "the agent's state file: web3 up, frontend www not released")
    run = runner.playbook([lb_task(sim, config, agent_state=str(state_file))])
    assert run.ok, run.explain()
    assert run.only()["agent"]["unreleased"] == ["www"], run.explain()
    assert not run.only().changed and run.only()["commands"] == [], run.explain()
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)
