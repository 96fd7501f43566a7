"""The status API over its unix socket, against the agent as a real process and vppsim.

Requests go through maglevctl's client (plain http.client on AF_UNIX); malformed requests are
sent raw. "Nothing changed" is checked in VPP (weights read back through the core client) and
in the agent's own view.
"""

from __future__ import annotations

import grp
import json
import os
import stat
import threading
from typing import List

import pytest
from agentproc import wait_for
from ansible_collections.maglev.vpp.agent.ctl_client import ApiError, StatusClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import SET_WEIGHT, Op
from test_agent_daemon import VIP, as_weights, config_for, expect_weights, weights_in_vpp
from vpp_under_test import send_flows, start_vpp, stop_vpp


# The agent's interfaces read its own snapshot, the same on both LB API generations; the daemon,
# netns and playbook tests cover both generations (see tests/integration/conftest.py).
@pytest.fixture(params=["1.2.0"], ids=["lb-api-1.2.0"])
def lb_api(request) -> str:
    return request.param


@pytest.fixture
def api(sim, tmp_path, backends, client, agent):
    """A running agent on the three loopback backends with its status API; VPP at 100/100/0."""
    socket_path = str(tmp_path / "status.sock")
    proc = agent(config_for(sim, tmp_path, backends, status_socket=socket_path))
    proc.wait_event("status-api")
    for name in ("web1", "web2", "web3"):  # web3 (standby) has weight 0 whether up or unknown
        proc.wait_event("backend-transition", backend=name, to="up")
    expect_weights(client, backends, 100, 100, 0)
    return StatusClient(socket_path, timeout=30), proc


def refused(call, status: int, *words: str) -> str:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status == status, caught.value.message
    for word in words:
        assert word in caught.value.message, caught.value.message
    return caught.value.message


def test_socket_mode_0660_and_configured_group(sim, tmp_path, backends, agent):
    group = grp.getgrgid(1)  # "daemon" on Debian: any group other than root's will do
    path = tmp_path / "run" / "status.sock"  # the directory is created
    proc = agent(config_for(sim, tmp_path, backends, status_socket=str(path), status_socket_group=group.gr_name))
    proc.wait_event("status-api")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == group.gr_gid
    assert StatusClient(str(path)).get()["pid"] == proc.proc.pid
    assert proc.stop() == 0
    assert not path.exists()  # removed on a clean stop


def test_unknown_group_is_logged_and_the_agent_runs_on(sim, tmp_path, backends, client, agent):
    path = tmp_path / "status.sock"
    proc = agent(config_for(sim, tmp_path, backends, status_socket=str(path), status_socket_group="no-such-group-x"))
    failed = proc.wait_event("status-api-failed")
    assert "no-such-group-x" in failed["reason"]
    expect_weights(client, backends, 100, 100, 0)
    assert not path.exists()


def test_stale_socket_is_replaced(sim, tmp_path, backends, agent):
    import socket

    path = tmp_path / "status.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    proc = agent(config_for(sim, tmp_path, backends, status_socket=str(path)))
    proc.wait_event("status-api")
    assert StatusClient(str(path)).get("backends")


def test_reading_views(api, backends, client):
    ctl, _unused = api
    ctl.post("vpp", "sync")  # buckets come from VPP's last dump: the agent's own writes left none cached
    fes = ctl.get("frontends")
    assert [f["name"] for f in fes] == ["www"]
    www = ctl.get("frontends", "www")
    assert www == fes[0]
    assert (www["prefix"], www["protocol"], www["port"], www["encap"]) == ("192.0.2.1/32", "tcp", 80, "gre4")
    assert www["state"] == "up" and www["active_pool"] == "primary"
    assert [p["name"] for p in www["pools"]] == ["primary", "standby"]
    members = {m["backend"]: m for p in www["pools"] for m in p["members"]}
    assert {n: (m["configured_weight"], m["effective_weight"]) for n, m in members.items()} == {
        "web1": (100, 100), "web2": (100, 100), "web3": (100, 0)}
    buckets = {a.address: a.num_buckets for a in client.dump().vips[VIP].ases.values()}
    assert {m["address"]: m["buckets"] for m in members.values()} == buckets
    assert sum(buckets.values()) > 0

    bes = ctl.get("backends")
    assert [b["name"] for b in bes] == ["web1", "web2", "web3"]
    web1 = ctl.get("backends", "web1")
    assert web1["address"] == backends[0].address and web1["state"] == "up" and web1["frontends"] == ["www"]
    assert web1["last_result"]["ok"] is True and web1["counter"] == web1["rise"] + web1["fall"] - 1
    assert web1["history"][-1]["to"] == "up"

    checks = ctl.get("healthchecks")
    assert [c["name"] for c in checks] == ["h"]
    h = ctl.get("healthchecks", "h")
    assert (h["type"], h["path"], h["port"], h["rise"], h["fall"]) == ("http", "/healthz", backends[0].port, 2, 2)
    assert h["backends"] == ["web1", "web2", "web3"]

    vpp = ctl.get("vpp")
    assert vpp["connected"] is True and vpp["pid"] and vpp["version"] and vpp["lb_api_version"]
    assert vpp["connected_since"] > 0 and vpp["boottime"] > 0 and vpp["warmup"] == "done"

    lb = ctl.get("vpp", "lb")
    assert lb["conf"]["ip4_src_address"] == "10.255.0.1"
    [vip] = [v for v in lb["vips"] if v["prefix"] == "192.0.2.1/32"]
    assert vip["frontend"] == "www" and vip["index"] is not None
    assert {a["address"]: a["weight"] for a in vip["ases"]} == as_weights(backends, 100, 100, 0)


def test_counters_follow_traffic(api, client, sim):
    ctl, _unused = api
    ctl.post("vpp", "sync")  # the pool index of a VIP the agent added is known from the next dump
    send_flows(sim, client, "192.0.2.1/32", "tcp", 80, flows=100)

    def counted():
        vips = ctl.get("vpp", "counters")["vips"]
        return [v for v in vips if v["frontend"] == "www" and v["first_packets"] >= 100]

    [www] = wait_for(counted, 10, "first packets counted")
    assert www["prefix"] == "192.0.2.1/32" and www["no_server_packets"] == 0


def test_backend_actions_reach_vpp_before_the_answer(api, backends, client):
    ctl, _unused = api
    answer = ctl.post("backends", "web1", "pause")
    assert answer["state"] == "paused" and answer["transition"]["from"] == "up" and answer["vpp_synced"] is True
    assert weights_in_vpp(client) == as_weights(backends, 0, 100, 0)  # no waiting: done when answered
    assert ctl.get("backends", "web1")["state"] == "paused"
    ctl.post("backends", "web1", "disable")
    ctl.post("backends", "web1", "enable")
    ctl.post("backends", "web1", "pause")
    ctl.post("backends", "web1", "resume")
    expect_weights(client, backends, 100, 100, 0)
    # History keeps the last 5 transitions; probe results (unknown -> up) may sit between these.
    operator = ["paused", "disabled", "enabled", "paused", "resumed"]
    codes = [t["code"] for t in ctl.get("backends", "web1")["history"] if t["code"] in operator]
    assert len(codes) >= 2 and codes == operator[-len(codes):], codes


def test_weight_override(api, backends, client):
    ctl, _unused = api
    answer = ctl.put("frontends", "www", "pools", "primary", "backends", "web2", "weight", data={"weight": 30})
    assert answer["vpp_synced"] is True
    assert weights_in_vpp(client) == as_weights(backends, 100, 30, 0)
    member = [m for p in ctl.get("frontends", "www")["pools"] for m in p["members"] if m["backend"] == "web2"][0]
    assert (member["configured_weight"], member["override"], member["effective_weight"]) == (100, 30, 30)
    ctl.post("frontends", "www", "pools", "primary", "backends", "web2", "weight", data={"weight": 0})
    assert weights_in_vpp(client) == as_weights(backends, 100, 0, 0)
    removed = ctl.delete("frontends", "www", "pools", "primary", "backends", "web2", "weight")
    assert removed["weight"] is None and removed["vpp_synced"] is True
    assert weights_in_vpp(client) == as_weights(backends, 100, 100, 0)  # the configured weight again
    member = [m for p in ctl.get("frontends", "www")["pools"] for m in p["members"] if m["backend"] == "web2"][0]
    assert member["override"] is None


BAD_REQUESTS = [
    ("GET", "/backends/web9", None, 404, "no such backend web9"),
    ("GET", "/frontends/nope", None, 404, "no such frontend nope"),
    ("GET", "/healthchecks/nope", None, 404, "no such healthcheck nope"),
    ("POST", "/backends/web9/pause", None, 404, "no such backend web9"),
    ("POST", "/backends/web1/explode", None, 400, "unknown action 'explode'"),
    ("GET", "/backends/web1/pause", None, 405, "method GET not allowed"),
    ("DELETE", "/frontends", None, 405, "not allowed"),
    ("GET", "/nothing/here", None, 404, "no such resource"),
    ("GET", "/backends?verbose=1", None, 400, "unknown query parameter verbose"),
    ("GET", "/events?log_level=loud", None, 400, "log_level"),
    ("GET", "/events?backend=maybe", None, 400, "expected true or false"),
    ("GET", "/events?log=false&log_level=info", None, 400, "needs log=true"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b"", 400, "body missing"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b"{weight: 5", 400, "not JSON"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b"[5]", 400, "JSON object"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b'{"weight": 5\xff}', 400, "not UTF-8"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b"[" * 100000 + b"]" * 100000, 400,
     "nested too deeply"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b'{"wait": 5}', 400, "unknown field wait"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b"{}", 400, "weight missing"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b'{"weight": 101}', 400, "0..100"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b'{"weight": -1}', 400, "0..100"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b'{"weight": "50"}', 400, "integer"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b'{"weight": 50.5}', 400, "integer"),
    ("PUT", "/frontends/www/pools/primary/backends/web1/weight", b'{"weight": true}', 400, "integer"),
    ("PUT", "/frontends/nope/pools/primary/backends/web1/weight", b'{"weight": 5}', 404, "no such frontend nope"),
    ("PUT", "/frontends/www/pools/gold/backends/web1/weight", b'{"weight": 5}', 404, "no pool gold"),
    ("PUT", "/frontends/www/pools/standby/backends/web1/weight", b'{"weight": 5}', 404, "has no backend web1"),
]


def test_moot_actions_answer_ok_and_change_nothing(api, backends, client):
    ctl, _unused = api
    for action, state in (("resume", "up"), ("enable", "up")):
        code, raw = ctl.raw("POST", f"/backends/web1/{action}", None)
        answer = json.loads(raw)
        assert (code, answer["changed"], answer["state"]) == (200, False, state), answer
        assert f"nothing to {action}" in answer["message"]
    assert weights_in_vpp(client) == as_weights(backends, 100, 100, 0)


def test_invalid_requests_are_refused_and_change_nothing(api, backends, client):
    ctl, _unused = api
    before_view = {name: ctl.get(*name.split("/")) for name in ("frontends", "backends")}
    for method, path, body, status, words in BAD_REQUESTS:
        code, raw = ctl.raw(method, path, body)
        answer = json.loads(raw)
        assert (code, words in answer.get("error", "")) == (status, True), (method, path, code, answer)
    assert weights_in_vpp(client) == as_weights(backends, 100, 100, 0)
    after_view = {name: ctl.get(*name.split("/")) for name in ("frontends", "backends")}
    for view in (before_view, after_view):  # probes move these on: compare what an action would change
        for b in view["backends"]:
            b.pop("last_result"), b.pop("counter")
    assert after_view == before_view


def read_events(ctl: StatusClient, count: int, out: List[dict], **query) -> threading.Thread:
    def run():
        for event in ctl.stream("events", **query):
            out.append(event)
            if len(out) >= count:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_event_stream_starts_with_a_snapshot_then_transitions(api, backends):
    ctl, _unused = api
    events: List[dict] = []
    reader = read_events(ctl, 4 + 2 + 1, events)  # 3 backends + 1 frontend, pause, then resume
    wait_for(lambda: len(events) >= 4, 10, "the snapshot records")
    first = events[:4]
    assert [(e["type"], e.get("backend") or e.get("frontend")) for e in first] == [
        ("backend", "web1"), ("backend", "web2"), ("backend", "web3"), ("frontend", "www")]
    assert all(e["from"] == e["to"] == "up" and e["snapshot"] for e in first)
    ctl.post("backends", "web3", "pause")
    ctl.post("backends", "web3", "resume")
    reader.join(15)
    assert not reader.is_alive()
    later = [(e["type"], e["backend"], e["from"], e["to"]) for e in events[4:]]
    assert later[:2] == [("backend", "web3", "up", "paused"), ("backend", "web3", "paused", "unknown")]
    assert later[2][:3] == ("backend", "web3", "unknown")  # the first probe after resume decides


def test_event_stream_with_log_records_only(api):
    ctl, proc = api
    events: List[dict] = []
    reader = read_events(ctl, 200, events, log="true", log_level="debug")
    # probes log at debug every few hundred milliseconds
    wait_for(lambda: any(e.get("level") == "debug" for e in events), 15, "a debug log record")
    assert all(e["type"] == "log" for e in events), events
    assert {e["event"] for e in events} & {"probe", "vpp-lbsync-done"}
    del reader  # a daemon thread; it ends with the stream when the agent stops


def test_full_sync_repairs_vpp_before_it_answers(api, backends, client):
    ctl, _unused = api
    client.apply([Op(SET_WEIGHT, vip=VIP, address=backends[0].address, weight=7)])  # someone tampers
    assert weights_in_vpp(client)[backends[0].address] == 7
    answer = ctl.post("vpp", "sync")
    assert answer["synced"] is True
    assert weights_in_vpp(client) == as_weights(backends, 100, 100, 0)


def test_config_check_and_reload(api, backends, client, sim, tmp_path):
    ctl, proc = api
    check = ctl.post("config", "check")
    assert check["ok"] is True and check["result"] == "ok" and "valid (1 frontends" in check["messages"][0]

    good = config_for(sim, tmp_path, backends, status_socket=ctl.socket_path)
    proc.write_config("frontends: [this is: not valid")
    check = ctl.post("config", "check")
    assert (check["ok"], check["result"]) == (False, "parse_error")
    message = refused(lambda: ctl.post("config", "reload"), 422, "nothing changed")
    assert "not valid" in message
    bad = dict(good, frontends={"www": {"prefix": "192.0.2.1/33", "pools": []}})
    proc.write_config(bad)
    assert ctl.post("config", "check")["result"] == "semantic_error"
    with pytest.raises(ApiError) as caught:
        ctl.post("config", "reload")
    assert caught.value.body["result"] == "semantic_error"
    assert any("prefix" in m for m in caught.value.body["messages"])
    assert proc.count("config-reload") == 0
    assert weights_in_vpp(client) == as_weights(backends, 100, 100, 0)

    good["frontends"]["www"]["pools"][0]["backends"]["web2"] = {"weight": 40}
    proc.write_config(good)
    answer = ctl.post("config", "reload")
    assert answer["reloaded"] is True and answer["vpp_synced"] is True
    assert weights_in_vpp(client) == as_weights(backends, 100, 40, 0)


def test_vpp_down_is_503(api, sim, client, backends):
    ctl, proc = api
    stop_vpp(sim)
    proc.wait_event("vpp-disconnect", timeout=20)
    wait_for(lambda: ctl.get("vpp")["connected"] is False, 10, "the agent to notice")
    refused(lambda: ctl.get("vpp", "lb"), 503, "not connected to VPP")
    refused(lambda: ctl.get("vpp", "counters"), 503, "not connected to VPP")
    refused(lambda: ctl.post("vpp", "sync"), 503, "not connected to VPP")
    assert ctl.post("backends", "web1", "pause")["vpp_synced"] is False

    start_vpp(sim)  # an empty VPP on the same socket: the agent reconnects and restores its state
    proc.wait_event("vpp-connect", after=1, timeout=30)
    client.reconnect()
    expect_weights(client, backends, 0, 100, 0, timeout=30)  # web1 still paused
    assert ctl.get("vpp")["connected"] is True


def test_open_event_streams_do_not_hold_up_a_clean_stop(api):
    ctl, proc = api
    events: List[dict] = []
    readers = [read_events(ctl, 1000, events) for _unused in range(2)]
    wait_for(lambda: len(events) >= 8, 10, "both streams started")
    assert proc.stop(timeout=10) == 0
    for reader in readers:
        reader.join(5)
        assert not reader.is_alive()  # the stream ended with the agent
    assert not os.path.exists(ctl.socket_path)
    assert not [line for line in proc.raw_lines if "Traceback" in line or '"level":"error"' in line], proc.log_text()


def test_a_client_that_goes_away_ends_its_stream(api):
    ctl, _unused = api
    stream = ctl.stream("events")
    assert next(stream)["type"] == "backend"
    wait_for(lambda: ctl.get()["event_streams"] == 1, 5, "the stream counted")
    stream.close()  # closes the connection
    wait_for(lambda: ctl.get()["event_streams"] == 0, 10, "the agent to notice the client left")


def test_a_debug_stream_gets_debug_records_while_the_agent_logs_at_info(sim, tmp_path, backends, client, agent):
    socket_path = str(tmp_path / "status.sock")
    proc = agent(config_for(sim, tmp_path, backends, status_socket=socket_path, log_level="info"))
    proc.wait_event("status-api")
    expect_weights(client, backends, 100, 100, 0)
    events: List[dict] = []
    read_events(StatusClient(socket_path, timeout=30), 200, events, log="true", log_level="debug")
    wait_for(lambda: any(e.get("event") == "probe" for e in events), 15, "a probe record (debug) in the stream")
    assert proc.count("probe") == 0  # the agent's own log stays at info
