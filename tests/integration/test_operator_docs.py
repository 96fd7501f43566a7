"""What README.md and docs/operations.md tell operators they will see, checked against what a real
``ansible-playbook`` run prints at the verbosity the docs name (issue 16: the docs promised VPP
commands from ``--check --diff`` and quoted a message that only ``-v`` shows).
"""

from __future__ import annotations

import os
import re

from ansible_runner_helpers import lb_task

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = {
    "conf": {"ip4_src_address": "192.0.2.254"},
    "healthchecks": {"http-80": {"type": "http", "port": 80}},
    "backends": {"web1": {"address": "198.51.100.11", "healthcheck": "http-80"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80,
                          "pools": [{"name": "primary", "backends": {"web1": {}}}]}},
}
AS_COMMAND = "lb as 192.0.2.1/32 protocol tcp port 80 198.51.100.11"


def doc(name: str) -> str:
    with open(os.path.join(REPO, name)) as handle:
        return handle.read()


def test_check_diff_shows_the_state_and_v_adds_the_commands_as_documented(sim, runner):
    for text in (doc("README.md"), doc("docs/operations.md")):
        assert re.search(r"--check --diff.{0,200}before and after.{0,200}add `-v` to\s+see the\s+(planned\s+)?VPP"
                         r"\s+commands", text, re.S), "the docs no longer say where the commands show"

    plain = runner.playbook([lb_task(sim, CONFIG)], check=True, diff=True)
    assert plain.ok, plain.explain()
    assert f"+++ after: LB state of VPP at {sim.api_socket}" in plain.stdout, plain.explain()
    assert "198.51.100.11" in plain.stdout  # the AS is in the after state
    assert AS_COMMAND not in plain.stdout  # ... but not as a command: that takes -v

    verbose = runner.playbook([lb_task(sim, CONFIG)], check=True, diff=True, extra_args=["-v"])
    assert verbose.ok, verbose.explain()
    assert AS_COMMAND in verbose.stdout, verbose.explain()


def test_troubleshooting_quotes_a_warning_shown_without_v(sim, runner, tmp_path):
    rows = [line for line in doc("docs/operations.md").splitlines() if line.startswith("| a playbook warns")]
    assert len(rows) == 1, "the troubleshooting row about the agent's view is gone"
    quoted = re.search(r'"([^"]+)"', rows[0]).group(1)

    stale = tmp_path / "state.json"
    stale.write_text("{not json")  # an agent state file the module cannot use
    run = runner.playbook([lb_task(sim, CONFIG, agent_state=stale)], check=True)
    assert run.ok, run.explain()
    warnings = [line for line in (run.stdout + run.stderr).splitlines() if "[WARNING]" in line]
    assert any(quoted in line for line in warnings), (quoted, run.explain())
