"""The status API's pure parts: the event-stream filter and the JSON views of a snapshot."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from ansible_collections.maglev.vpp.agent import api, api_views, web
from ansible_collections.maglev.vpp.agent.health import BackendHealthView, ProbeResult, Transition
from ansible_collections.maglev.vpp.agent.snapshot import AgentSnapshot, FrontendView, MemberView
from ansible_collections.maglev.vpp.agent.vppsync import CountersSnapshot, VppInfo
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import maglev_table, model, weights
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.schema import parse_config

LB = parse_config({
    "healthchecks": {"h": {"type": "http", "port": 80, "path": "/healthz"}},
    "backends": {
        "web1": {"address": "10.0.0.1", "healthcheck": "h"},
        "web2": {"address": "10.0.0.2", "healthcheck": "h", "enabled": False},
    },
    "frontends": {"www": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80,
                          "pools": [{"name": "primary", "backends": {"web1": {}, "web2": {"weight": 40}}}]}},
})
KEY = model.VipKey("192.0.2.1/32", 6, 80)


def view(name, state, since=100.0):
    return BackendHealthView(name=name, state=state, counter=2, rise=2, fall=2, since=since,
                             last_result=ProbeResult(True, "L7OK", "HTTP 200", since, 0.001),
                             history=(Transition("unknown", state, since, "L7OK", "HTTP 200"),), rejected=0)


SNAP = AgentSnapshot(
    at=200.0, started_at=50.0, warmup="done",
    backends=MappingProxyType({"web1": view("web1", "up"), "web2": view("web2", "up", 90.0)}),
    frontends=MappingProxyType({"www": FrontendView(
        name="www", vip=KEY, spec=model.VipSpec(), state="up", active_pool="primary", flush_on_down=True,
        released=True, members=(
            MemberView("web1", "10.0.0.1", "primary", 100, 100, False, "up", buckets=1024),
            MemberView("web2", "10.0.0.2", "primary", 40, 0, True, "disabled"),
        ))}),
    vpp=VppInfo(connected=True, version="26.06", pid=7, boottime=10.0, connected_since=60.0, lb_api_version="1.2.0",
                api_socket="/run/vpp/api.sock"),
    lb_state=model.LbState(conf=model.LbConf(), vips={
        KEY: model.VipState(KEY, ases={"10.0.0.1": model.AsState("10.0.0.1", 100, num_buckets=1024, flows=3)},
                            index=0),
        model.VipKey("203.0.113.9/32"): model.VipState(model.VipKey("203.0.113.9/32"), index=1),
    }),
    counters=CountersSnapshot(at=199.0, boottime=10.0, vips=MappingProxyType({
        KEY: model.VipCounters(first_packets=5, next_packets=7)})),
    mutations=MappingProxyType({("all", "as_added"): 2, ("vip", "as_weight_updated"): 1}),
    config_loaded_at=55.0, states=MappingProxyType({"web2": "disabled"}),
)


@pytest.mark.parametrize("query, expected", [
    ({}, (True, True, None)),
    ({"backend": "true"}, (True, False, None)),
    ({"frontend": "1"}, (False, True, None)),
    ({"log": "yes"}, (False, False, "info")),
    ({"log_level": "debug"}, (False, False, "debug")),
    ({"backend": "true", "log_level": "warning"}, (True, False, "warning")),
    ({"backend": "false"}, (False, False, None)),  # named: exactly what is named
    ({"backend": "", "frontend": "on"}, (True, True, None)),  # ?backend&frontend=on
    ({"log": "true", "log_level": "error"}, (False, False, "error")),
])
def test_stream_filter(query, expected):
    assert api._stream_filter(query) == expected


@pytest.mark.parametrize("query, message", [
    ({"backend": "maybe"}, "query parameter backend: expected true or false, got 'maybe'"),
    ({"log_level": "loud"}, "query parameter log_level: expected one of debug, info, warning, error, got 'loud'"),
    ({"log": "false", "log_level": "info"}, "query parameter log_level needs log=true"),
])
def test_stream_filter_errors(query, message):
    with pytest.raises(api.ApiError) as caught:
        api._stream_filter(query)
    assert (caught.value.status, caught.value.message) == (400, message)


def test_frontend_view_groups_members_by_pool():
    doc = api_views.frontend(SNAP.frontends["www"], LB)
    assert (doc["prefix"], doc["protocol"], doc["port"], doc["vip"]) == ("192.0.2.1/32", "tcp", 80,
                                                                         "192.0.2.1/32 tcp/80")
    assert "dscp" not in doc and "srv_type" not in doc  # gre4: no l3dsr/nat fields
    [pool] = doc["pools"]
    assert pool["name"] == "primary"
    assert [(m["backend"], m["configured_weight"], m["effective_weight"], m["buckets"]) for m in pool["members"]] == [
        ("web1", 100, 100, 1024), ("web2", 40, 0, None)]


def test_backend_view_applies_enabled_false():
    web2 = api_views.backend(SNAP.backends["web2"], LB, SNAP)
    assert (web2["state"], web2["health_state"], web2["enabled"]) == ("disabled", "up", False)
    assert web2["address"] == "10.0.0.2" and web2["frontends"] == ["www"]
    assert web2["history"] == [{"from": "unknown", "to": "up", "at": 90.0, "code": "L7OK", "detail": "HTTP 200"}]


def test_initial_events_are_from_equals_to():
    events = api_views.initial_events(SNAP, LB, True, True)
    assert [(e["type"], e.get("backend") or e.get("frontend"), e["from"], e["to"]) for e in events] == [
        ("backend", "web1", "up", "up"), ("backend", "web2", "disabled", "disabled"), ("frontend", "www", "up", "up")]
    assert all(e["snapshot"] for e in events)
    assert api_views.initial_events(SNAP, LB, False, True)[0]["type"] == "frontend"
    assert api_views.initial_events(SNAP, LB, False, False) == []


def test_lb_state_lists_foreign_vips_too():
    doc = api_views.lb_state(SNAP.lb_state, LB)
    assert [(v["vip"], v["frontend"], v["index"]) for v in doc["vips"]] == [
        ("192.0.2.1/32 tcp/80", "www", 0), ("203.0.113.9/32", None, 1)]
    assert doc["vips"][1]["protocol"] == "any"
    assert doc["vips"][0]["ases"] == [{"address": "10.0.0.1", "weight": 100, "buckets": 1024, "flows": 3}]


def test_counters_and_vpp_info():
    doc = api_views.counters(SNAP, LB)
    assert doc["at"] == 199.0
    assert [(v["frontend"], v["first_packets"], v["next_packets"], v["route_packets"]) for v in doc["vips"]] == [
        ("www", 5, 7, None)]
    info = api_views.vpp_info(SNAP.vpp, SNAP, 150.0, 0)
    assert info["mutations"] == {"all": {"as_added": 2}, "vip": {"as_weight_updated": 1}}
    assert (info["lb_api_version"], info["pid"], info["warmup"]) == ("1.2.0", 7, "done")


def test_healthcheck_view():
    doc = api_views.healthcheck(LB.healthchecks["h"], LB)
    assert (doc["type"], doc["port"], doc["path"], doc["method"]) == ("http", 80, "/healthz", "GET")
    assert doc["backends"] == ["web1", "web2"]
    assert "tls_insecure" not in doc  # https only


def test_frontend_view_carries_the_live_table_digest():
    table = maglev_table.new_flow_table({"10.0.0.1": 100}, 1024)
    assert set(table) == {"10.0.0.1"}
    doc = api_views.frontend(SNAP.frontends["www"], LB, SNAP)
    assert doc["table_digest"] == maglev_table.table_digest(table)
    assert [d["table_digest"] for d in api_views.frontends(SNAP, LB)] == [doc["table_digest"]]
    # Not connected: VPP's table is not known.
    offline = dataclasses.replace(SNAP, vpp=dataclasses.replace(SNAP.vpp, connected=False))
    assert api_views.frontend(SNAP.frontends["www"], LB, offline)["table_digest"] is None
    # On LB API 1.1.0 the table is built with one entry per AS.
    legacy = dataclasses.replace(SNAP, vpp=dataclasses.replace(SNAP.vpp, lb_api_version="1.1.0"))
    assert api_views.frontend(SNAP.frontends["www"], LB, legacy)["table_digest"] == maglev_table.table_digest(
        maglev_table.new_flow_table({"10.0.0.1": 1}, 1024))


def test_warming_the_digests_builds_every_live_vips_table_once():
    key = model.VipKey("198.51.100.200/32")
    weights = {"10.9.0.1": 100, "10.9.0.2": 37}  # a table no other test builds
    snap = dataclasses.replace(SNAP, lb_state=model.LbState(vips={
        key: model.VipState(key, ases={a: model.AsState(a, w) for a, w in weights.items()})}))
    misses = maglev_table._digest_of_inputs.cache_info().misses
    api_views.warm_table_digests(snap)
    assert maglev_table._digest_of_inputs.cache_info().misses == misses + 1
    assert api_views.table_digest(snap, key) == maglev_table.vip_table_digest(weights, 1024)
    assert maglev_table._digest_of_inputs.cache_info().misses == misses + 1  # read from the cache


SPILL_LB = parse_config({
    "backends": {**{f"p{i}": {"address": f"10.0.1.{i}"} for i in range(10)},
                 "s0": {"address": "10.0.2.1"}, "s1": {"address": "10.0.2.2"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "spill": {"overprovisioning": 1.4},
                          "pools": [{"name": "primary", "backends": {f"p{i}": {} for i in range(10)}},
                                    {"name": "secondary", "backends": {"s0": {}, "s1": {}}}]}},
})


# (primaries up, expected primary (healthy_fraction, health, share, spilled), secondary (...))
SPILL_VIEWS = [
    (10, (1.0, 1.0, 1.0, 0.0), (1.0, 1.0, 0.0, 0.0)),
    (3, (0.3, 0.42, 0.42, 0.58), (1.0, 1.0, 0.58, 0.0)),
    (0, (0.0, 0.0, 0.0, 1.0), (1.0, 1.0, 1.0, 0.0)),
]


@pytest.mark.parametrize("up, primary, secondary", SPILL_VIEWS)
def test_frontend_view_shows_each_pools_share_under_spill(up, primary, secondary):
    fe = SPILL_LB.frontends["www"]
    states = {name: ("up" if name.startswith("s") or int(name[1:]) < up else "down") for name in fe.backend_names()}
    view = FrontendView(name="www", vip=fe.key, spec=fe.spec, state="up", active_pool="primary", flush_on_down=True,
                        released=True, members=tuple(
                            MemberView(n, SPILL_LB.backends[n].address, pool.name, 100, 0, False, states[n])
                            for pool in fe.pools for n in pool.members),
                        pools=weights.pool_shares(fe, states), spill=fe.spill)
    doc = api_views.frontend(view, SPILL_LB)
    assert doc["spill"] == {"overprovisioning": 1.4}
    keys = ("healthy_fraction", "health", "share", "spilled")
    assert [(p["name"], *(p[k] for k in keys)) for p in doc["pools"]] == [
        ("primary", *map(pytest.approx, primary)), ("secondary", *map(pytest.approx, secondary))]
    assert [len(p["members"]) for p in doc["pools"]] == [10, 2]


def test_frontend_view_without_spill_says_so():
    doc = api_views.frontend(SNAP.frontends["www"], LB)
    assert doc["spill"] is None
    # A view built without shares (none computed) shows nulls, not invented numbers.
    assert {k: doc["pools"][0][k] for k in ("healthy_fraction", "health", "share", "spilled")} == dict.fromkeys(
        ("healthy_fraction", "health", "share", "spilled"))


# The status page's /state.json: each pool with the /frontends numbers, and pool_split (draw the
# per-pool rows) when spill is on or a fail-back ramp splits new flows; not for all or nothing.
# (spill, primary (healthy_fraction, health, share, spilled), secondary (...), pool_split)
PAGE_POOL_SPLITS = [
    pytest.param(1.4, (0.3, 0.42, 0.42, 0.58), (1.0, 1.0, 0.58, 0.0), True, id="spill"),
    pytest.param(1.4, (1.0, 1.0, 1.0, 0.0), (1.0, 1.0, 0.0, 0.0), True, id="spill-nothing-spilled"),
    pytest.param(None, (1.0, None, 0.4, 0.6), (1.0, None, 0.6, 0.0), True, id="fail-back-ramp"),
    pytest.param(None, (0.5, None, 1.0, 0.0), (1.0, None, 0.0, 0.0), False, id="all-or-nothing"),
]


@pytest.mark.parametrize("spill, primary, secondary, pool_split", PAGE_POOL_SPLITS)
def test_page_state_carries_each_pools_share(spill, primary, secondary, pool_split):
    fe = SPILL_LB.frontends["www"]
    shares = tuple(weights.PoolShare(name, *numbers) for name, numbers in
                   (("primary", primary), ("secondary", secondary)))
    view = FrontendView(name="www", vip=fe.key, spec=fe.spec, state="up", active_pool="primary", flush_on_down=True,
                        released=True, members=tuple(
                            MemberView(n, SPILL_LB.backends[n].address, pool.name, 100, 0, False, "up")
                            for pool in fe.pools for n in pool.members),
                        pools=shares, spill=spill)
    snap = dataclasses.replace(SNAP, frontends=MappingProxyType({"www": view}))
    page = web.state_view(snap, {}, 300.0)["frontends"][0]
    keys = ("healthy_fraction", "health", "share", "spilled")
    assert [(p["name"], *(p[k] for k in keys)) for p in page["pools"]] == [("primary", *primary),
                                                                           ("secondary", *secondary)]
    assert page["spill"] == (None if spill is None else {"overprovisioning": spill})
    assert page["pool_split"] is pool_split
    assert [len(p["members"]) for p in page["pools"]] == [10, 2]
