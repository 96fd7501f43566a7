"""Run the real agent (``python -m ansible_collections.maglev.vpp.agent``) as a subprocess.

The agent logs JSON lines on stderr; ``AgentProcess`` keeps them and lets tests wait for a log
event or for a condition, always with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Dict, List, Optional, Sequence

import yaml
from polling import wait_for

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD_DIR = os.path.join(REPO_ROOT, ".build")


# The event loop every agent of the tests runs on unless a test picks one (--event-loop):
# MAGLEV_TEST_EVENT_LOOP=uvloop runs the agent's tests on uvloop; unset, on the agent's default.
TEST_EVENT_LOOP = os.environ.get("MAGLEV_TEST_EVENT_LOOP", "")


def with_test_event_loop(args: Sequence[str], default_loop: bool = False) -> List[str]:
    """The agent's arguments, with ``--event-loop MAGLEV_TEST_EVENT_LOOP`` unless they pick one
    or the test means the agent's default (``default_loop``)."""
    if not TEST_EVENT_LOOP or default_loop or "--event-loop" in args:
        return list(args)
    return [*args, "--event-loop", TEST_EVENT_LOOP]


class AgentProcess:
    def __init__(self, config: dict, workdir: str, *, command_prefix: Optional[List[str]] = None,
                 args: Sequence[str] = (), default_loop: bool = False):
        # A command that execs the agent's argv: into a namespace, or without CAP_DAC_OVERRIDE
        # (ansible_runner_helpers.NO_DAC_OVERRIDE).
        self.command_prefix = list(command_prefix or [])
        self.config_path = os.path.join(workdir, "agent.yaml")
        self.args = with_test_event_loop(args, default_loop)  # more command-line arguments of the agent
        self.workdir = workdir
        self.write_config(config)
        self.records: List[dict] = []
        self.raw_lines: List[str] = []
        self._lock = threading.Lock()
        self.proc: Optional[subprocess.Popen] = None
        self.hung_on_stop: Optional[str] = None  # the log tail (with stack dumps) of an agent SIGTERM did not stop

    def write_config(self, config) -> None:
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(text)
        os.replace(tmp, self.config_path)

    def start(self) -> AgentProcess:
        # The harness's own variables stay out of the agent's environment (its hooks get it).
        env = {k: v for k, v in os.environ.items() if k != "MAGLEV_TEST_EVENT_LOOP"}
        env["PYTHONPATH"] = BUILD_DIR
        self.proc = subprocess.Popen(
            [*self.command_prefix, sys.executable, "-m", "ansible_collections.maglev.vpp.agent",
             "--config", self.config_path, *self.args],
            cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_event("starting", timeout=20)
        return self

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._lock:
                self.raw_lines.append(line)
                try:
                    self.records.append(json.loads(line))
                except ValueError:
                    pass

    def events(self, event: str, **match) -> List[dict]:
        with self._lock:
            records = list(self.records)
        return [r for r in records if r.get("event") == event and all(r.get(k) == v for k, v in match.items())]

    def wait_event(self, event: str, timeout: float = 15, after: int = 0, **match) -> dict:
        def found():
            if self.proc.poll() is not None and not self.events(event, **match)[after:]:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log_text()}")
            hits = self.events(event, **match)
            return hits[after] if len(hits) > after else None

        return wait_for(found, timeout, f"log event {event} {match}")

    def wait_event_after(self, earlier: dict, event: str, timeout: float = 15, **match) -> dict:
        """The first ``event`` logged after the record ``earlier`` (one that wait_event returned)."""
        def found():
            with self._lock:
                records = list(self.records)
            start = next(i for i, r in enumerate(records) if r is earlier) + 1
            return next((r for r in records[start:]
                         if r.get("event") == event and all(r.get(k) == v for k, v in match.items())), None)

        return wait_for(found, timeout, f"log event {event} {match} after {earlier.get('event')}")

    def count(self, event: str, **match) -> int:
        return len(self.events(event, **match))

    def settled_writes(self) -> Optional[int]:
        """The number of vpp-lbsync records once the latest VPP sync has logged all its writes
        (its vpp-lbsync-done follows them), else None: VPP holds a sync's result before the
        agent has logged it."""
        with self._lock:
            syncs = [r for r in self.records if r.get("event") in ("vpp-lbsync", "vpp-lbsync-done")]
        if not syncs or syncs[-1]["event"] != "vpp-lbsync-done":
            return None
        return sum(r["event"] == "vpp-lbsync" for r in syncs)

    def log_text(self) -> str:
        with self._lock:
            return "".join(self.raw_lines[-200:])

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGUSR1)  # the agent dumps its threads' stacks (faulthandler)
                try:
                    self.proc.wait(2)
                except subprocess.TimeoutExpired:
                    pass
                self.proc.kill()
                self.proc.wait(timeout)
                self.hung_on_stop = self.log_text()
                print(f"agent {self.proc.pid} did not stop on SIGTERM within {timeout}s:\n{self.hung_on_stop}")
        return self.proc.returncode


def agent_config(sim, state_file: str, frontends: Dict, backends: Dict, healthchecks: Dict, **agent) -> dict:
    settings = {
        "vpp": {"api_socket": sim.api_socket, "stats_socket": sim.stats_socket},
        "state_file": state_file,
        # Persisted operator state beside the state file: never the host's /var/lib/maglev-agent.
        "state_dir": os.path.join(os.path.dirname(state_file), "lib"),
        "metrics": {"listen": ""},
        "warmup": {"min_delay": "0s", "max_delay": "0s"},
        "stats_interval": "200ms",
        "log_level": "debug",
    }
    if sim.api_dir and not getattr(sim, "is_sim", True):
        settings["vpp"]["api_dir"] = sim.api_dir
    settings.update(agent)
    return {
        "conf": {"ip4_src_address": "10.255.0.1", "ip6_src_address": "2001:db8:ff::1"},
        "healthchecks": healthchecks,
        "backends": backends,
        "frontends": frontends,
        "agent": settings,
    }
