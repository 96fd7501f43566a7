"""The exporter: monotonic VIP counters (table-driven) and what one render shows for a snapshot."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from types import MappingProxyType
from typing import Dict, Optional, Tuple

import pytest
from ansible_collections.maglev.vpp.agent.counters import AgentCounters
from ansible_collections.maglev.vpp.agent.exporter import (
    AgentCollector,
    ExportInputs,
    MonotonicCounters,
    encode_text,
    vip_labels,
)
from ansible_collections.maglev.vpp.agent.health import BackendHealthView
from ansible_collections.maglev.vpp.agent.snapshot import AgentSnapshot, FrontendView, MemberView
from ansible_collections.maglev.vpp.agent.vppsync import CountersSnapshot, VppInfo
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import VipCounters, VipKey, VipSpec
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

VIP = VipKey("192.0.2.1/32", 6, 80)
OTHER = VipKey("2001:db8::1/128", 17, 53)
ALL_PORTS = VipKey("198.51.100.0/24")
NOW = 2_000_000.0


def counters_at(boottime: Optional[float], **vips: Tuple[int, Optional[int]]) -> CountersSnapshot:
    """vips: name -> (first packets, route packets); names VIP / OTHER."""
    keys = {"vip": VIP, "other": OTHER}
    return CountersSnapshot(at=NOW, boottime=boottime, vips=MappingProxyType({
        keys[name]: VipCounters(first_packets=first, route_packets=route, route_bytes=None if route is None else route)
        for name, (first, route) in vips.items()
    }))


# (VPP boot time, VPP's value) read in order -> the exported total after each read
MONOTONIC_CASES = [
    ("steady growth", [(1, 10), (1, 20), (1, 20)], [10, 20, 20]),
    ("VPP restarted", [(1, 100), (2, 5)], [100, 105]),
    ("restart, then growth", [(1, 100), (2, 5), (2, 50)], [100, 105, 150]),
    ("restart to a value above the old one", [(1, 100), (2, 150)], [100, 250]),
    ("two restarts", [(1, 100), (2, 50), (3, 10)], [100, 150, 160]),
    ("VIP re-created in the same VPP (value went down)", [(1, 100), (1, 30), (1, 40)], [100, 130, 140]),
    ("back to 0 exactly", [(1, 7), (2, 0), (2, 0)], [7, 7, 7]),
    ("no boot time known", [(None, 10), (None, 4)], [10, 14]),
]


@pytest.mark.parametrize("reads, totals", [c[1:] for c in MONOTONIC_CASES], ids=[c[0] for c in MONOTONIC_CASES])
def test_vip_counters_only_grow(reads, totals):
    tracker = MonotonicCounters()
    seen = []
    for boottime, value in reads:
        tracker.observe(counters_at(boottime, vip=(value, value)))
        seen.append(tracker.totals()[(VIP, "first")])
        assert tracker.totals()[(VIP, "route_packets")] == seen[-1]  # route counters follow the same rule
    assert seen == totals


def test_a_vip_re_created_at_new_indexes_starts_a_new_life_even_above_its_old_value():
    # (pool index, route stats index, first packets, route packets) read in order -> totals
    reads = [(1, 9, 20, 20), (3, 11, 30, 30), (3, 11, 35, 35), (3, 12, 36, 2)]
    totals = [(20, 20), (50, 50), (55, 55), (56, 57)]
    tracker = MonotonicCounters()
    for (pool, route, first, routed), expected in zip(reads, totals, strict=True):
        snapshot = counters_at(1, vip=(first, routed))
        tracker.observe(dataclasses.replace(snapshot, sources={VIP: (pool, route)}))
        got = tracker.totals()
        assert (got[(VIP, "first")], got[(VIP, "route_packets")]) == expected


def test_a_repeated_snapshot_is_counted_once():
    tracker = MonotonicCounters()
    tracker.observe(counters_at(1, vip=(100, None)))
    restarted = counters_at(2, vip=(5, None))
    tracker.observe(restarted)
    tracker.observe(restarted)  # the web server's observer and a scrape saw the same snapshot
    assert tracker.totals()[(VIP, "first")] == 105


def test_a_vip_missing_from_the_first_reads_after_a_restart_still_gets_its_offset():
    tracker = MonotonicCounters()
    tracker.observe(counters_at(1, vip=(100, None), other=(10, None)))
    tracker.observe(counters_at(2, other=(1, None)), keep=frozenset({VIP}))  # VIP not re-created yet
    assert tracker.totals()[(VIP, "first")] == 100  # kept while it is configured
    tracker.observe(counters_at(2, vip=(150, None), other=(2, None)))  # above its old value, new boot
    assert tracker.totals()[(VIP, "first")] == 250
    assert tracker.totals()[(OTHER, "first")] == 12


def test_series_of_vips_gone_from_vpp_and_config_are_forgotten():
    tracker = MonotonicCounters()
    tracker.observe(counters_at(1, vip=(100, 100), other=(10, None)))
    assert (OTHER, "route_packets") not in tracker.totals()  # no route index: no route series
    tracker.observe(counters_at(1, vip=(101, 101)), keep=frozenset({VIP}))
    assert {vip for vip, _kind in tracker.totals()} == {VIP}
    tracker.observe(None)  # disconnected: nothing changes
    assert tracker.totals()[(VIP, "first")] == 101


@pytest.mark.parametrize("vip, labels", [
    (VIP, ["192.0.2.1/32", "tcp", "80"]),
    (OTHER, ["2001:db8::1/128", "udp", "53"]),
    (ALL_PORTS, ["198.51.100.0/24", "any", "0"]),
])
def test_vip_labels_keep_the_full_prefix(vip, labels):
    assert vip_labels(vip) == labels


# -- one render ---------------------------------------------------------------------------------


def backend(name: str, state: str, counter: int = 3, since: float = NOW - 60) -> BackendHealthView:
    return BackendHealthView(name=name, state=state, counter=counter, rise=2, fall=2, since=since,
                             last_result=None, history=(), rejected=0)


def member(name: str, pool: str, configured: int, effective: int, state: str, buckets=None) -> MemberView:
    return MemberView(backend=name, address="10.0.0." + name[-1], pool=pool, configured_weight=configured,
                      effective_weight=effective, flush=True, state=state, buckets=buckets)


def snapshot(vpp: VppInfo, counters: Optional[CountersSnapshot] = None) -> AgentSnapshot:
    frontend = FrontendView(
        name="www", vip=VIP, spec=VipSpec(), state="up", active_pool="primary", flush_on_down=True, released=True,
        members=(member("web1", "primary", 100, 0, "down", 0), member("web2", "primary", 50, 50, "up", 1024),
                 member("web3", "standby", 100, 0, "disabled")),
    )
    return AgentSnapshot(
        at=NOW, started_at=NOW - 100, warmup="done",
        backends=MappingProxyType({"web1": backend("web1", "down", 0, NOW - 5), "web2": backend("web2", "up"),
                                   "web3": backend("web3", "up"), "old": backend("old", "removed")}),
        frontends=MappingProxyType({"www": frontend}), vpp=vpp, lb_state=None, counters=counters,
        mutations=MappingProxyType({("all", "as_added"): 3, ("vip", "as_weight_updated"): 2}),
        config_loaded_at=NOW - 100, states=MappingProxyType({"web3": "disabled"}),
    )


CONNECTED = VppInfo(connected=True, version="26.06", pid=42, boottime=NOW - 3600, connected_since=NOW - 60,
                    lb_api_version="1.2.0", api_socket="/run/vpp/api.sock")


def render(inputs: Optional[ExportInputs]) -> str:
    registry = CollectorRegistry()
    registry.register(AgentCollector(lambda: inputs))
    return generate_latest(registry).decode()


def inputs_for(snap: AgentSnapshot, tracker: Optional[MonotonicCounters] = None) -> ExportInputs:
    counters = AgentCounters()
    for seconds in (0.0004, 0.003, 0.003, 20.0):
        counters.probe("web1", "http", True, "L7OK", seconds)
    counters.probe("web1", "http", False, "L4CON", 0.001)
    counters.transition("web1", "up", "down")
    tracker = tracker or MonotonicCounters()
    tracker.observe(snap.counters)
    return ExportInputs(
        snapshot=snap, counters=counters, vip_totals=tracker.totals(),
        api_calls={("lb_as_set_weight", "ok"): 7, ("lb_as_set_weight", "error"): 1},
        sync_errors=1, last_full_sync=NOW - 10, state_file_written=NOW - 2,
        version="0.1.0", now=NOW, wall=NOW,
    )


def parse(text: str) -> Dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_a_render_shows_states_weights_probes_and_vpp():
    counters = CountersSnapshot(at=NOW, boottime=NOW - 3600, vips=MappingProxyType({
        VIP: VipCounters(next_packets=900, first_packets=100, untracked_packets=0, no_server_packets=3,
                         route_packets=1003, route_bytes=100300)}))
    values = parse(render(inputs_for(snapshot(CONNECTED, counters))))

    assert values['maglev_backend_state{backend="web1",state="down"}'] == 1
    assert [values[f'maglev_backend_state{{backend="web1",state="{s}"}}'] for s in
            ("unknown", "up", "paused", "disabled")] == [0, 0, 0, 0]
    assert values['maglev_backend_state{backend="web3",state="disabled"}'] == 1  # enabled: false in the config
    assert values['maglev_backend_enabled{backend="web3"}'] == 0
    assert values['maglev_backend_enabled{backend="web2"}'] == 1
    assert not any('backend="old"' in name for name in values)  # removed backends are not exported
    assert values['maglev_backend_health{backend="web1"}'] == 0
    assert values['maglev_backend_last_transition_timestamp_seconds{backend="web1"}'] == NOW - 5
    assert values['maglev_frontend_state{frontend="www",state="up"}'] == 1
    weight = 'maglev_frontend_pool_backend_weight{{backend="{}",frontend="www",kind="{}",pool="primary"}}'
    assert values[weight.format("web2", "configured")] == 50
    assert values[weight.format("web1", "effective")] == 0
    assert values['maglev_frontend_pool_backend_buckets{backend="web2",frontend="www",pool="primary"}'] == 1024
    assert 'maglev_frontend_pool_backend_buckets{backend="web3",frontend="www",pool="standby"}' not in values

    assert values['maglev_probe_total{backend="web1",code="L7OK",result="success",type="http"}'] == 4
    buckets = {float(b): values[f'maglev_probe_duration_seconds_bucket{{backend="web1",le="{b}",type="http"}}']
               for b in ("0.0005", "0.001", "0.0025", "0.005", "10.0", "+Inf")}
    assert buckets == {0.0005: 1, 0.001: 2, 0.0025: 2, 0.005: 4, 10.0: 4, float("inf"): 5}  # cumulative
    assert values['maglev_probe_duration_seconds_count{backend="web1",type="http"}'] == 5
    assert values['maglev_probe_duration_seconds_sum{backend="web1",type="http"}'] == pytest.approx(20.0074)
    assert values['maglev_backend_transitions_total{backend="web1",from="up",to="down"}'] == 1

    assert values["maglev_vpp_connected"] == 1
    assert values["maglev_vpp_uptime_seconds"] == 3600
    assert values["maglev_vpp_connected_seconds"] == 60
    assert values['maglev_vpp_info{lb_api="1.2.0",pid="42",version="26.06"}'] == 1
    assert values['maglev_vpp_api_total{msg="lb_as_set_weight",result="error"}'] == 1
    assert values['maglev_vpp_lbsync_total{kind="as_weight_updated",scope="vip"}'] == 2
    assert values["maglev_vpp_lbsync_errors_total"] == 1
    labels = 'port="80",prefix="192.0.2.1/32",protocol="tcp"'
    assert [values[f'maglev_vip_packets_total{{kind="{k}",{labels}}}'] for k in ("next", "first", "untracked",
            "no-server")] == [900, 100, 0, 3]
    assert values[f"maglev_vip_route_packets_total{{{labels}}}"] == 1003
    assert values[f"maglev_vip_route_bytes_total{{{labels}}}"] == 100300
    assert values["maglev_agent_state_file_written_timestamp_seconds"] == NOW - 2
    assert values['maglev_agent_info{version="0.1.0"}'] == 1


def test_the_agent_exports_its_task_count_and_probe_lag():
    inputs = inputs_for(snapshot(CONNECTED, None))
    for lag in (0.0002, 0.004, 0.3):
        inputs.counters.lag(lag)
    values = parse(render(dataclasses.replace(inputs, asyncio_tasks=212, probe_schedule_stretch=2.25)))

    assert values["maglev_agent_asyncio_tasks"] == 212
    assert values["maglev_agent_probe_schedule_stretch"] == 2.25
    assert values['maglev_agent_probe_lag_seconds_bucket{le="0.0005"}'] == 1
    assert values['maglev_agent_probe_lag_seconds_bucket{le="0.005"}'] == 2
    assert values['maglev_agent_probe_lag_seconds_bucket{le="0.25"}'] == 2
    assert values['maglev_agent_probe_lag_seconds_bucket{le="+Inf"}'] == 3
    assert values["maglev_agent_probe_lag_seconds_count"] == 3
    assert values["maglev_agent_probe_lag_seconds_sum"] == pytest.approx(0.3042)


def test_each_live_vip_exports_its_table_digest():
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import maglev_table, model

    live = model.LbState(vips={
        VIP: model.VipState(VIP, ases={"10.0.0.1": model.AsState("10.0.0.1", 100),
                                       "10.0.0.2": model.AsState("10.0.0.2", 50)}),
        OTHER: model.VipState(OTHER, VipSpec(encap="gre6", new_flows_table_length=64)),
    })
    snap = dataclasses.replace(snapshot(CONNECTED), lb_state=live)
    values = parse(render(inputs_for(snap)))
    digest = maglev_table.vip_table_digest({"10.0.0.1": 100, "10.0.0.2": 50}, 1024)
    assert values[f'maglev_vip_table_info{{digest="{digest}",frontend="www",port="80",prefix="192.0.2.1/32",'
                  'protocol="tcp"}'] == 1
    empty = maglev_table.table_digest((maglev_table.DROP,) * 64)  # no AS: the drop AS everywhere
    assert values[f'maglev_vip_table_info{{digest="{empty}",frontend="",port="53",prefix="2001:db8::1/128",'
                  'protocol="udp"}'] == 1
    offline = dataclasses.replace(snap, vpp=VppInfo(api_socket="/run/vpp/api.sock"))
    assert not any(n.startswith("maglev_vip_table_info") for n in parse(render(inputs_for(offline))))


def test_disconnected_vpp_has_no_info_but_keeps_the_vip_totals():
    tracker = MonotonicCounters()
    tracker.observe(counters_at(1, vip=(100, None)))
    values = parse(render(inputs_for(snapshot(VppInfo(api_socket="/run/vpp/api.sock")), tracker)))
    assert values["maglev_vpp_connected"] == 0
    assert not any(n.startswith(("maglev_vpp_info", "maglev_vpp_uptime", "maglev_vpp_connected_seconds"))
                   for n in values)
    assert values['maglev_vip_packets_total{kind="first",port="80",prefix="192.0.2.1/32",protocol="tcp"}'] == 100


def test_nothing_is_rendered_before_the_first_snapshot():
    assert render(None) == ""


def test_every_family_has_help_and_type_and_passes_promtool():
    text = render(inputs_for(snapshot(CONNECTED, counters_at(1, vip=(5, 5)))))
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)
    helps = re.findall(r"^# HELP (\S+) ", text, re.MULTILINE)
    assert [name for name, _type in types] == helps and len(types) == len(set(helps))
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by scripts/setup.sh"
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30,
                          check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_text_encoder_writes_what_prometheus_client_writes():
    tricky = AgentCounters()
    tricky.transition('we"b\\1\nx', "up", "down")  # every character the format escapes
    inputs = dataclasses.replace(inputs_for(snapshot(CONNECTED, counters_at(1, vip=(5, 5)))), counters=tricky)
    registry = CollectorRegistry()
    registry.register(AgentCollector(lambda: inputs))
    ProcessCollector(registry=registry)

    def parsed(text: str) -> list:
        return [(f.name, f.type, f.documentation, sorted((s.name, sorted(s.labels.items()), s.value)
                                                         for s in f.samples))
                for f in text_string_to_metric_families(text)]

    collected = list(registry.collect())  # one collection for both (process metrics move)

    class Fixed:
        def collect(self):
            return collected

    ours = encode_text(collected)
    theirs = generate_latest(Fixed()).decode()
    assert parsed(ours) == parsed(theirs)
    assert 'maglev_backend_transitions_total{backend="we\\"b\\\\1\\nx",from="up",to="down"} 1\n' in ours


def test_a_copy_of_the_counters_keeps_the_probe_lag_as_it_was():
    counters = AgentCounters()
    counters.lag(0.3)
    copy = counters.copy()
    counters.lag(2.0)
    assert copy.probe_lag.count == 1 and copy.probe_lag.total == 0.3
    assert counters.probe_lag.count == 2
