"""maglev.vpp.lb_facts parts that need no VPP: the agent subset and argument checks."""

from __future__ import annotations

import json
import time

from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.agent_state import write_agent_state
from ansible_collections.maglev.vpp.plugins.modules import lb_facts


def nowhere(tmp_path, **extra):
    args = {"api_socket": str(tmp_path / "no-vpp.sock"), "stats_socket": str(tmp_path / "no-stats.sock")}
    args.update(extra)
    return args


def test_agent_subset_reads_the_agent_view_without_vpp(run_module, tmp_path):
    path = tmp_path / "state.json"
    write_agent_state(str(path), {"web1": "up", "web2": "down"})
    failed, result = run_module(lb_facts, nowhere(tmp_path, gather_subset=["agent"], agent_state=str(path)))
    assert not failed, result
    assert result["changed"] is False
    facts = result["ansible_facts"]
    assert set(facts) == {"maglev_lb_state"}  # no VPP, so no live state and no VPP section
    agent = facts["maglev_lb_state"]["agent"]
    assert agent["used"] is True and agent["path"] == str(path)
    assert agent["health"] == {"web1": "up", "web2": "down"}
    assert "1 up, 1 down" in agent["reason"]


def test_agent_subset_without_agent_says_why(run_module, tmp_path):
    path = str(tmp_path / "absent.json")
    failed, result = run_module(lb_facts, nowhere(tmp_path, gather_subset="agent", agent_state=path))
    assert not failed, result
    agent = result["ansible_facts"]["maglev_lb_state"]["agent"]
    assert agent["used"] is False and agent["health"] is None
    assert path in agent["reason"] and "every backend as up" in agent["reason"]


def test_a_stale_agent_view_is_not_used(run_module, tmp_path):
    path = tmp_path / "state.json"
    write_agent_state(str(path), {"web1": "down"}, now=time.time() - 120)
    failed, result = run_module(lb_facts, nowhere(tmp_path, gather_subset=["agent"], agent_state=str(path),
                                                  agent_state_max_age=30))
    assert not failed, result
    agent = result["ansible_facts"]["maglev_lb_state"]["agent"]
    assert agent["used"] is False and "old" in agent["reason"]
    json.dumps(result)  # plain data


def test_unknown_subset_is_refused(run_module, tmp_path):
    failed, result = run_module(lb_facts, nowhere(tmp_path, gather_subset=["vips", "routes"]))
    assert failed
    assert "gather_subset" in result["msg"] and "routes" in result["msg"]


def test_bad_options_are_refused_before_vpp(run_module, tmp_path):
    failed, result = run_module(lb_facts, nowhere(tmp_path, timeout=-2))
    assert failed
    assert result["errors"] == ["timeout: must be a positive number of seconds, got -2.0"]
