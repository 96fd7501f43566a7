"""A /metrics scrape over real HTTP on loopback: its families and text are built in a worker
thread, so the agent's loop (where the probes run) keeps running while a large scrape renders.

The web server is the real one (agent/web.py) over a small AgentStatus that publishes a synthetic
snapshot of many backends; the proof is the thread identity of the collector calls and a loop
coroutine waking up while a collector is in the middle of collecting, not timing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Dict, Iterator, List, Optional, Tuple

import aiohttp
import pytest
from ansible_collections.maglev.vpp.agent.config import parse_agent_config
from ansible_collections.maglev.vpp.agent.counters import AgentCounters
from ansible_collections.maglev.vpp.agent.events import EventBus
from ansible_collections.maglev.vpp.agent.exporter import ExportInputs, encode_text, families
from ansible_collections.maglev.vpp.agent.health import BackendHealthView
from ansible_collections.maglev.vpp.agent.snapshot import AgentSnapshot, FrontendView, MemberView
from ansible_collections.maglev.vpp.agent.status import SyncStatus
from ansible_collections.maglev.vpp.agent.vppsync import CountersSnapshot, VppInfo
from ansible_collections.maglev.vpp.agent.web import WebServer
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import VipCounters, VipKey, VipSpec
from prometheus_client.core import GaugeMetricFamily

BACKENDS = 2000  # one per frontend: ~100,000 samples, a large registry
DOC = {
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {"b1": {"address": "10.0.0.1", "healthcheck": "h"}},
    "frontends": {"www": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"b1": {}}}]}},
}
HANDSHAKE = 60.0  # seconds a collector waits for the loop to wake up (a bound, not a timing)


def many_backends(n: int, now: float) -> Tuple[AgentSnapshot, AgentCounters]:
    backends, frontends = {}, {}
    counters = AgentCounters()
    for i in range(n):
        name = f"b{i}"
        backends[name] = BackendHealthView(name=name, state="up", counter=3, rise=2, fall=2, since=now - 60,
                                           last_result=None, history=(), rejected=0)
        member = MemberView(backend=name, address=f"10.{i // 250}.{i % 250}.1", pool="p", configured_weight=100,
                            effective_weight=100, flush=True, state="up")
        vip = VipKey(f"198.18.{i // 250}.{i % 250 + 1}/32", 6, 80)
        frontends[f"f{i}"] = FrontendView(name=f"f{i}", vip=vip, spec=VipSpec(), state="up", active_pool="p",
                                          flush_on_down=True, released=True, members=(member,))
        counters.probe(name, "tcp", True, "L4OK", 0.001)
        counters.transition(name, "unknown", "up")
    vpp = VppInfo(connected=False, version=None, pid=None, boottime=None, connected_since=None,
                  lb_api_version=None, api_socket="/nonexistent")
    snap = AgentSnapshot(at=now, started_at=now - 60, warmup="done", backends=MappingProxyType(backends),
                         frontends=MappingProxyType(frontends), vpp=vpp, lb_state=None, counters=None,
                         mutations=MappingProxyType({}), config_loaded_at=now - 60)
    return snap, counters


class PublishedAgent:
    """The part of AgentStatus the metrics listener reads, over a fixed snapshot and counters."""

    def __init__(self, snapshot: AgentSnapshot, counters: AgentCounters, state_file: str) -> None:
        doc = {**DOC, "agent": {"state_file": state_file}}
        self._config = parse_agent_config(doc)
        self.config_path: Optional[str] = None
        self.started_at = snapshot.started_at
        self.events = EventBus()
        self.counters = counters
        self.snapshot = snapshot
        self.probe_loop_crashes = 0
        self.write_errors: Dict[str, int] = {}
        self.probe_schedule_stretch = 1.0

    @property
    def config(self):
        return self._config

    def publish_pending(self) -> None:
        pass

    def sync_status(self) -> SyncStatus:
        return SyncStatus(last_full_sync=None, sync_errors=0)

    def vpp_api_calls(self) -> Dict[Tuple[str, str], int]:
        return {}


class LoopWitness:
    """A collector (registered after the agent's) that records the thread it runs in, and waits,
    bounded, until a coroutine on the agent's loop has woken up while it was collecting: which
    it cannot if the collection holds the loop."""

    def __init__(self) -> None:
        self.threads: List[int] = []
        self.collecting = threading.Event()
        self.loop_woke = threading.Event()
        self.saw_loop_wake: List[bool] = []

    def collect(self):
        self.threads.append(threading.get_ident())
        self.collecting.set()
        self.saw_loop_wake.append(self.loop_woke.wait(HANDSHAKE))
        yield GaugeMetricFamily("test_witness", "The witness collector ran (always 1).", value=1)

    async def wake_while_collecting(self, lags: List[float]) -> None:
        """On the loop: tick until the collector is collecting, then tell it the loop is alive.
        Each tick records its own lateness (how long the loop held it past its 1 ms sleep)."""
        while not self.collecting.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)
        self.loop_woke.set()


@dataclasses.dataclass(frozen=True)
class WitnessedScrape:
    loop_thread: int
    status: int
    text: str
    lags: List[float]  # each loop tick's lateness while the scrape rendered


def scrape_while_the_loop_ticks(agent: PublishedAgent, witness: LoopWitness, *,
                                register_witness: bool) -> WitnessedScrape:
    """GET /metrics from the real web server over loopback while a loop coroutine ticks until the
    witness (a registered collector, or hooked into the agent's data) sees the loop wake."""

    async def scenario() -> WitnessedScrape:
        server = WebServer(agent, "127.0.0.1", 0)
        if register_witness:
            server.registry.register(witness)
        await server.start()
        try:
            lags: List[float] = []
            ticker = asyncio.get_running_loop().create_task(witness.wake_while_collecting(lags))
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{server.port}/metrics") as response:
                    text = await response.text()
                    status = response.status
            await asyncio.wait_for(ticker, HANDSHAKE)
            return WitnessedScrape(threading.get_ident(), status, text, lags)
        finally:
            await server.close()

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def large_registry() -> Tuple[AgentSnapshot, AgentCounters]:
    """BACKENDS backends and frontends (~100,000 samples), built once: the tests only read it."""
    return many_backends(BACKENDS, time.time())


def test_a_large_scrape_renders_off_the_loop_while_the_loop_keeps_running(tmp_path, large_registry):
    snap, counters = large_registry
    agent = PublishedAgent(snap, counters, str(tmp_path / "state.json"))
    witness = LoopWitness()
    scrape = scrape_while_the_loop_ticks(agent, witness, register_witness=True)
    assert scrape.status == 200
    assert witness.threads and all(t != scrape.loop_thread for t in witness.threads), "the collectors ran on the loop"
    assert witness.saw_loop_wake == [True], "the loop stood still while the registry was collected"
    # The agent's families were in the same off-loop collection, ahead of the witness.
    assert f'maglev_backend_health{{backend="b{BACKENDS - 1}"}} 3' in scrape.text
    assert scrape.text.index("maglev_probe_total") < scrape.text.index("test_witness 1")
    print(f"loop ticks before the witness collected: {len(scrape.lags)},"
          f" worst lateness {max(scrape.lags, default=0) * 1000:.1f} ms")


def test_a_scrape_renders_the_counters_as_they_were_when_it_started():
    """The worker thread renders a copy: probes counted on the loop meanwhile do not change it."""
    counters = AgentCounters()
    counters.probe("b1", "http", True, "L7OK", 0.003)
    counters.transition("b1", "unknown", "up")
    copy = counters.copy()
    counters.probe("b1", "http", True, "L7OK", 0.003)
    counters.probe("b2", "http", False, "L4CON", 1.0)
    counters.transition("b1", "up", "down")
    counters.announce_run("www", "up", "ok")
    assert copy.probes == {("b1", "http", "success", "L7OK"): 1}
    assert copy.durations[("b1", "http")].count == 1
    assert copy.durations[("b1", "http")].total == 0.003
    assert copy.transitions == {("b1", "unknown", "up"): 1}
    assert copy.announce_runs == {}
    assert counters.durations[("b1", "http")].count == 2


def test_a_large_render_sets_off_no_full_garbage_collection(large_registry):
    """The families stream their samples: built whole, ~100,000 samples outlived the young
    generations and set off full collections (100-400 ms each under load, holding the GIL, so
    holding the agent's loop too)."""
    snap, counters = large_registry
    inputs = ExportInputs(snapshot=snap, counters=counters, vip_totals={})
    full: List[int] = []

    def count_full(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    gc.collect()
    gc.callbacks.append(count_full)
    try:
        text = encode_text(families(inputs))
    finally:
        gc.callbacks.remove(count_full)
    assert text.count("maglev_probe_duration_seconds_bucket{") == BACKENDS * 15
    assert full == []


class WitnessedCounters(Mapping):
    """A counters read's VIPs (CountersSnapshot.vips) that, when the observation walks them,
    record its thread and wait, bounded, for a coroutine on the agent's loop to wake up: which
    it cannot if the observation holds the loop."""

    def __init__(self, vips: Dict[VipKey, VipCounters], witness: LoopWitness) -> None:
        self._vips = vips
        self._witness = witness

    def __getitem__(self, key: VipKey) -> VipCounters:
        return self._vips[key]

    def __iter__(self) -> Iterator[VipKey]:
        return iter(self._vips)

    def __len__(self) -> int:
        return len(self._vips)

    def items(self):
        self._witness.threads.append(threading.get_ident())
        self._witness.collecting.set()
        self._witness.saw_loop_wake.append(self._witness.loop_woke.wait(HANDSHAKE))
        return self._vips.items()


def test_the_vip_counters_are_observed_off_the_loop_and_the_scrape_exports_them(tmp_path):
    """A counters read feeds the offsets and the rate history (~30,000 series at 5,000 VIPs) in
    the observer's thread; the scrape that comes after the read waits for it and exports it."""
    now = time.time()
    snap, counters = many_backends(50, now)
    vips = {fe.vip: VipCounters(next_packets=1000 + i, first_packets=10 + i, route_packets=2000 + i,
                                route_bytes=10**6 + i)
            for i, fe in enumerate(snap.frontends.values())}
    witness = LoopWitness()
    read = CountersSnapshot(at=now, boottime=now - 3600, vips=WitnessedCounters(vips, witness),
                            sources=MappingProxyType({vip: (i, 100 + i) for i, vip in enumerate(vips)}))
    agent = PublishedAgent(dataclasses.replace(snap, counters=read), counters, str(tmp_path / "state.json"))
    scrape = scrape_while_the_loop_ticks(agent, witness, register_witness=False)
    assert scrape.status == 200
    assert witness.threads and all(t != scrape.loop_thread for t in witness.threads), "observed on the loop"
    assert witness.saw_loop_wake[0], "the loop stood still while the counters were observed"
    assert 'maglev_vip_packets_total{prefix="198.18.0.50/32",protocol="tcp",port="80",kind="next"} 1049' in scrape.text
    assert 'maglev_vip_route_bytes_total{prefix="198.18.0.1/32",protocol="tcp",port="80"} 1000000' in scrape.text
