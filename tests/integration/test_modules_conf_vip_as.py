"""maglev.vpp.lb_conf, lb_vip and lb_as end to end: real ansible-playbook against a real vppsim.
VPP's state is read back independently with the core client and the raw CLI."""

from __future__ import annotations

from ansible_runner_helpers import lb_api_of, seen_on, snapshot, vpp_args, vpp_cli

V4 = "192.0.2.1/32 tcp/80"
VIP = {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80}
WEB1, WEB2, WEB3 = "198.51.100.11", "198.51.100.12", "198.51.100.13"


def task(sim, module, name=None, **args):
    options = dict(vpp_args(sim, module=f"maglev.vpp.{module}"), **args)
    return {"name": name or module, f"maglev.vpp.{module}": options, "ignore_errors": True}


def test_lb_conf_changes_only_what_is_given_and_reruns_clean(sim, runner):
    run = runner.playbook(
        [
            task(sim, "lb_conf", "set", ip4_src_address="192.0.2.254", flow_timeout=20),
            task(sim, "lb_conf", "again", ip4_src_address="192.0.2.254", flow_timeout=20),
        ],
        diff=True,
    )
    assert run.ok, run.explain()
    first, again = run.task("set"), run.task("again")
    # LB API 1.1.0 cannot read the timeout back: unknown before and after (after is what VPP will
    # report); a given timeout cannot be verified there, so every run sends it, with a warning.
    legacy = lb_api_of(sim) == "1.1.0"
    assert first.changed and again.changed is legacy
    assert again["commands"] == (["lb conf ip4-src-address 192.0.2.254 ip6-src-address"
                                  " ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff timeout 20"] if legacy else [])
    assert first["before"]["flow_timeout"] == (None if legacy else 40)
    assert first["after"]["flow_timeout"] == (None if legacy else 20)
    assert first["after"]["ip4_src_address"] == "192.0.2.254"
    conf = snapshot(sim).summary
    assert conf == seen_on(sim, {"conf": ("192.0.2.254", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1024, 20),
                                 "vips": {}})
    assert run.recap_for()["changed"] == (2 if legacy else 1)


def test_lb_vip_recreate_keeps_ases_and_says_so(sim, runner):
    vpp_cli(sim, "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024",
            f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB1} weight 70")
    before = snapshot(sim)
    check = runner.playbook([task(sim, "lb_vip", src_ip_sticky=True, **VIP)], check=True)
    assert check.ok and check.only()["recreated"] is True, check.explain()
    assert snapshot(sim).verbose == before.verbose

    run = runner.playbook([task(sim, "lb_vip", "flip", src_ip_sticky=True, **VIP),
                           task(sim, "lb_vip", "again", src_ip_sticky=True, **VIP)])
    assert run.ok, run.explain()
    flip = run.task("flip")
    assert flip.changed and flip["recreated"] is True
    assert any("src_ip_sticky" in w and "recreated" in w for w in flip.warnings), flip.warnings
    assert not run.task("again").changed
    vips = snapshot(sim).summary["vips"]
    assert vips[V4]["src_ip_sticky"] is True and vips[V4]["ases"] == seen_on(sim, {WEB1: 70})


def test_lb_vip_refuses_a_conflicting_vip_and_deletes(sim, runner):
    vpp_cli(sim, "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024")
    run = runner.playbook([
        task(sim, "lb_vip", "all-port", prefix="192.0.2.1/32"),
        task(sim, "lb_vip", "absent", state="absent", **VIP),
        task(sim, "lb_vip", "absent again", state="absent", **VIP),
    ])
    blocked = run.task("all-port")
    assert blocked.failed and "VPP would refuse" in blocked.msg and V4 in blocked.msg
    assert run.task("absent").changed and not run.task("absent again").changed
    assert snapshot(sim).state.vips == {}


def test_lb_as_adds_drains_purges_and_removes(sim, runner):
    vpp_cli(sim, "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024")
    two = [{"address": WEB1}, {"address": WEB2, "weight": 50}]
    run = runner.playbook([
        task(sim, "lb_as", "add", ases=two, **VIP),
        task(sim, "lb_as", "again", ases=two, **VIP),
        task(sim, "lb_as", "drain", ases=[{"address": WEB2, "weight": 0}], **VIP),
    ])
    assert run.ok, run.explain()
    assert run.task("add").changed and not run.task("again").changed
    [drain] = run.task("drain")["commands"]
    # Weight 0 drains (no flush): LB API 1.1.0 has no weights, so there the AS goes.
    drained = "del" if lb_api_of(sim) == "1.1.0" else "weight 0"
    assert drain == f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB2} {drained}"
    assert snapshot(sim).summary["vips"][V4]["ases"] == seen_on(sim, {WEB1: 100, WEB2: 0})

    run = runner.playbook([
        task(sim, "lb_as", "purge", ases=[{"address": WEB3}], purge=True, **VIP),
        task(sim, "lb_as", "v6 on gre4", ases=[{"address": "2001:db8::1"}], **VIP),
        task(sim, "lb_as", "remove", ases=[{"address": WEB3}], state="absent", **VIP),
    ])
    assert snapshot(sim).summary["vips"][V4]["ases"] == {}
    purge = run.task("purge")["commands"]
    # The drained WEB2 is still there to purge on master; on 1.1.0 the drain removed it.
    assert sum("del flush" in c for c in purge) == (1 if lb_api_of(sim) == "1.1.0" else 2)
    assert any(WEB3 in c for c in purge)
    wrong = run.task("v6 on gre4")
    assert wrong.failed and "IPv6" in wrong.msg and "gre4" in wrong.msg
    assert run.task("remove").changed


def test_lb_as_needs_the_vip(sim, runner):
    run = runner.playbook([task(sim, "lb_as", ases=[{"address": WEB1}], **VIP)])
    result = run.only()
    assert result.failed and f"VPP has no VIP {V4}" in result.msg
