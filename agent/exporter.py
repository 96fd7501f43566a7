"""The Prometheus exporter: a custom collector rendering the agent's published state.

A scrape has two parts. On the agent's loop, ``ExportInputs`` gathers one consistent view: the
immutable snapshot, a copy of the counters (``AgentCounters.copy``: a few dict copies, the
values are immutable), the VIP totals (``MonotonicCounters.totals`` of the newest counters
read, immutable: computed in the observer's thread, agent/vipobserver.py) and a copy of the
VPP client's API call counts: well under a millisecond at 5,000 backends. In a worker thread,
the collectors read only that view (no locks): the families are built and written as text
(``encode_text``), ~0.7 s of CPU at 5,000 backends that must not hold the loop where the
probes run (docs/performance.md, "Profile at 5,000 VIPs"). Names and labels follow
vpp-maglev where it exports the same thing; docs/metrics.md lists every family.

``encode_text`` writes the families in the text format: the same output as prometheus_client's
``generate_latest`` but several times faster (docs/performance.md, "Metrics").

VPP restarts its counters at 0 (and a re-created VIP starts again at 0, at a new pool index and
often a new route): ``MonotonicCounters`` keeps an offset per series so the exported VIP
counters only ever grow.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, Mapping, Optional, Tuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ..plugins.module_utils.vpp_lb import model, weights
from . import api_views, clock
from .counters import DURATION_BUCKETS, AgentCounters
from .snapshot import AgentSnapshot
from .vppsync import CountersSnapshot

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BACKEND_STATES = weights.BACKEND_STATES  # unknown, up, down, paused, disabled
FRONTEND_STATES = (weights.UNKNOWN, weights.UP, weights.DOWN)
# maglev_vip_packets_total kinds, by VipCounters field
PACKET_KINDS = (
    ("next", "next_packets"),
    ("first", "first_packets"),
    ("untracked", "untracked_packets"),
    ("no-server", "no_server_packets"),
)
ROUTE_PACKETS = "route_packets"
ROUTE_BYTES = "route_bytes"

# The histogram's `le` labels, formatted once: every backend's histogram has the same bounds.
DURATION_LE = tuple(floatToGoString(bound) for bound in DURATION_BUCKETS + (float("inf"),))

SeriesKey = Tuple[model.VipKey, str]  # (VIP, kind: next|first|untracked|no-server|route_packets|route_bytes)


@dataclass
class _Series:
    last: int  # VPP's value at the last observation
    offset: int  # what earlier VPP lives (or VIP lives) counted
    boottime: Optional[float]
    source: Optional[int] = None  # the pool index (LB kinds) or route stats index it was read at
    key: Optional[SeriesKey] = None  # (VIP, kind), made once: the totals of every read reuse it


class MonotonicCounters:
    """VPP's VIP counters made monotonic across VPP restarts and VIP re-creation.

    A series whose VPP boot time or source index (the VIP's pool index, its route's stats
    index: a re-created VIP) changed since it was last seen, or whose value went down, started
    again at 0: its last value is added to its offset. Counts between the last
    observation and the restart are lost, so the web server observes every stats interval
    and not only at scrapes.
    """

    def __init__(self) -> None:
        # By VIP, then kind: a counters read at 5,000 VIPs updates ~30,000 series, and looking
        # each up by (VIP, kind) hashed its VIP again (a third of the observation's time).
        self._series: Dict[model.VipKey, Dict[str, _Series]] = {}
        self._seen: Optional[CountersSnapshot] = None
        self._totals: Optional[Mapping[SeriesKey, int]] = None  # until the next observation

    def observe(self, counters: Optional[CountersSnapshot], keep: FrozenSet[model.VipKey] = frozenset()) -> None:
        """Take a counters snapshot (a repeated one is a no-op); series of VIPs that are in
        neither it nor ``keep`` (the configured VIPs) are forgotten."""
        if counters is None or counters is self._seen:
            return
        self._seen = counters
        self._totals = None
        boottime, sources = counters.boottime, counters.sources
        for vip, values in counters.vips.items():
            series = self._series.get(vip)
            if series is None:
                series = self._series[vip] = {}
            pool_index, route_index = sources.get(vip, (None, None))
            for kind, attr in PACKET_KINDS:
                _update(series, vip, kind, getattr(values, attr), boottime, pool_index)
            for kind in (ROUTE_PACKETS, ROUTE_BYTES):
                value = getattr(values, kind)
                if value is not None:
                    _update(series, vip, kind, value, boottime, route_index)
        for vip in [v for v in self._series if v not in counters.vips and v not in keep]:
            del self._series[vip]

    def totals(self) -> Mapping[SeriesKey, int]:
        """Every series' total, immutable; computed once per observation (every scrape reads it)."""
        if self._totals is None:
            # The keys are the series' own: ~30,000 new tuples per read at 5,000 VIPs would outlive
            # the young generations and set off full garbage-collector passes.
            self._totals = MappingProxyType({s.key: s.offset + s.last
                                             for series in self._series.values() for s in series.values()})
        return self._totals


def _update(series: Dict[str, _Series], vip: model.VipKey, kind: str, value: int, boottime: Optional[float],
            source: Optional[int]) -> None:
    """One series' new reading: a new VPP life (boot time, source index, or a value that went
    down) adds its last value to the offset."""
    s = series.get(kind)
    if s is None:
        series[kind] = _Series(value, 0, boottime, source, (vip, kind))
        return
    if boottime != s.boottime or source != s.source or value < s.last:
        s.offset += s.last
    s.last = value
    s.boottime = boottime
    s.source = source


@dataclass(frozen=True)
class ExportInputs:
    """Everything one scrape renders, gathered on the agent's loop: immutable values and copies
    only, so a worker thread can render it while the loop goes on."""

    snapshot: AgentSnapshot
    counters: AgentCounters
    vip_totals: Mapping[SeriesKey, int]
    api_calls: Mapping[Tuple[str, str], int] = field(default_factory=dict)  # (message, ok|error|broken)
    blocked_frontends: Mapping[str, str] = field(default_factory=dict)  # VppSync.blocked: name -> why
    sync_errors: int = 0
    last_full_sync: Optional[float] = None
    state_file_written: Optional[float] = None  # the state file's mtime
    probe_loop_restarts: int = 0
    write_errors: Mapping[str, int] = field(default_factory=dict)  # file (state, operator-state) -> failed writes
    asyncio_tasks: int = 0  # tasks on the agent's loop: a leak of tasks shows as an upward trend
    probe_schedule_stretch: float = 1.0  # probe intervals x this while the agent is CPU starved
    version: str = ""
    now: float = field(default_factory=clock.now)  # the agent's steady clock (agent/clock.py)
    wall: float = field(default_factory=time.time)  # VPP's boottime is read from VPP's wall clock


class AgentCollector(Collector):
    """prometheus_client collector; ``read`` returns the inputs of one scrape (or None: nothing).

    ``read`` may be called in a worker thread: it must only return an ``ExportInputs`` gathered
    on the loop (agent/web.py swaps the scrape's in before rendering), never gather one itself."""

    def __init__(self, read) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        inputs = self._read()
        if inputs is None:
            return iter(())
        return iter(families(inputs))


def families(inputs: ExportInputs) -> Iterable[Metric]:
    """All metric families of one scrape, in a stable order."""
    yield from _agent_families(inputs)
    yield from _backend_families(inputs)
    yield from _frontend_families(inputs.snapshot)
    yield _sync_blocked_family(inputs)
    yield from _probe_families(inputs.counters)
    yield from _announce_families(inputs.counters)
    yield from _vpp_families(inputs)
    yield from _vip_families(inputs.vip_totals)
    yield _vip_table_family(inputs.snapshot)


def _agent_families(inputs: ExportInputs) -> Iterator[Metric]:
    snap = inputs.snapshot
    info = GaugeMetricFamily("maglev_agent_info", "The agent's version (always 1).", labels=["version"])
    info.add_metric([inputs.version], 1)
    yield info
    yield GaugeMetricFamily("maglev_agent_warmup_done", "1 once the warm-up is over and every frontend is written.",
                            value=1 if snap.warmup == "done" else 0)
    yield GaugeMetricFamily("maglev_agent_config_loaded_timestamp_seconds",
                            "When the running config was loaded (unix seconds).", value=snap.config_loaded_at)
    # Prometheus' and Alertmanager's own names for the same fact about their config files.
    reload = snap.reload
    yield GaugeMetricFamily("maglev_config_last_reload_successful",
                            "1 if the last config (re)load succeeded, 0 if it failed (the old config runs on).",
                            value=1 if reload is None or reload.ok else 0)
    yield GaugeMetricFamily("maglev_config_last_reload_success_timestamp_seconds",
                            "When the config was last loaded successfully (unix seconds).",
                            value=reload.success_at if reload is not None else snap.config_loaded_at)
    yield GaugeMetricFamily("maglev_agent_blind_backends",
                            "Backends the agent cannot probe for reasons of its own (namespace missing, out of "
                            "descriptors): their states and weights are frozen.", value=len(snap.blind))
    yield GaugeMetricFamily("maglev_agent_warmup_held_frontends",
                            "Frontends warm-up has not released yet (VPP keeps their weights).",
                            value=len(snap.held))
    yield CounterMetricFamily("maglev_agent_probe_loop_restarts",
                              "Probe loops that crashed (a bug) and were restarted.", value=inputs.probe_loop_restarts)
    yield GaugeMetricFamily("maglev_agent_asyncio_tasks", "Tasks on the agent's event loop (probes, syncs, streams).",
                            value=inputs.asyncio_tasks)
    yield GaugeMetricFamily("maglev_agent_probe_schedule_stretch",
                            "Factor on every probe interval: 1 normally, more while the agent cannot keep up with "
                            "its probe schedule (CPU starved; timeouts are never stretched).",
                            value=inputs.probe_schedule_stretch)
    lag = HistogramMetricFamily("maglev_agent_probe_lag_seconds",
                                "How late probes started after their due time (the probe loop falling behind).")
    lag.add_metric([], [(floatToGoString(bound), count) for bound, count in inputs.counters.probe_lag.cumulative()],
                   inputs.counters.probe_lag.total)
    yield lag
    yield gauge_if_known("maglev_agent_state_file_written_timestamp_seconds",
                         "When the state file the modules read was last written (unix seconds).",
                         inputs.state_file_written)
    errors = CounterMetricFamily("maglev_agent_file_write_errors",
                                 "Failed writes of the agent's files (disk full, read-only): the old file stays "
                                 "whole and the write is retried every second.", labels=["file"])
    for name, count in sorted(inputs.write_errors.items()):
        errors.add_metric([name], count)
    yield errors


def _announce_families(counters: AgentCounters) -> Iterator[Metric]:
    runs = CounterMetricFamily("maglev_frontend_announce_runs", "Route-announcement hook runs by state and result.",
                               labels=["frontend", "state", "result"])
    for (frontend, state, result), count in sorted(counters.announce_runs.items()):
        runs.add_metric([frontend, state, result], count)
    yield runs
    announced = GaugeMetricFamily("maglev_frontend_announced",
                                  "1 if the hook last announced the frontend up, 0 down (absent: not yet).",
                                  labels=["frontend"])
    for frontend, state in sorted(counters.announced.items()):
        if state is not None:
            announced.add_metric([frontend], 1 if state == "up" else 0)
    yield announced


def _backend_families(inputs: ExportInputs) -> Iterator[Metric]:
    snap = inputs.snapshot
    listed = [(name, view, snap.state_of(name)) for name, view in snap.backends.items()]
    listed = [(name, view, current) for name, view, current in listed if current in BACKEND_STATES]  # else removed
    yield streamed(GaugeMetricFamily("maglev_backend_state", "1 for the backend's current state, 0 for the others.",
                                     labels=["backend", "state"]),
                   lambda: (([name, candidate], 1 if candidate == current else 0)
                            for name, _view, current in listed for candidate in BACKEND_STATES))
    yield streamed(GaugeMetricFamily("maglev_backend_health", "The backend's rise/fall counter.", labels=["backend"]),
                   lambda: (([name], view.counter) for name, view, _current in listed))
    yield streamed(GaugeMetricFamily("maglev_backend_enabled", "1 unless the backend is disabled (config or operator).",
                                     labels=["backend"]),
                   lambda: (([name], 0 if current == weights.DISABLED else 1) for name, _view, current in listed))
    yield streamed(GaugeMetricFamily("maglev_backend_last_transition_timestamp_seconds",
                                     "When the backend entered its current state (unix seconds).", labels=["backend"]),
                   lambda: (([name], view.since) for name, view, _current in listed))


def _frontend_families(snap: AgentSnapshot) -> Iterator[Metric]:
    frontends = snap.frontends
    yield streamed(GaugeMetricFamily("maglev_frontend_state", "1 for the frontend's current state, 0 for the others.",
                                     labels=["frontend", "state"]),
                   lambda: (([name, candidate], 1 if candidate == fe.state else 0)
                            for name, fe in frontends.items() for candidate in FRONTEND_STATES))
    yield streamed(GaugeMetricFamily("maglev_frontend_pool_backend_weight",
                                     "Weight of a pool member: configured, and effective (what VPP is given).",
                                     labels=["frontend", "pool", "backend", "kind"]),
                   lambda: (row for name, fe in frontends.items() for m in fe.members for row in (
                       ([name, m.pool, m.backend, "configured"], m.configured_weight),
                       ([name, m.pool, m.backend, "effective"], m.effective_weight))))
    yield streamed(GaugeMetricFamily("maglev_frontend_pool_backend_buckets",
                                     "The member's share of VPP's new-flow table, from the last dump.",
                                     labels=["frontend", "pool", "backend"]),
                   lambda: (([name, m.pool, m.backend], m.buckets) for name, fe in frontends.items()
                            for m in fe.members if m.buckets is not None))


def _sync_blocked_family(inputs: ExportInputs) -> Metric:
    blocked = GaugeMetricFamily("maglev_frontend_sync_blocked",
                                "1 while the agent leaves the frontend as it is in VPP because VPP would refuse "
                                "to (re)create its VIP (a VIP the config does not know is in the way).",
                                labels=["frontend"])
    names = sorted(set(inputs.snapshot.frontends) | set(inputs.blocked_frontends))
    return streamed(blocked, lambda: (([name], 1 if name in inputs.blocked_frontends else 0) for name in names))


def _probe_families(counters: AgentCounters) -> Iterator[Metric]:
    yield streamed(CounterMetricFamily("maglev_probe", "Health-check probes by result and code.",
                                       labels=["backend", "type", "result", "code"]),
                   lambda: ((list(key), count) for key, count in counters.probes.items()))
    yield streamed(HistogramMetricFamily("maglev_probe_duration_seconds", "How long probes took.",
                                         labels=["backend", "type"]),
                   lambda: ((list(key), list(zip(DURATION_LE, itertools.accumulate(histogram.counts), strict=True)),
                             histogram.total) for key, histogram in counters.durations.items()))
    yield streamed(CounterMetricFamily("maglev_backend_transitions", "Backend state transitions.",
                                       labels=["backend", "from", "to"]),
                   lambda: ((list(key), count) for key, count in counters.transitions.items()))


def _vpp_families(inputs: ExportInputs) -> Iterator[Metric]:
    vpp = inputs.snapshot.vpp
    yield GaugeMetricFamily("maglev_vpp_connected", "1 while the agent is connected to VPP.",
                            value=1 if vpp.connected else 0)
    booted = vpp.boottime if vpp.connected else None
    since = vpp.connected_since if vpp.connected else None
    yield gauge_if_known("maglev_vpp_uptime_seconds", "Seconds since VPP booted (its /sys/boottime).",
                         None if booted is None else max(0.0, inputs.wall - booted))
    yield gauge_if_known("maglev_vpp_connected_seconds", "Seconds since the agent connected to VPP.",
                         None if since is None else max(0.0, inputs.now - since))
    info = GaugeMetricFamily("maglev_vpp_info", "The connected VPP (always 1).", labels=["version", "pid", "lb_api"])
    if vpp.connected:
        info.add_metric([vpp.version or "", str(vpp.pid or ""), vpp.lb_api_version or ""], 1)
    yield info
    api = CounterMetricFamily("maglev_vpp_api", "VPP binary API requests by message and result (ok, error: "
                              "VPP refused it, broken: no usable reply).", labels=["msg", "result"])
    for (message, result), count in sorted(inputs.api_calls.items()):
        api.add_metric([message, result], count)
    yield api
    lbsync = CounterMetricFamily("maglev_vpp_lbsync", "Changes the agent made in VPP's LB plugin.",
                                 labels=["scope", "kind"])
    for (scope, kind), count in inputs.snapshot.mutations.items():
        lbsync.add_metric([scope, kind], count)
    yield lbsync
    yield CounterMetricFamily("maglev_vpp_lbsync_errors", "Syncs with VPP that failed part way.",
                              value=inputs.sync_errors)
    yield gauge_if_known("maglev_vpp_last_full_sync_timestamp_seconds",
                         "When the last full sync with VPP ran (unix seconds).", inputs.last_full_sync)


def gauge_if_known(name: str, documentation: str, value: Optional[float]) -> GaugeMetricFamily:
    """A gauge family with one sample, or none (the family alone) while the value is unknown."""
    gauge = GaugeMetricFamily(name, documentation)
    if value is not None:
        gauge.add_metric([], value)
    return gauge


def vip_labels(vip: model.VipKey) -> list:
    """prefix (full, with its length), protocol (tcp, udp, any), port."""
    protocol = "any" if vip.protocol == model.PROTO_ANY else model.PROTOCOL_NAMES.get(vip.protocol, str(vip.protocol))
    return [vip.prefix, protocol, str(vip.port)]


def _vip_families(totals: Mapping[SeriesKey, int]) -> Iterator[Metric]:
    packets = CounterMetricFamily("maglev_vip_packets", "Packets the LB plugin handled per VIP, by kind "
                                  "(next: existing flow, first: new flow, untracked, no-server).",
                                  labels=["prefix", "protocol", "port", "kind"])
    route_packets = CounterMetricFamily("maglev_vip_route_packets", "Packets routed to the VIP (FIB /net/route/to).",
                                        labels=["prefix", "protocol", "port"])
    route_bytes = CounterMetricFamily("maglev_vip_route_bytes", "Bytes routed to the VIP (FIB /net/route/to).",
                                      labels=["prefix", "protocol", "port"])
    yield streamed(packets, lambda: ((vip_labels(vip) + [kind], value) for (vip, kind), value in totals.items()
                                     if kind not in (ROUTE_PACKETS, ROUTE_BYTES)))
    yield streamed(route_packets, lambda: ((vip_labels(vip), value) for (vip, kind), value in totals.items()
                                           if kind == ROUTE_PACKETS))
    yield streamed(route_bytes, lambda: ((vip_labels(vip), value) for (vip, kind), value in totals.items()
                                         if kind == ROUTE_BYTES))


def _vip_table_family(snap: AgentSnapshot) -> Metric:
    """One series per VIP in VPP's live state, labelled with its new-flow table's digest (1.2.0 and 1.1.0)."""
    info = GaugeMetricFamily("maglev_vip_table_info", "The VIP's new-flow table as VPP builds it, bucket by bucket: "
                             "digest = first 16 hex digits of SHA-256 over each bucket's AS (always 1).",
                             labels=["prefix", "protocol", "port", "frontend", "digest"])
    if snap.lb_state is None:
        return info
    names = {view.vip: name for name, view in snap.frontends.items()}
    for key in sorted(snap.lb_state.vips, key=model.VipKey.sort_key):
        digest = api_views.table_digest(snap, key)
        if digest is not None:
            info.add_metric(vip_labels(key) + [names.get(key, ""), digest], 1)
    return info


# -- families streamed row by row -----------------------------------------------------------------


class StreamedSamples:
    """A family's samples, made by the family's own ``add_metric`` one row at a time while they are
    iterated (anew each time). A scrape at 5,000 backends builds ~250,000 samples; built whole,
    they outlived the young generations and set off full garbage-collector passes (100-400 ms each
    under load, holding the GIL and so the agent's loop). Streamed, each dies at once."""

    def __init__(self, family: Metric, rows: Callable[[], Iterable[tuple]]) -> None:
        self._family = family
        self._rows = rows

    def __iter__(self) -> Iterator:
        scratch = copy.copy(self._family)  # the name, type and label names; its own samples list
        for row in self._rows():
            scratch.samples = []
            scratch.add_metric(*row)
            yield from scratch.samples


def streamed(family: Metric, rows: Callable[[], Iterable[tuple]]) -> Metric:
    """``family`` whose samples are ``add_metric(*row)`` for each row of ``rows()``, made while read."""
    family.samples = StreamedSamples(family, rows)  # type: ignore[assignment]
    return family


# -- the text format --------------------------------------------------------------------------

_TEXT_TYPES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram", "summary": "summary",
               "info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram"}
_NAME_SUFFIX = {"counter": "_total", "info": "_info"}
_OPENMETRICS_ONLY = ("_created", "_gsum", "_gcount")


def encode_text(metrics: Iterable[Metric]) -> str:
    """Metric families in the Prometheus text format 0.0.4 (no timestamps, no exemplars)."""
    out: list = []
    append = out.append
    for metric in metrics:
        name = metric.name + _NAME_SUFFIX.get(metric.type, "")
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        append(f"# HELP {name} {doc}\n# TYPE {name} {_TEXT_TYPES.get(metric.type, 'untyped')}\n")
        openmetrics_only = {metric.name + suffix for suffix in _OPENMETRICS_ONLY}
        for sample in metric.samples:
            if sample.name in openmetrics_only:
                continue
            if sample.labels:
                labels = ",".join([f'{k}="{_escape(v)}"' for k, v in sample.labels.items()])
                append(f"{sample.name}{{{labels}}} {_number(sample.value)}\n")
            else:
                append(f"{sample.name} {_number(sample.value)}\n")
    return "".join(out)


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
    return value


def _number(value) -> str:
    if value.__class__ is int:
        return str(value)
    return floatToGoString(value)
