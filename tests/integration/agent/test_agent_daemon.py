"""The agent end to end: real backends on loopback, real vppsim, the agent as a real process.

Weights are read back from VPP (vppsim) through the core client, and the order of the agent's
VPP writes from its vpp-lbsync log records. Every test runs on both LB API generations (``sim``):
on 1.1.0 (no AS weights) an AS of weight 0 is absent and every other AS reads weight 100.
"""

from __future__ import annotations

import json
import signal
from typing import Dict, List

import pytest
from agentproc import agent_config, wait_for
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import PROTOCOLS, VipKey
from vpp_under_test import restart_vpp, send_flows

VIP = VipKey("192.0.2.1/32", PROTOCOLS["tcp"], 80)
# Fast where it counts (a stopped backend refuses at once; pending transitions probe every 100ms),
# with a timeout that a 2-core machine running a CPU hog beside the suite meets: a probe that
# times out is a failure, and a standby backend flapping under load broke the metrics and page
# tests (400ms was not enough).
FAST_CHECK = {
    "type": "http", "path": "/healthz", "interval": "1s", "fast_interval": "100ms",
    "down_interval": "1s", "timeout": "900ms", "rise": 2, "fall": 2,
}


def frontends(slow_start=None, drain_timeout=None) -> dict:
    www = {
        "prefix": VIP.prefix, "protocol": "tcp", "port": 80, "encap": "gre4", "flush_on_down": True,
        "pools": [
            {"name": "primary", "backends": {"web1": {}, "web2": {}}},
            {"name": "standby", "backends": {"web3": {}}},
        ],
    }
    if slow_start:
        www["slow_start"] = slow_start
    if drain_timeout:
        www["drain_timeout"] = drain_timeout
    return {"www": www}


def config_for(sim, tmp_path, backends, check=None, **kwargs) -> dict:
    check = dict(FAST_CHECK, port=backends[0].port, **(check or {}))
    fe_kwargs = {k: kwargs.pop(k) for k in ("slow_start", "drain_timeout") if k in kwargs}
    names = {f"web{i + 1}": {"address": b.address, "healthcheck": "h"} for i, b in enumerate(backends)}
    for name, extra in kwargs.pop("backend_extra", {}).items():
        names[name].update(extra)
    return agent_config(sim, str(tmp_path / "state.json"), frontends(**fe_kwargs), names, {"h": check}, **kwargs)


def weights_in_vpp(client: VppLbClient) -> Dict[str, int]:
    vip = client.dump().vips.get(VIP)
    return {a: s.weight for a, s in vip.ases.items()} if vip else {}


def as_weights(backends, *weights: int) -> Dict[str, int]:
    return {b.address: w for b, w in zip(backends, weights, strict=True)}


def in_vpp(client: VppLbClient, backends, *weights: int) -> Dict[str, int]:
    """The AS weights VPP reports for these effective weights: as they are with AS weights; on
    LB API 1.1.0 weight 0 is no AS and any other weight reads 100."""
    wanted = as_weights(backends, *weights)
    if client.capabilities.as_weights:
        return wanted
    return {address: 100 for address, weight in wanted.items() if weight > 0}


def legacy(client: VppLbClient) -> bool:
    return not client.capabilities.as_weights


def expect_weights(client, backends, *expected: int, timeout: float = 15) -> None:
    want = in_vpp(client, backends, *expected)
    wait_for(lambda: weights_in_vpp(client) == want, timeout, f"VPP weights {want}, have {weights_in_vpp(client)}")


def state_file_says(tmp_path, frontend: str, state: str):
    """The agent's state file when it shows ``frontend`` in ``state``, else None (written asynchronously)."""
    try:
        document = json.loads((tmp_path / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return document if document["frontends"].get(frontend, {}).get("state") == state else None


def replay_weights(records: List[dict], start: Dict[str, int]) -> List[Dict[str, int]]:
    """The VIP's AS weights after each logged VPP write, starting from ``start``."""
    weights, states = dict(start), []
    for r in records:
        if r.get("vip") != str(VIP):
            continue
        if r["kind"] in ("as_added", "as_weight_updated"):
            weights[r["address"]] = r["weight"]
        elif r["kind"] == "as_removed":
            weights.pop(r["address"], None)
        states.append(dict(weights))
    return states


def replay_total_weights(records: List[dict], start: Dict[str, int]) -> List[int]:
    """Total weight of the VIP after each logged VPP write, starting from ``start``."""
    return [sum(weights.values()) for weights in replay_weights(records, start)]


def seen_in_vpp(client: VppLbClient, weights: Dict[str, int]) -> Dict[str, int]:
    """What VPP reports for these AS weights (on LB API 1.1.0: weight 0 is no AS, others 100)."""
    if client.capabilities.as_weights:
        return weights
    return {address: 100 for address, weight in weights.items() if weight > 0}


def logged_writes(proc, client, synced: int, start: Dict[str, int], end: Dict[str, int],
                  timeout: float = 15) -> List[dict]:
    """The vpp-lbsync records after the first ``synced``, once replaying them from ``start`` (VPP's
    weights, ``in_vpp``) ends at ``end``: VPP holds a write before the agent has logged it."""
    def settled():
        records = proc.events("vpp-lbsync")[synced:]
        states = replay_weights(records, start)
        return records if states and seen_in_vpp(client, states[-1]) == end else None

    return wait_for(settled, timeout, f"the agent's log of its VPP writes ending at {end}")


def writes_behind(proc, client, backends, *weights: int, timeout: float = 15) -> int:
    """The number of vpp-lbsync records once they account for VPP's weights: replayed from
    nothing they give ``in_vpp(weights)``, and the latest sync has logged its end.

    VPP holds a write before the agent logs it (the reply comes first), and a sync's records
    follow one more dump when it created a VIP; so neither VPP's weights nor "the latest sync
    logged vpp-lbsync-done" (``settled_writes``) alone say every write VPP holds is logged: a
    sync still waiting for its reply left the previous sync's done record last, and its writes
    were counted as later ones (test_writes_behind_waits_for_a_write_whose_reply_is_late)."""
    want = in_vpp(client, backends, *weights)

    def settled():
        records = proc.events("vpp-lbsync")
        if proc.settled_writes() != len(records):
            return None  # a sync is mid-way, or a record came in between the two reads
        states = replay_weights(records, {})
        return len(records) if states and seen_in_vpp(client, states[-1]) == want else None

    return wait_for(settled, timeout, f"the agent's log of the writes behind VPP's weights {want}")


def test_failover_and_failback_never_leave_the_vip_without_weight(sim, tmp_path, backends, client, agent):
    proc = agent(config_for(sim, tmp_path, backends))
    expect_weights(client, backends, 100, 100, 0)
    synced = proc.count("vpp-lbsync")

    backends[0].stop()
    expect_weights(client, backends, 0, 100, 0)
    proc.wait_event("backend-transition", backend="web1", to="down")
    backends[1].stop()  # the whole primary pool is down: the standby takes over
    expect_weights(client, backends, 0, 0, 100)
    backends[0].start()
    backends[1].start()
    expect_weights(client, backends, 100, 100, 0)  # fail-back

    writes = logged_writes(proc, client, synced, in_vpp(client, backends, 100, 100, 0),
                           in_vpp(client, backends, 100, 100, 0))
    totals = replay_total_weights(writes, in_vpp(client, backends, 100, 100, 0))
    assert totals and min(totals) > 0, writes
    # make before break: on fail-back the primary was raised (or, on 1.1.0, added) before the
    # standby dropped to 0 (or was removed), in the same sync
    standby = backends[2].address
    dropped = [i for i, r in enumerate(writes) if r["address"] == standby
               and (r["kind"] == "as_removed" or r["weight"] == 0)]
    standby_dropped = dropped[-1]
    primary_raised = max(i for i, r in enumerate(writes) if r["weight"] == 100 and r["address"] != standby
                         and r["kind"] != "as_removed" and i <= standby_dropped)
    assert writes[primary_raised]["trigger"] == writes[standby_dropped]["trigger"]

    state = wait_for(lambda: state_file_says(tmp_path, "www", "up"), 5, "state file: www up")
    assert set(state["backends"]) == {"web1", "web2", "web3"}
    wait_for(lambda: json.loads((tmp_path / "state.json").read_text())["backends"]["web1"]["state"] == "up", 5,
             "state file: web1 up")


def test_frontend_goes_down_and_up_with_events(sim, tmp_path, backends, client, agent):
    proc = agent(config_for(sim, tmp_path, backends))
    expect_weights(client, backends, 100, 100, 0)
    proc.wait_event("frontend-transition", frontend="www", to="up")  # the start-up's unknown -> up
    ups = proc.count("frontend-transition", frontend="www", to="up")
    for backend in backends:
        backend.stop()
    proc.wait_event("frontend-transition", frontend="www", to="down")
    expect_weights(client, backends, 0, 0, 0)
    wait_for(lambda: state_file_says(tmp_path, "www", "down"), 5, "state file: www down")
    backends[2].start()
    back = proc.wait_event("frontend-transition", frontend="www", to="up", after=ups)
    assert back["from"] == "down", back
    expect_weights(client, backends, 0, 0, 100)


def test_vpp_restart_is_restored(sim, tmp_path, backends, client, agent):
    proc = agent(config_for(sim, tmp_path, backends))
    expect_weights(client, backends, 100, 100, 0)
    backends[1].stop()
    expect_weights(client, backends, 100, 0, 0)
    restart_vpp(sim, client)
    client.reconnect()
    connected = proc.wait_event("vpp-connect", after=1, timeout=20)
    assert connected["lb_api"] == client.capabilities.lb_api_version  # detected again on reconnect
    expect_weights(client, backends, 100, 0, 0)  # VIP, ASes and current weights back
    assert client.dump().conf.ip4_src_address == "10.255.0.1"  # lb_conf pushed again


@pytest.mark.simulator(reason="stalls VPP with `sim fault stall`")
def test_stalled_vpp_does_not_crash_and_recovers(sim, tmp_path, backends, client, agent):
    vpp = {"api_socket": sim.api_socket, "stats_socket": sim.stats_socket, "timeout": "500ms"}
    proc = agent(config_for(sim, tmp_path, backends, vpp=vpp))
    expect_weights(client, backends, 100, 100, 0)
    client.cli("sim fault stall 2000")
    backends[0].stop()  # the agent's write stalls and times out
    proc.wait_event("vpp-disconnect", timeout=20)
    client.cli("sim fault stall 0")
    expect_weights(client, backends, 0, 100, 0, timeout=30)
    assert proc.proc.poll() is None


def test_reload_broken_file_keeps_old_config_and_changed_weight_applies(sim, tmp_path, backends, client, agent):
    config = config_for(sim, tmp_path, backends)
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)

    proc.write_config("frontends: [this is: not valid")
    proc.signal(signal.SIGHUP)
    failed = proc.wait_event("config-reload-failed")
    assert failed["kind"] == "parse"
    proc.write_config({**config, "frontends": {"www": {"prefix": "192.0.2.1/33", "pools": []}}})
    proc.signal(signal.SIGHUP)
    semantic = proc.wait_event("config-reload-failed", after=1)
    assert semantic["kind"] == "semantic" and any("prefix" in e for e in semantic["errors"])
    backends[0].stop()  # the old config still runs
    expect_weights(client, backends, 0, 100, 0)
    backends[0].start()
    expect_weights(client, backends, 100, 100, 0)

    config["frontends"]["www"]["pools"][0]["backends"]["web2"] = {"weight": 40}
    proc.write_config(config)
    proc.signal(signal.SIGHUP)
    proc.wait_event("config-reload")
    expect_weights(client, backends, 100, 40, 0)


def test_foreign_vip_survives_every_sync(sim, tmp_path, backends, client, agent):
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import ADD_VIP, Op, VipSpec

    foreign = VipKey("203.0.113.9/32", PROTOCOLS["udp"], 53)
    client.apply([Op(ADD_VIP, vip=foreign, spec=VipSpec())])
    proc = agent(config_for(sim, tmp_path, backends, sync_interval="1s"))
    expect_weights(client, backends, 100, 100, 0)
    proc.wait_event("vpp-lbsync-done", after=2, scope="all", timeout=20)
    assert foreign in client.dump().vips


def test_restart_of_the_agent_pushes_no_zero_for_healthy_backends(sim, tmp_path, backends, client, agent):
    first = agent(config_for(sim, tmp_path, backends))
    expect_weights(client, backends, 100, 100, 0)
    assert first.stop() == 0
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)  # untouched on exit

    second = agent(config_for(sim, tmp_path, backends, warmup={"min_delay": "300ms", "max_delay": "2s"}))
    second.wait_event("warmup", frontend="www", action="released")
    done = second.wait_event("warmup", action="done")
    second.wait_event_after(done, "vpp-lbsync-done")  # the sync that follows the release
    zeroed = [r for r in second.events("vpp-lbsync")
              if r.get("weight") == 0 or (r["kind"] == "as_removed" and r["address"] != backends[2].address)]
    assert zeroed == []
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)


def test_slow_start_ramps_a_recovered_backend(sim, tmp_path, backends, client, agent):
    proc = agent(config_for(sim, tmp_path, backends, slow_start="4s"))  # a step per second
    expect_weights(client, backends, 100, 100, 0)  # start-up is not a recovery: no ramp
    backends[0].stop()
    expect_weights(client, backends, 0, 100, 0)
    # VPP holds a write before the agent logs it: count once the sync that took web1 out has
    # logged all its writes (counting at once took its weight-0 write for the ramp's first step).
    out = wait_for(lambda: taken_out(proc, backends[0].address), 15, "web1's weight-0 write logged")
    proc.wait_event_after(out, "vpp-lbsync-done")
    synced = proc.count("vpp-lbsync")
    backends[0].start()
    expect_weights(client, backends, 100, 100, 0, timeout=30)
    writes = logged_writes(proc, client, synced, in_vpp(client, backends, 0, 100, 0),
                           in_vpp(client, backends, 100, 100, 0))
    steps = [r["weight"] for r in writes if r["address"] == backends[0].address]
    # 1.1.0 cannot ramp: the first step above 0 adds the AS at a full share, later steps change nothing.
    assert steps == ([20] if legacy(client) else [20, 40, 60, 80, 100])


def taken_out(proc, address: str):
    """The agent's last logged write that took ``address`` out of its VIP (weight 0, or on LB API
    1.1.0 its removal), or None."""
    out = [r for r in proc.events("vpp-lbsync") if r.get("address") == address
           and (r.get("weight") == 0 or r.get("kind") == "as_removed")]
    return out[-1] if out else None


def test_disable_in_config_drains_then_flushes(sim, tmp_path, backends, client, agent):
    config = config_for(sim, tmp_path, backends, drain_timeout="1s")
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    send_flows(sim, client, "192.0.2.1/32", "tcp", 80, flows=200, seed=7)
    flows = {a.address: a.flows for a in client.dump().vips[VIP].ases.values()}
    assert flows[backends[0].address] > 0

    config["backends"]["web1"]["enabled"] = False
    # The start's writes all logged (VPP holds a write before the agent logs it: counting too
    # early took web1's first as_added for the reload's, on a busy machine and on uvloop).
    synced = writes_behind(proc, client, backends, 100, 100, 0)
    proc.write_config(config)
    proc.signal(signal.SIGHUP)
    expect_weights(client, backends, 0, 100, 0)
    writes = logged_writes(proc, client, synced, in_vpp(client, backends, 100, 100, 0),
                           in_vpp(client, backends, 0, 100, 0))
    first = [r for r in writes if r["address"] == backends[0].address]
    if legacy(client):
        # No weight 0 on 1.1.0: the drain removes the AS without flush, and the later flush cannot
        # reach a removed AS (planner.py "Flush rules"): its sticky flows stay until reused.
        assert [(r["kind"], r["flush"]) for r in first] == [("as_removed", False)]
        return
    assert first[0]["weight"] == 0 and first[0]["flush"] is False  # drain: existing flows stay
    wait_for(
        lambda: client.dump().vips[VIP].ases[backends[0].address].flows == 0, 15, "web1's flows flushed after drain"
    )
    flushes = [r for r in proc.events("vpp-lbsync")[synced:] if r["address"] == backends[0].address and r["flush"]]
    assert flushes, proc.events("vpp-lbsync")[synced:]


@pytest.mark.simulator(reason="holds VPP's replies to the agent's AS writes with `sim fault stall`")
def test_writes_behind_waits_for_a_write_whose_reply_is_late(sim, tmp_path, backends, client, agent):
    """VPP executes a write, then its reply is late: VPP holds the write, the agent has not
    logged it, and its previous sync's vpp-lbsync-done is the latest record. Counting the
    agent's writes then (``settled_writes``) missed that write, and a test took it for a later
    one: test_disable_in_config_drains_then_flushes saw the start's as_added of web1 as the
    reload's, on a busy machine and on uvloop. ``writes_behind`` counts it."""
    proc = agent(config_for(sim, tmp_path, backends))
    before = writes_behind(proc, client, backends, 100, 100, 0)
    message = "lb_as_set_weight" if client.capabilities.as_weights else "lb_add_del_as"
    client.cli(f"sim fault stall 3000 {message}")  # executed at once, answered 3 s later
    backends[0].stop()
    expect_weights(client, backends, 0, 100, 0)  # VPP holds it: the agent waits for the reply
    counted = writes_behind(proc, client, backends, 0, 100, 0)
    client.cli("sim fault stall 0")
    web1 = [r for r in proc.events("vpp-lbsync")[before:counted] if r["address"] == backends[0].address]
    assert web1 and web1[0]["kind"] == ("as_weight_updated" if client.capabilities.as_weights else "as_removed")


def test_sigterm_exits_cleanly_and_removes_the_state_file(sim, tmp_path, backends, client, agent):
    proc = agent(config_for(sim, tmp_path, backends))
    expect_weights(client, backends, 100, 100, 0)
    wait_for((tmp_path / "state.json").exists, 5, "state file")
    # The conf goes out alone first; the VIP comes with the sync that releases it: wait for that one.
    writes = wait_for(lambda: proc.count("vpp-lbsync", kind="vip_added") and proc.settled_writes(), 15,
                      "the agent's sync that created the VIP, logged")
    assert proc.stop() == 0, proc.log_text()[-4000:]
    assert proc.count("vpp-lbsync") == writes, proc.events("vpp-lbsync")
    assert not (tmp_path / "state.json").exists()
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)


@pytest.mark.simulator(reason="makes VPP refuse one write with `sim fault error`")
def test_a_refused_write_is_repaired_by_the_full_sync_that_follows(sim, tmp_path, backends, client, agent):
    proc = agent(config_for(sim, tmp_path, backends))
    expect_weights(client, backends, 100, 100, 0)
    message = "lb_as_set_weight" if client.capabilities.as_weights else "lb_add_del_as"
    client.cli(f"sim fault error {message} -7 count 1")  # VPP refuses the next such request once
    backends[0].stop()
    failed = proc.wait_event("vpp-lbsync-error", scope="vip")
    assert failed["applied"] == 0
    proc.wait_event("vpp-lbsync-done", trigger="after a failed sync")
    expect_weights(client, backends, 0, 100, 0)
