"""The gate of playbooks/rolling.yml (playbooks/tasks/rolling_gate.yml) on one router, one row per
way a router can fail it: real ansible-playbook, vppsim as the router's VPP, the agent's state
file written here in its documented format (docs/agent-state.md) rather than by a running agent.
test_rolling.py runs the whole roll with real agents."""

from __future__ import annotations

import json
import time

import pytest
from ansible_runner_helpers import REPO_ROOT, lb_api_of, vpp_cli

GATE = REPO_ROOT / "playbooks" / "tasks" / "rolling_gate.yml"
GATE_TASK = "Gate - every frontend up, the planned weights in VPP, no new no-server packets"
MAGLEV_LB = {
    "backends": {"web1": {"address": "198.51.100.11"}, "web2": {"address": "198.51.100.12"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80,
                          "pools": [{"name": "primary", "backends": {"web1": {}, "web2": {}}}]}},
}
AS_CLI = "lb as 192.0.2.1/32 protocol tcp port 80 {} weight {}"


def state_file(age: float = 0.0, frontend: str = "up") -> dict:
    now = time.time()
    return {
        "format": "maglev-agent-state", "version": 1, "written_at": now - age,
        "agent": {"pid": 4242, "started_at": now - 100},
        "backends": {"web1": {"state": "up", "since": now - 50}, "web2": {"state": "up", "since": now - 50}},
        "frontends": {"www": {"state": frontend}},
    }


CASES = {
    # name: (the state file's age and frontend state, or None for no file; web2's weight in VPP;
    #        the gate's verdict: None = passes, else parts of its message)
    "serving": ({}, 100, None),
    "weights-drifted": ({}, 30, ["VPP does not hold the planned weights: " + AS_CLI.format("198.51.100.12", 100)]),
    "no-agent": (None, 100, ["frontends not up in the agent view after 1 s: www (missing)",
                             "the agent view is not usable: no agent state at"]),
    "stale-agent": ({"age": 600}, 100, ["the agent view is not usable: agent state", "s old (max_age 30 s)"]),
    "frontend-down": ({"frontend": "down"}, 100, ["frontends not up in the agent view after 1 s: www (down)"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rolling_gate(case, vppsim, runner, tmp_path):
    file_args, web2_weight, problems = CASES[case]
    if web2_weight not in (0, 100) and lb_api_of(vppsim) == "1.1.0":  # a real v26.06 as the VPP under test
        pytest.skip("LB API 1.1.0 has no AS weights: a weight cannot drift there")
    vpp_cli(vppsim, "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024",
            AS_CLI.format("198.51.100.11", 100), AS_CLI.format("198.51.100.12", web2_weight))
    agent_state = tmp_path / "state.json"
    if file_args is not None:
        agent_state.write_text(json.dumps(state_file(**file_args)))
    variables = {
        "maglev_lb": MAGLEV_LB, "maglev_agent_api_socket": vppsim.api_socket,
        "maglev_agent_stats_socket": vppsim.stats_socket, "maglev_agent_state_file": str(agent_state),
        "maglev_rolling_settle": 1, "maglev_rolling_agent_timeout": 1,
    }
    run = runner.playbook([{"name": "the gate", "ansible.builtin.import_tasks": str(GATE)}],
                          extra_args=["-e", json.dumps(variables)])
    verdict = run.task(GATE_TASK)
    if problems is None:
        assert run.ok, run.explain()
        assert verdict.msg == "localhost serves every frontend: www"
    else:
        assert not run.ok
        assert verdict.msg.startswith("localhost fails the rolling gate, the roll stops here: "), verdict.msg
        for part in problems:
            assert part in verdict.msg, verdict.msg
