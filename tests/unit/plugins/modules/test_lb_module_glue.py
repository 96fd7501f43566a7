"""The pure parts of the module glue (plugins/module_utils/lb_module.py): how the states compose
what VPP must hold, what the modules predict as `after`, and the recreate warnings."""

from __future__ import annotations

from ansible_collections.maglev.vpp.plugins.module_utils import lb_results
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast, compose, planner
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    AsState,
    LbConf,
    LbState,
    VipKey,
    VipSpec,
    VipState,
)

V4 = VipKey("192.0.2.1/32", 6, 80)
OTHER = VipKey("192.0.2.9/32")


def vip(key, ases, spec=None, name=None):
    return VipState(key=key, spec=spec or VipSpec(), ases={a: AsState(a, w) for a, w in ases.items()}, name=name)


def state(*vips, conf=None):
    return LbState(conf=conf, vips={v.key: v for v in vips})


def test_merged_keeps_the_ases_a_frontend_does_not_list():
    actual = state(vip(V4, {"10.0.0.1": 100, "10.0.0.9": 30}))
    want = state(vip(V4, {"10.0.0.1": 50, "10.0.0.2": 100}, name="www"))
    merged = compose.merge_kept_ases(want, actual)
    assert {a: s.weight for a, s in merged.vips[V4].ases.items()} == {"10.0.0.1": 50, "10.0.0.2": 100, "10.0.0.9": 30}
    ops = planner.plan(merged, actual)
    assert [op.action for op in ops] == ["add_as", "set_weight"]
    # replaced: the same desired state without merging removes the extra AS
    assert "del_as" in [op.action for op in planner.plan(want, actual)]


def test_merged_recreate_adds_kept_ases_back():
    actual = state(vip(V4, {"10.0.0.9": 30}))
    want = state(vip(V4, {"10.0.0.1": 100}, spec=VipSpec(src_ip_sticky=True)))
    merged = compose.merge_kept_ases(want, actual)
    ops = planner.plan(merged, actual)
    added = [(op.address, op.weight) for op in ops if op.action == "add_as"]
    assert added == [("10.0.0.1", 100), ("10.0.0.9", 30)]


def test_predicted_after_keeps_undeclared_vips_unless_pruned():
    actual = state(vip(V4, {"10.0.0.1": 100}), vip(OTHER, {"10.0.0.5": 100}), conf=LbConf())
    want = state(vip(V4, {"10.0.0.1": 20}), conf=LbConf(ip4_src_address="192.0.2.254"))
    kept = compose.predict_after(want, actual, prune_vips=False, as_weights=True)
    assert set(kept.vips) == {V4, OTHER} and kept.conf.ip4_src_address == "192.0.2.254"
    assert kept.vips[V4].ases["10.0.0.1"].weight == 20
    pruned = compose.predict_after(want, actual, prune_vips=True, as_weights=True)
    assert set(pruned.vips) == {V4}


def test_predicted_after_without_as_weights_drops_weight_zero():
    want = state(vip(V4, {"10.0.0.1": 20, "10.0.0.2": 0}))
    after = compose.predict_after(want, LbState(), prune_vips=False, as_weights=False)
    assert {a: s.weight for a, s in after.vips[V4].ases.items()} == {"10.0.0.1": 100}


def test_predicted_after_is_what_the_plan_produces():
    actual = state(vip(V4, {"10.0.0.1": 100, "10.0.0.3": 100}), vip(OTHER, {"10.0.0.5": 100}))
    want = state(vip(V4, {"10.0.0.1": 20, "10.0.0.2": 100}))
    after = compose.predict_after(want, actual, prune_vips=True, as_weights=True)
    assert planner.plan(after, after, prune_vips=True) == []
    assert planner.plan(want, after, prune_vips=True) == []


def test_deleted_keeps_what_is_not_named():
    actual = state(vip(V4, {"10.0.0.1": 100}), vip(OTHER, {"10.0.0.5": 100}), conf=LbConf())
    want = compose.without_vips(actual, [V4])
    ops = planner.plan(want, actual, prune_vips=True)
    assert [(op.action, op.vip) for op in ops] == [("del_as", V4), ("del_vip", V4)]
    assert ops[0].flush


def test_recreate_warning_names_the_vip_and_the_field():
    actual = state(vip(V4, {"10.0.0.1": 100}, spec=VipSpec(src_ip_sticky=True)))
    want = state(vip(V4, {"10.0.0.1": 100}, spec=VipSpec(src_ip_sticky=False, new_flows_table_length=512),
                     name="www-v4"))
    [warning] = lb_results.recreate_warnings(want, actual, check_mode=True)
    assert warning.startswith("VIP 192.0.2.1/32 tcp/80 (frontend www-v4) would be recreated because"
                              " src_ip_sticky, new_flows_table_length changed")
    assert "src_ip_sticky true -> false" in warning and "new_flows_table_length 1024 -> 512" in warning
    assert "sessions break" in warning
    assert lb_results.recreate_warnings(actual, actual, check_mode=False) == []


def test_blast_text_shows_each_as_share_before_and_after():
    before = state(vip(V4, {"10.0.0.1": 100, "10.0.0.2": 50}))
    after = state(vip(V4, {"10.0.0.1": 100, "10.0.0.2": 100}))
    text = lb_results.blast_text(blast.plan_blast_radius(before, after))
    lines = text.splitlines()
    assert lines[0].startswith("blast radius")
    assert lines[1] == "  192.0.2.1/32 tcp/80: 20.31% of new flows move to another AS"  # exact, not 15.82%
    assert lines[2].split() == ["10.0.0.1", "65.82%", "->", "50%"]
    assert lines[3].split() == ["10.0.0.2", "34.18%", "->", "50%"]
    drained = state(vip(V4, {"10.0.0.1": 0, "10.0.0.2": 0}))
    assert "(dropped: no AS)" in lb_results.blast_text(blast.plan_blast_radius(before, drained))
