"""lb_conf, lb_vip and lb_as: their options go through the one maglev_lb validator, and every
problem is reported by option path before VPP is contacted (no VPP runs in unit tests)."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.modules import lb_as, lb_conf, lb_vip


@pytest.fixture
def nowhere(tmp_path):
    return {"api_socket": str(tmp_path / "no-vpp.sock")}


def test_lb_conf_lists_every_problem_by_option(run_module, nowhere):
    failed, result = run_module(lb_conf, dict(nowhere, ip6_src_address="192.0.2.1", sticky_buckets_per_core=1000,
                                              flow_timeout=0))
    assert failed
    assert result["errors"] == [
        "ip6_src_address: 192.0.2.1 is IPv4, expected an IPv6 address",
        "sticky_buckets_per_core: 1000 is not a power of two",
        "flow_timeout: must be between 1 and 86400, got 0",
    ]
    assert nowhere["api_socket"] not in result["msg"]


def test_lb_conf_needs_an_option(run_module, nowhere):
    failed, result = run_module(lb_conf, nowhere)
    assert failed
    assert "one of the following is required" in result["msg"]


def test_lb_conf_valid_input_reaches_for_vpp(run_module, nowhere):
    failed, result = run_module(lb_conf, dict(nowhere, flow_timeout=20))
    assert failed
    assert nowhere["api_socket"] in result["msg"] and "does not exist" in result["msg"]


def test_lb_vip_lists_every_problem_by_option(run_module, nowhere):
    failed, result = run_module(lb_vip, dict(nowhere, prefix="192.0.2.1/24", port=80, encap="nat4", dscp=3,
                                             new_flows_table_length=1000))
    assert failed
    assert result["errors"] == [
        "prefix: 192.0.2.1/24 has host bits set, did you mean 192.0.2.0/24",
        "port: given without protocol: set both for a per-port VIP, neither for an all-port VIP",
        "encap: nat4 needs a per-port VIP (protocol and port); VPP has no all-port NAT",
        "new_flows_table_length: 1000 is not a power of two",
        "dscp: only for encap l3dsr",
    ]
    assert "VPP was not touched" in result["msg"]


def test_lb_vip_absent_still_validates(run_module, nowhere):
    failed, result = run_module(lb_vip, dict(nowhere, prefix="not-an-ip", state="absent"))
    assert failed
    assert result["errors"] == ['prefix: "not-an-ip" is not an IP prefix']


def test_lb_as_lists_every_problem_by_option_path(run_module, nowhere):
    ases = [
        {"address": "10.0.0.1/32", "weight": 150},
        {"address": "2001:db8::1"},
        {"address": "10.0.0.2"},
        {"address": "10.0.0.2", "weight": 5},
    ]
    failed, result = run_module(lb_as, dict(nowhere, prefix="192.0.2.1/32", protocol="udp", ases=ases))
    assert failed
    errors = result["errors"]
    assert "ases[0].address: 10.0.0.1/32 is a prefix, expected a single address" in errors
    assert "ases[0].weight: must be between 0 and 100, got 150" in errors
    assert "ases[3].address: 10.0.0.2 is also the address of ases[2]" in errors
    assert "protocol: given without port: set both for a per-port VIP, neither for an all-port VIP" in errors
    assert any(e.startswith("ases[2].address: is IPv4, but the first valid AS address is IPv6") for e in errors)
    assert not any("as-" in e or "frontends." in e for e in errors), errors


def test_lb_as_needs_an_address_per_entry(run_module, nowhere):
    failed, result = run_module(lb_as, dict(nowhere, prefix="192.0.2.1/32", ases=[{"weight": 10}]))
    assert failed
    assert "address" in result["msg"]


@pytest.mark.parametrize("module", [lb_conf, lb_vip, lb_as])
@pytest.mark.parametrize("option", ["stats_socket", "agent_state", "agent_state_max_age"])
def test_small_modules_take_no_option_they_would_ignore(run_module, nowhere, module, option):
    args = {"lb_conf": {"flow_timeout": 20}, "lb_vip": {"prefix": "192.0.2.1/32"},
            "lb_as": {"prefix": "192.0.2.1/32"}}[module.__name__.rsplit(".", 1)[-1]]
    value = 5 if option == "agent_state_max_age" else "/run/x"
    failed, result = run_module(module, dict(nowhere, **args, **{option: value}))
    assert failed
    assert "Unsupported parameters" in result["msg"] and option in result["msg"]
