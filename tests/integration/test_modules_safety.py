"""What a new operator hits (issue 12) and safe module semantics (issue 10), end to end: real
ansible-playbook processes against a real vppsim, VPP read back on its own connection."""

from __future__ import annotations

import copy
import json
import subprocess

from ansible_runner_helpers import (
    BIN_DIR,
    LB,
    LB_FACTS,
    AnsibleRunner,
    facts_task,
    lb_api_of,
    lb_task,
    seen_on,
    snapshot,
    vpp_args,
    vpp_cli,
)
from test_modules_lb import BASE, BASE_CLI, BASE_SUMMARY, BASE_VIPS, CONF, V4, V6, WEB1, WEB2

NEW = "192.0.2.2/32 tcp/80"


def base() -> dict:
    return copy.deepcopy(BASE)


def ignoring_errors(task: dict) -> dict:
    return dict(task, ignore_errors=True)


# -- a partial conf next to live VIPs ------------------------------------------------------------


def _one_gre4_frontend() -> dict:
    # The issue's playbook: an IPv4 source alone, one gre4 frontend; a gre6 VIP is live.
    return {
        "conf": {"ip4_src_address": "10.255.0.1"},
        "backends": {"web1": {"address": WEB1}},
        "frontends": {"new": {"prefix": "192.0.2.2/32", "protocol": "tcp", "port": 80,
                              "pools": [{"name": "p", "backends": {"web1": {}}}]}},
    }


def test_merged_partial_conf_keeps_the_live_gre6_source(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    run = runner.playbook([lb_task(sim, _one_gre4_frontend(), state="merged")])
    assert run.ok, run.explain()
    result = run.only()
    assert result.changed
    state = snapshot(sim).summary
    # ip6_src_address, buckets and timeout keep VPP's live values: the gre6 VIP still tunnels.
    assert state["conf"] == seen_on(sim, ("10.255.0.1", "2001:db8::fe", 1024, 40))
    assert state["vips"][V6] == seen_on(sim, BASE_VIPS[V6])
    assert result["after"]["conf"]["ip6_src_address"] == "2001:db8::fe"


def _timeout_only() -> dict:
    config = _one_gre4_frontend()
    config["conf"] = {"flow_timeout": 60}
    return config


def test_merged_conf_without_the_gre_source_uses_the_live_one(sim, runner):
    vpp_cli(sim, "lb conf ip4-src-address 10.255.0.1")  # VPP already tunnels from a real source
    run = runner.playbook([lb_task(sim, _timeout_only(), state="merged")])
    assert run.ok, run.explain()
    assert snapshot(sim).summary["conf"][0] == "10.255.0.1"


def test_merged_conf_without_any_gre_source_is_refused(sim, runner):
    # A fresh VPP has only the placeholder source: the gre4 VIP would tunnel from 255.255.255.255.
    run = runner.playbook([ignoring_errors(lb_task(sim, _timeout_only(), state="merged"))])
    result = run.only()
    assert result.failed and "gre4 needs an IPv4 source address" in result.msg, result.result
    assert snapshot(sim).state.vips == {}


def test_replaced_partial_conf_that_would_strand_a_live_gre6_vip_is_refused(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    before = snapshot(sim)
    for check in (True, False):
        run = runner.playbook([ignoring_errors(lb_task(sim, _one_gre4_frontend(), state="replaced"))], check=check)
        result = run.only()
        assert result.failed, result.result
        assert "nothing was applied" in result.msg
        assert "gre6 needs an IPv6 source address" in result.msg and V6 in result.msg, result.msg
        assert "conf.ip6_src_address" in result.msg
        assert not result.changed and result.get("after") is None, result.result
    after = snapshot(sim)
    assert after.verbose == before.verbose and after.summary == seen_on(sim, BASE_SUMMARY)


# -- merged: omitted frontend keys keep live values --------------------------------------------


def test_merged_frontend_without_settings_keeps_the_live_vip(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    old = snapshot(sim)
    config = base()
    # Left out: VPP's VIPs have src_ip_sticky true and new_len 512, the defaults are false / 1024.
    del config["frontends"]["www-v4"]["src_ip_sticky"]
    del config["frontends"]["www-v4"]["new_flows_table_length"]
    del config["frontends"]["www-v6"]["new_flows_table_length"]
    del config["frontends"]["www-v6"]["encap"]
    config["frontends"]["www-v6"]["pools"] = []  # no ASes declared: the live gre6 encap stands

    merged = runner.playbook([lb_task(sim, config, state="merged")])
    assert merged.ok, merged.explain()
    result = merged.only()
    assert not result.changed and result["commands"] == [], result.result
    assert not any("recreated" in w for w in result.warnings), result.warnings
    new = snapshot(sim)
    assert new.summary == seen_on(sim, BASE_SUMMARY)
    assert (new.index_of(V4), new.index_of(V6)) == (old.index_of(V4), old.index_of(V6))

    # replaced keeps today's meaning: left out is the default, so both VIPs are recreated.
    replaced = runner.playbook([lb_task(sim, config, state="replaced")], check=True)
    assert replaced.ok, replaced.explain()
    fields = {r["vip"]: r["changed_fields"] for r in replaced.only()["blast_radius"] if r["recreate"]}
    assert fields == {V4: ["src_ip_sticky"], V6: ["encap", "new_flows_table_length"]}, fields


# -- refused plans return no after -------------------------------------------------------------


def test_conflict_refusal_returns_no_predicted_after(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    config = base()
    www = config["frontends"].pop("www-v4")
    del www["protocol"], www["port"]
    config["frontends"]["www-all"] = www  # all-port next to the live per-port VIP: VPP refuses
    for check in (True, False):
        run = runner.playbook([ignoring_errors(lb_task(sim, config))], check=check)
        result = run.only()
        assert result.failed and "nothing was applied" in result.msg, result.result
        assert result.get("after") is None, result.result
        assert "diff" not in result.result
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)


# -- deleted with a config ----------------------------------------------------------------------


def test_deleted_with_a_config_without_frontends_deletes_nothing(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    config = base()
    del config["frontends"]
    run = runner.playbook([
        lb_task(sim, config, state="deleted", name="backends only"),
        lb_task(sim, {}, state="deleted", name="empty config"),
    ])
    assert run.ok, run.explain()
    for name in ("backends only", "empty config"):
        assert not run.task(name).changed and run.task(name)["commands"] == [], run.task(name).result
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)

    everything = runner.playbook([lb_task(sim, state="deleted")])  # config omitted: every VIP
    assert everything.ok and everything.only().changed, everything.explain()
    assert snapshot(sim).summary == seen_on(sim, {"conf": CONF, "vips": {}})


# -- Ansible habits: strings from -e ------------------------------------------------------------


def test_integers_and_booleans_from_extra_vars(sim, runner):
    config = base()
    www = config["frontends"]["www-v4"]
    www["port"] = "{{ port }}"
    www["src_ip_sticky"] = "{{ sticky }}"
    www["new_flows_table_length"] = "{{ table }}"
    www["pools"][0]["backends"]["web2"]["weight"] = "{{ weight }}"
    config["conf"]["flow_timeout"] = "{{ timeout }}"
    extra = ["-e", "port=8080", "-e", "sticky=false", "-e", "table=256", "-e", "weight=30", "-e", "timeout=20"]
    run = runner.playbook([lb_task(sim, config)], extra_args=extra)
    assert run.ok, run.explain()
    vips = snapshot(sim).summary
    assert vips["conf"][3] == (None if lb_api_of(sim) == "1.1.0" else 20)  # 1.1.0 cannot read it back
    assert vips["vips"]["192.0.2.1/32 tcp/8080"] == seen_on(sim, {
        "encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 256,
        "ases": {WEB1: 100, WEB2: 30, "198.51.100.21": 0},
    })

    bad = runner.playbook([ignoring_errors(lb_task(sim, config))], extra_args=extra[:-2] + ["-e", "timeout=20s"])
    assert bad.only().failed
    assert 'conf.flow_timeout: must be an integer, got string "20s"' in bad.only().msg


# -- warnings and hints -------------------------------------------------------------------------


def test_kept_ases_unused_backends_and_misspelled_references(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    config = base()
    config["backends"]["spare"] = {"address": "198.51.100.77"}
    config["frontends"]["www-v4"]["pools"] = [{"name": "primary", "backends": {"web1": {"weight": 100}}}]
    run = runner.playbook([lb_task(sim, config, state="merged")])
    assert run.ok, run.explain()
    warnings = run.only().warnings
    assert "backends.spare: defined but used by no frontend" in warnings, warnings
    assert "backends.dr1: defined but used by no frontend" in warnings, warnings
    [kept] = [w for w in warnings if "keeps" in w]
    assert V4 in kept and WEB2 in kept and "state replaced removes" in kept, kept
    # The standby dr1 is at weight 0: on LB API 1.1.0 that is no AS at all, so nothing to keep.
    assert ("198.51.100.21" in kept) == (lb_api_of(sim) != "1.1.0"), kept

    config["frontends"]["www-v4"]["pools"] = [{"name": "primary", "backends": {"web01": {}}}]
    config["backends"]["web1"]["healthcheck"] = "http80"
    typo = runner.playbook([ignoring_errors(lb_task(sim, config))])
    msg = typo.only().msg
    assert "frontends.www-v4.pools[0].backends.web01: no such backend, did you mean web1" in msg, msg
    assert "backends.web1.healthcheck: no such healthcheck http80, did you mean http-80" in msg, msg


# -- socket paths -------------------------------------------------------------------------------


def test_socket_paths_that_are_not_the_right_socket_are_named(sim, runner, tmp_path):
    vpp_cli(sim, *BASE_CLI)  # lb_facts reads counters only for VIPs that exist
    directory = tmp_path / "run-vpp"
    directory.mkdir()
    run = runner.playbook([
        ignoring_errors(lb_task(sim, base(), name="stats as api", api_socket=sim.stats_socket)),
        ignoring_errors(lb_task(sim, base(), name="directory", api_socket=str(directory))),
        facts_task(sim, name="api as stats", stats_socket=sim.api_socket),
    ])
    stats_as_api = run.task("stats as api")
    assert stats_as_api.failed
    assert f"{sim.stats_socket} is VPP's stats socket, not VPP's API socket" in stats_as_api.msg, stats_as_api.msg
    assert "Protocol wrong type" not in stats_as_api.msg
    assert f"{directory} is a directory, not a socket" in run.task("directory").msg
    api_as_stats = run.task("api as stats")
    assert not api_as_stats.failed, api_as_stats.result
    assert any(f"{sim.api_socket} is VPP's API socket, not VPP's stats socket" in w
               for w in api_as_stats.warnings), api_as_stats.warnings
    assert api_as_stats["ansible_facts"]["maglev_lb_state"]["counters_source"] == "cli"
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)


# -- documentation as ansible-doc shows it ------------------------------------------------------


def _doc(runner: AnsibleRunner, module: str) -> dict:
    env = runner.env(runner.workdir / "doc.jsonl")
    out = subprocess.run([str(BIN_DIR / "ansible-doc"), "--json", module], env=env, capture_output=True,
                         text=True, check=True, timeout=120, stdin=subprocess.DEVNULL).stdout
    return json.loads(out)[module]["doc"]


def test_ansible_doc_shows_config_suboptions_and_options_only_where_they_act(runner):
    lb = _doc(runner, LB)
    config = lb["options"]["config"]["suboptions"]
    assert sorted(config) == ["agent", "backends", "conf", "frontends", "healthchecks"]
    frontends = config["frontends"]["suboptions"]
    assert frontends["encap"]["choices"] == ["gre4", "gre6", "l3dsr", "nat4", "nat6"]
    assert frontends["encap"]["default"] == "gre4"
    assert frontends["pools"]["suboptions"]["backends"]["suboptions"]["weight"]["default"] == 100
    assert "stats_socket" not in lb["options"] and "agent_state" in lb["options"]
    for module in ("maglev.vpp.lb_conf", "maglev.vpp.lb_vip", "maglev.vpp.lb_as"):
        options = _doc(runner, module)["options"]
        assert not {"stats_socket", "agent_state", "agent_state_max_age"} & set(options), module
    assert {"stats_socket", "agent_state"} <= set(_doc(runner, LB_FACTS)["options"])


def test_small_modules_refuse_options_they_never_read(sim, runner):
    task = {"name": "lb_conf", "maglev.vpp.lb_conf": dict(vpp_args(sim, module="maglev.vpp.lb_conf"),
                                                          flow_timeout=20, stats_socket=sim.stats_socket)}
    run = runner.playbook([ignoring_errors(task)])
    assert run.only().failed and "stats_socket" in run.only().msg, run.only().result
