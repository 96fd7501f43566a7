"""Failures that name what failed when VPP cannot be reached (no VPP runs in unit tests)."""

from __future__ import annotations

import socket

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
