"""What the agent exposes to whoever reaches its listeners: a bounded number of event streams
on the metrics listener and on the status API, and on the metrics listener (anonymous) only the
public log records (agent/events.py public_log_record)."""

from __future__ import annotations

import grp
import ipaddress
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from typing import Iterator, List, Set, Tuple

import pytest
from agentproc import BUILD_DIR, AgentProcess, wait_for
from ansible_collections.maglev.vpp.agent import api, events, web
from test_agent_daemon import config_for, expect_weights
from test_agent_metrics import metrics_config


@pytest.fixture(params=["1.2.0"], ids=["lb-api-1.2.0"])
def lb_api(request) -> str:
    return request.param  # the listeners read the agent's own snapshot: one generation is enough


def open_stream(base: str):
    stream = urllib.request.urlopen(base + "/events", timeout=10)
    assert stream.readline() == b"retry: 1000\n"  # subscribed
    return stream


def refused(base: str) -> bool:
    try:
        open_stream(base).close()
    except urllib.error.HTTPError as exc:
        assert exc.code == 503 and exc.headers["Retry-After"], exc
        return True
    return False


def log_records_until(stream, backend: str, to: str) -> List[dict]:
    """The log records on an SSE stream up to the backend-transition of ``backend`` to ``to``."""
    seen: List[dict] = []
    while True:
        line = stream.readline().decode()
        assert line, f"the stream ended before {backend} -> {to}; logs seen: {seen}"
        if line.startswith("data: ") and '"type":"log"' in line:
            seen.append(json.loads(line[len("data: "):]))
            last = seen[-1]
            if (last["event"], last.get("backend"), last.get("to")) == ("backend-transition", backend, to):
                return seen


def test_page_streams_are_capped_and_carry_no_private_log_records(sim, tmp_path, backends, client, agent):
    config, base = metrics_config(sim, tmp_path, backends)
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    streams = [open_stream(base) for _stream in range(web.MAX_STREAMS)]
    assert refused(base)
    for stream in streams[1:]:
        stream.close()
    watching = streams[0]

    proc.write_config("agent: [not, a, mapping\n")  # a reload that fails, with the file's path
    proc.signal(signal.SIGHUP)
    failed = proc.wait_event("config-reload-failed")
    assert failed["path"] == proc.config_path  # the private log says where; the public one must not
    backends[0].stop()
    seen = log_records_until(watching, "web1", "down")
    assert all(r["event"] in events.PUBLIC_LOG_EVENTS for r in seen), seen
    assert not any(events.PRIVATE_FIELDS & set(r) for r in seen), seen
    assert proc.config_path not in json.dumps(seen)
    # The closed streams' places are free again once the agent has written to them (the events above).
    wait_for(lambda: not refused(base), 30, "a new stream accepted after others closed")
    watching.close()


def raw_events_request(path: str) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(path)
    conn.sendall(b"GET /events HTTP/1.1\r\nHost: agent\r\n\r\n")
    return conn


def status_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n" not in data:
        chunk = conn.recv(256)
        assert chunk, "the agent closed the connection without an answer"
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_status_api_streams_are_capped(sim, tmp_path, backends, client, agent):
    path = str(tmp_path / "status.sock")
    proc = agent(config_for(sim, tmp_path, backends, status_socket=path))
    expect_weights(client, backends, 100, 100, 0)
    conns = [raw_events_request(path) for _stream in range(api.MAX_STREAMS)]
    try:
        assert all(status_line(c).startswith(b"HTTP/1.1 200") for c in conns)
        extra = raw_events_request(path)
        assert status_line(extra).startswith(b"HTTP/1.1 503")
        extra.close()
        conns.pop().close()
        # The agent notices a vanished client within api.STREAM_POLL; then one more fits again.

        def accepted() -> bool:
            conn = raw_events_request(path)
            ok = status_line(conn).startswith(b"HTTP/1.1 200")
            (conns.append if ok else lambda c: c.close())(conn)
            return ok
        wait_for(accepted, 30, "a new API stream accepted after one closed")
        assert proc.proc.poll() is None
    finally:
        for conn in conns:
            conn.close()


# -- who may use the status socket ----------------------------------------------------------------

CTL = [sys.executable, "-m", "ansible_collections.maglev.vpp.agent.ctl"]
GET_AGENT = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
             "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(64).decode().split(chr(13))[0])")


def as_user(argv: List[str], *groups: int) -> subprocess.CompletedProcess:
    """``argv`` as the unprivileged user nobody (group nogroup, plus only ``groups``)."""
    ids = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", *ids, *argv],
                          capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ, PYTHONPATH=BUILD_DIR))


@pytest.fixture
def socket_group() -> Iterator[grp.struct_group]:
    """A system group made for this test (the role's socket group is the agent's own)."""
    name = f"mgltest{os.getpid()}"
    subprocess.run(["groupadd", "--system", name], check=True, capture_output=True)
    try:
        yield grp.getgrnam(name)
    finally:
        subprocess.run(["groupdel", name], check=False, capture_output=True)


@pytest.fixture
def open_dir() -> Iterator[str]:
    """A directory every user may traverse (like the role's RuntimeDirectoryMode=0755): pytest's
    own tmp_path is 0700, which would refuse other users before the socket's mode is asked."""
    path = tempfile.mkdtemp(prefix="maglev-sock-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_status_socket_refuses_other_users_and_serves_its_group(
        sim, tmp_path, backends, client, agent, socket_group, open_dir):
    path = os.path.join(open_dir, "status.sock")
    agent(config_for(sim, tmp_path, backends, status_socket=path, status_socket_group=socket_group.gr_name))
    expect_weights(client, backends, 100, 100, 0)
    st = os.stat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, socket_group.gr_gid)

    outsider = as_user([sys.executable, "-c", GET_AGENT, path])
    assert outsider.returncode != 0 and "PermissionError" in outsider.stderr, outsider
    member = as_user([sys.executable, "-c", GET_AGENT, path], socket_group.gr_gid)
    assert member.returncode == 0 and member.stdout.startswith("HTTP/1.0 200"), member

    denied = as_user([*CTL, "--socket", path, "show", "frontends"])
    assert denied.returncode != 0, denied
    assert "no permission to connect to " + path in denied.stderr, denied.stderr
    assert "Traceback" not in denied.stderr + denied.stdout, denied.stderr
    allowed = as_user([*CTL, "--socket", path, "--json", "show", "frontends"], socket_group.gr_gid)
    assert allowed.returncode == 0, allowed.stderr
    assert [f["name"] for f in json.loads(allowed.stdout)] == ["www"]


# -- where the metrics listener listens by default -----------------------------------------------

TCP_LISTEN = "0A"


def listening_tcp(pid: int) -> Set[Tuple[str, int]]:
    """(address, port) of every listening TCP socket the process ``pid`` holds, from
    /proc/<pid>/net/tcp{,6} (its network namespace) matched to its own file descriptors."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != TCP_LISTEN or inode not in inodes:
                    continue
                hex_address, hex_port = local.split(":")
                raw = bytes.fromhex(hex_address)
                # /proc prints the address as native-endian 32-bit words.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add((ipaddress.ip_address(raw).compressed, int(hex_port, 16)))
    return found


def test_the_exporter_and_the_page_listen_on_loopback_by_default(sim, tmp_path, backends, agent):
    config = config_for(sim, tmp_path, backends)
    del config["agent"]["metrics"]  # the default listener (agent.metrics.listen not set)
    # Its own network namespace: the default port is fixed (9091), and other agents on this
    # machine may hold it. The VPP and status sockets are files: they work across namespaces.
    netns = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
    proc = AgentProcess(config, str(tmp_path), command_prefix=netns).start()
    try:
        pid = proc.proc.pid
        sockets = wait_for(lambda: listening_tcp(pid), 30, "the agent's metrics listener")
        assert sockets == {("127.0.0.1", 9091)}, sockets
        assert all(ipaddress.ip_address(address).is_loopback for address, _port in sockets)
        # That one listener is the exporter and the page.
        fetch = ("import sys, urllib.request as u; "
                 "[print(u.urlopen('http://127.0.0.1:9091' + p, timeout=10).status) for p in sys.argv[1:]]")
        served = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", fetch,
                                 "/metrics", "/", "/state.json"],
                                capture_output=True, text=True, timeout=60, check=False)
        assert served.stdout.split() == ["200", "200", "200"], served
    finally:
        assert proc.stop() == 0, proc.log_text()
