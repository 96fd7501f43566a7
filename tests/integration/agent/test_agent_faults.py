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
import uuid
from typing import Iterator, Optional

import pytest
from agentproc import wait_for
from test_agent_daemon import config_for, expect_weights, in_vpp, weights_in_vpp
from test_agent_lifecycle import started_agent
from test_agent_metrics import free_port, samples, try_scrape
from test_agent_netns import KINDS, expect, mixed_config
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


@needs_root
def test_a_probe_namespace_deleted_under_the_running_agent_blinds_it_and_a_new_one_is_entered(
        sim, tmp_path, backend_net, client, agent):
    """``ip netns del`` while the agent probes in it: before, the agent probed on in the unnamed
    namespace its thread kept alive (and, once the name was created anew, never entered the new
    one). Now: blind (no backend down, VPP untouched) while the name is gone, and the namespace the
    name points to afterwards is the one probed."""
    alias = f"mgl-alias-{uuid.uuid4().hex[:8]}"  # a second name of the backends' namespace
    servers, config = mixed_config(sim, tmp_path, backend_net, probe_netns=alias)
    subprocess.run(["ip", "netns", "attach", alias, str(servers["http"].pid)], check=True)
    try:
        proc = agent(config)
        expect(client, http=100, https=100, tcp=100, icmp=100)
        done = proc.wait_event("warmup", action="done")
        proc.wait_event_after(done, "vpp-lbsync-done")  # every frontend released and written
        writes = wait_for(proc.settled_writes, 10, "the agent's log of its writes")
        subprocess.run(["ip", "netns", "del", alias], check=True)
        proc.wait_event("netns-lost", netns=alias)
        proc.wait_event("agent-blind", code="NETNS")
        for kind in KINDS:  # every probe is blind, several times over
            blind = proc.count("probe", backend=kind, code="NETNS")
            proc.wait_event("probe", backend=kind, code="NETNS", after=blind + 2)
        assert [t for t in proc.events("backend-transition") if t["to"] != "up"] == []
        assert proc.events("vpp-lbsync")[writes:] == []  # VPP untouched
        expect(client, http=100, https=100, tcp=100, icmp=100)
        # A new, empty namespace under the same name: the agent sees again, in the new one, where
        # the backends are unreachable: they go down now, real results.
        subprocess.run(["ip", "netns", "add", alias], check=True)
        proc.wait_event("netns-entered", netns=alias)
        proc.wait_event("agent-sight-restored")
        proc.wait_event("backend-transition", backend="http", to="down")
    finally:
        subprocess.run(["ip", "netns", "del", alias], check=False)


def test_a_backend_flapping_faster_than_rise_and_fall_keeps_its_state_and_its_weight(
        sim, tmp_path, backends, client, agent):
    """A real server that answers 200 and 503 by turns, one probe each (rise 2, fall 2): no
    transition, and VPP never sees web1's weight move."""
    proc = started_agent(agent, config_for(sim, tmp_path, backends), client, backends)
    proc.wait_event_after(proc.wait_event("warmup", action="done"), "vpp-lbsync-done")
    writes = wait_for(proc.settled_writes, 15, "the start's writes logged")
    transitions = proc.count("backend-transition", backend="web1")
    probes = proc.count("probe", backend="web1")
    flapper = backends[0]
    flapper.flapping = True
    flapper.status = 503  # the next probe fails, the one after passes, and so on
    proc.wait_event("probe", backend="web1", after=probes + 12)  # 13 results
    # The probe at index ``probes`` may have been in flight when flapping began: from the next on.
    results = [r["ok"] for r in proc.events("probe", backend="web1")[probes + 1:probes + 13]]
    assert all(a != b for a, b in zip(results, results[1:], strict=False)), results  # it flapped, every probe
    assert proc.count("backend-transition", backend="web1") == transitions
    assert proc.events("vpp-lbsync")[writes:] == []  # no weight toggled, nothing flushed
    assert weights_in_vpp(client) == in_vpp(client, backends, 100, 100, 0)
