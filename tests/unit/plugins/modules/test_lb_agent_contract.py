"""maglev.vpp.lb refuses before contacting VPP: the sockets given do not exist, so a task that
got as far as connecting would fail with "cannot connect" instead of the refusal asserted here."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.agent_state import write_agent_state
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.config_digest import config_digest
from ansible_collections.maglev.vpp.plugins.modules import lb

CONFIG = {
    "conf": {"ip4_src_address": "192.0.2.254"},
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {"web1": {"address": "198.51.100.11", "healthcheck": "h"}, "dr1": {"address": "198.51.100.21"}},
    "frontends": {
        "www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"web1": {}}}]},
        "dns": {"prefix": "192.0.2.53/32", "pools": [{"name": "p", "backends": {"dr1": {}}}]},
    },
}


def args(tmp_path, **extra):
    values = {"api_socket": str(tmp_path / "no-vpp.sock"), "agent_state": str(tmp_path / "state.json")}
    values.update(extra)
    return values


def agent_runs(tmp_path, config=None) -> None:
    config = CONFIG if config is None else config
    write_agent_state(str(tmp_path / "state.json"), {"web1": "up"}, {name: "up" for name in config["frontends"]},
                      digest=config_digest(schema.parse_config(config)))


def test_require_agent_refuses_without_a_view(run_module, tmp_path):
    failed, result = run_module(lb, args(tmp_path, config=CONFIG, require_agent=True))
    assert failed and not result["changed"]
    assert result["msg"].startswith("the agent's health view is not used (no agent state at")
    assert "1 backend(s) with a health check are treated as up" in result["msg"] and ": web1;" in result["msg"]
    assert "require_agent is set, so nothing was changed" in result["msg"]


def test_require_agent_is_satisfied_by_a_usable_view(run_module, tmp_path):
    agent_runs(tmp_path)
    failed, result = run_module(lb, args(tmp_path, config=CONFIG, require_agent=True))
    assert failed and result["msg"].startswith("cannot connect to VPP"), result["msg"]  # got past the checks


@pytest.mark.parametrize(
    "state, config, expected",
    [
        ("deleted", {**CONFIG, "frontends": {"www": CONFIG["frontends"]["www"]}},
         ["frontend www is deleted by this push, but the agent's config has it (it would add it back)"]),
        ("deleted", None,
         ["frontend dns is deleted by this push, but the agent's config has it (it would add it back)",
          "frontend www is deleted by this push, but the agent's config has it (it would add it back)"]),
        ("overridden", {**CONFIG, "frontends": {"www": CONFIG["frontends"]["www"]}},
         ["frontend dns is deleted by this push, but the agent's config has it (it would add it back)"]),
        ("merged", {**CONFIG, "conf": {"ip4_src_address": "192.0.2.99"}},
         ["conf (lb_conf) differs from the agent's"]),
    ],
    ids=["deleted-named", "deleted-everything", "overridden-drops-a-frontend", "merged-other-conf"],
)
def test_a_push_the_agent_would_undo_is_refused_before_vpp(run_module, tmp_path, state, config, expected):
    agent_runs(tmp_path)
    extra = {"config": copy.deepcopy(config)} if config is not None else {}
    failed, result = run_module(lb, args(tmp_path, state=state, **extra))
    assert failed and not result["changed"]
    assert result["agent_config_differences"] == expected
    assert "Nothing was changed" in result["msg"] and "maglev.vpp.agent" in result["msg"]


def test_merged_subset_of_the_agents_config_is_not_a_difference(run_module, tmp_path):
    agent_runs(tmp_path)
    subset = {**CONFIG, "frontends": {"www": CONFIG["frontends"]["www"]}}
    failed, result = run_module(lb, args(tmp_path, config=subset))
    assert failed and result["msg"].startswith("cannot connect to VPP"), result["msg"]
    assert result["agent"]["config_differences"] == []
