"""The pure decisions behind issue 17's fixes, as tables: kept ASes of the wrong family, nodeport
recreates, crash triggers, lb_conf numbers VPP cannot report, null, ::/96 and `parsed`."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import cli_parser, compose, planner, redact, schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import served_generation, stale_definitions
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    ADD_AS,
    SET_CONF,
    AsState,
    LbConf,
    LbState,
    Op,
    VipKey,
    VipSpec,
    VipState,
)

KEY = VipKey("192.0.2.1/32")
WEB1, WEB2, WEB6 = "198.51.100.11", "198.51.100.99", "2001:db8:100::1"


def state(spec: VipSpec, *addresses: str, key: VipKey = KEY) -> LbState:
    return LbState(vips={key: VipState(key=key, spec=spec, ases={a: AsState(a) for a in addresses})})


# -- 1. kept ASes and the family of the new encap ----------------------------------------------

KEPT_CASES = [
    # (declared encap, declared ASes, live encap, live ASes) -> (ASes after merge, dropped)
    pytest.param("gre6", (WEB6,), "gre4", (WEB1, WEB2), [WEB6], [WEB1, WEB2], id="gre4-to-gre6"),
    pytest.param("gre4", (), "gre6", (WEB6,), [], [WEB6], id="gre6-to-gre4-no-ases"),
    pytest.param("l3dsr", (), "gre4", (WEB1,), [WEB1], [], id="same-family-kept"),
    pytest.param("gre4", (WEB2,), "gre4", (WEB1,), [WEB1, WEB2], [], id="no-recreate"),
]


@pytest.mark.parametrize("encap, declared, live_encap, live, after, dropped", KEPT_CASES)
def test_merged_keeps_only_live_ases_the_new_encap_can_hold(encap, declared, live_encap, live, after, dropped):
    want, actual = state(VipSpec(encap=encap), *declared), state(VipSpec(encap=live_encap), *live)
    assert list(compose.merge_kept_ases(want, actual).vips[KEY].ases) == after
    assert compose.dropped_ases(want, actual) == ({KEY: dropped} if dropped else {})
    assert WEB6 not in compose.kept_ases(state(VipSpec(), WEB1), state(VipSpec(encap="gre6"), WEB6)).get(KEY, [])


# -- 2. nodeport recreates and ports -----------------------------------------------------------

NP = VipKey("192.0.2.7/32", 6, 30080)
NP_OTHER = VipKey("192.0.2.8/32", 6, 30080)
NODEPORT = VipSpec(encap="nat4", srv_type="nodeport")


@pytest.mark.parametrize("desired, actual, blocked", [
    pytest.param(state(VipSpec(encap="nat4", srv_type="nodeport", src_ip_sticky=True), key=NP),
                 state(NODEPORT, key=NP), "cannot recreate nodeport VIP 192.0.2.7/32 tcp/30080", id="recreate"),
    pytest.param(LbState(vips={**state(NODEPORT, key=NP).vips, **state(NODEPORT, key=NP_OTHER).vips}),
                 state(NODEPORT, key=NP), "cannot add nodeport VIP 192.0.2.8/32 tcp/30080", id="port-held"),
    pytest.param(state(VipSpec(encap="nat4", src_ip_sticky=True), key=NP), state(NODEPORT, key=NP), None,
                 id="nodeport-to-clusterip-is-fine"),
    pytest.param(state(NODEPORT, key=NP_OTHER), LbState(), None, id="new-port"),
])
def test_nodeport_adds_on_a_port_vpp_holds_are_conflicts(desired, actual, blocked):
    found = planner.conflicts(desired, actual)
    if blocked is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(blocked) and "never forgets" in found[0], found


# -- 3. crash triggers -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, key, crashes", [
    pytest.param(VipSpec(encap="nat4"), KEY, True, id="all-port-nat4"),
    pytest.param(VipSpec(encap="nat6"), VipKey("2001:db8::1/128"), True, id="all-port-nat6"),
    pytest.param(VipSpec(encap="nat4"), VipKey("192.0.2.1/32", 6, 80), False, id="per-port-nat4"),
    pytest.param(VipSpec(encap="gre4"), KEY, False, id="all-port-gre4"),
])
def test_an_as_add_on_an_all_port_nat_vip_is_a_crash_trigger(spec, key, crashes):
    desired = state(spec, WEB6 if spec.encap == "nat6" else WEB1, key=key)
    ops = planner.plan(desired, state(spec, key=key))
    assert [op.action for op in ops] == [ADD_AS]
    found = planner.crash_triggers(desired, ops)
    assert bool(found) is crashes and all("crashes VPP" in text for text in found)


def test_a_vip_add_with_table_length_0_is_a_crash_trigger():
    desired = state(VipSpec(new_flows_table_length=0))
    assert "crashes VPP" in planner.crash_triggers(desired, planner.plan(desired, LbState()))[0]


# -- 4. lb_conf numbers VPP cannot report (LB API 1.1.0) -------------------------------------------

LIVE_1_1_0 = LbConf("192.0.2.254", "2001:db8::fe", None, None)


def test_conf_numbers_left_out_are_kept_and_given_ones_are_sent():
    declared = LbConf("192.0.2.99", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1024, 40)
    merged = compose.merge_live_conf(declared, {"ip4_src_address"}, LIVE_1_1_0)
    assert merged == LbConf("192.0.2.99", "2001:db8::fe", None, None)
    op = planner.plan(LbState(conf=merged), LbState(conf=LIVE_1_1_0))[0]
    assert op.describe() == "lb conf ip4-src-address 192.0.2.99 ip6-src-address 2001:db8::fe"  # CLI keeps the rest
    given = compose.merge_live_conf(LbConf(flow_timeout=20), {"flow_timeout"}, LIVE_1_1_0)
    assert given == LbConf("192.0.2.254", "2001:db8::fe", None, 20)
    assert planner.plan(LbState(conf=given), LbState(conf=LIVE_1_1_0)) == []  # the agent's reading
    pushed = planner.plan(LbState(conf=given), LbState(conf=LIVE_1_1_0), push_unreadable_conf=True)
    assert [(op.action, op.describe()) for op in pushed] == [
        (SET_CONF, "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe timeout 20")]
    assert compose.unreadable_conf(given, LIVE_1_1_0) == ["flow_timeout"]
    replaced = compose.merge_live_conf(LbConf("192.0.2.254", "2001:db8::fe"), {"ip4_src_address", "ip6_src_address"},
                                       LIVE_1_1_0, keep_live=False)
    assert replaced.flow_timeout is None and replaced.sticky_buckets_per_core is None


# -- 6. definitions of another VPP -------------------------------------------------------------------


def test_the_generation_comes_from_what_vpp_serves_and_stale_definitions_are_named():
    master = {"lb_conf_1", "lb_as_set_weight_2", "lb_add_del_as_v2_3", "control_ping_4"}
    assert served_generation(master) == "1.2.0"
    assert served_generation({"lb_conf_1", "lb_add_del_as_5"}) == "1.1.0"
    assert stale_definitions(master, {"lb_conf_1", "control_ping_4"}) == ["lb_add_del_as_v2_3", "lb_as_set_weight_2"]
    assert stale_definitions(master, master) == []


# -- 8, 9. the validator: ::/96 and null --------------------------------------------------------------


def _config(prefix="192.0.2.1/32", address=WEB1, **frontend):
    return {"backends": {"x": {"address": address}},
            "frontends": {"www": dict({"prefix": prefix, "pools": [{"name": "p", "backends": {"x": None}}]},
                                      **frontend)}}


@pytest.mark.parametrize("config, problem", [
    pytest.param(_config("::c000:201/128", WEB6, encap="gre6"),
                 "frontends.www.prefix: ::c000:201 is an IPv4-compatible IPv6 address (inside ::/96), which VPP's"
                 " lb plugin takes for the IPv4 address 192.0.2.1, so ::c000:201/128 would become an IPv4 VIP",
                 id="vip"),
    pytest.param(_config("2001:db8::1/128", "::a00:1", encap="gre6"),
                 "backends.x.address: ::a00:1 is an IPv4-compatible IPv6 address (inside ::/96), which VPP's lb"
                 " plugin takes for the IPv4 address 10.0.0.1, not ::a00:1", id="backend"),
])
def test_ipv4_compatible_ipv6_addresses_are_refused(config, problem):
    assert schema.validate(config) == [problem]


def test_short_ipv6_prefixes_starting_with_zeros_stay_ipv6():
    assert schema.validate(_config("::/64", WEB6, encap="gre6")) == []


NULLABLE = [
    ("frontends.www.encap", None), ("frontends.www.src_ip_sticky", None),
    ("frontends.www.new_flows_table_length", None), ("frontends.www.flush_on_down", None),
    ("frontends.www.slow_start", None), ("conf.flow_timeout", None), ("backends.x.enabled", None),
]


@pytest.mark.parametrize("path, value", NULLABLE, ids=[path for path, _value in NULLABLE])
def test_null_means_not_set(path, value):
    config = _config()
    config["conf"] = {"ip4_src_address": "192.0.2.254"}
    without = schema.parse_config(config)
    section, name, key = path.split(".") if path.count(".") == 2 else (*path.split("."), None)
    target = config[section] if key is None else config[section][name]
    target[key or name] = value
    assert schema.parse_config(config) == without


# -- 5. secrets ------------------------------------------------------------------------------------------


def test_credential_header_values_are_secrets():
    config = {"healthchecks": {"h": {"type": "http", "headers": {
        "Authorization": "Bearer abc.def", "X-Api-Key": "k-123", "Cookie": "sid=9", "Accept": "text/plain"}}}}
    assert redact.secret_values(config) == {"Bearer abc.def", "abc.def", "k-123", "sid=9"}
    assert redact.secret_values({"healthchecks": "junk"}) == set()


def test_credential_header_values_written_unquoted_are_secrets_too():
    config = {"healthchecks": {"h": {"type": "http", "headers": {
        "X-Api-Key": 904718263550917342, "X-Token": 12.5, "X-Auth-Enabled": True, "X-Count": 7}}}}
    assert redact.secret_values(config) == {"904718263550917342", "12.5"}


def test_masked_headers_hide_only_credential_values():
    headers = (("Authorization", "Basic abc"), ("X-Trace", "t-1"), ("X-Api-Key", ""))
    assert redact.masked_headers(headers) == [["Authorization", redact.MASK], ["X-Trace", "t-1"], ["X-Api-Key", ""]]


# -- 10. parsed ------------------------------------------------------------------------------------------

YAML_STRIPPED = """ip4-gre4 [1] 192.0.2.1/32
  new_size:1024
  protocol:255 port:0
  counters:
    packet from existing sessions: 0
    first session packet: 0
    untracked packet: 0
    no server configured: 0
  #as:1
    198.51.100.11 weight:100 buckets:1024 flows:0 dpo:11 used
"""


def test_parsed_ignores_indentation_and_fails_cleanly_on_bad_values():
    (vip,) = cli_parser.parse_vips_verbose(YAML_STRIPPED)
    assert (vip.prefix, [a.address for a in vip.ases]) == ("192.0.2.1/32", [WEB1])
    for bad, where in (("192.0.2.1/33", "line 1"), ("192.0.2.1/32", "line 3")):
        text = YAML_STRIPPED.replace("192.0.2.1/32", bad)
        if where == "line 3":
            text = text.replace("protocol:255 port:0", "protocol:6")
        with pytest.raises(cli_parser.CliParseError, match=where):
            cli_parser.parse_vips_verbose(text)


def test_op_without_conf_numbers_renders_without_them():
    op = Op(SET_CONF, conf=LbConf("192.0.2.1", "2001:db8::1", None, 30))
    assert op.describe() == "lb conf ip4-src-address 192.0.2.1 ip6-src-address 2001:db8::1 timeout 30"
