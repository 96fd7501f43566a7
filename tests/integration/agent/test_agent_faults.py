"""Fault scenarios of issue 18 on the agent's side (docs/reliability.md, "Fault scenarios"): the
disk full under the agent's files, its probe namespace deleted while it runs, a backend flapping
faster than rise/fall. Each fault is made by the test (a tiny tmpfs, ``ip netns del``, a backend
the test toggles) and each wait is on the condition it means."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from typing import Iterator, Optional

import pytest
from agentproc import wait_for
from test_agent_daemon import config_for, expect_weights
from test_agent_lifecycle import started_agent
from test_agent_metrics import free_port, samples, try_scrape
from test_maglevctl import Ctl

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs / a network namespace needs root")


@contextlib.contextmanager
def tiny_filesystem(path: str, size: str = "16k") -> Iterator[str]:
    """A tmpfs of a few KiB at ``path``, unmounted at the end."""
    os.makedirs(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)


def fill(folder: str) -> str:
    """Write a file until the filesystem is full (ENOSPC); its path."""
    path = os.path.join(folder, "filler")
    with open(path, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(b"x" * 512)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return path


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def write_errors(port: int) -> dict:
    found = samples(try_scrape(f"http://127.0.0.1:{port}") or "")
    return {f: found.get(f'maglev_agent_file_write_errors_total{{file="{f}"}}', 0) for f in ("state", "operator-state")}


def backend_states(document: Optional[dict]) -> dict:
    return {n: b["state"] for n, b in (document or {}).get("backends", {}).items()}


@needs_root
def test_a_full_disk_keeps_the_old_files_whole_and_they_are_written_once_space_returns(
        sim, tmp_path, backends, client, agent):
    small = str(tmp_path / "small")
    state_file, state_dir = os.path.join(small, "state.json"), os.path.join(small, "lib")
    operator_file = os.path.join(state_dir, "operator-state.json")
    socket_path = str(tmp_path / "status.sock")
    port = free_port("127.0.0.1")
    with tiny_filesystem(small):
        config = config_for(sim, tmp_path, backends, status_socket=socket_path,
                            metrics={"listen": f"127.0.0.1:{port}"})
        config["agent"].update(state_file=state_file, state_dir=state_dir)
        proc = started_agent(agent, config, client, backends)
        ctl = Ctl(socket_path)
        ctl.ok("set", "backend", "web3", "pause")
        wait_for(lambda: (read_json(operator_file) or {}).get("backends", {}).get("web3", {}).get("state") == "paused",
                 10, "web3 paused in the operator-state file")
        wait_for(lambda: (read_json(state_file) or {}).get("backends", {}).get("web3", {}).get("state") == "paused",
                 10, "web3 paused in the state file")
        old_state, old_operator = read_bytes(state_file), read_bytes(operator_file)

        filler = fill(small)
        backends[0].stop()  # web1 goes down: the state file must change
        ctl.ok("set", "backend", "web3", "resume")  # the operator state must change
        proc.wait_event("state-file-failed", level="error")
        proc.wait_event("operator-state-failed", level="error")
        expect_weights(client, backends, 0, 100, 0)  # the agent works on: VPP follows web1's fall
        assert ctl.json("show", "backend", "web1")["state"] == "down"  # the status API answers
        # The old files are whole: byte for byte what they were, valid JSON.
        assert read_bytes(state_file) == old_state and read_json(state_file) is not None
        assert read_bytes(operator_file) == old_operator and read_json(operator_file) is not None
        assert [n for n in os.listdir(small) + os.listdir(state_dir) if n.endswith(".tmp")] == []  # none left
        wait_for(lambda: min(write_errors(port).values(), default=0) >= 1, 10, "both files' write errors counted")
        assert proc.proc.poll() is None
        failures = proc.count("state-file-failed", level="error")

        os.unlink(filler)  # space returns: both files are current again, without another change
        proc.wait_event("state-file-written")
        proc.wait_event("operator-state-written")
        wait_for(lambda: backend_states(read_json(state_file)) == {"web1": "down", "web2": "up", "web3": "up"},
                 10, "the current states in the state file")
        assert read_json(operator_file)["backends"] == {}
        assert proc.count("state-file-failed", level="error") == failures  # one loud line per outage
