"""maglev.vpp.lb states that need no VPP: rendered, parsed, and every input check that must
fail before VPP is contacted. VPP is never reachable here (the sockets point at nothing), so a
test that passes proves the module did not need it."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.agent_state import write_agent_state
from ansible_collections.maglev.vpp.plugins.modules import lb

WEB1, WEB2, DR1, WEB6 = "198.51.100.11", "198.51.100.12", "198.51.100.21", "2001:db8:1::11"

CONFIG = {
    "conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe"},
    "healthchecks": {"http-80": {"type": "http", "port": 80, "path": "/healthz"}},
    "backends": {
        "web1": {"address": WEB1, "healthcheck": "http-80"},
        "web2": {"address": WEB2, "healthcheck": "http-80"},
        "dr1": {"address": DR1},
        "web6": {"address": WEB6},
    },
    "frontends": {
        "www-v4": {
            "prefix": "192.0.2.1/32",
            "protocol": "tcp",
            "port": 80,
            "src_ip_sticky": True,
            "pools": [
                {"name": "primary", "backends": {"web1": {"weight": 100}, "web2": {"weight": 50}}},
                {"name": "fallback", "backends": {"dr1": {}}},
            ],
        },
        "www-v6": {
            "prefix": "2001:db8::10/128",
            "encap": "gre6",
            "new_flows_table_length": 512,
            "pools": [{"name": "main", "backends": {"web6": {}}}],
        },
    },
}

RENDERED = [
    "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe buckets 1024 timeout 40",
    "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024 src_ip_sticky",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB1} weight 100",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB2} weight 50",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {DR1} weight 0",
    "lb vip 2001:db8::10/128 encap gre6 new_len 512",
    f"lb as 2001:db8::10/128 {WEB6} weight 100",
]
REASONS = ["conf: ip4_src_address, ip6_src_address changed"] + ["new VIP for www-v4"] * 4 + ["new VIP for www-v6"] * 2
# LB API 1.1.0: no weights, so no `weight` keyword and the weight-0 backend is left out.
RENDERED_1_1_0 = [
    RENDERED[0], RENDERED[1],
    f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB1}",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB2}",
    RENDERED[5],
    f"lb as 2001:db8::10/128 {WEB6}",
]

COUNTERS = (
    "  counters:\n    packet from existing sessions: 7\n    first session packet: 3\n"
    "    untracked packet: 0\n    no server configured: 0\n"
)
# `show lb vips verbose` of VPP master (LB API 1.2.0) holding CONFIG with every backend up.
VERBOSE = (
    " ip4-gre4 [1] 192.0.2.1/32 src_ip_sticky\n  new_size:1024\n  protocol:6 port:80\n" + COUNTERS
    + f"  #as:3\n    {WEB1} weight:100 buckets:674 flows:2 dpo:10 used\n"
    f"    {WEB2} weight:50 buckets:350 flows:1 dpo:11 used\n"
    f"    {DR1} weight:0 buckets:0 flows:0 dpo:12 used\n"
    f"    198.51.100.99 weight:100 buckets:0 flows:0 dpo:13  removed\n\n"
    " ip6-gre6 [2] 2001:db8::10/128\n  new_size:512\n" + COUNTERS
    + f"  #as:1\n    {WEB6} weight:100 buckets:512 flows:0 dpo:14 used\n\n"
)
# VPP releases up to 26.06 (LB API 1.1.0): no weights in the AS lines.
VERBOSE_V1 = (
    " ip4-gre4 [1] 192.0.2.10/32\n  new_size:1024\n" + COUNTERS
    + "  #as:2\n    10.0.0.1 512 buckets   0 flows  dpo:10 used\n"
    "    10.0.0.2 512 buckets   0 flows  dpo:11 used\n\n"
)


@pytest.fixture
def nowhere(tmp_path):
    """Connection options that reach no VPP and no agent."""
    return {
        "api_socket": str(tmp_path / "no-vpp" / "api.sock"),
        "agent_state": str(tmp_path / "no-agent.json"),
    }


def config():
    return copy.deepcopy(CONFIG)


# -- rendered --------------------------------------------------------------------------------


def test_rendered_lists_the_commands_from_a_fresh_vpp(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, config=config(), state="rendered"))
    assert not failed, result
    assert result["changed"] is False
    assert result["rendered"] == RENDERED
    assert result["reasons"] == REASONS
    assert "commands" not in result and "before" not in result


def test_rendered_for_lb_api_1_1_0_has_no_weights(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, config=config(), state="rendered", lb_api_version="1.1.0"))
    assert not failed, result
    assert result["rendered"] == RENDERED_1_1_0
    assert result["reasons"] == [REASONS[0]] + ["new VIP for www-v4"] * 3 + ["new VIP for www-v6"] * 2


def test_lb_api_version_is_only_for_rendered(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, config=config(), state="merged", lb_api_version="1.1.0"))
    assert failed and "lb_api_version: not used with state merged" in result["msg"], result


def test_rendered_reports_the_blast_radius_of_building_each_vip(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, config=config(), state="rendered"))
    assert not failed, result
    v4, v6 = result["blast_radius"]
    assert v4["vip"] == "192.0.2.1/32 tcp/80" and v4["created"] and v4["before"] == {}
    # VPP's bucket formula: 150 replicas over 1024 buckets -> 674 / 350 / 0.
    assert v4["after"] == {WEB1: round(674 / 1024, 4), WEB2: round(350 / 1024, 4), DR1: 0.0}
    assert v4["moved_share"] == 1.0 and v4["recreate"] is False
    assert v6["after"] == {WEB6: 1.0} and v6["table_length"] == 512


def test_rendered_ignores_the_agent_and_leaves_default_conf_alone(run_module, nowhere, tmp_path):
    health = tmp_path / "agent.json"
    write_agent_state(str(health), {"web1": "down", "web2": "up"})
    cfg = config()
    cfg["conf"] = {"ip4_src_address": "255.255.255.255", "ip6_src_address": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}
    cfg["frontends"]["www-v6"]["encap"] = "gre6"
    failed, result = run_module(lb, dict(nowhere, config=cfg, state="rendered", agent_state=str(health)))
    assert not failed, result
    # lb_conf equal to VPP's defaults: nothing to push; web1 keeps weight 100 despite the agent.
    assert result["rendered"] == RENDERED[1:]


def test_rendered_needs_config(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, state="rendered"))
    assert failed
    assert "config" in result["msg"]


# -- parsed ----------------------------------------------------------------------------------


def test_parsed_turns_show_lb_vips_verbose_into_maglev_lb(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, running_config=VERBOSE, state="parsed"))
    assert not failed, result
    assert result["changed"] is False
    parsed = result["parsed"]
    assert schema.validate(parsed) == []
    assert "conf" not in parsed  # not part of `show lb vips verbose`
    v4 = parsed["frontends"]["192.0.2.1_32-tcp-80"]
    assert (v4["prefix"], v4["protocol"], v4["port"], v4["encap"]) == ("192.0.2.1/32", "tcp", 80, "gre4")
    assert v4["src_ip_sticky"] is True and v4["new_flows_table_length"] == 1024
    # The removed AS (waiting for VPP's GC) is not part of the state.
    members = {WEB1: {"weight": 100}, WEB2: {"weight": 50}, DR1: {"weight": 0}}
    assert v4["pools"] == [{"name": "default", "backends": members}]
    v6 = parsed["frontends"]["2001-db8--10_128"]
    assert v6["encap"] == "gre6" and v6["new_flows_table_length"] == 512
    assert parsed["backends"]["2001-db8-1--11"] == {"address": WEB6}


def test_parsed_understands_lb_api_1_1_0_without_weights(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, running_config=VERBOSE_V1, state="parsed"))
    assert not failed, result
    [frontend] = result["parsed"]["frontends"].values()
    assert frontend["pools"][0]["backends"] == {"10.0.0.1": {"weight": 100}, "10.0.0.2": {"weight": 100}}


def test_parsed_refuses_other_text_naming_the_line(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, running_config="lb_main ip4-src-address: 1.2.3.4\n",
                                         state="parsed"))
    assert failed
    assert result["errors"] == ["running_config: line 1: text before the first VIP header: "
                                "'lb_main ip4-src-address: 1.2.3.4'"]
    assert result["changed"] is False


def test_parsed_refuses_config(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, running_config=VERBOSE, config=config(), state="parsed"))
    assert failed
    assert "config: not used with state parsed" in result["msg"]


# -- input validation before VPP -------------------------------------------------------------


@pytest.mark.parametrize("state", ["merged", "replaced", "overridden", "deleted", "rendered"])
def test_invalid_config_fails_listing_every_problem_by_path(run_module, nowhere, state):
    cfg = config()
    cfg["frontends"]["www-v4"]["prefix"] = "192.0.2.1/24"
    cfg["frontends"]["www-v4"]["new_flows_table_length"] = 1000
    cfg["frontends"]["www-v6"]["pools"][0]["backends"]["web1"] = {}
    cfg["frontends"]["www-v4"]["pools"][1]["backends"]["web9"] = {}
    cfg["backends"]["web2"]["adress"] = "x"
    failed, result = run_module(lb, dict(nowhere, config=cfg, state=state))
    assert failed
    assert result["changed"] is False
    expected = {
        "frontends.www-v4.prefix": "192.0.2.1/24 has host bits set, did you mean 192.0.2.0/24",
        "frontends.www-v4.new_flows_table_length": "1000 is not a power of two",
        "frontends.www-v6.encap": "gre6 needs IPv6 backends, web1 is IPv4",
        "frontends.www-v4.pools[1].backends.web9": "no such backend, did you mean web6",
        "backends.web2.adress": "unknown key, did you mean address",
    }
    for path, detail in expected.items():
        assert f"{path}: {detail}" in result["errors"], (path, result["errors"])
        assert f"{path}: {detail}" in result["msg"]
    assert "VPP was not touched" in result["msg"]
    # VPP was never contacted: the unreachable socket appears nowhere.
    assert nowhere["api_socket"] not in result["msg"]


def test_bad_options_and_bad_config_are_reported_together(run_module, nowhere):
    cfg = config()
    cfg["frontends"]["www-v4"]["port"] = "80/tcp"
    failed, result = run_module(lb, dict(nowhere, config=cfg, timeout=0, agent_state_max_age=-1))
    assert failed
    assert result["errors"] == [
        "timeout: must be a positive number of seconds, got 0.0",
        "agent_state_max_age: must not be negative, got -1.0",
        'frontends.www-v4.port: must be an integer, got string "80/tcp"',
    ]


def test_config_must_be_a_mapping(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, config="maglev_lb"))
    assert failed
    assert "dict" in result["msg"]


@pytest.mark.parametrize("state", ["merged", "replaced", "overridden"])
def test_states_that_change_vpp_need_config(run_module, nowhere, state):
    failed, result = run_module(lb, dict(nowhere, state=state))
    assert failed
    assert "config" in result["msg"] and state in result["msg"]


def test_unknown_state_is_refused(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, config=config(), state="present"))
    assert failed
    assert "state" in result["msg"] and "merged" in result["msg"]


def test_gathered_refuses_config(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, config=config(), state="gathered"))
    assert failed
    assert result["errors"] == ["config: not used with state gathered"]


def test_running_config_only_for_parsed(run_module, nowhere):
    failed, result = run_module(lb, dict(nowhere, config=config(), running_config=VERBOSE, state="merged"))
    assert failed
    assert "mutually exclusive" in result["msg"] or "not used with state merged" in result["msg"]
