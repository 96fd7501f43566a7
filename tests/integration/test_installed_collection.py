"""The collection as Galaxy users install it: this session's tarball installed with
``ansible-galaxy collection install`` into an empty collections path, then ``site.yml`` run by its
collection name (``maglev.vpp.site``) and ``lb_facts`` run ad hoc, from that installed copy only,
against vppsim: no ANSIBLE_COLLECTIONS_PATH to the checkout, no PYTHONPATH, the working
directory outside it. The role deploys the agent (``maglev_agent_service: none``) from the
installed copy, and that agent runs. ansible-doc of every module and the role from an installed
copy: test_galaxy_build.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent"))
from agentproc import wait_for  # noqa: E402
from ansible_runner_helpers import adhoc_screen_result, screen_recap, seen_on, snapshot  # noqa: E402
from collection_build import BIN_DIR, PLAYBOOK_TIMEOUT, install_tarball, isolated_env, run  # noqa: E402
from test_role_agent import InstalledAgent  # noqa: E402
from test_rolling import VIP, maglev_lb, router_vars  # noqa: E402


def frontend_state(state_file):
    try:
        return json.loads(state_file.read_text())["frontends"].get("www", {}).get("state")
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_installed_collection_deploys_site_and_gathers_facts_without_the_checkout(
        tmp_path, collection_tarball, vppsim, loopback_pair):
    backends = loopback_pair
    collections = tmp_path / "collections"
    installed = install_tarball(collection_tarball, collections, tmp_path / "home")
    env = isolated_env(collections, tmp_path / "home")
    workdir = tmp_path / "work"
    workdir.mkdir()

    # The Python that runs the modules cannot import the checkout: only the installed copy exists.
    bare = subprocess.run([sys.executable, "-c", "import ansible_collections.maglev.vpp"], env=env, cwd=workdir,
                          capture_output=True, text=True, check=False, timeout=60)
    assert bare.returncode != 0 and "ModuleNotFoundError" in bare.stderr, bare.stderr

    host = router_vars(vppsim, tmp_path / "router", tmp_path / "router" / "venv")
    inventory = workdir / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"vpp_routers": {"hosts": {"router1": dict(
        host, maglev_lb=maglev_lb(backends, web2_weight=50))}}}))

    site = run([BIN_DIR / "ansible-playbook", "-i", inventory, "maglev.vpp.site"], env=env, cwd=workdir,
               timeout=PLAYBOOK_TIMEOUT)
    assert screen_recap(site.stdout)["router1"]["failed"] == 0, site.stdout
    assert "TASK [maglev.vpp.agent : Render the agent config" in site.stdout
    addresses = [b.address for b in backends]
    # On LB API 1.1.0 (no AS weights) every AS reads 100.
    expected = seen_on(vppsim, {addresses[0]: 100, addresses[1]: 50})
    assert snapshot(vppsim).summary["vips"][VIP]["ases"] == expected

    # The role installed the agent's code from the installed collection.
    code = tmp_path / "router" / "venv" / "collection" / "ansible_collections" / "maglev" / "vpp"
    for part in ("plugins/module_utils/vpp_lb/schema.py", "agent/__main__.py"):
        assert (code / part).read_bytes() == (installed / part).read_bytes(), part
    agent = InstalledAgent(str(tmp_path / "router" / "bin" / "maglev-agent"),
                           str(tmp_path / "router" / "etc" / "config.yaml"), str(tmp_path / "router")).start()
    try:
        state_file = tmp_path / "router" / "run" / "state.json"
        wait_for(lambda: frontend_state(state_file) == "up", 30, "the installed agent's view: www up")

        facts = run([BIN_DIR / "ansible", "-i", inventory, "router1", "-m", "maglev.vpp.lb_facts", "-a",
                     json.dumps({"api_socket": vppsim.api_socket, "stats_socket": vppsim.stats_socket,
                                 "agent_state": str(state_file)})], env=env, cwd=workdir, timeout=PLAYBOOK_TIMEOUT)
    finally:
        assert agent.stop() == 0, agent.log_text()
    result = adhoc_screen_result(facts.stdout)
    assert result["_screen_status"] == "SUCCESS"
    state = result["ansible_facts"]["maglev_lb_state"]
    ases = state["vips"][VIP]["ases"]
    assert {address: body["weight"] for address, body in ases.items()} == expected
    assert state["agent"]["used"] is True
    assert state["agent"]["health"] == {"web1": "up", "web2": "up"}
