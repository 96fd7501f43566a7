"""Issue 18's VPP-side fault scenarios for the agent (docs/reliability.md): an API socket the
agent may not use, a missing stats socket, the agent killed with SIGKILL and restarted.

Faults are made by the test: file modes on the socket (the agent runs as root without
CAP_DAC_OVERRIDE, so it obeys them), the stats socket file moved away and back, SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from agentproc import AgentProcess, wait_for
from ansible_collections.maglev.vpp.agent.ctl_client import StatusClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_runner_helpers import NO_DAC_OVERRIDE, lb_task, vpp_cli
from test_agent_daemon import config_for, expect_weights, in_vpp, legacy, weights_in_vpp, writes_behind
from test_maglevctl import Ctl


def vpp_status(status_socket: str) -> dict:
    return StatusClient(status_socket, timeout=10).get("vpp")


def test_api_socket_permission_denied_warns_changes_nothing_and_connects_once_granted(
        sim, tmp_path, backends, client):
    status = str(tmp_path / "status.sock")
    config = config_for(sim, tmp_path, backends, status_socket=status)
    mode = os.stat(sim.api_socket).st_mode
    os.chmod(sim.api_socket, 0)
    proc = AgentProcess(config, str(tmp_path), command_prefix=NO_DAC_OVERRIDE)
    try:
        proc.start()
        failed = proc.wait_event("vpp-connect-failed")
        assert failed["level"] == "warning", failed  # loud, and retried (not an error that gives up)
        assert f"permission denied on VPP API socket {sim.api_socket}" in failed["reason"], failed
        proc.wait_event("status-api")
        info = wait_for(lambda: (v := vpp_status(status)).get("last_error") and v, 15, "last_error in GET /vpp")
        assert info["connected"] is False
        assert "permission denied on VPP API socket" in info["last_error"], info
        # The backends are checked meanwhile; nothing reached VPP.
        for name in ("web1", "web2", "web3"):
            proc.wait_event("backend-transition", backend=name, to="up")
        assert client.dump().vips == {}
        assert proc.proc.poll() is None and proc.count("vpp-lbsync") == 0

        os.chmod(sim.api_socket, mode)  # access granted: the next retry connects
        proc.wait_event("vpp-connect", timeout=30)
        expect_weights(client, backends, 100, 100, 0)
        assert vpp_status(status)["connected"] is True
    finally:
        os.chmod(sim.api_socket, mode)
        proc.stop()
    assert "Traceback" not in proc.log_text()


def test_without_the_stats_socket_weights_still_sync_and_counters_say_unavailable(
        sim, tmp_path, backends, client, agent):
    status = str(tmp_path / "status.sock")
    moved = sim.stats_socket + ".away"
    os.rename(sim.stats_socket, moved)  # the socket stays bound: renaming it back restores it
    try:
        proc = agent(config_for(sim, tmp_path, backends, status_socket=status))
        # The API side works as ever (the agent used to need both sockets to connect at all).
        expect_weights(client, backends, 100, 100, 0)
        unavailable = proc.wait_event("vpp-stats-unavailable")
        assert unavailable["level"] == "warning" and unavailable["stats_socket"] == sim.stats_socket, unavailable
        assert sim.stats_socket in unavailable["reason"], unavailable
        proc.wait_event("status-api")
        info = vpp_status(status)
        assert info["connected"] is True and info["stats_available"] is False, info
        assert sim.stats_socket in info["stats_error"], info
        backends[0].stop()  # the agent keeps syncing weights
        expect_weights(client, backends, 0, 100, 0)
        assert proc.count("vpp-stats-unavailable") == 1  # said once, not every stats interval
        assert StatusClient(status, timeout=10).get("vpp", "counters")["at"] is None  # never read
    finally:
        if os.path.exists(moved):
            os.rename(moved, sim.stats_socket)
    proc.wait_event("vpp-stats-available")
    info = wait_for(lambda: (v := vpp_status(status))["stats_available"] and v, 15, "stats_available in GET /vpp")
    assert info["stats_error"] is None and info["boottime"], info
    # Counters resume: the agent reads them from the segment again.
    counters = wait_for(lambda: (c := StatusClient(status, timeout=10).get("vpp", "counters"))["at"] and c, 15,
                        "counters read after the stats came back")
    assert [v["prefix"] for v in counters["vips"]] == ["192.0.2.1/32"], counters
    assert proc.count("vpp-connect") == 1  # the API connection was never dropped for it


def state_file(tmp_path) -> dict:
    with open(tmp_path / "state.json", encoding="utf-8") as handle:
        return json.load(handle)


def test_sigkilled_agent_restarts_without_black_holing_and_keeps_operator_state(
        sim, tmp_path, backends, client, agent):
    status = str(tmp_path / "status.sock")
    config = config_for(sim, tmp_path, backends, status_socket=status,
                        warmup={"min_delay": "300ms", "max_delay": "2s"})
    first = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    ctl = Ctl(status)
    ctl.ok("set", "backend", "web1", "disable")
    ctl.ok("set", "backend", "web3", "pause")
    ctl.ok("set", "frontend", "www", "pool", "primary", "backend", "web2", "weight", "60")
    expect_weights(client, backends, 0, 60, 0)

    def decided():  # the file shows the operator's decisions (written at most once a second: not at once)
        document = state_file(tmp_path)
        shown = (document["backends"]["web1"]["state"], document["backends"]["web3"]["state"])
        return document if shown == ("disabled", "paused") else None

    before = wait_for(decided, 15, "the operator's decisions in the state file")

    first.signal(signal.SIGKILL)  # no cleanup at all: lock file, state file, status socket stay
    assert first.proc.wait(30) == -signal.SIGKILL
    assert os.path.exists(tmp_path / "state.json") and os.path.exists(tmp_path / "state.json.lock")
    assert weights_in_vpp(client) == in_vpp(client, backends, 0, 60, 0)  # VPP keeps what it had

    second = agent(config)  # the dead process's lock does not block it
    assert second.proc.poll() is None
    second.wait_event("operator-state-restored")
    done = second.wait_event("warmup", action="done")
    second.wait_event_after(done, "vpp-lbsync-done")  # the sync that follows the release
    # Warm-up: web2, healthy and in service, was never written to 0 or removed; the operator's
    # decisions were not undone either (web1 not re-added, web3 not raised).
    web = {f"web{i + 1}": b.address for i, b in enumerate(backends)}
    harmful = [r for r in second.events("vpp-lbsync")
               if (r.get("address") == web["web2"] and (r.get("weight") == 0 or r["kind"] == "as_removed"))
               or (r.get("address") in (web["web1"], web["web3"]) and (r.get("weight") or 0) > 0)]
    assert harmful == [], harmful
    assert weights_in_vpp(client) == in_vpp(client, backends, 0, 60, 0)
    for name, state in (("web1", "disabled"), ("web3", "paused")):
        shown = ctl.json("show", "backend", name)
        assert (shown["state"], shown["source"]) == (state, "persisted"), shown
    # The state file is rebuilt by the new process, with the same view of the backends.
    # (Written at most once a second: the new agent's first file, at its start, knows no probe yet.)
    states = {n: b["state"] for n, b in before["backends"].items()}
    rebuilt = wait_for(lambda: (d := state_file(tmp_path))["agent"]["pid"] == second.proc.pid
                       and {n: b["state"] for n, b in d["backends"].items()} == states and d, 15,
                       f"the state file written by the new agent, with the backends {states}")
    assert before["agent"]["pid"] == first.proc.pid
    assert rebuilt["agent"]["pid"] == second.proc.pid


@pytest.mark.simulator(reason="holds VPP's answer to the playbook's write with `sim fault stall`")
def test_a_playbook_and_the_agent_writing_one_frontend_at_once_end_in_the_agreed_state(
        sim, tmp_path, backends, client, agent, runner):
    config = config_for(sim, tmp_path, backends, sync_interval="60s")  # no periodic repair meanwhile
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    maglev_lb = {key: value for key, value in config.items() if key != "agent"}  # the agent's own config
    web1, web2 = backends[0].address, backends[1].address
    vip = "192.0.2.1/32 protocol tcp port 80"
    # Another tool removed web2 behind the agent's back: the playbook puts it back.
    vpp_cli(sim, f"lb as {vip} {web2} del")
    add_as = "lb_add_del_as" if legacy(client) else "lb_add_del_as_v2"
    # VPP runs the playbook's AS add at once but answers 5 s later: the agent writes meanwhile.
    vpp_cli(sim, f"sim fault stall 5000 {add_as}")
    push = lb_task(sim, maglev_lb, agent_state=tmp_path / "state.json", timeout=60)
    outcome: dict = {}
    playbook = threading.Thread(target=lambda: outcome.setdefault("run", runner.playbook([push])), daemon=True)
    playbook.start()
    wait_for(lambda: web2 in weights_in_vpp(client), 30, "the playbook's write of web2 in VPP")
    backends[0].stop()  # the agent takes web1 out while the playbook waits for VPP's answer
    wait_for(lambda: weights_in_vpp(client).get(web1, 0) == 0, 30, "the agent's write of web1 in VPP")
    assert playbook.is_alive()  # both changes were in VPP's hands at the same time
    playbook.join(120)
    vpp_cli(sim, "sim fault clear")
    run = outcome["run"]
    assert run.ok, run.explain()
    assert run.only()["commands"] == [f"lb as {vip} {web2}" + ("" if legacy(client) else " weight 100")]

    # The agreed state: the agent's health decision and the playbook's repair both hold.
    expect_weights(client, backends, 0, 100, 0)
    assert client.dump().conf.ip4_src_address == "10.255.0.1"
    wait_for(lambda: state_file(tmp_path)["backends"]["web1"]["state"] == "down", 15, "web1 down in the state file")
    again = runner.playbook([lb_task(sim, maglev_lb, agent_state=tmp_path / "state.json")])
    assert again.ok and not again.only().changed, again.explain()  # playbook and agent agree
    proc.signal(signal.SIGHUP)  # a reload makes the agent dump VPP and sync in full
    full = proc.wait_event("vpp-lbsync-done", trigger="reload", timeout=30)
    assert full["ops"] == 0, full  # the agent finds nothing to change either
    expect_weights(client, backends, 0, 100, 0)


def sim_lb_writes(client) -> int:
    """The LB writes vppsim executed since it started, across restarts (``sim stats``)."""
    words = client.cli("sim stats").replace(",", "").split()
    return int(words[words.index("writes") + 1])


@pytest.mark.simulator(reason="restarts VPP right after the agent's write that creates the VIP (`sim fault restart "
                              "after`), and counts VPP's writes with `sim stats`")
def test_writes_of_a_sync_whose_next_dump_fails_are_still_logged(sim, tmp_path, backends, client, agent):
    """A sync that creates a VIP dumps once more after its writes (the new VIP's pool index and
    route). The agent logged and counted the writes only after that dump: when VPP went away
    right after the last write, the dump failed and VPP's accepted writes were never logged
    (vpp-lbsync) nor counted (maglev_vpp_lbsync_total). Now they are logged as soon as VPP has
    answered them, and every write VPP executed is in the log."""
    # conf, VIP, and the ASes VPP shows at 100/100/0: VPP restarts right after the last of them.
    writes = 2 + len(in_vpp(client, backends, 100, 100, 0))
    client.cli(f"sim fault restart after {writes}")
    before = sim_lb_writes(client)
    proc = agent(config_for(sim, tmp_path, backends))
    lost = proc.wait_event("vpp-disconnect")
    proc.wait_event_after(lost, "vpp-connect")
    with VppLbClient(sim.api_socket) as fresh:  # the restart closed the fixture's connection
        expect_weights(fresh, backends, 100, 100, 0)
        logged = writes_behind(proc, fresh, backends, 100, 100, 0)
        assert logged == sim_lb_writes(fresh) - before, proc.events("vpp-lbsync")
    assert proc.count("vpp-lbsync", kind="vip_added") == 2  # before the restart and after it
