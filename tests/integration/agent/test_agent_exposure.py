"""What the agent exposes to whoever reaches its listeners: a bounded number of event streams
on the metrics listener and on the status API, and on the metrics listener (anonymous) only the
public log records (agent/events.py public_log_record)."""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request
from typing import List

import pytest
from agentproc import wait_for
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
