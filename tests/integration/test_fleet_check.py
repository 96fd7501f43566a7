"""playbooks/fleet_check.yml over three vppsim "routers": consistent, transient and drift.

Each router is a local-connection host of a real inventory with its own vppsim and its own agent
state file (written with the agent's writer); the LB state is pushed with the real lb module.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.agent_state import write_agent_state
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.weights import MemberAdjustment
from ansible_runner_helpers import BIN_DIR, REPO_ROOT, lb_task

ROUTERS = ("router1", "router2", "router3")
STATE_MAX_AGE = 900
VIP = "192.0.2.1/32 tcp/80"
CONFIG: Dict[str, Any] = {
    "healthchecks": {"tcp-80": {"type": "tcp", "port": 80}},
    "backends": {"web1": {"address": "198.51.100.11", "healthcheck": "tcp-80"},
                 "web2": {"address": "198.51.100.12", "healthcheck": "tcp-80"}},
    "frontends": {
        "www-v4": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "new_flows_table_length": 1024,
                   "pools": [{"name": "primary", "backends": {"web1": {"weight": 100}, "web2": {"weight": 100}}}]},
    },
}


@pytest.fixture
def fleet(vppsim_factory, runner, tmp_path):
    """Three routers, each with its vppsim, agent state file (both backends up) and config."""
    sims = {name: vppsim_factory("--lb-api", "1.2.0") for name in ROUTERS}
    configs = {name: copy.deepcopy(CONFIG) for name in ROUTERS}
    states = {name: tmp_path / f"{name}-state.json" for name in ROUTERS}
    for name in ROUTERS:
        write_agent_state(str(states[name]), {"web1": "up", "web2": "up"})
    return sims, configs, states


def push(runner, sims, configs, states) -> None:
    tasks = [lb_task(sims[name], configs[name], agent_state=states[name], name=f"push {name}",
                     agent_state_max_age=STATE_MAX_AGE) for name in ROUTERS]
    run = runner.playbook(tasks)
    assert run.ok, run.explain()


def fleet_check(runner, sims, configs, states, tmp_path: Path, **extra_vars: Any):
    hosts = {
        name: {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "maglev_agent_api_socket": sims[name].api_socket,
            "maglev_agent_state_file": str(states[name]),
            "maglev_lb": configs[name],
            "maglev_agent_state_max_age": STATE_MAX_AGE,  # a busy machine is slow, the files stay valid
            **extra_vars,
        }
        for name in ROUTERS
    }
    inventory = tmp_path / "fleet-inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"vpp_routers": {"hosts": hosts}}}}))
    argv = [str(BIN_DIR / "ansible-playbook"), "-i", str(inventory), str(REPO_ROOT / "playbooks" / "fleet_check.yml")]
    run = runner._run(argv, runner._next("fleet.results.jsonl"), 120.0)
    return run, run.task("Compare the routers")


def test_consistent_fleet_passes(fleet, runner, tmp_path) -> None:
    sims, configs, states = fleet
    push(runner, sims, configs, states)
    run, compare = fleet_check(runner, sims, configs, states, tmp_path)
    assert run.ok, run.explain()
    assert compare["consistent"] is True
    assert compare["hosts"] == list(ROUTERS)


def test_backend_down_on_one_router_is_transient(fleet, runner, tmp_path) -> None:
    sims, configs, states = fleet
    write_agent_state(str(states["router2"]), {"web1": "up", "web2": "down"})
    push(runner, sims, configs, states)  # router2's lb push honours its agent: web2 at weight 0
    run, compare = fleet_check(runner, sims, configs, states, tmp_path)
    assert compare.failed, run.explain()
    assert compare["differences"] == [{
        "vip": VIP, "kind": "transient", "what": "weight of 198.51.100.12",
        "detail": "198.51.100.12 at weight 0 on router2, 100 on router1, router3 - the agents see web2"
                  " down on router2, up on router1, router3",
    }]
    assert "router2" in compare.msg and VIP in compare.msg
    # With transient: warn, only drift fails.
    run, compare = fleet_check(runner, sims, configs, states, tmp_path, maglev_fleet_transient="warn")
    assert run.ok, run.explain()
    assert any("(transient)" in warning for warning in compare.warnings)


def test_slow_start_on_one_router_is_transient(fleet, runner, tmp_path) -> None:
    sims, configs, states = fleet
    write_agent_state(str(states["router3"]), {"web1": "up", "web2": "up"},
                      frontends={"www-v4": "up"},
                      adjustments={"www-v4": {"web2": MemberAdjustment(ramp=0.4)}})
    push(runner, sims, configs, states)
    run, compare = fleet_check(runner, sims, configs, states, tmp_path)
    assert [(d["kind"], d["detail"]) for d in compare["differences"]] == [(
        "transient", "198.51.100.12 at weight 40 on router3, 100 on router1, router2 - web2 is slow-starting"
                     " (40%) on router3, steady on router1, router2",
    )]


def test_configuration_drift_is_named(fleet, runner, tmp_path) -> None:
    sims, configs, states = fleet
    configs["router3"]["frontends"]["www-v4"]["pools"][0]["backends"]["web2"]["weight"] = 50
    configs["router2"]["frontends"]["www-v4"]["new_flows_table_length"] = 2048
    push(runner, sims, configs, states)
    run, compare = fleet_check(runner, sims, configs, states, tmp_path)
    assert compare.failed
    assert [(d["kind"], d["what"], d["detail"]) for d in compare["differences"]] == [
        ("drift", "new_flows_table_length", "new_flows_table_length 2048 on router2, 1024 on router1, router3"),
        ("drift", "weight of 198.51.100.12", "198.51.100.12 at weight 50 on router3, 100 on router1, router2"
                                             " - the agents' views agree, so the configured weights differ"),
    ]
