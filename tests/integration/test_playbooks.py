"""playbooks/: the example inventory's maglev_lb is valid and realistic; site.yml parses and
reads its variables from that inventory."""

from __future__ import annotations

import json
import os
import subprocess

import yaml
from ansible_collections.maglev.vpp.agent.config import parse_agent_config
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_runner_helpers import BIN_DIR, AnsibleRunner

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(REPO_ROOT, "playbooks")
EXAMPLE = os.path.join(PLAYBOOKS, "inventory", "example")
GROUP_VARS = os.path.join(EXAMPLE, "group_vars", "vpp_routers")


def example_maglev_lb() -> dict:
    with open(os.path.join(GROUP_VARS, "maglev_lb.yml")) as handle:
        return yaml.safe_load(handle)["maglev_lb"]


def test_example_maglev_lb_is_valid_without_warnings():
    config, warnings = schema.parse_config_with_warnings(example_maglev_lb())
    assert warnings == []
    assert len(config.frontends) >= 4


def test_example_covers_families_failover_stickiness_and_every_check_type():
    config = schema.parse_config(example_maglev_lb())
    families = {":" in fe.key.prefix for fe in config.frontends.values()}
    assert families == {False, True}  # IPv4 and IPv6 VIPs
    assert {fe.spec.src_ip_sticky for fe in config.frontends.values()} == {False, True}
    failover = [fe.name for fe in config.frontends.values() if len(fe.pools) >= 2]
    assert len(failover) >= 2
    assert {hc.type for hc in config.healthchecks.values()} == {"http", "https", "tcp", "icmp"}
    used_checks = {config.backends[m].healthcheck for fe in config.frontends.values()
                   for pool in fe.pools for m in pool.members}
    assert used_checks == set(config.healthchecks)


def test_the_agent_accepts_the_example_with_the_roles_agent_section():
    with open(os.path.join(GROUP_VARS, "maglev_agent.yml")) as handle:
        role_settings = yaml.safe_load(handle)
    document = dict(example_maglev_lb(), agent=dict(role_settings["maglev_agent_settings"],
                                                    metrics={"listen": role_settings["maglev_agent_metrics_listen"]}))
    config = parse_agent_config(document)
    assert config.settings.metrics_listen == ("127.0.0.1", 9091)
    assert config.settings.sync_interval == 30.0


def test_site_playbook_parses_and_the_inventory_feeds_it(tmp_path):
    runner = AnsibleRunner(tmp_path)
    env = runner.env(tmp_path / "unused.jsonl")
    syntax = subprocess.run(
        [str(BIN_DIR / "ansible-playbook"), "-i", EXAMPLE, "--syntax-check", os.path.join(PLAYBOOKS, "site.yml")],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    listed = subprocess.run(
        [str(BIN_DIR / "ansible-playbook"), "-i", EXAMPLE, "--list-hosts", "--list-tasks",
         os.path.join(PLAYBOOKS, "site.yml")],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "lb1.example.net" in listed.stdout and "lb2.example.net" in listed.stdout
    push = listed.stdout.index("Push the LB plugin state")
    deploy = listed.stdout.index("maglev.vpp.agent : Install or update the agent")
    # The agent first (the role waits until it runs the config), then the push: no moment where the
    # agent undoes what the same play pushes, and a failed role step pushes nothing.
    assert deploy < push
    inventory = subprocess.run(
        [str(BIN_DIR / "ansible-inventory"), "-i", EXAMPLE, "--host", "lb1.example.net"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert inventory.returncode == 0, inventory.stderr
    host_vars = json.loads(inventory.stdout)
    assert host_vars["maglev_lb"] == example_maglev_lb()


def test_rolling_playbook_parses_and_pushes_before_its_gate(tmp_path):
    runner = AnsibleRunner(tmp_path)
    env = runner.env(tmp_path / "unused.jsonl")
    listed = subprocess.run(
        [str(BIN_DIR / "ansible-playbook"), "-i", EXAMPLE, "--list-hosts", "--list-tasks",
         os.path.join(PLAYBOOKS, "rolling.yml")],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "lb1.example.net" in listed.stdout and "lb2.example.net" in listed.stdout
    # The agent adopts the config first: the lb module refuses a push the running agent would undo.
    order = ["maglev.vpp.agent : Install or update the agent",
             "Reload the agent's config through its status socket", "Push the LB plugin state", "Settle window",
             "Gate - every frontend up, the planned weights in VPP, no new no-server packets"]
    positions = [listed.stdout.index(task) for task in order]
    assert positions == sorted(positions)
    with open(os.path.join(PLAYBOOKS, "rolling.yml")) as handle:
        play = yaml.safe_load(handle)[0]
    assert play["max_fail_percentage"] == 0
    assert play["serial"] == "{{ maglev_rolling_batch | default(1) }}"
