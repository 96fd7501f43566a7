"""Failures that name what failed when VPP cannot be reached (no VPP runs in unit tests)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import traceback

import pytest
from ansible_collections.maglev.vpp.plugins.modules import lb, lb_facts

CONFIG = {
    "conf": {"ip4_src_address": "192.0.2.254"},
    "backends": {"web1": {"address": "198.51.100.11"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"web1": {}}}]}},
}


@pytest.mark.parametrize(
    "module, args",
    [
        (lb, {"config": CONFIG, "state": "merged"}),
        (lb, {"config": CONFIG, "state": "overridden"}),
        (lb, {"state": "deleted"}),
        (lb, {"state": "gathered"}),
        (lb_facts, {}),
        (lb_facts, {"gather_subset": ["conf"]}),
    ],
)
def test_missing_socket_is_named(run_module, tmp_path, module, args):
    path = str(tmp_path / "run" / "vpp" / "api.sock")
    failed, result = run_module(module, dict(args, api_socket=path, agent_state=str(tmp_path / "none.json")))
    assert failed
    assert result["changed"] is False
    assert path in result["msg"]
    assert "does not exist" in result["msg"] and "is VPP running" in result["msg"]


def test_nothing_listening_on_the_socket_is_named(run_module, tmp_path):
    path = str(tmp_path / "api.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.close()  # the socket file stays, nobody listens: what a crashed VPP leaves behind
    failed, result = run_module(lb, dict(config=CONFIG, api_socket=path, timeout=2,
                                         agent_state=str(tmp_path / "none.json")))
    assert failed
    assert path in result["msg"]
    assert "Traceback" not in result["msg"]


def test_check_mode_fails_the_same_way(run_module, tmp_path):
    path = str(tmp_path / "api.sock")
    failed, result = run_module(lb, dict(config=CONFIG, api_socket=path, agent_state=str(tmp_path / "x")),
                                check_mode=True)
    assert failed and path in result["msg"]


NOBODY = 65534


def _listening_socket(directory: str) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.path.join(directory, "api.sock"))
    server.listen(1)
    return server


def _run_as_unprivileged(run_module, args) -> dict:
    """The module's result when run by a user without rights on the socket.

    As root (which bypasses file permissions) the module runs in a forked child that has
    dropped to uid/gid 65534; otherwise in this process, the socket being the caller's own
    with its permissions removed by the test.
    """
    if os.geteuid() != 0:
        failed, result = run_module(lb, args)
        return dict(result, failed=failed)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, run, report, exit without running pytest's teardown
        status = 1
        try:
            os.close(reader)
            # Once as root against a missing socket: the same code path up to the socket check,
            # so everything it imports lazily is loaded before uid 65534 loses access to it
            # (ansible-test runs Ansible from a 0700 temporary directory).
            run_module(lb, dict(args, api_socket="/nonexistent-maglev-vpp/api.sock"))
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            failed, result = run_module(lb, args)
            report = dict(result, failed=failed)
            status = 0
        except BaseException:  # noqa: B036 - whatever happens, the parent must hear of it
            report = {"child_error": traceback.format_exc()}
        finally:
            os.write(writer, json.dumps(report, default=str).encode())
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as stream:
        data = stream.read()
    status = os.waitpid(pid, 0)[1]
    report = json.loads(data) if data else {}
    assert status == 0, f"the unprivileged child failed: {report.get('child_error', report)}"
    return report


def test_socket_permission_is_named(run_module):
    directory = tempfile.mkdtemp(prefix="maglev-perm-")
    try:
        os.chmod(directory, 0o711)  # searchable by anyone, the socket itself is not open to them
        server = _listening_socket(directory)
        path = os.path.join(directory, "api.sock")
        os.chmod(path, 0o600 if os.geteuid() == 0 else 0o000)
        args = dict(config=CONFIG, api_socket=path, timeout=2, agent_state=os.path.join(directory, "none.json"))
        result = _run_as_unprivileged(run_module, args)
        server.close()
    finally:
        shutil.rmtree(directory)
    assert result["failed"] and result["changed"] is False
    assert f"permission denied on VPP API socket {path}" in result["msg"], result["msg"]
    assert "member of the group" in result["msg"]


def test_unsearchable_socket_directory_is_not_reported_as_missing(run_module):
    directory = tempfile.mkdtemp(prefix="maglev-perm-")
    try:
        server = _listening_socket(directory)
        path = os.path.join(directory, "api.sock")
        # As root: root's own 0700 directory, which uid 65534 cannot look into. Otherwise: no
        # search permission even for its owner.
        os.chmod(directory, 0o700 if os.geteuid() == 0 else 0o000)
        args = dict(config=CONFIG, api_socket=path, timeout=2, agent_state="/nonexistent/state.json")
        result = _run_as_unprivileged(run_module, args)
        server.close()
    finally:
        os.chmod(directory, 0o700)
        shutil.rmtree(directory)
    assert result["failed"]
    assert "does not exist" not in result["msg"], result["msg"]
    assert f"permission denied on the way to VPP API socket {path}" in result["msg"]


@pytest.mark.parametrize("kind", ["directory", "regular file"])
def test_api_socket_that_is_no_socket_says_what_it_is(run_module, tmp_path, kind):
    path = tmp_path / "api.sock"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("")
    failed, result = run_module(lb, dict(config=CONFIG, api_socket=str(path), agent_state=str(tmp_path / "none.json")))
    assert failed and result["changed"] is False
    assert f"{path} is a {kind}, not a socket" in result["msg"], result["msg"]
    assert "socksvr" in result["msg"]


def test_stats_socket_given_as_api_socket_is_named(run_module, tmp_path):
    # VPP's stats socket is SOCK_SEQPACKET; its API socket SOCK_STREAM.
    path = str(tmp_path / "stats.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(path)
    server.listen(1)
    try:
        failed, result = run_module(lb, dict(config=CONFIG, api_socket=path, timeout=2,
                                             agent_state=str(tmp_path / "none.json")))
    finally:
        server.close()
    assert failed
    assert f"{path} is VPP's stats socket, not VPP's API socket" in result["msg"], result["msg"]
    assert "Protocol wrong type" not in result["msg"]


def test_stale_api_socket_file_says_nothing_listens(run_module, tmp_path):
    path = str(tmp_path / "api.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.close()
    failed, result = run_module(lb, dict(config=CONFIG, api_socket=path, timeout=2,
                                         agent_state=str(tmp_path / "none.json")))
    assert failed
    assert f"nothing listens on {path} (connection refused)" in result["msg"], result["msg"]
