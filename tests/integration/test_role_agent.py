"""The role maglev.vpp.agent, run by real ansible-playbook on this host (``maglev_agent_service:
none``: no systemd as PID 1 here), then the agent it installed, run through the installed
``maglev-agent`` command against vppsim and real HTTP backends on loopback.

The systemd unit the role writes is checked with ``systemd-analyze verify`` and
``systemd-analyze security --offline=yes`` (both work without PID 1).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import threading
import types

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent"))
from agentproc import AgentProcess, wait_for  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient  # noqa: E402
from chromium import Browser, page_shows  # noqa: E402
from httpbackends import HttpBackend, free_port  # noqa: E402
from test_agent_daemon import config_for, expect_weights  # noqa: E402

ROLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "roles", "agent")
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"


class InstalledAgent(AgentProcess):
    """The agent started through the command the role wrote (its venv, its copy of the code)."""

    def __init__(self, command: str, config_path: str, workdir: str):
        self.command = command
        self.config_path = config_path
        self.workdir = workdir
        self.records, self.raw_lines = [], []
        self._lock = threading.Lock()
        self.proc = None

    def start(self) -> InstalledAgent:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the wrapper's path
        self.proc = subprocess.Popen(
            [self.command, "--config", self.config_path], cwd=self.workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_event("starting", timeout=30)
        return self


@pytest.fixture
def loopback_backends():
    base = f"127.{os.getpid() % 250 + 1}.{(os.getpid() // 250) % 250 + 1}"
    port = free_port(f"{base}.21")
    started = [HttpBackend(f"{base}.{i}", port).start() for i in (21, 22, 23)]
    yield started
    for backend in started:
        backend.stop()


def role_vars(sim, tmp_path, maglev_lb: dict) -> dict:
    """The role's variables for a deployment under tmp_path, agent talking to ``sim``."""
    return {
        "maglev_lb": maglev_lb,
        "maglev_agent_service": "none",
        "maglev_agent_os_packages": [],
        "maglev_agent_python": sys.executable,
        "maglev_agent_venv": str(tmp_path / "opt" / "maglev-agent"),
        "maglev_agent_wrapper": str(tmp_path / "bin" / "maglev-agent"),
        "maglev_agent_config_dir": str(tmp_path / "etc" / "maglev-agent"),
        "maglev_agent_api_socket": sim.api_socket,
        "maglev_agent_stats_socket": sim.stats_socket,
        "maglev_agent_state_file": str(tmp_path / "run" / "state.json"),
        "maglev_agent_status_socket": str(tmp_path / "run" / "status.sock"),
        "maglev_agent_state_dir": str(tmp_path / "var" / "lib" / "maglev-agent"),
        "maglev_agent_metrics_listen": "",
        "maglev_agent_log_level": "debug",
        "maglev_agent_settings": {"warmup": {"min_delay": "0s", "max_delay": "0s"}, "stats_interval": "200ms"},
    }


def role_task(variables: dict, state: str = "present") -> dict:
    return {
        "name": "deploy the agent",
        "ansible.builtin.import_role": {"name": "maglev.vpp.agent"},
        "vars": dict(variables, maglev_agent_state=state),
    }


def changed_tasks(run) -> list:
    return [t.name for t in run.tasks if t.changed]


@pytest.mark.slow
def test_role_installs_the_agent_that_then_follows_backend_health(sim, tmp_path, loopback_backends, runner):
    backends = loopback_backends
    maglev_lb = config_for(sim, tmp_path, backends)
    del maglev_lb["agent"]  # the role writes the agent: section from its variables
    variables = role_vars(sim, tmp_path, maglev_lb)

    # --check on a fresh host says what would change and changes nothing.
    dry = runner.playbook([role_task(variables)], check=True)
    assert dry.ok, dry.explain()
    assert dry.changed_count > 0
    assert not (tmp_path / "opt").exists() and not (tmp_path / "etc").exists()

    first = runner.playbook([role_task(variables)], timeout=400)
    assert first.ok, first.explain()
    assert first.changed_count > 0
    again = runner.playbook([role_task(variables)])
    assert again.ok, again.explain()
    assert again.changed_count == 0, changed_tasks(again)
    checked = runner.playbook([role_task(variables)], check=True)
    assert checked.ok and checked.changed_count == 0, changed_tasks(checked)

    # The installed code is the collection's own agent/ and core, nothing else.
    code = tmp_path / "opt" / "maglev-agent" / "collection" / "ansible_collections" / "maglev" / "vpp"
    assert sorted(p.name for p in code.iterdir()) == ["agent", "plugins"]
    assert (code / "plugins" / "module_utils" / "vpp_lb" / "schema.py").read_bytes() == (
        open(os.path.join(ROLE_DIR, "..", "..", "plugins", "module_utils", "vpp_lb", "schema.py"), "rb").read())
    assert not list(code.rglob("__pycache__"))

    config_file = tmp_path / "etc" / "maglev-agent" / "config.yaml"
    rendered = yaml.safe_load(config_file.read_text())
    assert rendered["frontends"] == maglev_lb["frontends"]
    assert rendered["agent"]["vpp"] == {"api_socket": sim.api_socket, "stats_socket": sim.stats_socket}
    assert rendered["agent"]["warmup"] == {"min_delay": "0s", "max_delay": "0s"}

    wrapper = str(tmp_path / "bin" / "maglev-agent")
    agent = InstalledAgent(wrapper, str(config_file), str(tmp_path)).start()
    try:
        with VppLbClient(sim.api_socket) as client:
            expect_weights(client, backends, 100, 100, 0)
            state_file = tmp_path / "run" / "state.json"

            def backend_states():
                try:
                    document = json.loads(state_file.read_text())
                except (OSError, ValueError):
                    return None
                return {name: b["state"] for name, b in document["backends"].items()}

            wait_for(lambda: backend_states() == {"web1": "up", "web2": "up", "web3": "up"}, 15, "state file")
            # An outage of the whole primary pool fails over to the standby.
            backends[0].stop()
            backends[1].stop()
            expect_weights(client, backends, 0, 0, 100)
            wait_for(lambda: backend_states() == {"web1": "down", "web2": "down", "web3": "up"}, 15, "outage")

            # A bad inventory fails on the host's --check and never replaces the live file.
            live = config_file.read_bytes()
            bad = copy.deepcopy(maglev_lb)
            bad["frontends"]["www"]["pools"][0]["backends"]["nosuch"] = {}
            refused = runner.playbook([role_task(role_vars(sim, tmp_path, bad))])
            assert not refused.ok
            failed = [t for t in refused.tasks if t.failed]
            assert [t.name for t in failed] == ["maglev.vpp.agent : Render the agent config (validated on the host "
                                                "before it replaces the live file)"], refused.explain()
            assert "nosuch" in failed[0].msg + json.dumps(failed[0].result)
            assert config_file.read_bytes() == live

            # A good change replaces the file (config only: nothing else changes), the agent reloads it.
            changed = copy.deepcopy(maglev_lb)
            changed["frontends"]["www"]["pools"][1]["backends"]["web3"] = {"weight": 40}
            update = runner.playbook([role_task(role_vars(sim, tmp_path, changed))])
            assert update.ok, update.explain()
            assert [re.sub(r"^maglev\.vpp\.agent : ", "", n) for n in changed_tasks(update)] == [
                "Render the agent config (validated on the host before it replaces the live file)"]
            agent.signal(1)  # SIGHUP: what the systemd unit's ExecReload sends
            expect_weights(client, backends, 0, 0, 40)
    finally:
        assert agent.stop() == 0, agent.log_text()

    removed = runner.playbook([role_task(variables, state="absent")])
    assert removed.ok, removed.explain()
    for path in ("opt/maglev-agent", "bin/maglev-agent", "bin/maglevctl", "etc/maglev-agent", "var/lib/maglev-agent"):
        assert not (tmp_path / path).exists(), path


def test_the_roles_check_and_diff_never_show_health_check_credentials(tmp_path, runner):
    """``--check --diff`` of the role on a fresh host renders the config file (the whole of it is
    new) and prints every task's diff: the file holds the health checks' credential headers."""
    secret = "r0le-s3cr3t-41"
    maglev_lb = {
        "conf": {"ip4_src_address": "192.0.2.254"},
        "healthchecks": {"h": {"type": "http", "port": 80, "headers": {"Authorization": f"Bearer {secret}"}}},
        "backends": {"w": {"address": "198.51.100.11", "healthcheck": "h"}},
        "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"w": {}}}]}},
    }
    no_vpp = types.SimpleNamespace(api_socket=str(tmp_path / "api.sock"), stats_socket=str(tmp_path / "stats.sock"))
    run = runner.playbook([role_task(role_vars(no_vpp, tmp_path, maglev_lb))], check=True, diff=True,
                          extra_args=["-vvv"])
    assert run.ok, run.explain()
    everything = run.stdout + run.stderr + json.dumps([t.result for t in run.tasks])
    assert "Render the agent config" in run.stdout
    assert "MAGLEV_AGENT_SOCKET" in run.stdout  # the other templates' diffs are shown
    assert secret not in everything, [line for line in everything.splitlines() if secret in line][:3]


def package_files(top) -> list:
    """Every file of a package tree, relative to it, without byte-code caches."""
    return sorted(str(p.relative_to(top)) for p in top.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def test_bundle_packs_every_package_file_but_byte_code(tmp_path):
    import tarfile
    from pathlib import Path

    source = Path(ROLE_DIR).parent.parent
    archive = tmp_path / "code.tar"
    subprocess.run([sys.executable, os.path.join(ROLE_DIR, "files", "bundle_code.py"), str(source), str(archive)],
                   check=True, timeout=60)
    with tarfile.open(archive) as tar:
        packed = sorted(m.name for m in tar.getmembers() if m.isfile())
    expected = sorted([f"agent/{name}" for name in package_files(source / "agent")]
                      + [f"plugins/module_utils/vpp_lb/{name}"
                         for name in package_files(source / "plugins" / "module_utils" / "vpp_lb")])
    assert packed == expected
    assert {"agent/page/index.html", "agent/page/app.js", "agent/page/style.css"} <= set(packed)
    assert not [name for name in packed if "__pycache__" in name or name.endswith(".pyc")]


@pytest.mark.slow
@pytest.mark.parametrize("lb_api", ["1.2.0"])  # what the page and maglevctl show does not depend on it
def test_role_deployed_agent_serves_its_page_and_maglevctl(sim, tmp_path, loopback_backends, runner):
    from pathlib import Path

    backends = loopback_backends
    maglev_lb = config_for(sim, tmp_path, backends)
    del maglev_lb["agent"]
    port = free_port("127.0.0.1")
    variables = dict(role_vars(sim, tmp_path, maglev_lb), maglev_agent_metrics_listen=f"127.0.0.1:{port}")
    deployed = runner.playbook([role_task(variables)], timeout=400)
    assert deployed.ok, deployed.explain()

    # Everything the agent package holds reaches the host, the page's assets included.
    code = tmp_path / "opt" / "maglev-agent" / "collection" / "ansible_collections" / "maglev" / "vpp"
    source = Path(ROLE_DIR).parent.parent
    assert package_files(code / "agent") == package_files(source / "agent")
    assert {"page/index.html", "page/app.js", "page/style.css"} <= set(package_files(code / "agent"))
    state_dir = tmp_path / "var" / "lib" / "maglev-agent"
    assert state_dir.is_dir() and (state_dir.stat().st_mode & 0o777) == 0o750
    rendered = yaml.safe_load((tmp_path / "etc" / "maglev-agent" / "config.yaml").read_text())
    assert rendered["agent"]["state_dir"] == str(state_dir)

    # maglev_agent_service none: the role says how to start and reload the agent it installed.
    wrapper, ctl = str(tmp_path / "bin" / "maglev-agent"), str(tmp_path / "bin" / "maglevctl")
    config_file = str(tmp_path / "etc" / "maglev-agent" / "config.yaml")
    [told] = [t for t in deployed.tasks if "Say how to start and reload the agent" in t.name]
    said = " ".join(told.result["msg"])
    assert f"`{wrapper} --config {config_file}`" in said and f"`{ctl} config reload`" in said

    agent = InstalledAgent(wrapper, config_file, str(tmp_path)).start()
    try:
        with VppLbClient(sim.api_socket) as client:
            expect_weights(client, backends, 100, 100, 0)
        (tmp_path / "browser").mkdir()
        page = Browser(tmp_path / "browser", f"http://127.0.0.1:{port}/")
        try:
            shown = wait_for(lambda: (v := page.frontends_shown()) and page_shows(v, {"www": "up"}) and v, 60,
                             "the deployed agent's page showing frontend www up")
        finally:
            page.close()
        assert shown["frontends"]["www"]["members"] == {"web1": "100", "web2": "100", "web3": "0"}

        # The installed maglevctl finds the agent's socket by itself (no PYTHONPATH, no socket given).
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MAGLEV_AGENT_SOCKET")}
        table = subprocess.run([ctl, "show", "frontends"], env=env, capture_output=True, text=True, timeout=60,
                               check=False)
        assert table.returncode == 0, table.stderr
        assert re.search(r"^www\s+192\.0\.2\.1 tcp/80\s+\S+\s+up\s+primary\s+2/3", table.stdout, re.M), table.stdout
        listed = subprocess.run([ctl, "--json", "show", "frontends"], env=env, capture_output=True, text=True,
                                timeout=60, check=False)
        assert [(f["name"], f["state"]) for f in json.loads(listed.stdout)] == [("www", "up")]
    finally:
        assert agent.stop() == 0, agent.log_text()


def render_unit(runner, tmp_path, **overrides) -> str:
    """The role's unit template rendered with its defaults (plus ``overrides``)."""
    out = tmp_path / f"unit-{len(list(tmp_path.glob('unit-*')))}"
    out.mkdir()
    wrapper = tmp_path / "maglev-agent"
    wrapper.write_text("#!/bin/sh\nexit 0\n")
    wrapper.chmod(0o755)
    task_vars = dict({"maglev_agent_wrapper": str(wrapper)}, **overrides)
    tasks = [
        {"name": "role defaults", "ansible.builtin.include_vars": os.path.join(ROLE_DIR, "defaults", "main.yml")},
        {"name": "role vars", "ansible.builtin.include_vars": os.path.join(ROLE_DIR, "vars", "main.yml")},
        {"name": "render", "ansible.builtin.template": {
            "src": os.path.join(ROLE_DIR, "templates", "maglev-agent.service.j2"),
            "dest": str(out / "maglev-agent.service")}},
    ]
    # Extra vars: they win over include_vars, as inventory values win over role defaults.
    extra = json.dumps(dict(task_vars, role_path=ROLE_DIR))
    run = runner.playbook(tasks, extra_args=["-e", extra])
    assert run.ok, run.explain()
    return str(out / "maglev-agent.service")


def directives(unit: str) -> dict:
    values: dict = {}
    for line in open(unit):
        if "=" in line and not line.startswith("#"):
            key, value = line.rstrip("\n").split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def exposure(unit: str) -> float:
    out = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", unit],
                         capture_output=True, text=True, check=False, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    return float(match.group(1))


@pytest.mark.skipif(not os.path.exists(SYSTEMD_ANALYZE), reason="systemd-analyze is part of Debian's systemd")
def test_unit_verifies_and_keeps_exposure_low(tmp_path, runner):
    plain = render_unit(runner, tmp_path)
    netns = render_unit(runner, tmp_path, maglev_agent_probe_netns="probes")
    for unit in (plain, netns):
        verify = subprocess.run([SYSTEMD_ANALYZE, "verify", unit], capture_output=True, text=True,
                                check=False, timeout=60)
        assert verify.returncode == 0, verify.stdout + verify.stderr

    d = directives(plain)
    assert d["CapabilityBoundingSet"] == ["CAP_NET_RAW"] and d["AmbientCapabilities"] == ["CAP_NET_RAW"]
    assert d["RestrictNamespaces"] == ["yes"]
    for key, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                      ("PrivateTmp", "yes"), ("Restart", "on-failure"), ("User", "maglev-agent"),
                      ("SupplementaryGroups", "vpp"), ("ExecReload", "/bin/kill -HUP $MAINPID")):
        assert d[key] == [want], key
    # The runtime directory holds the modules' default agent_state (/run/maglev-agent/state.json).
    assert d["RuntimeDirectory"] == ["maglev-agent"]
    # Persisted operator state (agent.state_dir, default /var/lib/maglev-agent), private to the service.
    assert d["StateDirectory"] == ["maglev-agent"] and d["StateDirectoryMode"] == ["0750"]
    # CPU priority over a default service, so a busy control plane does not starve the probes.
    assert (d["CPUWeight"], d["Nice"]) == (["1000"], ["-5"])
    default_priority = directives(render_unit(runner, tmp_path, maglev_agent_cpu_weight=None, maglev_agent_nice=None))
    assert "CPUWeight" not in default_priority and "Nice" not in default_priority
    with_ns = directives(netns)
    assert with_ns["CapabilityBoundingSet"] == ["CAP_NET_RAW CAP_SYS_ADMIN"]
    assert with_ns["RestrictNamespaces"] == ["net"]

    # The score documented in the role README; CAP_SYS_ADMIN costs a little more.
    assert exposure(plain) <= 1.5
    assert exposure(plain) < exposure(netns) <= 1.8
