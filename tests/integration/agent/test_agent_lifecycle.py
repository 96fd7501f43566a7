"""The agent around its own life cycle: reload, restart, a second instance, operator decisions
that outlive the process, and an agent that cannot see. Each test names the defect it guards
(issue "An agent you can trust on a router"); none of them may push weight 0 for a healthy
backend. Real agent processes against vppsim, real HTTP backends on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
from agentproc import AgentProcess, wait_for
from ansible_collections.maglev.vpp.agent.ctl_client import StatusClient
from test_agent_daemon import config_for, expect_weights, in_vpp, weights_in_vpp
from test_maglevctl import BUILD_DIR, Ctl


def zero_writes(proc: AgentProcess, backends, after: int = 0):
    """vpp-lbsync records that took a primary backend's weight to 0 (or removed it); the standby
    web3 has weight 0 by the pool rules."""
    healthy = {b.address for b in backends[:2]}
    return [r for r in proc.events("vpp-lbsync")[after:]
            if r.get("address") in healthy and (r.get("weight") == 0 or r["kind"] == "as_removed")]


def assert_no_zero_writes(proc: AgentProcess, backends, after: int = 0) -> None:
    found = zero_writes(proc, backends, after)
    assert found == [], "weight 0 pushed for a healthy backend:\n" + "\n".join(json.dumps(r) for r in found)


def started_agent(agent, config, client, backends) -> AgentProcess:
    proc = agent(config)
    for name in ("web1", "web2", "web3"):
        proc.wait_event("backend-transition", backend=name, to="up")
    expect_weights(client, backends, 100, 100, 0)
    return proc


def test_a_changed_check_keeps_state_and_weight_until_its_first_result(sim, tmp_path, backends, client, agent):
    config = config_for(sim, tmp_path, backends)
    proc = started_agent(agent, config, client, backends)
    writes = proc.count("vpp-lbsync")
    probes = {name: proc.count("probe", backend=name) for name in ("web1", "web2", "web3")}
    config["healthchecks"]["h"]["path"] = "/other"  # a different probe: old results say nothing of it
    proc.write_config(config)
    proc.signal(signal.SIGHUP)
    reload = proc.wait_event("config-reload")
    assert sorted(reload["reset"]) == ["web1", "web2", "web3"]
    for name in ("web1", "web2", "web3"):  # every backend's first result of the new check
        proc.wait_event("probe", backend=name, after=probes[name] + 1)
    assert proc.events("backend-transition", code="reloaded") == []  # no detour through unknown
    assert_no_zero_writes(proc, backends, writes)
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)


def test_a_long_interval_never_blackholes_a_restart(sim, tmp_path, backends, client, agent):
    """interval > warmup.max_delay: the first probes still come before the agent may write."""
    first = started_agent(agent, config_for(sim, tmp_path, backends), client, backends)
    assert first.stop() == 0
    slow = config_for(sim, tmp_path, backends, check={"interval": "20s", "down_interval": "20s"},
                      warmup={"min_delay": "500ms", "max_delay": "2s"})
    second = agent(slow)
    done = second.wait_event("warmup", action="done", timeout=20)
    second.wait_event_after(done, "vpp-lbsync-done")
    assert_no_zero_writes(second, backends)
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)


def test_a_frontend_without_results_at_max_delay_keeps_vpps_weights(sim, tmp_path, backends, client, agent):
    """Backends the agent has no result for at max_delay keep their weights (nothing is released)."""
    first = started_agent(agent, config_for(sim, tmp_path, backends), client, backends)
    assert first.stop() == 0
    netns = f"mg-absent-{uuid.uuid4().hex[:8]}"  # never created: every probe is blind
    second = agent(config_for(sim, tmp_path, backends, probe_netns=netns,
                              warmup={"min_delay": "100ms", "max_delay": "300ms"}))
    second.wait_event("agent-blind", timeout=20)
    second.wait_event("warmup-overdue", timeout=20)
    second.wait_event("vpp-lbsync-done", timeout=20)  # connected and synced (the conf only)
    assert_no_zero_writes(second, backends)
    assert second.events("backend-transition") == []
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_a_missing_probe_namespace_blinds_the_agent_without_touching_vpp_and_it_recovers(
        sim, tmp_path, backends, client, agent):
    proc = started_agent(agent, config_for(sim, tmp_path, backends), client, backends)
    writes = proc.count("vpp-lbsync")
    netns = f"mg-late-{uuid.uuid4().hex[:8]}"
    config = config_for(sim, tmp_path, backends, probe_netns=netns)
    proc.write_config(config)
    proc.signal(signal.SIGHUP)
    proc.wait_event("agent-blind", code="NETNS")
    blind_probes = proc.count("probe", code="NETNS")
    proc.wait_event("probe", code="NETNS", after=blind_probes + 3)  # blind for a while
    assert proc.events("backend-transition", to="down") == []
    assert_no_zero_writes(proc, backends, writes)
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)
    # The namespace appears (a boot-order race resolved): the agent sees again by itself. Inside
    # the empty namespace the backends are unreachable, so they do go down now: real results.
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        proc.wait_event("agent-sight-restored")
        proc.wait_event("netns-entered", netns=netns)
        proc.wait_event("backend-transition", backend="web1", to="down")
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


def test_a_second_agent_exits_before_touching_vpp(sim, tmp_path, backends, client, agent):
    socket_path = str(tmp_path / "status.sock")
    config = config_for(sim, tmp_path, backends, status_socket=socket_path)
    first = started_agent(agent, config, client, backends)
    Ctl(socket_path).ok("set", "frontend", "www", "pool", "primary", "backend", "web2", "weight", "50")
    expect_weights(client, backends, 100, 50, 0)
    calls_before = client.dump()
    path = str(tmp_path / "second.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(dict(config, agent=dict(config["agent"], status_socket=str(tmp_path / "other.sock"))), handle)
    done = subprocess.run([sys.executable, "-m", "ansible_collections.maglev.vpp.agent", "--config", path],
                          env=dict(os.environ, PYTHONPATH=BUILD_DIR), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 3, done.stderr
    assert f"pid {first.proc.pid}" in done.stderr and "already runs" in done.stderr
    assert client.dump() == calls_before  # the operator's 50 stands
    assert first.proc.poll() is None


def test_operator_decisions_survive_an_agent_restart(sim, tmp_path, backends, client, agent):
    socket_path = str(tmp_path / "status.sock")
    config = config_for(sim, tmp_path, backends, status_socket=socket_path,
                        warmup={"min_delay": "200ms", "max_delay": "2s"})
    first = started_agent(agent, config, client, backends)
    ctl = Ctl(socket_path)
    ctl.ok("set", "backend", "web1", "disable")
    ctl.ok("set", "frontend", "www", "pool", "primary", "backend", "web2", "weight", "60")
    expect_weights(client, backends, 0, 60, 0)
    assert first.stop() == 0
    second = agent(config)
    second.wait_event("operator-state-restored")
    done = second.wait_event("warmup", action="done")
    second.wait_event_after(done, "vpp-lbsync-done")
    assert weights_in_vpp(client) == in_vpp(client, backends, 0, 60, 0)  # still out, still 60
    web1 = ctl.json("show", "backend", "web1")
    assert (web1["state"], web1["source"]) == ("disabled", "persisted")
    # Only the operator ends it.
    ctl.ok("set", "backend", "web1", "enable")
    StatusClient(socket_path).delete("frontends", "www", "pools", "primary", "backends", "web2", "weight")
    expect_weights(client, backends, 100, 100, 0)

    def saved():
        with open(os.path.join(tmp_path, "lib", "operator-state.json"), encoding="utf-8") as handle:
            return json.load(handle)
    wait_for(lambda: not saved()["backends"] and not saved()["overrides"], 10, "an empty operator state")


def test_repeated_operator_actions_are_idempotent(sim, tmp_path, backends, client, agent):
    socket_path = str(tmp_path / "status.sock")
    started_agent(agent, config_for(sim, tmp_path, backends, status_socket=socket_path), client, backends)
    ctl = Ctl(socket_path)
    ctl.ok("set", "backend", "web1", "pause")
    again = ctl.json("set", "backend", "web1", "pause")
    assert (again["changed"], again["state"]) == (False, "paused")
    assert "already paused" in again["message"]
    expect_weights(client, backends, 0, 100, 0)


def test_a_reload_storm_applies_the_last_file(sim, tmp_path, backends, client, agent):
    """Ten SIGHUPs in a row and a reload through the API: one at a time, the last file wins."""
    socket_path = str(tmp_path / "status.sock")
    config = config_for(sim, tmp_path, backends, status_socket=socket_path)
    proc = started_agent(agent, config, client, backends)
    for weight in range(10, 101, 10):
        config["frontends"]["www"]["pools"][0]["backends"]["web2"] = {"weight": weight}
        proc.write_config(config)
        proc.signal(signal.SIGHUP)
    config["frontends"]["www"]["pools"][0]["backends"]["web2"] = {"weight": 35}
    proc.write_config(config)
    StatusClient(socket_path).post("config", "reload")
    expect_weights(client, backends, 100, 35, 0)
    assert proc.count("config-reload-failed") == 0


def test_a_backend_removed_by_reload_says_so(sim, tmp_path, backends, client, agent):
    config = config_for(sim, tmp_path, backends)
    proc = started_agent(agent, config, client, backends)
    del config["backends"]["web2"]
    config["frontends"]["www"]["pools"][0]["backends"].pop("web2")
    proc.write_config(config)
    proc.signal(signal.SIGHUP)
    removed = proc.wait_event("backend-transition", backend="web2", to="removed")
    assert removed["code"] == "removed"
    assert proc.wait_event("config-reload")["removed"] == ["web2"]
