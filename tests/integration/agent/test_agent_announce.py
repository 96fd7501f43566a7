"""Route announcement end to end: the real agent runs a hook script that records its calls (its
argv and MAGLEV_* environment) against vppsim and real loopback backends."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List

from agentproc import wait_for
from test_agent_daemon import config_for, expect_weights
from vpp_under_test import start_vpp, stop_vpp

# Appends one JSON line per call; fails while a "fail" file exists, hangs while a "hang" file does.
RECORDER = """\
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
if os.path.exists(os.path.join(here, "hang")):
    time.sleep(3600)  # the agent must kill it at its timeout
env = {k: v for k, v in os.environ.items() if k.startswith("MAGLEV_")}
with open(os.path.join(here, "calls.jsonl"), "a") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "env": env}) + "\\n")
sys.exit(1 if os.path.exists(os.path.join(here, "fail")) else 0)
"""


def recorder(tmp_path: Path) -> List[str]:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "record.py").write_text(RECORDER)
    return [sys.executable, str(hook_dir / "record.py"), "announce"]


def calls(tmp_path: Path) -> List[dict]:
    try:
        lines = (tmp_path / "hook" / "calls.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line)["env"] | {"argv": json.loads(line)["argv"]} for line in lines]


def wait_call(tmp_path: Path, index: int, what: str) -> dict:
    return wait_for(lambda: calls(tmp_path)[index] if len(calls(tmp_path)) > index else None, 20, what)


def announce_config(sim, tmp_path, backends, **hook):
    config = config_for(sim, tmp_path, backends)
    config["agent"]["announce"] = {"command": recorder(tmp_path), "retry_interval": "200ms",
                                   "retry_max_interval": "400ms", **hook}
    return config


def test_hook_announces_start_down_up_and_a_vpp_outage(sim, tmp_path, backends, client, agent):
    proc = agent(announce_config(sim, tmp_path, backends))
    first = wait_call(tmp_path, 0, "the start-up announcement")
    assert first == {
        "argv": ["announce"], "MAGLEV_FRONTEND": "www", "MAGLEV_PREFIX": "192.0.2.1/32", "MAGLEV_PROTOCOL": "tcp",
        "MAGLEV_PORT": "80", "MAGLEV_STATE": "up", "MAGLEV_PREVIOUS_STATE": "none", "MAGLEV_VPP_CONNECTED": "1",
        "MAGLEV_REASON": "start", "MAGLEV_ATTEMPT": "1",
    }
    expect_weights(client, backends, 100, 100, 0)
    for backend in backends:
        backend.stop()
    down = wait_call(tmp_path, 1, "the down announcement")
    assert (down["MAGLEV_STATE"], down["MAGLEV_PREVIOUS_STATE"], down["MAGLEV_REASON"]) == ("down", "up", "change")
    backends[2].start()  # the standby pool takes over: up again
    up = wait_call(tmp_path, 2, "the up announcement")
    assert (up["MAGLEV_STATE"], up["MAGLEV_PREVIOUS_STATE"]) == ("up", "down")
    expect_weights(client, backends, 0, 0, 100)

    stop_vpp(sim)  # VPP gone: down whatever the backends say
    gone = wait_call(tmp_path, 3, "the down announcement of a VPP outage")
    assert (gone["MAGLEV_STATE"], gone["MAGLEV_VPP_CONNECTED"]) == ("down", "0")
    start_vpp(sim)
    # Back: the reconnect is announced (down again, as VPP is empty until the sync), then up once
    # the sync has written the VIP; the first may coalesce into the second.
    back = wait_for(lambda: len(calls(tmp_path)) > 4 and calls(tmp_path)[-1]["MAGLEV_STATE"] == "up"
                    and calls(tmp_path)[-1], 20, "the up announcement after VPP is back")
    assert (back["MAGLEV_VPP_CONNECTED"], back["MAGLEV_PREVIOUS_STATE"]) == ("1", "down")
    after = calls(tmp_path)[4:]
    assert [c["MAGLEV_REASON"] for c in after] in (["reconnect", "change"], ["change"]), after
    logged = proc.wait_event("announce", frontend="www", after=len(calls(tmp_path)) - 1)  # logged once it ended
    assert (logged["state"], logged["result"]) == ("up", "ok")
    assert proc.count("announce-failed") == 0


def test_a_failing_hook_is_retried_and_a_hanging_one_killed(sim, tmp_path, backends, client, agent):
    hook_dir = tmp_path / "hook"
    config = announce_config(sim, tmp_path, backends, timeout="1s")
    (hook_dir / "fail").write_text("")
    proc = agent(config)
    failed = proc.wait_event("announce-failed", frontend="www", attempt=2)
    assert (failed["result"], failed["state"], failed["reason"]) == ("failed", "up", "retry"), failed
    assert failed["detail"].startswith("exit status 1")
    (hook_dir / "fail").unlink()
    done = proc.wait_event("announce", frontend="www", state="up", reason="retry")
    assert done["attempt"] >= 3
    assert [c["MAGLEV_STATE"] for c in calls(tmp_path)] == ["up"] * done["attempt"]

    (hook_dir / "hang").write_text("")
    for backend in backends:
        backend.stop()
    killed = proc.wait_event("announce-failed", frontend="www", state="down", result="timeout")
    assert killed["detail"] == "killed after 1s"
    (hook_dir / "hang").unlink()
    proc.wait_event("announce", frontend="www", state="down", reason="retry")
    assert calls(tmp_path)[-1]["MAGLEV_STATE"] == "down"
