"""The metrics listener (agent.metrics.listen): Prometheus /metrics and the status page.

    GET /metrics      Prometheus exposition, text format 0.0.4
    GET /             the status page (agent/page/, no external assets)
    GET /state.json   the full view the page renders
    GET /rates.json   the packet rates of every VIP over the last minutes (agent/rates.py)
    GET /events       server-sent events: backend and frontend transitions and the public log
                      records (events.public_log_record), and a ``rates`` event with the newest
                      rates after every counters scrape; at most MAX_STREAMS open, then 503

Everything runs on the agent's loop and reads the published snapshot, so no locks; what takes
long (a scrape's families and text, the page's views, the rates, the VIP counters' observation:
agent/vipobserver.py) reads immutable values or copies in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Dict, Optional, Set

from aiohttp import web
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from ..plugins.module_utils.vpp_lb import weights
from . import __version__, api_views, clock, events, logs, page_views, rates
from .aiotools import within
from .exporter import TEXT_CONTENT_TYPE, AgentCollector, ExportInputs, encode_text
from .snapshot import AgentSnapshot
from .status import AgentStatus
from .vipobserver import Observation, VipObserver

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
PAGE_FILES = {"/": "index.html", "/app.js": "app.js", "/charts.js": "charts.js", "/style.css": "style.css"}
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
SSE_KEEPALIVE = 10.0  # seconds between comments on an idle stream (notices gone clients)
SSE_LOG_LEVEL = "info"
# Open /events streams at most: anyone who reaches the port may open one, and each costs a little
# on every event and log record on the agent's loop (agent/events.py).
MAX_STREAMS = 8
_CLOSE = {"type": "_close"}  # offered to every stream on shutdown


class WebServer:
    def __init__(self, agent: AgentStatus, host: str, port: int):
        self.agent = agent
        self.host = host
        self.port = port
        # The VIP counters' offsets and rate history, observed in a thread of their own.
        self.observer = VipObserver(rates.points_for(agent.config.settings.stats_interval), self._offer_rates)
        # The registry is collected in a worker thread: its collectors read only values gathered
        # on the loop (the agent's collector: the newest scrape's inputs, swapped in whole).
        self._scrape: Optional[ExportInputs] = None
        self.registry = CollectorRegistry()
        self.registry.register(AgentCollector(lambda: self._scrape))
        ProcessCollector(registry=self.registry)
        self._streams: Set[Any] = set()  # event-bus subscriptions of open /events responses
        self._runner: Optional[web.AppRunner] = None
        self._observer: Optional[asyncio.Task] = None

    # -- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/state.json", self.state)
        app.router.add_get("/events", self.events)
        app.router.add_get("/rates.json", self.rates_json)
        for path in PAGE_FILES:
            app.router.add_get(path, self.page)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        sockets = self._runner.addresses
        if sockets:
            self.port = sockets[0][1]
        interval = max(0.05, self.agent.config.settings.stats_interval / 2)
        self._observer = asyncio.get_running_loop().create_task(self._observe(interval), name="vip-counters")
        logs.emit("info", "metrics-listen", address=self.host, port=self.port)

    async def close(self) -> None:
        for sub in list(self._streams):
            sub.offer(_CLOSE)
        if self._observer is not None:
            self._observer.cancel()
            await asyncio.gather(self._observer, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        await self.observer.close()  # after the handlers, which may still wait for an observation

    async def _observe(self, interval: float) -> None:
        """Feed every counters snapshot to the offsets, so a VPP restart loses almost nothing."""
        while True:
            await asyncio.sleep(interval)
            await self.observer.observe(self.agent.snapshot)

    def _offer_rates(self, observed: Observation) -> None:
        """The newest rates to every open page stream (the page appends them to its charts)."""
        if observed.latest is not None:
            for sub in list(self._streams):
                sub.offer({"type": "rates", **observed.latest})

    # -- /metrics ------------------------------------------------------------------------------

    def export_inputs(self) -> Optional[ExportInputs]:
        """One scrape's view, on the loop: references to immutable values and a few dict copies
        (the VIP totals: the newest observation's, see ``metrics``)."""
        snap = self.agent.snapshot
        if snap is None:
            return None
        agent = self.agent
        sync = agent.sync_status()
        return ExportInputs(
            snapshot=snap,
            counters=agent.counters.copy(),
            vip_totals=self.observer.totals,
            api_calls=agent.vpp_api_calls(),
            blocked_frontends=sync.blocked,
            sync_errors=sync.sync_errors,
            last_full_sync=sync.last_full_sync,
            state_file_written=_mtime(agent.config.settings.state_file),
            probe_loop_restarts=agent.probe_loop_crashes,
            write_errors=dict(agent.write_errors),
            asyncio_tasks=len(asyncio.all_tasks()),  # the inputs are gathered on the agent's loop
            probe_schedule_stretch=agent.probe_schedule_stretch,
            version=__version__,
        )

    async def metrics(self, request: web.Request) -> web.Response:
        # On the loop only the inputs are gathered (one consistent view, well under a millisecond);
        # the families and the text (~1 s of CPU at 5,000 backends) are built in a thread.
        self.agent.publish_pending()  # a change of the last few milliseconds is in the scrape
        await self.observer.observe(self.agent.snapshot)  # a counters read not yet observed is in it too
        inputs = self._scrape = self.export_inputs()
        body = await asyncio.get_running_loop().run_in_executor(None, self.render, inputs)
        return web.Response(body=body, headers={"Content-Type": TEXT_CONTENT_TYPE})

    def render(self, inputs: Optional[ExportInputs]) -> bytes:
        """The registry as encoded text, in a worker thread (encoding ~10 MB at 5,000 backends is
        also work); the agent's collector reads the swapped-in inputs (a newer scrape's, if one came
        meanwhile: as consistent, and newer)."""
        if inputs is not None:  # new-flow tables are built here, the families then read the digests
            api_views.warm_table_digests(inputs.snapshot)
        return encode_text(self.registry.collect()).encode()

    # -- the page ------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        name = PAGE_FILES[request.path]
        with open(os.path.join(PAGE_DIR, name), "rb") as handle:
            body = handle.read()
        content_type = CONTENT_TYPES[os.path.splitext(name)[1]]
        return web.Response(body=body, content_type=content_type, charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def state(self, request: web.Request) -> web.Response:
        self.agent.publish_pending()  # the page's base state must not be older than its events
        snap = self.agent.snapshot
        if snap is None:
            return web.json_response({"error": "starting"}, status=503)
        addresses = {name: b.address for name, b in self.agent.config.lb.backends.items()}
        # In a thread: the table shares of a thousand frontends after a change take a while (the
        # snapshot is immutable, the addresses a copy).
        view = await asyncio.get_running_loop().run_in_executor(None, state_view, snap, addresses, clock.now())
        return web.json_response(view, headers={"Cache-Control": "no-store"})

    async def rates_json(self, request: web.Request) -> web.Response:
        await self.observer.observe(self.agent.snapshot)
        # Rates and JSON in a thread: ~1 s at 1,000 VIPs, which the probes on the loop must not wait for.
        body = await asyncio.get_running_loop().run_in_executor(None, _rates_body, await self.observer.rates_copy())
        return web.Response(body=body, content_type="application/json", headers={"Cache-Control": "no-store"})

    async def events(self, request: web.Request) -> web.StreamResponse:
        try:
            sub = self.agent.events.subscribe(log_level=SSE_LOG_LEVEL, kind="page", limit=MAX_STREAMS,
                                              log_filter=events.public_log_record)
        except events.TooManySubscribers as exc:
            return web.Response(status=503, text=f"{exc}\n", headers={"Retry-After": "10"})
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
        })
        try:
            await response.prepare(request)
        except BaseException:
            sub.close()
            raise
        self._streams.add(sub)
        number = 0
        try:
            await response.write(b"retry: 1000\n: hello\n\n")
            while True:
                got, event = await within(sub.get(), SSE_KEEPALIVE)
                if not got:
                    await response.write(b": keepalive\n\n")
                    continue
                if event is _CLOSE:
                    break
                number += 1
                await response.write(sse_message(number, event))
        except (ConnectionError, RuntimeError):
            pass  # the client went away (RuntimeError: aiohttp's "closing transport")
        finally:
            self._streams.discard(sub)
            sub.close()
        return response


def _rates_body(copy: rates.RatesCopy) -> bytes:
    return json.dumps(rates.view_of(copy), separators=(",", ":")).encode()


def sse_message(number: int, event: Dict) -> bytes:
    """One server-sent event: its type as the SSE event name, the record as JSON data."""
    data = json.dumps(event, default=str, separators=(",", ":"))
    return f"id: {number}\nevent: {event.get('type', 'message')}\ndata: {data}\n\n".encode()


def state_view(snap: AgentSnapshot, addresses: Dict[str, str], now: float) -> Dict:
    """What the status page shows, as JSON-ready values."""
    backends = {}
    for name, view in snap.backends.items():
        last = view.last_result
        backends[name] = {
            "address": addresses.get(name, ""),
            "state": snap.state_of(name),
            "counter": view.counter, "rise": view.rise, "fall": view.fall, "since": view.since,
            "last_result": None if last is None else {
                "ok": last.ok, "code": last.code, "detail": last.detail, "duration": last.duration,
            },
            "transitions": page_views.transitions(view),
        }
    frontends = []
    vpp = snap.vpp
    live_vips = snap.lb_state.vips if snap.lb_state is not None and vpp.connected else {}
    for fe in snap.frontends.values():
        shares = {share.pool: share for share in fe.pools}
        pools: Dict[str, list] = {}
        for m in fe.members:
            pools.setdefault(m.pool, []).append({
                "backend": m.backend, "address": m.address, "state": m.state,
                "configured_weight": m.configured_weight, "effective_weight": m.effective_weight,
                "override": m.override, "ramp": m.ramp, "draining": m.draining, "buckets": m.buckets,
                "planned_weight": m.planned_weight,
                "since": backends[m.backend]["since"] if m.backend in backends else None,
            })
        view = {
            "name": fe.name, "vip": str(fe.vip), "state": fe.state, "active_pool": fe.active_pool,
            "released": fe.released, "description": fe.description, "flush_on_down": fe.flush_on_down,
            "spill": None if fe.spill is None else {"overprovisioning": fe.spill},
            "pools": [{"name": name, **api_views.pool_share(shares.get(name)), "members": members}
                      for name, members in pools.items()],
            "share": page_views.table_share(fe, live_vips.get(fe.vip), vpp.lb_api_version),
        }
        view["pool_split"] = weights.shows_pool_shares(fe.spill is not None, (share.share for share in fe.pools))
        frontends.append(view)
    return {
        "now": now, "at": snap.at, "version": __version__, "started_at": snap.started_at, "warmup": snap.warmup,
        "config_loaded_at": snap.config_loaded_at,
        "vpp": {
            "connected": vpp.connected, "version": vpp.version, "pid": vpp.pid, "boottime": vpp.boottime,
            "connected_since": vpp.connected_since, "lb_api_version": vpp.lb_api_version,
            "api_socket": vpp.api_socket,
        },
        "frontends": frontends,
        "backends": backends,
    }


def _mtime(path: str) -> Optional[float]:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


async def start_web(agent: AgentStatus) -> Optional[WebServer]:
    """Start serving on agent.metrics.listen; returns the server (``await close()``), or None.

    A listener that cannot bind is logged and left out: the agent's job is keeping VPP right,
    which it can do without its metrics."""
    listen = agent.config.settings.metrics_listen
    if listen is None:
        return None
    server = WebServer(agent, listen[0], listen[1])
    try:
        await server.start()
    except OSError as exc:
        logs.emit("error", "metrics-listen-failed", address=listen[0], port=listen[1], reason=str(exc))
        return None
    return server
