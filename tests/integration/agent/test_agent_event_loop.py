"""maglev-agent --event-loop: the agent runs, probes and syncs on the loop asked for (asyncio's
own by default; uvloop when asked for: the test requirements install it), and `uvloop` without
it installed is refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from agentproc import BUILD_DIR
from test_agent_daemon import config_for, expect_weights


@pytest.mark.parametrize("choice", [None, "asyncio", "uvloop"])
def test_the_agent_runs_on_the_event_loop_asked_for(sim, tmp_path, backends, client, agent, choice):
    proc = agent(config_for(sim, tmp_path, backends), ["--event-loop", choice] if choice else [],
                 default_loop=choice is None)  # None: no --event-loop at all, also under MAGLEV_TEST_EVENT_LOOP
    assert proc.events("starting")[0]["event_loop"] == (choice or "asyncio")
    for name in ("web1", "web2", "web3"):
        proc.wait_event("backend-transition", backend=name, to="up")
    expect_weights(client, backends, 100, 100, 0)


def test_uvloop_asked_for_but_missing_is_refused(tmp_path):
    # uvloop is installed here: a module of that name first on the path fails its import, as a
    # machine without uvloop does.
    missing = tmp_path / "no-uvloop"
    missing.mkdir()
    (missing / "uvloop.py").write_text('raise ImportError("No module named \'uvloop\'")\n')
    done = subprocess.run(
        [sys.executable, "-m", "ansible_collections.maglev.vpp.agent", "--config", str(tmp_path / "none.yaml"),
         "--event-loop", "uvloop"],
        env={"PYTHONPATH": os.pathsep.join([str(missing), BUILD_DIR])},
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "uvloop is not installed" in done.stderr
