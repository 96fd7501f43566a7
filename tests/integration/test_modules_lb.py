"""maglev.vpp.lb end to end: real ansible-playbook processes against a real vppsim.

VPP's state is always read back independently of the module, with the core client on its own
connection (``VppLbClient.dump``) and the raw ``show lb vips verbose`` text.
"""

from __future__ import annotations

import copy
import os
import re

import pytest
from ansible_runner_helpers import (
    lb_api_of,
    lb_task,
    normalize_config,
    screen_recap,
    seen_on,
    snapshot,
    vips_of,
    vpp_cli,
    vpp_client,
)
from vpp_under_test import restart_vpp, send_flows, table_owners

V4 = "192.0.2.1/32 tcp/80"
V6 = "2001:db8::10/128"
ALT = "192.0.2.2/32 tcp/80"
FOREIGN = "203.0.113.5/32"
WEB1, WEB2, DR1, WEB6 = "198.51.100.11", "198.51.100.12", "198.51.100.21", "2001:db8:1::11"
CONF = ("192.0.2.254", "2001:db8::fe", 1024, 40)
VPP_DEFAULT_CONF = ("255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1024, 40)

BASE = {
    "conf": {
        "ip4_src_address": "192.0.2.254",
        "ip6_src_address": "2001:db8::fe",
        "sticky_buckets_per_core": 1024,
        "flow_timeout": 40,
    },
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
            "encap": "gre4",
            "src_ip_sticky": True,
            "new_flows_table_length": 1024,
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

# What VPP must hold for BASE with no agent: every backend up, so the primary pool is active
# and dr1 (the standby fallback pool) is programmed at weight 0.
BASE_VIPS = {
    V4: {
        "encap": "gre4",
        "src_ip_sticky": True,
        "new_flows_table_length": 1024,
        "ases": {WEB1: 100, WEB2: 50, DR1: 0},
    },
    V6: {"encap": "gre6", "src_ip_sticky": False, "new_flows_table_length": 512, "ases": {WEB6: 100}},
}
BASE_SUMMARY = {"conf": CONF, "vips": BASE_VIPS}

# The same state, written with VPP's own CLI (independent of the modules and of the planner).
BASE_CLI = (
    "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe buckets 1024 timeout 40",
    "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024 src_ip_sticky",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB1} weight 100",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB2} weight 50",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {DR1} weight 0",
    "lb vip 2001:db8::10/128 encap gre6 new_len 512",
    f"lb as 2001:db8::10/128 {WEB6} weight 100",
)
FOREIGN_CLI = (
    f"lb vip {FOREIGN} encap gre4 new_len 64",
    f"lb as {FOREIGN} 198.51.100.99 weight 100",
)
# VIPs of the other encaps, for the readers (gathered, parsed, facts).
EXTRA_CLI = (
    "lb vip 192.0.2.16/28 encap l3dsr dscp 10 new_len 256",
    f"lb as 192.0.2.16/28 {WEB1} weight 20",
    "lb vip 192.0.2.40/32 protocol udp port 53 encap nat4 type clusterip target_port 5353 new_len 128",
    f"lb as 192.0.2.40/32 protocol udp port 53 {WEB2} weight 100",
)
EXTRA_VIPS = {
    "192.0.2.16/28": {"encap": "l3dsr", "src_ip_sticky": False, "new_flows_table_length": 256, "ases": {WEB1: 20}},
    "192.0.2.40/32 udp/53": {
        "encap": "nat4",
        "src_ip_sticky": False,
        "new_flows_table_length": 128,
        "ases": {WEB2: 100},
    },
}
FOREIGN_VIP = {"encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 64, "ases": {"198.51.100.99": 100}}


def base() -> dict:
    return copy.deepcopy(BASE)


STATE_MAX_AGE = 900


def write_health(path, **backends):
    """The agent's published health view, written with the agent's own writer."""
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.agent_state import write_agent_state

    write_agent_state(str(path), backends)
    assert os.path.exists(path)


def assert_recap(run, changed, failures=0):
    """Both readings of the PLAY RECAP: the callback's counters and the screen text."""
    assert run.recap_for()["changed"] == changed, run.explain()
    assert run.recap_for()["failures"] == failures, run.explain()
    screen = screen_recap(run.stdout)["localhost"]
    assert (screen["changed"], screen["failed"]) == (changed, failures), run.explain()


# -- create, rerun, check mode, diff, rendered -------------------------------------------------


def test_check_mode_predicts_create_from_empty_then_rerun_is_a_noop(sim, runner):
    empty = snapshot(sim)
    assert empty.state.vips == {}

    check = runner.playbook([lb_task(sim, base())], check=True, diff=True)
    assert check.ok, check.explain()
    predicted = check.only()
    assert predicted.changed
    assert_recap(check, changed=1)
    after_check = snapshot(sim)
    assert after_check.verbose == empty.verbose
    assert after_check.summary == empty.summary  # conf untouched too
    assert predicted["commands"], predicted.result
    assert vips_of(predicted["after"]) == seen_on(sim, BASE_VIPS)
    assert vips_of(predicted["before"]) == {}
    assert all(r["created"] for r in predicted["blast_radius"]), predicted["blast_radius"]

    real = runner.playbook([lb_task(sim, base())])
    assert real.ok, real.explain()
    applied = real.only()
    assert applied.changed
    assert applied["commands"] == predicted["commands"]
    assert_recap(real, changed=1)
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)
    assert vips_of(applied["after"]) == seen_on(sim, BASE_VIPS)
    assert vips_of(applied["before"]) == {}

    rerun = runner.playbook([lb_task(sim, base())])
    assert rerun.ok, rerun.explain()
    assert not rerun.only().changed
    assert rerun.only()["commands"] == []
    assert rerun.only()["blast_radius"] == []
    assert "after" not in rerun.only().result  # resource-module convention: after only with a change
    assert_recap(rerun, changed=0)
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)
    # What the check run and the real run said VPP would hold is what the rerun found there.
    assert rerun.only()["before"] == applied["after"] == predicted["after"]


def test_diff_shows_state_before_and_after_a_weight_change(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    config = base()
    config["frontends"]["www-v4"]["pools"][0]["backends"]["web2"]["weight"] = 30
    before = snapshot(sim)

    run = runner.playbook([lb_task(sim, config)], check=True, diff=True)
    assert run.ok, run.explain()
    result = run.only()
    assert snapshot(sim).verbose == before.verbose
    if lb_api_of(sim) == "1.1.0":
        # No AS weights: 50 -> 30 is no change VPP can make, so none is planned, with a warning.
        assert not result.changed and result["commands"] == [], result.result
        assert any("unequal AS weights" in w and WEB2 in w and "cannot honour" in w for w in result.warnings)
        return
    assert result.changed
    # The diff is of the state (before/after), not of the ops.
    diff = result["diff"]
    assert vips_of(diff["before"])[V4]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 50, DR1: 0})
    assert vips_of(diff["after"])[V4]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 30, DR1: 0})
    assert f"--- before: LB state of VPP at {sim.api_socket}" in run.stdout, run.explain()
    assert f"+++ after: LB state of VPP at {sim.api_socket}" in run.stdout, run.explain()
    lines = run.stdout.splitlines()
    removed = [line for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line for line in lines if line.startswith("+") and not line.startswith("+++")]
    changed_lines = [re.sub(r"\s+", " ", line) for line in removed + added]
    assert changed_lines == [f'- "{WEB2}": 50,', f'+ "{WEB2}": 30,'], run.stdout
    assert "lb as" not in run.stdout  # no ops in the screen output


def test_check_mode_predicts_an_update_and_blast_radius(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    config = base()
    pools = config["frontends"]["www-v4"]["pools"]
    pools[0]["backends"]["web2"]["weight"] = 100  # weight change 50 -> 100
    config["frontends"]["www-v6"]["pools"][0]["backends"] = {"web6": {}, "web7": {"weight": 20}}
    config["backends"]["web7"] = {"address": "2001:db8:1::12"}
    before = snapshot(sim)
    v6_table_before = sim_table(sim, "2001:db8::10/128")

    check = runner.playbook([lb_task(sim, config)], check=True)
    assert check.ok, check.explain()
    predicted = check.only()
    assert snapshot(sim).verbose == before.verbose
    commands = predicted["commands"]
    if lb_api_of(sim) == "1.1.0":
        # No weights: web2 50 -> 100 changes nothing VPP holds; web7 is added without a weight.
        assert commands == ["lb as 2001:db8::10/128 2001:db8:1::12"], commands
    else:
        assert len(commands) == 2, commands
        assert f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB2} weight 100" in commands, commands
        assert "lb as 2001:db8::10/128 2001:db8:1::12 weight 20" in commands, commands

    # Blast radius of the weight change: each AS's share of the new-flow table before and after.
    [radius] = [r for r in predicted["blast_radius"] if r["vip"] == V4] or [None]
    if lb_api_of(sim) == "1.1.0":
        assert radius is None  # nothing changes on that VIP
        radius = {"after": _vpp_shares(before, V4)}
    else:
        assert radius["before"] == _vpp_shares(before, V4)  # what VPP's buckets are now
        assert radius["after"][DR1] == 0.0
    assert radius["after"][WEB1] == radius["after"][WEB2] == 0.5

    real = runner.playbook([lb_task(sim, config)])
    assert real.ok, real.explain()
    assert real.only()["commands"] == commands
    after = snapshot(sim)
    assert after.summary["vips"][V4]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 100, DR1: 0})
    assert after.summary["vips"][V6]["ases"] == seen_on(sim, {WEB6: 100, "2001:db8:1::12": 20})
    assert radius["after"] == _vpp_shares(after, V4)  # the prediction held
    # The exact blast radius: the buckets check mode said would move are the ones that moved
    # (where the table can be read bucket by bucket: vppsim).
    v6_table_after = sim_table(sim, "2001:db8::10/128")
    [v6_radius] = [r for r in predicted["blast_radius"] if r["vip"] == V6]
    if v6_table_before is None:
        assert v6_radius["moved_buckets"] > 0
        return
    moved = sum(1 for x, y in zip(v6_table_before, v6_table_after, strict=True) if x != y)
    assert v6_radius["moved_buckets"] == moved and moved > 0
    assert v6_radius["moved_share"] == round(moved / len(v6_table_after), 4)
    assert v6_radius["summary"].endswith(f"{moved / len(v6_table_after) * 100:.2f}".rstrip("0").rstrip(".")
                                         + "% of new flows move to another AS")


def sim_table(sim, prefix):
    """The VIP's new-flow table as vppsim holds it (``sim buckets``), None on a real VPP."""
    return table_owners(sim, lambda command: vpp_cli(sim, command)[0], prefix)


def _vpp_shares(snap, vip):
    """Each AS's share of the VIP's new-flow table, from the bucket counts VPP reports."""
    [state] = [v for k, v in snap.state.vips.items() if str(k) == vip]
    length = state.spec.new_flows_table_length
    return {address: round(a.num_buckets / length, 4) for address, a in state.ases.items()}


def test_rendered_needs_no_vpp_and_matches_a_real_run(sim, runner, tmp_path):
    missing = str(tmp_path / "no-vpp" / "api.sock")
    task = lb_task(sim, base(), state="rendered", api_socket=missing, lb_api_version=lb_api_of(sim))
    run = runner.playbook([task])
    assert run.ok, run.explain()
    rendered = run.only()
    assert not rendered.changed
    lines = rendered["rendered"]
    assert isinstance(lines, list) and lines, rendered.result

    real = runner.playbook([lb_task(sim, base())])
    assert real.ok, real.explain()
    # From an empty VPP, a real run does exactly what rendered printed.
    assert real.only()["commands"] == lines
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)


# -- the states ------------------------------------------------------------------------------


def test_merged_keeps_foreign_vips_and_overridden_removes_them(sim, runner):
    vpp_cli(sim, *FOREIGN_CLI)

    merged = runner.playbook([lb_task(sim, base(), state="merged")])
    assert merged.ok, merged.explain()
    assert merged.only().changed
    assert snapshot(sim).summary["vips"] == seen_on(sim, dict(BASE_VIPS, **{FOREIGN: FOREIGN_VIP}))
    assert not any(FOREIGN in c for c in merged.only()["commands"])

    overridden = runner.playbook([lb_task(sim, base(), state="overridden")], diff=True)
    assert overridden.ok, overridden.explain()
    result = overridden.only()
    assert result.changed
    # Only the foreign VIP goes: its AS with flush, then the VIP.
    assert all(FOREIGN in c for c in result["commands"]), result["commands"]
    assert any("198.51.100.99" in c and "del" in c and "flush" in c for c in result["commands"])
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)

    again = runner.playbook([lb_task(sim, base(), state="overridden")])
    assert again.ok and not again.only().changed, again.explain()
    assert_recap(again, changed=0)


def test_replaced_makes_listed_frontends_exact_and_leaves_the_rest(sim, runner):
    vpp_cli(sim, *BASE_CLI, *FOREIGN_CLI)
    config = base()
    del config["frontends"]["www-v6"]
    # www-v4 now lists only web1: replaced removes web2 and dr1 from it.
    config["frontends"]["www-v4"]["pools"] = [{"name": "primary", "backends": {"web1": {"weight": 80}}}]

    merged = runner.playbook([lb_task(sim, config, state="merged")])
    assert merged.ok, merged.explain()
    # merged only adds and updates: web2 and dr1 stay on the VIP with their weights.
    if lb_api_of(sim) == "1.1.0":
        assert merged.only()["commands"] == []  # no weights: web1 at 80 is web1 present
    else:
        assert merged.only()["commands"] == [f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB1} weight 80"]
    assert snapshot(sim).summary["vips"][V4]["ases"] == seen_on(sim, {WEB1: 80, WEB2: 50, DR1: 0})

    run = runner.playbook([lb_task(sim, config, state="replaced")])
    assert run.ok, run.explain()
    assert run.only().changed
    vips = snapshot(sim).summary["vips"]
    assert vips[V4]["ases"] == seen_on(sim, {WEB1: 80})
    assert vips[V6] == seen_on(sim, BASE_VIPS[V6])  # not listed: untouched
    assert vips[FOREIGN] == seen_on(sim, FOREIGN_VIP)  # foreign: untouched
    gone = (WEB2,) if lb_api_of(sim) == "1.1.0" else (WEB2, DR1)  # 1.1.0: the weight-0 dr1 is no AS
    assert run.only()["commands"] == [f"lb as 192.0.2.1/32 protocol tcp port 80 {a} del flush" for a in gone]
    assert run.only()["reasons"] == ["not desired"] * len(gone)

    again = runner.playbook([lb_task(sim, config, state="replaced")])
    assert again.ok and not again.only().changed, again.explain()


def test_deleted_removes_only_the_listed_frontends(sim, runner):
    vpp_cli(sim, *BASE_CLI, *FOREIGN_CLI)
    config = base()
    del config["frontends"]["www-v4"]

    run = runner.playbook([lb_task(sim, config, state="deleted")])
    assert run.ok, run.explain()
    assert run.only().changed
    vips = snapshot(sim).summary["vips"]
    assert V6 not in vips
    assert vips[V4] == seen_on(sim, BASE_VIPS[V4])
    assert vips[FOREIGN] == seen_on(sim, FOREIGN_VIP)

    again = runner.playbook(
        [
            lb_task(sim, config, state="deleted", name="again"),
            lb_task(sim, state="deleted", name="everything"),
        ]
    )
    assert again.ok, again.explain()
    assert not again.task("again").changed
    assert again.task("again")["commands"] == []
    everything = again.task("everything")
    assert everything.changed
    assert {r["vip"] for r in everything["blast_radius"] if r["deleted"]} == {V4, FOREIGN}
    left = snapshot(sim).summary
    assert left["vips"] == {}
    assert left["conf"] == seen_on(sim, CONF)  # deleted never touches lb_conf


def test_gathered_and_parsed_read_what_vpp_holds(sim, runner):
    vpp_cli(sim, *BASE_CLI, *EXTRA_CLI)
    before = snapshot(sim)
    assert before.summary["vips"] == seen_on(sim, dict(BASE_VIPS, **EXTRA_VIPS))
    text = before.verbose

    run = runner.playbook(
        [
            lb_task(sim, state="gathered", name="gathered"),
            lb_task(sim, state="parsed", name="parsed", running_config=text),
        ]
    )
    assert run.ok, run.explain()
    gathered = run.task("gathered")
    parsed = run.task("parsed")
    assert not gathered.changed and not parsed.changed
    assert normalize_config(gathered["gathered"]) == seen_on(sim, dict(BASE_VIPS, **EXTRA_VIPS))
    # LB API 1.1.0 cannot read back the bucket count and timeout: gathered leaves conf out.
    assert gathered["gathered"].get("conf") == (None if lb_api_of(sim) == "1.1.0" else BASE["conf"])
    assert gathered.warnings == []
    frontends = gathered["gathered"]["frontends"].values()
    [dsr] = [f for f in frontends if f["prefix"] == "192.0.2.16/28"]
    [nat] = [f for f in frontends if f["prefix"] == "192.0.2.40/32"]
    assert (dsr["encap"], dsr["dscp"]) == ("l3dsr", 10)
    assert (nat["encap"], nat["protocol"], nat["port"], nat["srv_type"], nat["target_port"]) == (
        "nat4", "udp", 53, "clusterip", 5353,
    )
    # `show lb vips verbose` has no lb_conf; everything else is in the text, named the same way.
    assert "conf" not in parsed["parsed"]
    assert parsed["parsed"] == {k: v for k, v in gathered["gathered"].items() if k != "conf"}
    assert snapshot(sim).verbose == text


def test_parsed_needs_no_vpp(runner, tmp_path):
    text = (
        " ip4-gre4 [1] 192.0.2.1/32 src_ip_sticky\n"
        "  new_size:1024\n"
        "  protocol:6 port:80\n"
        "  counters:\n"
        "    packet from existing sessions: 0\n"
        "    first session packet: 0\n"
        "    untracked packet: 0\n"
        "    no server configured: 0\n"
        "  #as:2\n"
        f"    {WEB1} weight:100 buckets:674 flows:0 dpo:9 used\n"
        f"    {WEB2} weight:50 buckets:350 flows:0 dpo:10 used\n"
        "\n"
    )

    class Nowhere:
        api_socket = str(tmp_path / "none" / "api.sock")
        stats_socket = str(tmp_path / "none" / "stats.sock")

    garbage = lb_task(Nowhere, state="parsed", running_config="vpp# show lb vips verbose\n", name="garbage")
    garbage["ignore_errors"] = True
    run = runner.playbook([lb_task(Nowhere, state="parsed", running_config=text, name="parsed"), garbage])
    assert run.returncode == 0, run.explain()
    parsed = run.task("parsed")
    assert not parsed.failed and not parsed.changed, parsed.result
    assert normalize_config(parsed["parsed"]) == {
        V4: {"encap": "gre4", "src_ip_sticky": True, "new_flows_table_length": 1024, "ases": {WEB1: 100, WEB2: 50}}
    }
    assert set(parsed["parsed"]["backends"]) == {WEB1, WEB2}  # named after their addresses
    # Text that is not `show lb vips verbose` output fails, naming the option and the line.
    failed = run.task("garbage")
    assert failed.failed and "running_config" in failed.msg and "line 1" in failed.msg, failed.msg


# -- recreate --------------------------------------------------------------------------------


def test_sticky_flip_recreates_the_vip_with_a_warning(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    old = snapshot(sim)
    config = base()
    config["frontends"]["www-v4"]["src_ip_sticky"] = False

    run = runner.playbook([lb_task(sim, config)])
    assert run.ok, run.explain()
    result = run.only()
    assert result.changed
    assert any("src_ip_sticky" in w for w in result.warnings), result.result
    assert any("www-v4" in w or "192.0.2.1/32" in w for w in result.warnings), result.warnings
    recreated = [c for c, r in zip(result["commands"], result["reasons"], strict=True)
                 if r == "recreate: src_ip_sticky changed"]
    assert "lb vip 192.0.2.1/32 protocol tcp port 80 del" in recreated, result.result
    assert "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024" in recreated, result.result
    new = snapshot(sim)
    assert new.summary["vips"][V4] == seen_on(sim, dict(BASE_VIPS[V4], src_ip_sticky=False))
    assert new.summary["vips"][V6] == seen_on(sim, BASE_VIPS[V6])
    assert new.index_of(V4) != old.index_of(V4)
    assert new.index_of(V6) == old.index_of(V6)
    header = re.search(r"^ ip4-gre4 \[(\d+)\] 192\.0\.2\.1/32( src_ip_sticky)?$", new.verbose, re.M)
    assert header and header.group(2) is None and int(header.group(1)) == new.index_of(V4), new.verbose
    [radius] = result["blast_radius"]
    assert (radius["vip"], radius["recreate"], radius["changed_fields"]) == (V4, True, ["src_ip_sticky"])

    # The old VIP lingers in VPP as "removed" until its GC; a rerun must not see it.
    rerun = runner.playbook([lb_task(sim, config)])
    assert rerun.ok, rerun.explain()
    assert rerun.only()["commands"] == []
    # 1.1.0 warns that it cannot honour www-v4's unequal weights, on every run; nothing else.
    # 1.1.0 also cannot report the given conf numbers, which a rerun does not send: it says so.
    # (Every run also says that no agent view is used: the config has health checks, no agent runs.)
    others = [w for w in rerun.only().warnings if "health view is not used" not in w]
    assert all("unequal AS weights" in w or "cannot report conf" in w for w in others), others
    assert bool(others) == (lb_api_of(sim) == "1.1.0")
    assert_recap(rerun, changed=0)


# -- bad inputs and a missing VPP ------------------------------------------------------------


def _bad_prefix(config):
    config["frontends"]["www-v4"]["prefix"] = "192.0.2.1/24"
    return "frontends.www-v4.prefix", "192.0.2.0/24"


def _family_mismatch(config):
    config["frontends"]["www-v6"]["pools"][0]["backends"]["web1"] = {}
    return "frontends.www-v6.encap", "web1 is IPv4"


def _table_not_power_of_two(config):
    config["frontends"]["www-v4"]["new_flows_table_length"] = 1000
    return "frontends.www-v4.new_flows_table_length", "1000 is not a power of two"


def _unknown_backend(config):
    config["frontends"]["www-v4"]["pools"][1]["backends"]["web9"] = {}
    return "frontends.www-v4.pools[1].backends.web9", "no such backend"


def _duplicate_vip(config):
    config["frontends"]["www-dup"] = copy.deepcopy(config["frontends"]["www-v4"])
    return "frontends.www-dup", "same VIP"


def _blocked_by_a_vip_that_stays(config):
    # Valid on its own, but VPP keeps www-v4 (not declared, so merged leaves it) on that prefix,
    # and VPP refuses an all-port VIP next to a per-port one.
    www = config["frontends"].pop("www-v4")
    www.pop("protocol")
    www.pop("port")
    config["frontends"]["www-all"] = www
    return "cannot add VIP 192.0.2.1/32", "VPP already has VIP 192.0.2.1/32 tcp/80"


BAD_INPUTS = [
    _bad_prefix,
    _family_mismatch,
    _table_not_power_of_two,
    _unknown_backend,
    _duplicate_vip,
    _blocked_by_a_vip_that_stays,
]


def test_bad_inputs_fail_with_the_path_and_leave_vpp_untouched(sim, runner):
    vpp_cli(sim, *BASE_CLI)
    before = snapshot(sim)
    tasks, expected = [], {}
    for make_bad in BAD_INPUTS:
        config = base()
        # Something valid would change too, so a partial apply would show in VPP.
        config["frontends"]["www-v4"]["pools"][0]["backends"]["web2"]["weight"] = 10
        path, detail = make_bad(config)
        name = make_bad.__name__.strip("_")
        expected[name] = (path, detail)
        task = lb_task(sim, config, name=name)
        task["ignore_errors"] = True
        tasks.append(task)

    run = runner.playbook(tasks)
    assert len(run.tasks) == len(BAD_INPUTS), run.explain()
    for name, (path, detail) in expected.items():
        result = run.task(name)
        assert result.failed, (name, result.result)
        assert path in result.msg and detail in result.msg, (name, result.msg)
        assert not result.changed, (name, result.result)
    assert run.recap_for()["ignored"] == len(BAD_INPUTS)
    after = snapshot(sim)
    assert after.verbose == before.verbose
    assert after.summary == before.summary == seen_on(sim, BASE_SUMMARY)


def test_validation_reports_every_problem_at_once(sim, runner):
    config = base()
    _bad_prefix(config)
    _table_not_power_of_two(config)
    run = runner.playbook([lb_task(sim, config)])
    result = run.only()
    assert result.failed
    assert "frontends.www-v4.prefix" in result.msg and "frontends.www-v4.new_flows_table_length" in result.msg
    assert snapshot(sim).state.vips == {}


def test_vpp_down_fails_naming_the_socket(sim, runner, tmp_path):
    missing = str(tmp_path / "gone" / "api.sock")
    run = runner.playbook([lb_task(sim, base(), api_socket=missing)])
    result = run.only()
    assert result.failed, result.result
    assert missing in result.msg, result.msg
    assert "Traceback" not in result.msg
    assert run.returncode != 0
    assert_recap(run, changed=0, failures=1)


@pytest.mark.simulator(reason="stalls VPP with `sim fault stall`")
def test_hung_vpp_fails_within_the_timeout(sim, runner):
    vpp_cli(sim, "sim fault stall 3000")
    run = runner.playbook([lb_task(sim, base(), timeout=1)])
    result = run.only()
    assert result.failed, result.result
    assert sim.api_socket in result.msg and "1.0s" in result.msg, result.msg
    assert_recap(run, changed=0, failures=1)


# -- VPP restarts ----------------------------------------------------------------------------


def test_next_run_after_a_vpp_restart_restores_everything(sim, runner):
    first = runner.playbook([lb_task(sim, base())])
    assert first.ok, first.explain()
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)

    with vpp_client(sim) as client:
        restart_vpp(sim, client)
    lost = snapshot(sim)
    assert lost.state.vips == {}
    assert lost.summary["conf"] == seen_on(sim, VPP_DEFAULT_CONF)

    second = runner.playbook([lb_task(sim, base())])
    assert second.ok, second.explain()
    assert second.only().changed
    assert second.only()["commands"] == first.only()["commands"]
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)


# -- health-aware weights --------------------------------------------------------------------


def _health_config():
    config = base()
    # A second frontend sharing web2, but letting flows drain when a backend goes down.
    config["frontends"]["www-alt"] = {
        "prefix": "192.0.2.2/32",
        "protocol": "tcp",
        "port": 80,
        "flush_on_down": False,
        "pools": [{"name": "main", "backends": {"web1": {"weight": 10}, "web2": {}}}],
    }
    return config


def test_down_backend_gets_weight_zero_stays_there_and_remembers_its_weight(sim, runner, tmp_path):
    # The test writes the state file once per step, where a live agent rewrites it every 10 s: on a
    # loaded machine several playbook runs outlast the default max_age of 30 s.
    health = tmp_path / "agent-state.json"
    write_health(health, web1="up", web2="up")
    config = _health_config()

    created = runner.playbook([lb_task(sim, config, agent_state=health, agent_state_max_age=STATE_MAX_AGE)])
    assert created.ok, created.explain()
    assert snapshot(sim).summary["vips"][V4]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 50, DR1: 0})
    with vpp_client(sim) as client:
        send_flows(sim, client, "192.0.2.1/32", "tcp", 80, flows=400, seed=1)
        send_flows(sim, client, "192.0.2.2/32", "tcp", 80, flows=400, seed=2)
    flowing = snapshot(sim)
    assert flowing.flows(V4)[WEB2] > 0 and flowing.flows(ALT)[WEB2] > 0

    # The agent says web2 is down: weight 0, flushed where flush_on_down (the default) says so.
    write_health(health, web1="up", web2="down")
    down = runner.playbook([lb_task(sim, config, agent_state=health, agent_state_max_age=STATE_MAX_AGE)])
    assert down.ok, down.explain()
    # LB API 1.1.0 has no weight 0: the AS is removed instead, with the same flush decision.
    legacy = lb_api_of(sim) == "1.1.0"
    drained = "del" if legacy else "weight 0"
    assert down.only()["commands"] == [
        f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB2} {drained} flush",
        f"lb as 192.0.2.2/32 protocol tcp port 80 {WEB2} {drained}",
    ]
    state = snapshot(sim)
    assert state.summary["vips"][V4]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 0, DR1: 0})
    assert state.summary["vips"][ALT]["ases"] == seen_on(sim, {WEB1: 10, WEB2: 0})
    flows = state.removed_flows if legacy else state.flows  # 1.1.0 lists a deleted AS as removed
    assert flows(V4)[WEB2] == 0  # flushed
    assert flows(ALT)[WEB2] == flowing.flows(ALT)[WEB2]  # drains

    rerun = runner.playbook([lb_task(sim, config, agent_state=health, agent_state_max_age=STATE_MAX_AGE)])
    assert rerun.ok, rerun.explain()
    assert rerun.only()["commands"] == []
    assert_recap(rerun, changed=0)
    assert snapshot(sim).summary == state.summary

    # New configured weights: applied at once for healthy web1, remembered for down web2.
    config["frontends"]["www-v4"]["pools"][0]["backends"] = {"web1": {"weight": 70}, "web2": {"weight": 30}}
    changed = runner.playbook([lb_task(sim, config, agent_state=health, agent_state_max_age=STATE_MAX_AGE)])
    assert changed.ok, changed.explain()
    # 1.1.0: web1 stays present, so nothing to do there.
    expected = [] if legacy else [f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB1} weight 70"]
    assert changed.only()["commands"] == expected
    assert snapshot(sim).summary["vips"][V4]["ases"] == seen_on(sim, {WEB1: 70, WEB2: 0, DR1: 0})

    write_health(health, web1="up", web2="up")
    back = runner.playbook([lb_task(sim, config, agent_state=health, agent_state_max_age=STATE_MAX_AGE)])
    assert back.ok, back.explain()
    vips = snapshot(sim).summary["vips"]
    assert vips[V4]["ases"] == seen_on(sim, {WEB1: 70, WEB2: 30, DR1: 0})
    assert vips[ALT]["ases"] == seen_on(sim, {WEB1: 10, WEB2: 100})


def test_primary_pool_down_activates_the_fallback_pool(sim, runner, tmp_path):
    health = tmp_path / "agent-state.json"
    write_health(health, web1="down", web2="down")
    run = runner.playbook([lb_task(sim, base(), agent_state=health)])
    assert run.ok, run.explain()
    # dr1 has no healthcheck and no entry in the agent's view: it counts as up.
    assert snapshot(sim).summary["vips"][V4]["ases"] == seen_on(sim, {WEB1: 0, WEB2: 0, DR1: 100})


def test_without_agent_state_every_backend_is_up_and_standby_pools_get_zero(sim, runner, tmp_path):
    # An agent file that is not there: every backend counts as up, the pool rules still apply.
    # (Also: API definitions from a directory instead of from VPP.)
    if not sim.api_dir:
        pytest.skip("needs the VPP's API definitions: set VPP_API_DIR")
    absent = tmp_path / "absent.json"
    run = runner.playbook([lb_task(sim, base(), agent_state=absent, api_dir=sim.api_dir)])
    assert run.ok, run.explain()
    result = run.only()
    assert result["agent"]["used"] is False and str(absent) in result["agent"]["reason"]
    # Health checks configured and no agent view: said in normal output, naming the backends it
    # treats as up (1.1.0 also warns of the weights it cannot honour).
    unseen = [w for w in result.warnings if "health view is not used" in w]
    assert len(unseen) == 1 and unseen[0].endswith("even if they are down: web1, web2"), result.warnings
    assert all("unequal AS weights" in w for w in result.warnings if w not in unseen), result.warnings
    assert result["capabilities"]["transport"] == "sync"
    vips = snapshot(sim).summary["vips"]
    assert vips[V4]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 50, DR1: 0})
    assert vips[V6]["ases"] == seen_on(sim, {WEB6: 100})


# -- partial failures ------------------------------------------------------------------------


@pytest.mark.simulator(reason="makes VPP refuse one op with `sim fault error`")
def test_refused_op_midway_reports_what_was_applied_and_the_next_run_converges(sim, runner):
    # VPP refuses the first AS add (as if the AS already existed). The apply is pipelined: the
    # ops sent in the same window after it ran too, and the result lists exactly what VPP applied.
    legacy = lb_api_of(sim) == "1.1.0"
    vpp_cli(sim, f"sim fault error {'lb_add_del_as' if legacy else 'lb_add_del_as_v2'} -81 count 1")
    failed = runner.playbook([lb_task(sim, base())])
    result = failed.only()
    assert result.failed, result.result
    weight = "" if legacy else " weight 100"
    assert result["failed_command"] == f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB1}{weight}", result.result
    assert result["failed_command"] in result.msg and "-81" in result.msg, result.msg
    assert (result["vpp_retval"], result["vpp_error"]) == (-81, "VALUE_EXIST")
    applied = result["commands_applied"]
    assert applied[:2] == [
        "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe buckets 1024 timeout 40",
        "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024 src_ip_sticky",
    ]
    assert result["failed_command"] not in applied
    assert result.changed
    partial = snapshot(sim).summary
    assert partial["conf"] == seen_on(sim, CONF)
    assert WEB1 not in partial["vips"][V4]["ases"]

    converged = runner.playbook([lb_task(sim, base())])
    assert converged.ok, converged.explain()
    # everything else was applied: the rerun sends the refused op alone
    assert converged.only()["commands"] == [result["failed_command"]]
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)


# -- the agent's view must be fresh ----------------------------------------------------------


def test_stale_agent_state_is_ignored_with_a_warning(sim, runner, tmp_path):
    import time

    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.agent_state import write_agent_state

    health = tmp_path / "agent-state.json"
    write_agent_state(str(health), {"web1": "down", "web2": "down"}, now=time.time() - 600)
    run = runner.playbook([lb_task(sim, base(), agent_state=health, agent_state_max_age=30)])
    assert run.ok, run.explain()
    result = run.only()
    assert result["agent"]["used"] is False
    assert any("agent" in w and "not used" in w for w in result.warnings), result.warnings
    # Every backend counts as up: the primary pool is active, the standby pool at 0.
    assert snapshot(sim).summary["vips"][V4]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 50, DR1: 0})


def test_config_as_json_string_is_the_same_config(sim, runner):
    # docs/modules.md suggests `config: "{{ maglev_lb | ansible.builtin.to_json }}"` for very large states (Ansible
    # templates a string far faster than a big structure); the module must treat it the same.
    as_json = lb_task(sim, "{{ maglev_lb | ansible.builtin.to_json }}", name="lb from JSON text")
    as_json["vars"] = {"maglev_lb": base()}
    first = runner.playbook([as_json])
    assert first.ok, first.explain()
    assert first.only().changed
    assert snapshot(sim).summary == seen_on(sim, BASE_SUMMARY)

    as_structure = lb_task(sim, "{{ maglev_lb }}", name="lb from the structure")
    as_structure["vars"] = {"maglev_lb": base()}
    rerun = runner.playbook([as_structure])
    assert rerun.ok, rerun.explain()
    assert not rerun.only().changed, rerun.only()["commands"]
    assert_recap(rerun, changed=0)
