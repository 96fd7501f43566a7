"""maglevctl end to end: the real command (a subprocess) against the agent process and vppsim.

Every command runs twice where it reads: human output (checked for what a person looks for)
and ``--json`` (parsed and checked against VPP, read back through the core client).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from typing import List

import pytest
from agentproc import BUILD_DIR, wait_for
from ansible_runner_helpers import lb_task
from test_agent_daemon import VIP, as_weights, config_for, expect_weights, weights_in_vpp
from vpp_under_test import send_flows, start_vpp, stop_vpp, table_digest, table_owners


# The agent's interfaces read its own snapshot, the same on both LB API generations; the daemon,
# netns and playbook tests cover both generations (see tests/integration/conftest.py).
@pytest.fixture(params=["1.2.0"], ids=["lb-api-1.2.0"])
def lb_api(request) -> str:
    return request.param


class Ctl:
    def __init__(self, socket_path: str):
        self.socket_path = socket_path

    def env(self) -> dict:
        return dict(os.environ, PYTHONPATH=BUILD_DIR, MAGLEV_AGENT_SOCKET=self.socket_path)

    def run(self, *words: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ansible_collections.maglev.vpp.agent.ctl", *words],
                              env=self.env(), input=stdin, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def ok(self, *words: str) -> str:
        done = self.run(*words)
        assert done.returncode == 0, (words, done.stdout, done.stderr)
        return done.stdout

    def json(self, *words: str):
        return json.loads(self.ok("--json", *words))

    def fails(self, code: int, *words: str) -> str:
        done = self.run(*words)
        assert done.returncode == code, (words, done.returncode, done.stdout, done.stderr)
        return done.stderr

    def popen(self, *words: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "ansible_collections.maglev.vpp.agent.ctl", *words],
                                env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def running(sim, tmp_path, backends, client, agent):
    """(ctl, agent process, config): the agent on three loopback backends, VPP at 100/100/0."""
    socket_path = str(tmp_path / "status.sock")
    config = config_for(sim, tmp_path, backends, status_socket=socket_path)
    proc = agent(config)
    proc.wait_event("status-api")
    for name in ("web1", "web2", "web3"):  # web3 (standby) has weight 0 whether up or unknown
        proc.wait_event("backend-transition", backend=name, to="up")
    expect_weights(client, backends, 100, 100, 0)
    return Ctl(socket_path), proc, config


def flows_in_vpp(client) -> dict:
    return {a: s.flows for a, s in client.dump().vips[VIP].ases.items()}


def test_show_commands_human_and_json(running, backends, client, sim):
    ctl, proc, _unused = running
    ctl.ok("sync", "vpp", "lb", "state")  # a fresh dump: buckets and pool index known

    version = ctl.json("show", "version")
    assert version["pid"] == proc.proc.pid and version["config_path"] == proc.config_path
    text = ctl.ok("sh", "ver")
    assert f"pid:           {proc.proc.pid}" in text and "maglevctl:" in text

    fes = ctl.json("show", "frontends")
    assert [f["name"] for f in fes] == ["www"]
    text = ctl.ok("sh", "fr")  # sh fr = show frontends: "frontend" would need a name
    assert "www" in text and "192.0.2.1 tcp/80" in text and "/32" not in text and "\x1b[" not in text
    www = ctl.json("show", "frontend", "www")
    assert www["active_pool"] == "primary"
    text = ctl.ok("show", "frontend", "www")
    buckets = {a.address: a.num_buckets for a in client.dump().vips[VIP].ases.values()}
    for backend in backends:
        assert backend.address in text
    assert f"{buckets[backends[0].address]}" in text

    bes = ctl.json("show", "backends")
    assert {b["name"]: b["state"] for b in bes} == {"web1": "up", "web2": "up", "web3": "up"}
    text = ctl.ok("sh", "ba")
    assert text.splitlines()[0].split()[:3] == ["BACKEND", "ADDRESS", "STATE"]
    assert all(name in text for name in ("web1", "web2", "web3"))
    one = ctl.json("sh", "ba", "web2")  # sh ba web2 = show backend web2
    assert one["address"] == backends[1].address and one["healthcheck"] == "h"
    text = ctl.ok("show", "backend", "web2")
    assert "history (newest first)" in text and backends[1].address in text

    checks = ctl.json("show", "healthchecks")
    assert [(c["name"], c["type"], c["port"]) for c in checks] == [("h", "http", backends[0].port)]
    assert "h" in ctl.ok("show", "healthchecks").split()
    assert ctl.json("show", "healthcheck", "h")["path"] == "/healthz"
    assert "/healthz" in ctl.ok("show", "healthcheck", "h")

    info = ctl.json("show", "vpp", "info")
    assert info["connected"] and info["pid"] and info["lb_api_version"]
    text = ctl.ok("show", "vpp", "info")
    assert str(info["pid"]) in text and info["lb_api_version"] in text

    state = ctl.json("show", "vpp", "lb", "state")
    [vip] = [v for v in state["vips"] if v["prefix"] == VIP.prefix]
    assert {a["address"]: a["weight"] for a in vip["ases"]} == as_weights(backends, 100, 100, 0)
    text = ctl.ok("show", "vpp", "lb", "state")
    assert "vip 192.0.2.1 tcp/80" in text and "frontend www" in text

    send_flows(sim, client, "192.0.2.1/32", "tcp", 80, flows=100)

    def counted():
        vips = ctl.json("show", "vpp", "lb", "counters")["vips"]
        return [v for v in vips if v["frontend"] == "www" and v["first_packets"] >= 100]

    wait_for(counted, 10, "first packets counted")
    text = ctl.ok("sh", "v", "l", "c")
    header = text.splitlines()[0].split()
    assert header == ["VIP", "FRONTEND", "FIRST", "NEXT", "UNTRACKED", "NO-SERVER", "FIB-PACKETS", "FIB-BYTES"]


def test_json_anywhere_and_socket_option(running):
    ctl, _unused, _unused = running
    names = [b["name"] for b in ctl.json("show", "backends")]
    assert [b["name"] for b in json.loads(ctl.ok("show", "--json", "backends"))] == names == ["web1", "web2", "web3"]
    direct = Ctl("/nonexistent/status.sock").run("--socket", ctl.socket_path, "--json", "show", "backends")
    assert direct.returncode == 0 and json.loads(direct.stdout)


def test_pause_keeps_flows_disable_flushes(running, backends, client, sim):
    ctl, _unused, _unused = running
    send_flows(sim, client, "192.0.2.1/32", "tcp", 80, flows=100)
    before = flows_in_vpp(client)
    assert before[backends[0].address] > 0

    answer = ctl.json("set", "backend", "web1", "pause")
    assert (answer["transition"]["from"], answer["state"]) == ("up", "paused")
    assert weights_in_vpp(client) == as_weights(backends, 0, 100, 0)  # done when maglevctl returns
    assert flows_in_vpp(client)[backends[0].address] == before[backends[0].address]  # drain, no flush

    text = ctl.ok("set", "ba", "web1", "dis")
    assert "web1" in text and "paused -> disabled" in text
    wait_for(lambda: flows_in_vpp(client)[backends[0].address] == 0, 10, "web1's flows flushed")
    assert weights_in_vpp(client) == as_weights(backends, 0, 100, 0)

    ctl.ok("set", "backend", "web1", "enable")
    expect_weights(client, backends, 100, 100, 0)


def test_weight_override_survives_a_playbook_run(running, backends, client, runner, tmp_path, sim):
    ctl, _unused, config = running
    answer = ctl.json("set", "frontend", "www", "pool", "primary", "backend", "web2", "weight", "30")
    assert answer["weight"] == 30
    assert weights_in_vpp(client) == as_weights(backends, 100, 30, 0)
    text = ctl.ok("show", "frontend", "www")
    assert "override 30" in text

    state_file = tmp_path / "state.json"

    def override_in_state_file():
        members = json.loads(state_file.read_text())["frontends"]["www"].get("members", {})
        return members.get("web2", {}).get("override") == 30

    wait_for(override_in_state_file, 5, "the override in the state file")
    run = runner.playbook([lb_task(sim, config, agent_state=str(state_file))])
    assert run.ok, run.explain()
    assert not run.only().changed, run.explain()
    assert weights_in_vpp(client) == as_weights(backends, 100, 30, 0)


def _streams(ctl: Ctl) -> int:
    return ctl.json("show", "version")["event_streams"]


def _backend_state(ctl: Ctl, name: str) -> str:
    return next(b["state"] for b in ctl.json("show", "backends") if b["name"] == name)


def test_watch_events_sees_the_transitions(running):
    ctl, _unused, _unused = running
    watcher = ctl.popen("--json", "watch", "events", "num", "2", "backend")
    try:
        first: List[dict] = []
        for _unused in range(3):  # the snapshot: one record per backend, then the stream is live
            first.append(json.loads(watcher.stdout.readline()))
        assert [e["backend"] for e in first] == ["web1", "web2", "web3"] and all(e["snapshot"] for e in first)
        ctl.ok("set", "backend", "web3", "pause")
        ctl.ok("set", "backend", "web3", "resume")
        out, err = watcher.communicate(timeout=20)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [(e["backend"], e["from"], e["to"]) for e in events] == [
        ("web3", "up", "paused"), ("web3", "paused", "unknown")]

    wait_for(lambda: _streams(ctl) == 0, 10, "the first watcher gone")
    # web3's first probes after the resume end in unknown -> up: let that happen before the next
    # watcher, whose one event must be web2's pause.
    wait_for(lambda: _backend_state(ctl, "web3") == "up", 15, "web3 up again after its resume")
    human = ctl.popen("watch", "events", "num", "1", "frontend", "backend")
    wait_for(lambda: _streams(ctl) == 1, 10, "the watcher subscribed")
    ctl.ok("set", "backend", "web2", "pause")
    out, _unused = human.communicate(timeout=20)
    lines = out.splitlines()
    assert any("frontend www state up" in line for line in lines), lines
    assert "backend web2 up -> paused (paused: operator)" in lines[-1], lines
    ctl.ok("set", "backend", "web2", "resume")

    wait_for(lambda: _streams(ctl) == 0, 10, "the second watcher gone")
    logs = ctl.popen("--json", "watch", "events", "log", "level", "info")
    try:
        wait_for(lambda: _streams(ctl) == 1, 10, "the log watcher subscribed")
        ctl.ok("set", "backend", "web3", "disable")
        # Other info records (web2's resume settling, syncs) may come first: collect until ours.
        # A thread reads the lines (select + readline would miss lines already buffered).
        records: List[dict] = []
        reader = threading.Thread(target=lambda: records.extend(json.loads(line) for line in logs.stdout), daemon=True)
        reader.start()
        wait_for(lambda: any(r.get("event") == "backend-transition" and r.get("backend") == "web3" for r in records),
                 20, "web3's transition in the log stream")
    finally:
        logs.kill()
        logs.communicate()
    assert all(r["type"] == "log" and r["level"] in ("info", "warning", "error") for r in records), records
    record = next(r for r in records if r.get("event") == "backend-transition" and r.get("backend") == "web3")
    assert record["to"] == "disabled" and record["from"] == "up", record


def test_config_check_reload_and_sync(running, backends, client):
    ctl, proc, config = running
    out = ctl.ok("config", "check")
    assert "valid (1 frontends, 3 backends, 1 healthchecks)" in out

    proc.write_config("frontends: [this is: not valid")
    assert "not valid YAML" in ctl.fails(1, "config", "check")
    assert ctl.run("--json", "config", "check").returncode == 1
    assert json.loads(ctl.run("--json", "config", "check").stdout)["result"] == "parse_error"
    err = ctl.fails(1, "config", "reload")
    assert "nothing changed" in err
    assert weights_in_vpp(client) == as_weights(backends, 100, 100, 0)

    config["frontends"]["www"]["pools"][0]["backends"]["web1"] = {"weight": 60}
    proc.write_config(config)
    assert "reloaded" in ctl.ok("conf", "rel")
    assert weights_in_vpp(client) == as_weights(backends, 60, 100, 0)

    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import SET_WEIGHT, Op

    client.apply([Op(SET_WEIGHT, vip=VIP, address=backends[1].address, weight=5)])
    assert "synced" in ctl.ok("sync", "vpp", "lb", "state")
    assert weights_in_vpp(client) == as_weights(backends, 60, 100, 0)


@pytest.mark.parametrize("words, code, message", [
    (["show", "backend", "web9"], 1, "no such backend web9"),
    (["show", "frontend", "nope"], 1, "no such frontend nope"),
    (["show", "healthcheck", "nope"], 1, "no such healthcheck nope"),
    (["set", "backend", "web9", "pause"], 1, "no such backend web9"),
    (["set", "frontend", "www", "pool", "gold", "backend", "web1", "weight", "5"], 1, "no pool gold"),
    (["set", "frontend", "www", "pool", "standby", "backend", "web1", "weight", "5"], 1, "has no backend web1"),
    (["set", "frontend", "www", "pool", "primary", "backend", "web1", "weight", "101"], 2, "0..100"),
    (["set", "backend", "web1", "explode"], 2, "action: expected one of pause"),
    (["s"], 2, "ambiguous 's': could be set, show, sync"),
    (["show"], 2, "incomplete command 'show'"),
    (["show", "backends", "extra"], 2, "unexpected 'extra'"),
    (["frobnicate"], 2, "unknown command 'frobnicate'"),
    (["quit"], 2, "interactive shell"),
    (["--bogus", "show", "backends"], 2, "unknown option --bogus"),
])
def test_errors_name_what_is_wrong_and_change_nothing(running, backends, client, words, code, message):
    ctl, _unused, _unused = running
    err = ctl.fails(code, *words)
    assert message in err
    assert weights_in_vpp(client) == as_weights(backends, 100, 100, 0)
    assert {b["name"]: b["state"] for b in ctl.json("show", "backends")} == {"web1": "up", "web2": "up", "web3": "up"}


def test_json_errors_are_documents_too(running):
    ctl, _unused, _unused = running
    done = ctl.run("--json", "show", "backend", "web9")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"error": "no such backend web9", "status": 404}


def test_shell_reads_commands_from_stdin(running):
    ctl, _unused, _unused = running
    done = ctl.run(stdin="sh ba\nshow vpp ?\n--json show frontend www\nset backend web9 pause\nquit\nshow backends\n")
    assert done.returncode == 1  # the failed command's code
    assert "BACKEND" in done.stdout and "show vpp lb counters" in done.stdout
    assert '"name": "www"' in done.stdout
    assert "no such backend web9" in done.stderr
    assert done.stdout.count("BACKEND") == 1  # nothing ran after quit


def test_agent_down_says_which_socket(tmp_path):
    path = str(tmp_path / "none.sock")
    ctl = Ctl(path)
    err = ctl.fails(3, "show", "backends")
    assert path in err and "maglev-agent running" in err
    import socket

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # a socket file nobody listens on
    try:
        err = ctl.fails(3, "--json", "show", "frontends")
        assert f"nothing listens on {path}" in err
    finally:
        stale.close()


def test_json_against_a_stopped_agent_prints_an_error_document(tmp_path):
    path = str(tmp_path / "none.sock")
    done = Ctl(path).run("--json", "show", "frontends")
    assert done.returncode == 3
    document = json.loads(done.stdout)
    assert document["reachable"] is False and document["socket"] == path
    assert path in document["error"] and "maglev-agent running" in document["error"]


def test_socket_of_vpp_is_named_as_not_an_agent(sim):
    for path in (sim.api_socket, sim.stats_socket):
        # vppsim closes the connection; a real VPP waits for the rest of a "message" forever,
        # so maglevctl gives up after its --timeout and says what the socket may be.
        err = Ctl(path).fails(3, "--timeout", "5", "show", "frontends")
        assert f"{path} is not a maglev-agent status socket" in err, err
        assert "Remote end closed" not in err.split("(")[0]


def test_show_frontends_says_vpp_is_not_connected(running, sim):
    ctl, proc, _unused = running
    assert "2/3" in ctl.ok("show", "frontends")  # web1 and web2 serve while VPP is there
    stop_vpp(sim)
    try:
        proc.wait_event("vpp-disconnect", timeout=20)
        wait_for(lambda: ctl.json("show", "vpp", "info")["connected"] is False, 10, "the agent to notice")
        out = ctl.ok("show", "frontends")
        assert out.startswith("VPP is not connected (")
        assert "2/3" not in out and "no VPP" in out
        assert [fe["name"] for fe in ctl.json("show", "frontends")] == ["www"]  # the JSON stays the API's list
    finally:
        start_vpp(sim)  # a real VPP stays for the tests after this one


def test_agent_stopped_mid_session(running):
    ctl, proc, _unused = running
    assert ctl.json("show", "backends")
    assert proc.stop() == 0
    err = ctl.fails(3, "show", "backends")
    assert ctl.socket_path in err


class Terminal:
    """maglevctl's interactive shell on a real pseudo-terminal (readline active)."""

    def __init__(self, ctl: Ctl, home: str):
        import pty

        self.master, slave = pty.openpty()
        env = dict(ctl.env(), TERM="dumb", HOME=home)
        self.proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.maglev.vpp.agent.ctl"],
                                     stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.seen = b""

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def expect(self, text: str, timeout: float = 15) -> str:
        import select
        import time

        deadline = time.monotonic() + timeout
        while text not in self.text():
            ready, _unused, _unused = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no {text!r} on the terminal within {timeout}s; saw {self.seen[-800:]!r}")
            try:
                self.seen += os.read(self.master, 65536)
            except OSError:  # the shell exited: nothing more will come
                break
        assert text in self.text(), self.seen[-800:]
        return self.text()

    def text(self) -> str:
        """What the terminal showed, without colour escapes."""
        return re.sub(r"\x1b\[[0-9;]*m", "", self.seen.decode(errors="replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


def test_interactive_shell_completes_names_and_keeps_history(running, backends, client, tmp_path):
    ctl, _unused, _unused = running
    term = Terminal(ctl, str(tmp_path))
    try:
        term.expect("maglev> ")
        term.type("sh\tba\ts\n")  # show, then backend (the common part of backend/backends), then s
        term.expect("BACKEND  ADDRESS")
        term.expect("web3 ")
        assert b"\x1b[32mup\x1b[0m" in term.seen  # colour: this is a terminal
        term.type("set b\tweb1 pa\t\n")  # backend names complete from the running agent
        term.expect("backend web1: up -> paused")
        assert weights_in_vpp(client) == as_weights(backends, 0, 100, 0)
        term.type("set backend w\t")
        term.expect("web")  # web1, web2, web3 share "web"
        term.type("1 resume\n")
        term.expect("backend web1: paused -> unknown")
        term.type("bogus\n")
        term.expect("unknown command 'bogus'")  # errors do not end the shell
        term.type("quit\n")
        assert term.proc.wait(10) == 0
    finally:
        term.close()
    history = (tmp_path / ".maglevctl_history").read_text().splitlines()
    assert "show backends" in history, history
    assert any(line.startswith("set backend web1 pause") for line in history), history


def test_piped_into_head_stops_quietly(running):
    ctl, _unused, _unused = running
    done = subprocess.run(
        f"{sys.executable} -m ansible_collections.maglev.vpp.agent.ctl watch events log level debug | head -n 2",
        shell=True, env=ctl.env(), capture_output=True, text=True, timeout=30, check=False)
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


@pytest.mark.simulator(reason="reads the table bucket by bucket with `sim buckets`; a real VPP has no such dump")
def test_show_frontend_shows_the_table_digest_of_vpps_table(running, sim, client):
    ctl, _unused, _unused = running
    # vppsim's own table for the VIP (sim buckets), digested here: the agent's digest is its table.
    digest = table_digest(table_owners(sim, client.cli, "192.0.2.1/32 protocol tcp port 80"))
    assert ctl.json("show", "frontend", "www")["table_digest"] == digest
    assert f"table digest:    {digest}" in ctl.ok("show", "frontend", "www").splitlines()
    assert [fe["table_digest"] for fe in ctl.json("show", "frontends")] == [digest]
