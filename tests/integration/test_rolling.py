"""playbooks/rolling.yml: three vppsim instances stand in for three routers, each with its own agent
deployed by the role (``maglev_agent_service: none``, started here). The backends are real HTTP
servers on loopback; router r2 probes from a network namespace this test creates with no route to
them (a backend reachable from some routers only), so its agent sees the frontend down.

A roll of a weight change then goes r1 (pushed, passes the gate while traffic flows), r2 (pushed,
fails the gate: frontend down, no-server packets under traffic) and stops: r3 is not touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent"))
from agentproc import wait_for  # noqa: E402
from ansible_runner_helpers import BIN_DIR, REPO_ROOT, vpp_cli  # noqa: E402
from test_agent_daemon import FAST_CHECK  # noqa: E402
from test_role_agent import InstalledAgent  # noqa: E402

ROUTERS = ("r1", "r2", "r3")
VIP = "192.0.2.1/32 tcp/80"
TRAFFIC = "sim traffic 192.0.2.1/32 protocol tcp port 80 flows 20"


def maglev_lb(backends, web2_weight: int) -> dict:
    return {
        "conf": {"ip4_src_address": "10.255.0.1", "ip6_src_address": "2001:db8:ff::1"},
        "healthchecks": {"h": dict(FAST_CHECK, port=backends[0].port)},
        "backends": {"web1": {"address": backends[0].address, "healthcheck": "h"},
                     "web2": {"address": backends[1].address, "healthcheck": "h"}},
        "frontends": {"www": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "encap": "gre4",
                              "pools": [{"name": "primary",
                                         "backends": {"web1": {}, "web2": {"weight": web2_weight}}}]}},
    }


def router_vars(sim, home, venv, netns: str = "") -> dict:
    """One router's connection and the role's variables (everything under ``home``)."""
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "maglev_agent_service": "none",
        "maglev_agent_os_packages": [],
        "maglev_agent_python": sys.executable,
        "maglev_agent_venv": str(venv),  # one virtualenv for the three: the roll is serial
        "maglev_agent_wrapper": str(home / "bin" / "maglev-agent"),
        "maglev_agent_config_dir": str(home / "etc"),
        "maglev_agent_api_socket": sim.api_socket,
        "maglev_agent_stats_socket": sim.stats_socket,
        "maglev_agent_state_file": str(home / "run" / "state.json"),
        "maglev_agent_status_socket": str(home / "run" / "status.sock"),
        "maglev_agent_metrics_listen": "",
        "maglev_agent_probe_netns": netns,
        "maglev_agent_settings": {"warmup": {"min_delay": "0s", "max_delay": "0s"}, "stats_interval": "200ms"},
    }


class Fleet:
    """The inventory (group vpp_routers: r1, r2, r3) and real ansible-playbook runs against it."""

    def __init__(self, tmp_path, sims, netns: str):
        self.tmp_path = tmp_path
        self.home = {name: tmp_path / name for name in ROUTERS}
        hosts = {name: router_vars(sim, self.home[name], tmp_path / "venv", netns if name == "r2" else "")
                 for name, sim in zip(ROUTERS, sims, strict=True)}
        self.inventory = tmp_path / "inventory"
        (self.inventory / "group_vars" / "vpp_routers").mkdir(parents=True)
        (self.inventory / "hosts.yml").write_text(yaml.safe_dump({"vpp_routers": {"hosts": hosts}}))
        (tmp_path / "ansible").mkdir()
        (tmp_path / "ansible" / "ansible.cfg").write_text("[defaults]\n")

    def declare(self, config: dict) -> None:
        (self.inventory / "group_vars" / "vpp_routers" / "maglev_lb.yml").write_text(
            yaml.safe_dump({"maglev_lb": config}))

    def playbook(self, name: str, *extra: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(ANSIBLE_CONFIG=str(self.tmp_path / "ansible" / "ansible.cfg"),
                   ANSIBLE_HOME=str(self.tmp_path / "ansible"),
                   ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".build"), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
                   ANSIBLE_LOCAL_TEMP=str(self.tmp_path / "ansible" / "tmp"),
                   ANSIBLE_REMOTE_TEMP=str(self.tmp_path / "ansible" / "tmp"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_LOCALHOST_WARNING="False")
        argv = [str(BIN_DIR / "ansible-playbook"), "-i", str(self.inventory),
                str(REPO_ROOT / "playbooks" / name), *extra]
        return subprocess.run(argv, env=env, cwd=self.tmp_path, capture_output=True, text=True, check=False,
                              timeout=600, stdin=subprocess.DEVNULL)

    def agent(self, name: str) -> InstalledAgent:
        home = self.home[name]
        return InstalledAgent(str(home / "bin" / "maglev-agent"), str(home / "etc" / "config.yaml"), str(home))

    def frontend_state(self, name: str):
        try:
            document = json.loads((self.home[name] / "run" / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return document["frontends"].get("www", {}).get("state")


def weights(sim) -> dict:
    from ansible_runner_helpers import snapshot

    return snapshot(sim).summary["vips"].get(VIP, {}).get("ases")


@pytest.fixture
def isolated_netns():
    """A network namespace with only a loopback that is down: nothing is reachable from it."""
    name = f"maglev-roll-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=30)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=30)


class Traffic:
    """Simulated clients sending new flows to the VIP of each router until stopped."""

    def __init__(self, sims):
        self.sims = sims
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seed = 0
        while not self.stopping.is_set():
            seed += 1  # new clients each round: new flows, not the sessions of the last round
            for sim in self.sims:
                vpp_cli(sim, f"{TRAFFIC} seed {seed}")
            self.stopping.wait(0.05)  # paces the clients; nothing waits on it

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


@pytest.mark.slow
@pytest.mark.simulator
def test_rolling_push_stops_at_the_first_router_that_fails_the_gate(
        tmp_path, vppsim_factory, loopback_pair, isolated_netns):
    backends = loopback_pair
    sims = [vppsim_factory() for _router in ROUTERS]
    fleet = Fleet(tmp_path, sims, isolated_netns)
    addresses = [b.address for b in backends]

    # The fleet as it runs today: site.yml everywhere, then each router's agent.
    fleet.declare(maglev_lb(backends, web2_weight=100))
    deployed = fleet.playbook("site.yml", "--forks", "1")  # one host at a time: they share the virtualenv
    assert deployed.returncode == 0, deployed.stdout[-6000:] + deployed.stderr
    agents = {name: fleet.agent(name).start() for name in ROUTERS}
    try:
        for name in ROUTERS:
            want = "down" if name == "r2" else "up"
            wait_for(lambda name=name, want=want: fleet.frontend_state(name) == want, 60, f"{name}: www {want}")
        for sim in (sims[0], sims[2]):
            wait_for(lambda sim=sim: weights(sim) == {addresses[0]: 100, addresses[1]: 100}, 60, "both backends up")
        r3_before = weights(sims[2])
        r3_config = (fleet.home["r3"] / "etc" / "config.yaml").read_bytes()

        # Roll a weight change while clients send new flows to every router.
        fleet.declare(maglev_lb(backends, web2_weight=50))
        with Traffic(sims):
            rolled = fleet.playbook("rolling.yml", "-e", "maglev_rolling_settle=2",
                                    "-e", "maglev_rolling_agent_timeout=5")
        out = rolled.stdout
        assert rolled.returncode != 0, out[-6000:]

        # r1: pushed, its agent reloaded the change, the gate passed under traffic.
        assert weights(sims[0]) == {addresses[0]: 100, addresses[1]: 50}
        assert "r1 serves every frontend: www" in out, out[-6000:]
        # r2: pushed, but its agent cannot reach the backends: the roll stops there, naming it.
        assert "r2 fails the rolling gate, the roll stops here" in out, out[-6000:]
        assert "frontends not up in the agent view after 5 s: www (down)" in out
        assert "no-server packets during the 2 s settle window: www (+" in out
        assert "r1 fails" not in out
        # r3: untouched, neither VPP nor the agent's config.
        assert "r3" not in out.split("PLAY RECAP")[0], out[-6000:]
        assert weights(sims[2]) == r3_before
        assert (fleet.home["r3"] / "etc" / "config.yaml").read_bytes() == r3_config
    finally:
        for name, agent in agents.items():
            assert agent.stop() == 0, f"{name}: {agent.log_text()}"
