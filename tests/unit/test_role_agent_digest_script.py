"""roles/agent/files/config_digest.py: the digest the role waits for is the one the agent
publishes (the core's config_digest of the same maglev_lb; the agent side is shown by
tests/integration/agent/test_agent_playbook.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.config_digest import config_digest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO_ROOT, "roles", "agent", "files", "config_digest.py")
MAGLEV_LB = {
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {"web1": {"address": "198.51.100.11", "healthcheck": "h"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"web1": {}}}]}},
    "agent": {"state_file": "/run/maglev-agent/state.json"},  # ignored by the digest, as by the modules
}


def run_script(document) -> subprocess.CompletedProcess:
    # As the role runs it: a fresh interpreter whose only way to the core is the collection root.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I", SCRIPT, REPO_ROOT], input=json.dumps(document), env=env,
                          capture_output=True, text=True, timeout=60, check=False, cwd="/")


def test_the_script_prints_the_cores_whole_digest() -> None:
    done = run_script(MAGLEV_LB)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == config_digest(schema.parse_config(MAGLEV_LB)).whole


def test_an_invalid_maglev_lb_exits_2_with_the_problems() -> None:
    done = run_script({"frontends": {"www": {"prefix": "192.0.2.1/33", "pools": []}}})
    assert done.returncode == 2 and done.stdout == ""
    assert "frontends.www.prefix" in done.stderr
