"""Issue 18's VPP-side fault scenarios for the modules: VPP restarted in the middle of an `lb`
apply, an API socket the caller may not use, a stats socket that is missing (docs/reliability.md).

Faults are made by the test: vppsim's ``sim fault restart after <n>``, file modes on the socket
(the caller runs without CAP_DAC_OVERRIDE, so root obeys them), the stats socket file moved away.
"""

from __future__ import annotations

import copy
import os

import pytest
from ansible_runner_helpers import NO_DAC_OVERRIDE, facts_task, lb_task, seen_on, snapshot, vpp_cli

BASE = {
    "conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe",
             "sticky_buckets_per_core": 1024, "flow_timeout": 40},
    "backends": {"web1": {"address": "198.51.100.11"}, "web2": {"address": "198.51.100.12"},
                 "web3": {"address": "198.51.100.13"}},
    "frontends": {
        "www": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "encap": "gre4",
                "pools": [{"name": "primary", "backends": {"web1": {"weight": 100}, "web2": {"weight": 50}}}]},
        "api": {"prefix": "192.0.2.2/32", "protocol": "tcp", "port": 443, "encap": "gre4",
                "pools": [{"name": "primary", "backends": {"web2": {"weight": 100}, "web3": {"weight": 100}}}]},
    },
}
SUMMARY = {
    "conf": ("192.0.2.254", "2001:db8::fe", 1024, 40),
    "vips": {
        "192.0.2.1/32 tcp/80": {"encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 1024,
                                "ases": {"198.51.100.11": 100, "198.51.100.12": 50}},
        "192.0.2.2/32 tcp/443": {"encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 1024,
                                 "ases": {"198.51.100.12": 100, "198.51.100.13": 100}},
    },
}


def config() -> dict:
    return copy.deepcopy(BASE)


@pytest.mark.simulator(reason="restarts VPP between two writes of one plan with `sim fault restart after`")
@pytest.mark.parametrize("writes", [1, 3])
def test_vpp_restart_in_the_middle_of_an_apply_is_reported_and_the_rerun_converges(sim, runner, writes):
    plan = runner.playbook([lb_task(sim, config())], check=True)
    assert plan.ok, plan.explain()
    commands = plan.only()["commands"]
    assert len(commands) > writes + 1, commands  # the restart falls inside the plan

    # VPP answers the `writes`-th write, then restarts: everything it had applied is gone, and
    # the requests the module had already sent behind it are dropped unanswered.
    vpp_cli(sim, f"sim fault restart after {writes}")
    broken = runner.playbook([lb_task(sim, config())]).only()
    assert broken.failed, (broken.status, broken.msg)
    assert "lost the connection to VPP" in broken.msg and "did VPP restart?" in broken.msg, broken.msg
    assert "Traceback" not in broken.msg
    applied, unknown = broken["commands_applied"], broken.get("commands_unknown", [])
    not_sent = broken["commands_not_sent"]
    # Exact attribution: VPP answered the first `writes` commands, then went away. A reply still
    # in flight when VPP dropped the connection may never reach the module (as when a real VPP
    # dies): that command counts as in doubt, never as applied. Every command of the plan is
    # applied, in doubt (sent, unanswered) or not sent, in plan order, none lost or doubled.
    assert applied == commands[:len(applied)] and len(applied) <= writes, broken.result
    assert unknown, broken.result  # at least the command in flight when VPP went away
    assert applied + unknown + not_sent == commands, broken.result
    assert broken["failed_command"] == unknown[0]
    assert broken.changed  # VPP did change (then lost it): never report "unchanged" here
    # The restarted VPP holds nothing of this run (a restart drops all LB state).
    assert snapshot(sim).state.vips == {}

    rerun = runner.playbook([lb_task(sim, config())])
    assert rerun.ok, rerun.explain()
    assert rerun.only()["commands"] == commands  # the restarted VPP needs the whole plan again
    assert snapshot(sim).summary == seen_on(sim, SUMMARY)
    again = runner.playbook([lb_task(sim, config())])
    assert again.ok and not again.only().changed, again.explain()


# -- the API socket exists, the caller may not use it ------------------------------------------


@pytest.mark.parametrize("module", ["lb", "lb_facts"])
def test_api_socket_permission_denied_is_a_clear_error_and_changes_nothing(sim, runner, module):
    runner.command_prefix = NO_DAC_OVERRIDE
    task = lb_task(sim, config()) if module == "lb" else facts_task(sim)
    mode = os.stat(sim.api_socket).st_mode
    os.chmod(sim.api_socket, 0)
    try:
        denied = runner.playbook([task]).only()
    finally:
        os.chmod(sim.api_socket, mode)
    assert denied.failed, denied.result
    assert f"permission denied on VPP API socket {sim.api_socket}" in denied.msg, denied.msg
    assert "Traceback" not in denied.msg and "module_stderr" not in denied.result, denied.result
    assert not denied.changed
    assert snapshot(sim).state.vips == {}  # nothing reached VPP

    # Access granted again: the same task, run the same way, works.
    granted = runner.playbook([task])
    assert granted.ok, granted.explain()
    if module == "lb":
        assert snapshot(sim).summary == seen_on(sim, SUMMARY)
    else:
        assert granted.only()["ansible_facts"]["maglev_lb_state"]["vpp"]["api_socket"] == sim.api_socket


# -- the stats socket is missing, the API works -------------------------------------------------


def test_missing_stats_socket_degrades_facts_counters_only(sim, runner):
    pushed = runner.playbook([lb_task(sim, config())])
    assert pushed.ok, pushed.explain()
    moved = sim.stats_socket + ".away"
    os.rename(sim.stats_socket, moved)  # the socket stays bound: renaming it back restores it
    try:
        run = runner.playbook([facts_task(sim), lb_task(sim, config(), name="push again")])
    finally:
        os.rename(moved, sim.stats_socket)
    facts = run.task("lb facts")
    assert not facts.failed, facts.result
    assert any("cannot read counters from VPP's stats segment" in w and sim.stats_socket in w
               for w in facts.warnings), facts.warnings
    state = facts["ansible_facts"]["maglev_lb_state"]
    assert state["counters_source"] == "cli"  # degraded, and said so
    vips = state["vips"]
    assert set(vips) == set(SUMMARY["vips"])
    assert all(v["counters"] is not None for v in vips.values()), vips
    push = run.task("push again")
    assert not push.failed and not push.changed, push.result  # the API side is untouched
    assert snapshot(sim).summary == seen_on(sim, SUMMARY)

    back = runner.playbook([facts_task(sim)]).only()
    assert not back.failed and not back.warnings, back.result
    assert back["ansible_facts"]["maglev_lb_state"]["counters_source"] == "stats"  # counters resume
