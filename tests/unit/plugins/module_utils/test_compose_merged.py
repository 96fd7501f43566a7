"""`merged` semantics of compose: what a declaration leaves out keeps its live value; GRE source
addresses against the VIPs after the run; ASes that merged keeps. Pure, table-driven."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import compose, model
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import LbConf, VipSpec

LIVE_CONF = LbConf("10.255.0.1", "2001:db8::fe", 2048, 60)


@pytest.mark.parametrize(
    "declared, given, live, expected",
    [
        # the case: ip4 given alone keeps the live ip6 source, buckets and timeout
        (LbConf(ip4_src_address="10.255.0.9"), {"ip4_src_address"}, LIVE_CONF,
         LbConf("10.255.0.9", "2001:db8::fe", 2048, 60)),
        (LbConf(flow_timeout=20), {"flow_timeout"}, LIVE_CONF, LbConf("10.255.0.1", "2001:db8::fe", 2048, 20)),
        # every key given: exactly as declared
        (LbConf("192.0.2.1", "2001:db8::1", 1024, 40), set(compose.CONF_FIELDS), LIVE_CONF,
         LbConf("192.0.2.1", "2001:db8::1", 1024, 40)),
        # LB API 1.1.0 cannot report buckets and timeout: VPP keeps them (the client sends 0xffffffff)
        (LbConf(ip4_src_address="10.255.0.9"), {"ip4_src_address"}, LbConf("10.255.0.1", "2001:db8::fe", None, None),
         LbConf("10.255.0.9", "2001:db8::fe", None, None)),
        # nothing known about VPP: as declared
        (LbConf(ip4_src_address="10.255.0.9"), {"ip4_src_address"}, None, LbConf(ip4_src_address="10.255.0.9")),
    ],
)
def test_merge_live_conf(declared, given, live, expected):
    assert compose.merge_live_conf(declared, given, live) == expected


GRE4 = VipSpec()
STICKY_512 = VipSpec(src_ip_sticky=True, new_flows_table_length=512)
DSR = VipSpec(encap="l3dsr", dscp=10)
NAT = VipSpec(encap="nat4", srv_type="nodeport", target_port=8080)
GRE6 = VipSpec(encap="gre6")


@pytest.mark.parametrize(
    "declared, given, live, families, expected",
    [
        # omitted sticky flag and table length keep the live ones: no recreate
        (GRE4, {"prefix", "pools"}, STICKY_512, {4}, STICKY_512),
        # given ones win
        (VipSpec(src_ip_sticky=False), {"src_ip_sticky"}, STICKY_512, {4},
         VipSpec(src_ip_sticky=False, new_flows_table_length=512)),
        # omitted encap keeps l3dsr and its dscp (same AS family)
        (GRE4, {"pools"}, DSR, {4}, DSR),
        # omitted encap keeps nat4 and its type and target port
        (VipSpec(target_port=0), {"pools"}, NAT, {4}, NAT),
        # encap given l3dsr, dscp omitted: the live dscp
        (VipSpec(encap="l3dsr"), {"encap"}, DSR, {4}, DSR),
        # encap given nat4 on a live gre4 VIP: the declared nat settings (a real change)
        (VipSpec(encap="nat4", target_port=80), {"encap"}, GRE4, {4}, VipSpec(encap="nat4", target_port=80)),
        # encap given gre4 on a live l3dsr VIP: no dscp outside l3dsr
        (GRE4, {"encap"}, DSR, {4}, GRE4),
        # omitted encap on a live gre6 VIP with IPv4 ASes declared: gre6 cannot carry them, default stands
        (GRE4, {"pools"}, GRE6, {4}, GRE4),
        # no ASes declared: the live gre6 fits
        (GRE4, {"pools"}, GRE6, set(), GRE6),
    ],
)
def test_merged_spec(declared, given, live, families, expected):
    assert compose.merged_spec(declared, given, live, families) == expected


KEY = model.VipKey("192.0.2.1/32", 6, 80)
OTHER = model.VipKey("192.0.2.2/32", 6, 80)


def _vip(key, spec=GRE4, ases=(), name=None):
    return model.VipState(key=key, spec=spec, ases={a: model.AsState(a, weight=w) for a, w in ases}, name=name)


def test_merge_live_settings_only_touches_live_vips_with_known_keys():
    want = model.LbState(conf=None, vips={KEY: _vip(KEY, ases=[("198.51.100.1", 100)]), OTHER: _vip(OTHER)})
    actual = model.LbState(vips={KEY: _vip(KEY, STICKY_512)})
    merged = compose.merge_live_settings(want, actual, {KEY: {"prefix", "pools"}, OTHER: {"prefix"}})
    assert merged.vips[KEY].spec == STICKY_512
    assert merged.vips[KEY].ases == want.vips[KEY].ases
    assert merged.vips[OTHER].spec == GRE4  # not in VPP: as declared


def test_kept_ases_lists_live_ases_the_declaration_omits():
    want = model.LbState(vips={KEY: _vip(KEY, ases=[("198.51.100.1", 100)]), OTHER: _vip(OTHER)})
    actual = model.LbState(vips={
        KEY: _vip(KEY, ases=[("198.51.100.10", 5), ("198.51.100.1", 100), ("198.51.100.9", 1)]),
    })
    assert compose.kept_ases(want, actual) == {KEY: ["198.51.100.9", "198.51.100.10"]}


V6 = model.VipKey("2001:db8::10/128")


@pytest.mark.parametrize(
    "conf, vips, expected",
    [
        (LbConf("10.255.0.1", "2001:db8::fe"), [_vip(KEY), _vip(V6, GRE6)], []),
        # the case: ip6 left at the placeholder while a gre6 VIP stays
        (LbConf(ip4_src_address="10.255.0.1"), [_vip(KEY, name="www"), _vip(V6, GRE6)],
         ["gre6 needs an IPv6 source address, but lb_conf's ip6_src_address would be"
          f" {model.DEFAULT_IP6_SRC} (VPP's placeholder) while VIP 2001:db8::10/128 uses gre6:"
          " set conf.ip6_src_address"]),
        (LbConf(ip6_src_address="2001:db8::fe"), [_vip(KEY, name="www")],
         ["gre4 needs an IPv4 source address, but lb_conf's ip4_src_address would be 255.255.255.255"
          " (VPP's placeholder) while VIP 192.0.2.1/32 tcp/80 (frontend www) uses gre4: set conf.ip4_src_address"]),
        # l3dsr and nat do not tunnel: no source address needed
        (LbConf(), [_vip(KEY, DSR), _vip(OTHER, NAT)], []),
        (None, [_vip(KEY)], []),
    ],
)
def test_source_address_problems(conf, vips, expected):
    assert compose.source_address_problems(model.LbState(conf=conf, vips={v.key: v for v in vips})) == expected
