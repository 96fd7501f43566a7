"""The defects of issue 17 (an independent review of the modules and the core), end to end: real
ansible-playbook processes against a real vppsim of each LB API generation, VPP read back on its
own connection. Each test is named after what the fixed behaviour is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible_runner_helpers import facts_task, lb_api_of, lb_task, seen_on, snapshot, vpp_args, vpp_cli, vpp_client
from vpp_under_test import send_flows

WEB1, WEB2 = "198.51.100.11", "198.51.100.99"
WEB6 = "2001:db8:100::1"
SOURCES = "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe"


def task(sim, module, name=None, **args):
    options = dict(vpp_args(sim, module=f"maglev.vpp.{module}"), **args)
    return {"name": name or module, f"maglev.vpp.{module}": options, "ignore_errors": True}


def failing(task_: dict) -> dict:
    return dict(task_, ignore_errors=True)


# -- 1. a recreate that changes the AS family --------------------------------------------------


FAMILY_CASES = [
    # live VIP (CLI), declared frontend keys, declared backend, live ASes that must go, encap after
    pytest.param(("lb vip 192.0.2.1/32 encap gre4 new_len 1024", f"lb as 192.0.2.1/32 {WEB1} weight 100",
                  f"lb as 192.0.2.1/32 {WEB2} weight 100"), {"encap": "gre6"}, WEB6, [WEB1, WEB2], "gre6",
                 id="gre4-to-gre6"),
    # encap left out: the IPv4 backend cannot go on the live gre6 VIP, so the default gre4 stands
    pytest.param(("lb vip 192.0.2.1/32 encap gre6 new_len 1024", f"lb as 192.0.2.1/32 {WEB6} weight 100"),
                 {}, WEB1, [WEB6], "gre4", id="encap-forced-by-backends"),
]


@pytest.mark.parametrize("live, keys, backend, dropped, encap", FAMILY_CASES)
def test_merged_recreate_to_another_family_drops_the_old_ases_instead_of_emptying_the_vip(
        sim, runner, live, keys, backend, dropped, encap):
    vpp_cli(sim, SOURCES, *live)
    frontend = dict({"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"x": {}}}]}, **keys)
    config = {"backends": {"x": {"address": backend}}, "frontends": {"www": frontend}}
    check = runner.playbook([lb_task(sim, config)], check=True).only()
    run = runner.playbook([lb_task(sim, config), lb_task(sim, config, name="again")])
    assert run.ok, run.explain()
    result = run.task("lb merged")
    for predicted in (check, result):
        # What VPP can hold: the new family's AS only; the old ones are dropped and named.
        assert predicted["after"]["vips"]["192.0.2.1/32"]["ases"] == {backend: 100}, predicted.result
        assert any(", ".join(dropped) in w and "drop" in w for w in predicted.warnings), predicted.warnings
    assert check["commands"] == result["commands"]
    assert not any(f" {address} " in c + " " for c in result["commands"] for address in dropped
                   if not c.endswith("flush")), result["commands"]
    vip = snapshot(sim).summary["vips"]["192.0.2.1/32"]
    assert vip["encap"] == encap and vip["ases"] == seen_on(sim, {backend: 100})
    assert not run.task("again").changed


def test_lb_vip_family_change_drops_the_old_family_ases_and_says_so(sim, runner):
    vpp_cli(sim, SOURCES, "lb vip 192.0.2.1/32 encap gre6 new_len 1024", f"lb as 192.0.2.1/32 {WEB6} weight 100")
    run = runner.playbook([task(sim, "lb_vip", "flip", prefix="192.0.2.1/32", encap="gre4")])
    assert run.ok, run.explain()
    flip = run.task("flip")
    assert not flip.failed and flip["recreated"] is True, flip.result
    assert flip["after"]["ases"] == {}, flip.result
    assert any(f"drops AS {WEB6}" in w and "gre4 takes IPv4 ASes only" in w for w in flip.warnings), flip.warnings
    assert snapshot(sim).summary["vips"]["192.0.2.1/32"]["encap"] == "gre4"


# -- 2. nodeport recreates and ports ---------------------------------------------------------

NODEPORT = {"prefix": "192.0.2.7/32", "protocol": "tcp", "port": 30080, "encap": "nat4", "srv_type": "nodeport",
            "pools": [{"name": "p", "backends": {"w": {}}}]}


def test_nodeport_recreate_is_refused_before_anything_is_sent(sim, runner):
    first = {"backends": {"w": {"address": WEB1}}, "frontends": {"np": dict(NODEPORT)}}
    sticky = {"backends": {"w": {"address": WEB1}}, "frontends": {"np": dict(NODEPORT, src_ip_sticky=True)}}
    assert runner.playbook([lb_task(sim, first)]).ok
    before = snapshot(sim)
    for check in (True, False):
        result = runner.playbook([failing(lb_task(sim, sticky, state="replaced"))], check=check).only()
        assert result.failed and not result.changed, result.result
        assert "cannot recreate nodeport VIP 192.0.2.7/32 tcp/30080" in result.msg, result.msg
        assert "never forgets a nodeport's port" in result.msg
    assert snapshot(sim).verbose == before.verbose


def test_nodeport_add_on_a_port_a_live_nodeport_vip_holds_is_refused(sim, runner):
    other = dict(NODEPORT, prefix="192.0.2.8/32")
    assert runner.playbook([lb_task(sim, {"backends": {"w": {"address": WEB1}}, "frontends": {"np": NODEPORT}})]).ok
    before = snapshot(sim)
    config = {"backends": {"w": {"address": WEB1}}, "frontends": {"np2": other}}
    result = runner.playbook([failing(lb_task(sim, config))]).only()
    assert result.failed and not result.changed, result.result
    assert "cannot add nodeport VIP 192.0.2.8/32 tcp/30080" in result.msg and "192.0.2.7/32 tcp/30080" in result.msg
    assert snapshot(sim).verbose == before.verbose  # no half-created VIP


# -- 3. the all-port NAT crash trigger ---------------------------------------------------------


def test_as_on_a_live_all_port_nat_vip_is_refused_in_every_module(sim, runner):
    vpp_cli(sim, SOURCES, "lb vip 192.0.2.50/32 encap nat4 type clusterip target_port 0 new_len 1024")
    before = snapshot(sim)
    config = {"backends": {"w": {"address": WEB1}},
              "frontends": {"www": {"prefix": "192.0.2.50/32", "pools": [{"name": "p", "backends": {"w": {}}}]}}}
    run = runner.playbook([
        failing(lb_task(sim, config, name="lb")),
        task(sim, "lb_as", "lb_as", prefix="192.0.2.50/32", ases=[{"address": WEB1}]),
    ])
    for name in ("lb", "lb_as"):
        result = run.task(name)
        assert result.failed and not result.changed, result.result
        assert "would crash VPP" in result.msg and "all-port nat4 VIP 192.0.2.50/32" in result.msg, result.msg
    assert snapshot(sim).verbose == before.verbose


@pytest.mark.simulator(reason="a real VPP crashes (SIGSEGV) on this AS add: vppsim refuses it instead")
def test_vppsim_refuses_the_all_port_nat_as_crash_trigger_and_says_so(sim):
    vpp_cli(sim, "lb vip 192.0.2.50/32 encap nat4 type clusterip target_port 0 new_len 1024")
    with pytest.raises(Exception, match="adding an AS to an all-port NAT VIP crashes real VPP"):
        vpp_cli(sim, f"lb as 192.0.2.50/32 {WEB1} weight 100")
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import model
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.errors import VppRetvalError
    from ansible_runner_helpers import vpp_client

    with vpp_client(sim) as client:
        with pytest.raises(VppRetvalError) as refused:
            client.execute(model.Op(model.ADD_AS, vip=model.VipKey("192.0.2.50/32"), address=WEB1, weight=100))
        assert refused.value.retval == -73
        assert client.dump().vips[model.VipKey("192.0.2.50/32")].ases == {}


# -- 4. lb_conf on LB API 1.1.0 -----------------------------------------------------------------


def _sticky_timeout(sim) -> int:
    """The flow timeout of the sticky table VPP creates on the next LB packet (`show lb`)."""
    vpp_cli(sim, "sim traffic 192.0.2.1/32 flows 1")
    text = vpp_cli(sim, "show lb")[0]
    return int(re.search(r"timeout: (\d+)s", text).group(1))


@pytest.mark.simulator
def test_partial_conf_keeps_the_flow_timeout_and_an_explicit_one_is_sent(sim, runner):
    vpp_cli(sim, SOURCES + " timeout 20", "lb vip 192.0.2.1/32 encap gre4 new_len 1024",
            f"lb as 192.0.2.1/32 {WEB1} weight 100")
    config = {"conf": {"ip4_src_address": "192.0.2.99"}, "backends": {"w": {"address": WEB1}},
              "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"w": {}}}]}}}
    run = runner.playbook([lb_task(sim, config), task(sim, "lb_conf", "timeout", flow_timeout=30),
                           task(sim, "lb_conf", "again", flow_timeout=30)])
    assert run.ok, run.explain()
    merged = run.task("lb merged")
    legacy = lb_api_of(sim) == "1.1.0"
    assert merged["commands"] == ["lb conf ip4-src-address 192.0.2.99 ip6-src-address 2001:db8::fe"
                                  + ("" if legacy else " buckets 1024 timeout 20")], merged["commands"]
    timeout, again = run.task("timeout"), run.task("again")
    assert timeout.changed and timeout["commands"][-1].endswith("timeout 30"), timeout.result
    # 1.1.0 cannot report the timeout: sent on every run, with a warning; 1.2.0 verifies it.
    assert again.changed is legacy
    assert any("cannot report conf flow_timeout" in w for w in again.warnings) is legacy, again.warnings
    assert _sticky_timeout(sim) == 30


# -- 5. secrets ----------------------------------------------------------------------------------


def test_health_check_credentials_appear_nowhere_in_output(sim, runner):
    secret = "s3cr3t-t0ken-17"
    config = {
        "conf": {"ip4_src_address": "192.0.2.254"},
        "healthchecks": {"h": {"type": "http", "port": 80, "headers": {"Authorization": f"Bearer {secret}",
                                                                       "X-Api-Key": f"{secret}-key"}}},
        "backends": {"w": {"address": WEB1, "healthcheck": "h"}},
        "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"w": {}}}]}},
    }
    bad = json.loads(json.dumps(config))
    bad["frontends"]["www"]["encap"] = "bogus"  # a failing task prints its arguments too
    run = runner.playbook([dict(lb_task(sim, config), register="r"), failing(lb_task(sim, bad, name="bad"))],
                          extra_args=["-vvv"])
    assert run.task("lb merged").changed and run.task("bad").failed
    everything = run.stdout + run.stderr + json.dumps([t.result for t in run.tasks])
    assert "module_args" in everything  # -vvv shows the invocation: the masking is what hides it
    assert secret not in everything, [line for line in everything.splitlines() if secret in line][:3]


def test_health_check_credentials_stay_out_of_check_diff_facts_and_rendered_output(sim, runner):
    secret, numeric = "s3cr3t-t0ken-23", 904718263550917342  # the second written unquoted: a number
    config = {
        "conf": {"ip4_src_address": "192.0.2.254"},
        "healthchecks": {"h": {"type": "http", "port": 80, "headers": {"Authorization": f"Bearer {secret}",
                                                                       "X-Trace": "public-value"}}},
        "backends": {"w": {"address": WEB1, "healthcheck": "h"}},
        "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"w": {}}}]}},
    }
    numeric_key = json.loads(json.dumps(config))
    numeric_key["healthchecks"]["h"]["headers"]["X-Api-Key"] = numeric  # refused: must be a string
    tasks = [lb_task(sim, config, name="merged"), lb_task(sim, config, state="rendered", name="rendered"),
             lb_task(sim, state="gathered", name="gathered"), facts_task(sim),
             failing(lb_task(sim, numeric_key, name="numeric"))]
    runs = [runner.playbook(tasks, check=True, diff=True, extra_args=["-vvv"]),
            runner.playbook(tasks, diff=True, extra_args=["-vvv"])]
    for run in runs:
        assert run.task("numeric").failed and "X-Api-Key: must be a string" in run.task("numeric").msg
        everything = run.stdout + run.stderr + json.dumps([t.result for t in run.tasks])
        assert "module_args" in everything and "public-value" in everything  # shown, so the search can fail
        for canary in (secret, str(numeric)):
            assert canary not in everything, [line for line in everything.splitlines() if canary in line][:3]
    assert runs[1].task("merged").changed and "diff" in runs[1].task("merged").result


# -- 6. a stale api_dir ------------------------------------------------------------------------


def test_definitions_of_another_generation_are_refused(sim, runner):
    import vppsim

    other = Path(vppsim.__file__).parent / ("api-1.1.0" if lb_api_of(sim) == "1.2.0" else "api")
    result = runner.playbook([failing(lb_task(sim, state="gathered", api_dir=str(other)))]).only()
    if lb_api_of(sim) == "1.2.0":
        # 1.1.0 definitions lack lb_as_set_weight (and more): master used to look like 1.1.0.
        assert result.failed and "do not match VPP" in result.msg and "lb_as_set_weight_" in result.msg, result.msg
    else:
        # Master definitions hold every LB message 1.1.0 serves, CRCs equal: usable, and the
        # generation is what VPP serves, not what the definitions contain.
        assert not result.failed and result["capabilities"]["lb_api_version"] == "1.1.0", result.result


# -- 7. a timed-out change -----------------------------------------------------------------------


@pytest.mark.simulator
def test_a_change_vpp_did_not_answer_in_time_is_reported_as_unknown_and_converges(sim, runner):
    vpp_cli(sim, "sim fault stall 4000 lb_add_del_vip_v2")
    vip = dict(prefix="192.0.2.1/32", protocol="tcp", port=80)
    run = runner.playbook([task(sim, "lb_vip", "stalled", timeout=1, **vip)])
    stalled = run.only()
    assert stalled.failed and stalled.changed, stalled.result
    assert "whether VPP applied it is unknown" in stalled.msg, stalled.msg
    assert stalled["commands_unknown"] == ["lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024"]
    vpp_cli(sim, "sim fault clear")
    again = runner.playbook([task(sim, "lb_vip", "again", **vip)]).only()
    assert not again.failed and not again.changed, again.result  # VPP had created it
    assert "192.0.2.1/32 tcp/80" in snapshot(sim).summary["vips"]


# -- 8. IPv4-compatible IPv6 addresses ----------------------------------------------------------


def test_ipv4_compatible_ipv6_vips_and_backends_are_refused(sim, runner):
    config = {"backends": {"x": {"address": "::a00:1"}},
              "frontends": {"www": {"prefix": "::c000:201/128", "encap": "gre6",
                                    "pools": [{"name": "p", "backends": {"x": {}}}]}}}
    result = runner.playbook([failing(lb_task(sim, config))]).only()
    assert result.failed and "VPP was not touched" in result.msg
    assert "frontends.www.prefix: ::c000:201 is an IPv4-compatible IPv6 address" in result.msg, result.msg
    assert "IPv4 address 192.0.2.1" in result.msg
    assert "backends.x.address: ::a00:1 is an IPv4-compatible IPv6 address" in result.msg
    assert snapshot(sim).state.vips == {}


# -- 9, 11. null and deleted ------------------------------------------------------------------------


def test_null_means_not_set_and_deleted_takes_a_partial_conf(sim, runner):
    vpp_cli(sim, SOURCES, "lb vip 192.0.2.1/32 encap gre4 new_len 512 src_ip_sticky",
            f"lb as 192.0.2.1/32 {WEB1} weight 100")
    frontend = {"prefix": "192.0.2.1/32", "encap": None, "src_ip_sticky": None, "new_flows_table_length": None,
                "flush_on_down": None, "slow_start": None,
                "pools": [{"name": "p", "backends": {"w": {"weight": 100}}}]}
    config = {"conf": {"flow_timeout": None}, "backends": {"w": {"address": WEB1, "enabled": None}},
              "frontends": {"www": frontend}}
    deleted = {"conf": {"flow_timeout": 30}, "backends": {"w": {"address": WEB1}},
               "frontends": {"www": dict(frontend, encap="gre4")}}
    run = runner.playbook([lb_task(sim, config, name="nulls"), lb_task(sim, deleted, state="deleted")])
    assert run.ok, run.explain()
    nulls = run.task("nulls")
    assert not nulls.changed and nulls["commands"] == [], nulls.result  # nulls keep the live VIP
    assert run.task("lb deleted").changed
    assert snapshot(sim).summary["vips"] == {}


# -- also: lb_vip as "ensure present", and the flush CLI ---------------------------------------------


def test_lb_vip_with_only_its_identity_keeps_a_live_vip(sim, runner):
    vpp_cli(sim, SOURCES, "lb vip 192.0.2.1/32 encap gre6 new_len 512 src_ip_sticky",
            f"lb as 192.0.2.1/32 {WEB6} weight 100")
    before = snapshot(sim)
    result = runner.playbook([task(sim, "lb_vip", "ensure", prefix="192.0.2.1/32")]).only()
    assert not result.failed and not result.changed and result["recreated"] is False, result.result
    assert snapshot(sim).verbose == before.verbose


def test_the_weight_0_flush_command_means_the_same_through_the_cli(sim, runner):
    config = {"backends": {"a": {"address": WEB1}, "b": {"address": WEB2, "enabled": False}},
              "frontends": {"www": {"prefix": "192.0.2.1/32",
                                    "pools": [{"name": "p", "backends": {"a": {}, "b": {}}}]}}}
    up = json.loads(json.dumps(config))
    up["backends"]["b"]["enabled"] = True
    assert runner.playbook([lb_task(sim, up)]).ok
    with vpp_client(sim) as client:
        send_flows(sim, client, "192.0.2.1/32", flows=64)
    check = runner.playbook([lb_task(sim, config)], check=True).only()
    # Master keeps a disabled backend at weight 0 and flushes it; 1.1.0 (no weights) deletes it.
    flush = f"lb as 192.0.2.1/32 {WEB2} " + ("del flush" if lb_api_of(sim) == "1.1.0" else "weight 0 flush")
    assert check["commands"] == [flush], check["commands"]
    assert snapshot(sim).flows("192.0.2.1/32")[WEB2] > 0
    with vpp_client(sim) as client:  # the command as VPP's CLI (cli_inband) takes it, as written
        client.cli(flush)
    vip = snapshot(sim)
    assert vip.summary["vips"]["192.0.2.1/32"]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 0})
    flows = {**vip.flows("192.0.2.1/32"), **vip.removed_flows("192.0.2.1/32")}
    assert flows.get(WEB2, 0) == 0  # flushed, as the API call would
    assert not runner.playbook([lb_task(sim, config)]).only().changed
