"""No secret of the config ever leaves the agent: distinctive canaries (basic-auth credentials and
an API key in health-check headers, a TLS client key file's contents) are configured, every
output is exercised (including a failing probe and a failed reload) and grepped for them."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from typing import Dict, List

import pytest
import yaml
from agentproc import BUILD_DIR, wait_for
from ansible_collections.maglev.vpp.agent.ctl_client import StatusClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from test_agent_daemon import expect_weights
from test_agent_metrics import metrics_config
from test_probes_http import _cert

BASIC = base64.b64encode(b"canary-user:canary-pass-5d1e").decode()
API_KEY = "canary-api-key-8c27"
NUMERIC_KEY = 904718263550917342  # an API key written unquoted: YAML reads a number


@pytest.fixture(params=["1.2.0"], ids=["lb-api-1.2.0"])
def lb_api(request) -> str:
    return request.param  # what the agent prints does not depend on the LB API generation


def client_key_pair(folder) -> Dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("maglev-agent", key, "maglev-agent", key, ca=False)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (folder / "client.key").write_text(pem)
    (folder / "client.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    body = [line for line in pem.splitlines() if not line.startswith("-----")]
    return {"cert": str(folder / "client.pem"), "key": str(folder / "client.key"), "canary": body[0]}


class StreamTap:
    """Everything one HTTP event stream sends, read by a thread until ``close``."""

    def __init__(self, sock: socket.socket, path: str):
        self.data = b""
        self._sock = sock
        self._stop = threading.Event()
        sock.settimeout(0.2)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: agent\r\n\r\n".encode())
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return
            self.data += chunk

    def text(self) -> str:
        return self.data.decode(errors="replace")

    def close(self) -> str:
        self._stop.set()
        self._thread.join(10)
        self._sock.close()
        return self.text()


def unix_stream(path: str, query: str) -> StreamTap:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return StreamTap(sock, "/events?" + query)


def tcp_stream(base: str) -> StreamTap:
    host, port = base.rsplit("/", 1)[1].rsplit(":", 1)
    return StreamTap(socket.create_connection((host, int(port)), timeout=10), "/events")


def http_get(base: str, path: str) -> str:
    with urllib.request.urlopen(base + path, timeout=10) as reply:
        return reply.read().decode()


FRAGMENT = 16  # a secret shown in part is shown: PyYAML's error text quotes a window of the line


def leaks(outputs: Dict[str, str], canaries: Dict[str, str]) -> List[str]:
    """Where any FRAGMENT-long piece of a canary appears, with some context."""
    found = []
    for where, text in outputs.items():
        for what, canary in canaries.items():
            at = next((text.find(canary[i:i + FRAGMENT]) for i in range(len(canary) - FRAGMENT + 1)
                       if canary[i:i + FRAGMENT] in text), -1)
            if at >= 0:
                found.append(f"{what} in {where}: ...{text[max(0, at - 80):at + 40]!r}...")
    return found


def test_no_secret_reaches_logs_api_page_state_events_or_metrics(sim, tmp_path, backends, client, agent):
    tls = client_key_pair(tmp_path)
    canaries = {"basic-auth credentials": BASIC, "API key header": API_KEY, "numeric API key": str(NUMERIC_KEY),
                "client key contents": tls["canary"]}
    status = str(tmp_path / "status.sock")
    check = {"headers": {"Authorization": f"Basic {BASIC}", "X-Api-Key": API_KEY, "X-Trace": "public-value"}}
    config, base = metrics_config(sim, tmp_path, backends, check=check, status_socket=status)
    # web3 (the standby) is checked over https with the client key; its server speaks plain
    # HTTP, so that probe fails: an error path of the TLS check.
    config["healthchecks"]["tls"] = dict(config["healthchecks"]["h"], type="https", tls_insecure=True,
                                         tls_client_cert=tls["cert"], tls_client_key=tls["key"])
    config["backends"]["web3"]["healthcheck"] = "tls"
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    proc.wait_event("backend-transition", backend="web3", to="down")
    outputs: Dict[str, str] = {}
    api_stream = unix_stream(status, "log=true&log_level=debug&backend=true&frontend=true")
    page_stream = tcp_stream(base)

    # Error paths: reloads of a file whose YAML breaks on the secret's own line and of one with
    # an unquoted numeric key (the validator's message names it), each also checked through the
    # API and the command line; a failing probe.
    good = yaml.safe_dump(config, sort_keys=False)
    assert f"Basic {BASIC}\n" in good
    broken_yaml = good.replace(f"Basic {BASIC}\n", f"Basic {BASIC}: [\n")
    numeric = json.loads(json.dumps(config))
    numeric["healthchecks"]["h"]["headers"]["X-Api-Key"] = NUMERIC_KEY
    ctl = StatusClient(status)
    for attempt, bad in enumerate((broken_yaml, yaml.safe_dump(numeric, sort_keys=False))):
        proc.write_config(bad)
        proc.signal(signal.SIGHUP)
        failed = proc.wait_event("config-reload-failed", after=attempt)
        outputs[f"POST /config/check #{attempt}"] = ctl.raw("POST", "/config/check")[1].decode()
        outputs[f"POST /config/reload #{attempt}"] = ctl.raw("POST", "/config/reload")[1].decode()
        checked = subprocess.run([sys.executable, "-m", "ansible_collections.maglev.vpp.agent", "--check",
                                  proc.config_path], capture_output=True, text=True, timeout=60, check=False,
                                 env=dict(os.environ, PYTHONPATH=BUILD_DIR))
        assert checked.returncode != 0
        outputs[f"maglev-agent --check #{attempt}"] = checked.stdout + checked.stderr
    line = next(n for n, text in enumerate(broken_yaml.splitlines(), 1) if BASIC in text)
    first = proc.events("config-reload-failed")[0]
    assert f"line {line}, column" in json.dumps(first), first  # it still says where the file is broken
    assert "healthchecks.h.headers.X-Api-Key: must be a string" in json.dumps(failed), failed
    proc.write_config(good)
    backends[0].stop()
    proc.wait_event("backend-transition", backend="web1", to="down")
    wait_for(lambda: "config-reload-failed" in api_stream.text() and '"web1"' in api_stream.text(), 30,
             "the status API stream carrying the failed reload and web1's transition")
    wait_for(lambda: '"web1"' in page_stream.text(), 30, "the page's stream carrying web1's transition")
    outputs["status API /events"] = api_stream.close()
    outputs["metrics /events"] = page_stream.close()

    for path in ("/", "/frontends", "/frontends/www", "/backends", "/backends/web1", "/backends/web3",
                 "/healthchecks", "/healthchecks/h", "/healthchecks/tls", "/vpp", "/vpp/lb", "/vpp/counters"):
        code, body = ctl.raw("GET", path)
        assert code == 200, (path, body)
        outputs[f"status API GET {path}"] = body.decode()
    assert "public-value" in outputs["status API GET /healthchecks/h"]  # the headers are shown, but masked
    for path in ("/metrics", "/state.json", "/", "/app.js"):
        outputs[f"metrics GET {path}"] = http_get(base, path)
    ctl_env = dict(os.environ, PYTHONPATH=BUILD_DIR, MAGLEV_AGENT_SOCKET=status)
    for words in (["show", "healthchecks"], ["--json", "show", "healthchecks"], ["show", "backends"]):
        shown = subprocess.run([sys.executable, "-m", "ansible_collections.maglev.vpp.agent.ctl", *words],
                               capture_output=True, text=True, timeout=60, check=False, env=ctl_env)
        assert shown.returncode == 0, shown.stderr
        outputs["maglevctl " + " ".join(words)] = shown.stdout + shown.stderr
    state_dir = config["agent"]["state_dir"]
    for folder, names in ((os.path.dirname(config["agent"]["state_file"]), ["state.json"]),
                          (state_dir, sorted(os.listdir(state_dir)) if os.path.isdir(state_dir) else [])):
        for name in names:
            with open(os.path.join(folder, name), errors="replace") as handle:
                outputs[f"file {name}"] = handle.read()
    assert proc.stop() == 0
    outputs["agent log (stderr)"] = "".join(proc.raw_lines)

    # The canaries are where they belong, so that the search could find them.
    with open(tls["key"]) as handle:
        assert tls["canary"] in handle.read()
    assert BASIC in good and API_KEY in good
    assert "config-reload-failed" in outputs["agent log (stderr)"]
    assert not leaks(outputs, canaries), json.dumps(leaks(outputs, canaries), indent=1)
