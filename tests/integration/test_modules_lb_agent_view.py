"""maglev.vpp.lb and the agent's state file (docs/agent-state.md), against a real vppsim.

The state file is written by the test with the agent's own writer; VPP is read back with the
core client on its own connection. Runs on both LB API generations: on 1.1.0 (no AS weights) an
AS of weight 0 is absent and every present AS reads 100.
"""

from __future__ import annotations

import copy
import time
from typing import Dict

from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.agent_state import write_agent_state
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.config_digest import config_digest
from ansible_runner_helpers import lb_api_of, lb_task, snapshot, vpp_cli

VIP = "192.0.2.1/32 tcp/80"
# The test writes the state file once per step, where a live agent rewrites it every 10 s: a
# generous max_age keeps it fresh over several playbook runs on a loaded machine.
MAX_AGE = 900
B1, B2, S1 = "198.51.100.1", "198.51.100.2", "198.51.100.3"
CONFIG = {
    "conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe"},
    "healthchecks": {"h": {"type": "http", "port": 80, "path": "/healthz"}},
    "backends": {
        "b1": {"address": B1, "healthcheck": "h"},
        "b2": {"address": B2, "healthcheck": "h"},
        "s1": {"address": S1, "healthcheck": "h"},
    },
    "frontends": {
        "www": {
            "prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "encap": "gre4",
            "pools": [{"name": "primary", "backends": {"b1": {}, "b2": {}}},
                      {"name": "standby", "backends": {"s1": {}}}],
        },
    },
}
# What VPP holds before each push: the primaries serve, the standby is idle.
LIVE = (
    "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe buckets 1024 timeout 40",
    "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {B1} weight 100",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {B2} weight 100",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {S1} weight 0",
)


def vpp_weights(sim) -> Dict[str, int]:
    vip = {str(k): v for k, v in snapshot(sim).state.vips.items()}[VIP]
    return {address: state.weight for address, state in vip.ases.items()}


def in_vpp(sim, weights: Dict[str, int]) -> Dict[str, int]:
    """The weights VPP reports for these: on LB API 1.1.0 weight 0 is no AS, any other reads 100."""
    if lb_api_of(sim) != "1.1.0":
        return weights
    return {address: 100 for address, weight in weights.items() if weight > 0}


def push(sim, config, state, **extra):
    """An lb task reading the test's state file."""
    return lb_task(sim, config, agent_state=state, agent_state_max_age=MAX_AGE, **extra)


def write_state(path, health, config=None, **kwargs) -> None:
    config = CONFIG if config is None else config
    write_agent_state(str(path), health, {"www": "up"}, digest=config_digest(schema.parse_config(config)), **kwargs)


def test_push_during_the_agents_warmup_keeps_live_weights(sim, runner, tmp_path):
    """Issue 15 item 7: b1/b2 not probed yet, s1 up, the frontend not released: the push must
    not fail over to the standby (before: b1 0, b2 0, s1 100)."""
    vpp_cli(sim, *LIVE)
    state = tmp_path / "state.json"
    write_state(state, {"b1": "unknown", "b2": "unknown", "s1": "up"}, released={"www": False})
    check = runner.playbook([push(sim, CONFIG, state)], check=True, diff=True)
    assert check.ok and not check.only().changed, check.explain()
    run = runner.playbook([push(sim, CONFIG, state)])
    assert run.ok, run.explain()
    assert not run.only().changed and run.only()["commands"] == [], run.explain()
    assert run.only()["agent"]["unreleased"] == ["www"]
    assert vpp_weights(sim) == in_vpp(sim, {B1: 100, B2: 100, S1: 0})

    # Once released, the agent's health decides (the agent would push the same).
    write_state(state, {"b1": "unknown", "b2": "unknown", "s1": "up"}, released={"www": True})
    released = runner.playbook([push(sim, CONFIG, state)])
    assert released.ok, released.explain()
    assert vpp_weights(sim) == in_vpp(sim, {B1: 0, B2: 0, S1: 100})


def test_no_agent_view_is_said_in_normal_output_and_require_agent_refuses(sim, runner, tmp_path):
    vpp_cli(sim, *LIVE[:2])
    run = runner.playbook([lb_task(sim, CONFIG)])
    assert run.ok, run.explain()
    warning = ("the agent's health view is not used (no agent state at {path} (no agent running?): treating every"
               " backend as up), so 3 backend(s) with a health check are treated as up and get their configured"
               " weights, even if they are down: b1, b2, s1")
    path = run.only()["agent"]["path"]
    assert warning.format(path=path) in run.only().warnings
    # shown at normal verbosity (Ansible prints warnings on stderr), not only with -v
    assert "[WARNING]: the agent's health view is not used" in run.stderr, run.explain()

    vpp_cli(sim, f"lb as 192.0.2.1/32 protocol tcp port 80 {B1} weight 0")
    before = snapshot(sim).state
    refused = runner.playbook([lb_task(sim, CONFIG, require_agent=True)])
    assert not refused.ok and refused.only().failed, refused.explain()
    assert "require_agent is set, so nothing was changed" in refused.only().msg
    assert "b1, b2, s1" in refused.only().msg
    assert snapshot(sim).state == before


def test_a_fresh_view_that_names_none_of_the_configured_backends_is_not_used(sim, runner, tmp_path):
    """Issue 17 item 12: backends renamed since the agent's config; before, every AS got weight 0."""
    vpp_cli(sim, *LIVE[:2])
    state = tmp_path / "state.json"
    write_agent_state(str(state), {"old-b1": "up", "old-b2": "up"})
    run = runner.playbook([push(sim, CONFIG, state)])
    assert run.ok, run.explain()
    assert run.only()["agent"]["used"] is False
    assert "names none of the 3 configured backends with a health check" in run.only()["agent"]["reason"]
    assert any("the agent's health view is not used" in w and "b1, b2, s1" in w for w in run.only().warnings)
    assert vpp_weights(sim) == in_vpp(sim, {B1: 100, B2: 100, S1: 0})


def test_a_push_the_running_agent_would_undo_is_refused_or_warned(sim, runner, tmp_path):
    vpp_cli(sim, *LIVE)
    state = tmp_path / "state.json"
    write_state(state, {"b1": "up", "b2": "up", "s1": "up"})
    changed = copy.deepcopy(CONFIG)
    changed["frontends"]["www"]["pools"][0]["backends"]["b2"] = {"weight": 60}
    before = snapshot(sim).state

    for check in (True, False):  # check mode predicts the refusal
        refused = runner.playbook([push(sim, changed, state)], check=check)
        assert not refused.ok, refused.explain()
        msg = refused.only().msg
        assert "runs another config and would undo this push" in msg and "frontend www differs" in msg, msg
        assert "maglev.vpp.agent" in msg and "agent_config_mismatch: warn" in msg
        assert refused.only()["agent_config_differences"] == ["frontend www differs from the agent's config"]
        assert snapshot(sim).state == before

    warned = runner.playbook([push(sim, changed, state, agent_config_mismatch="warn")])
    assert warned.ok, warned.explain()
    assert any("Pushing anyway" in w and "frontend www differs" in w for w in warned.only().warnings)
    assert warned.only().changed is (lb_api_of(sim) != "1.1.0")
    assert vpp_weights(sim) == in_vpp(sim, {B1: 100, B2: 60, S1: 0})

    # The agent's own config pushes as usual, and so does a stale file (no agent runs).
    same = runner.playbook([push(sim, CONFIG, state)])
    assert same.ok and same.only()["agent"]["config_differences"] == [], same.explain()
    write_state(state, {"b1": "up", "b2": "up", "s1": "up"}, now=time.time() - 2 * MAX_AGE)
    stale = runner.playbook([push(sim, changed, state)])
    assert stale.ok, stale.explain()
