"""Status API: HTTP/JSON on a unix socket (``agent.status_socket``), served by aiohttp.

A reader of the published snapshot (agent/api_views.py builds the documents) plus the
operator actions the Agent offers. Every route, field and error is in docs/status-api.md.

The socket is created mode 0660 (group ``agent.status_socket_group`` when set) before it
listens, so nobody outside that group can connect even for a moment. A failure to serve is
logged (``status-api-failed``) and the agent runs on without its API: VPP is its job.
"""

from __future__ import annotations

import asyncio
import grp
import json
import os
import socket
import stat
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, TypeVar

from aiohttp import web

from . import __version__, api_views, clock, events, logs
from .aiotools import within
from .config import check_config_file
from .health import HealthError
from .status import AgentStatus

T = TypeVar("T")

SOCKET_MODE = 0o660
SYNC_TIMEOUT = 30.0  # POST /vpp/sync waits this long for the full sync to finish
SETTLE_TIMEOUT = 10.0  # actions wait this long for the VPP sync they triggered
STREAM_POLL = 1.0  # event streams look for a vanished client this often
KEEPALIVE = 15.0  # an idle event stream sends an empty line this often
# Open event streams at most (maglevctl watch, the dashboards' readers): each costs a little on
# every event and log record on the agent's loop (agent/events.py); one more gets 503.
MAX_STREAMS = 32
BACKEND_ACTIONS = ("pause", "resume", "enable", "disable")
CHECK_RESULTS = {0: "ok", 1: "parse_error", 2: "semantic_error"}
TRUE_WORDS = ("1", "true", "yes", "on", "")
FALSE_WORDS = ("0", "false", "no", "off")

AGENT = web.AppKey("agent", object)
STREAMS = web.AppKey("streams", set)


class ApiError(Exception):
    """A request the API refuses: HTTP ``status`` and a message naming what was wrong."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, default=str) + "\n", status=status, content_type="application/json",
                        headers={clock.HTTP_HEADER: f"{clock.now():.6f}"})


@web.middleware
async def _errors(request: web.Request, handler: Callable) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _json({"error": exc.message, **exc.extra}, exc.status)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return _json({"error": f"method {request.method} not allowed on {request.path} (allowed: {allowed})"}, 405)
    except web.HTTPNotFound:
        return _json({"error": f"no such resource: {request.method} {request.path}"}, 404)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _json({"error": exc.reason}, exc.status)
    except Exception as exc:  # a bug: say so, keep serving, leave the details in the log
        logs.emit("error", "status-api-error", method=request.method, path=request.path, exc_info=exc)
        return _json({"error": f"internal error: {type(exc).__name__}: {exc} (see the agent log)"}, 500)


def _query(request: web.Request, allowed: Iterable[str] = ()) -> Dict[str, str]:
    allowed = set(allowed)
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ApiError(400, f"unknown query parameter {', '.join(unknown)} (allowed: {known})")
    return {k: request.query.getone(k) for k in request.query}


def _flag(query: Dict[str, str], name: str) -> Optional[bool]:
    if name not in query:
        return None
    value = query[name].lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ApiError(400, f"query parameter {name}: expected true or false, got {query[name]!r}")


def _snapshot(agent: AgentStatus):
    # A change of the last few milliseconds may still wait in the publish coalescing: a reader of
    # the API (and the event stream's opening records) must not see an older state than its events.
    agent.publish_pending()
    snap = agent.snapshot
    if snap is None:
        raise ApiError(503, "the agent is starting: no snapshot yet")
    return snap


def _vpp_connected(agent: AgentStatus) -> None:
    info = agent.vpp_info()
    if not info.connected:
        raise ApiError(503, f"not connected to VPP (api socket {info.api_socket})")


async def _vpp_settled(agent: AgentStatus, timeout: float) -> bool:
    """Whether the VPP syncs pending now finished within ``timeout`` (False when disconnected)."""
    if not agent.vpp_info().connected:
        return False
    settled, _unused = await within(agent.wait_vpp_idle(), timeout)
    agent.publish_pending()  # the answer and what the caller reads next show the sync's result
    return settled


# -- reading --------------------------------------------------------------------------------------


async def get_agent(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    snap = _snapshot(agent)
    return _json({
        "version": __version__,
        "pid": os.getpid(),
        "started_at": agent.started_at,
        "uptime": clock.now() - agent.started_at,
        "config_path": agent.config_path,
        "config_loaded_at": agent.config_loaded_at,
        "config_file_mtime": _mtime(agent.config_path),
        "last_reload": None if snap.reload is None else {
            "ok": snap.reload.ok, "at": snap.reload.at, "success_at": snap.reload.success_at,
            "error": snap.reload.error or None},
        "warmup": snap.warmup,
        "warmup_held": list(snap.held),
        "blind": api_views.blindness(snap),
        "frontends": len(snap.frontends),
        "backends": len(snap.backends),
        "vpp_connected": snap.vpp.connected,
        "event_streams": len(request.app[STREAMS]),
    })


def _mtime(path: Optional[str]) -> Optional[float]:
    try:
        return os.stat(path).st_mtime if path else None
    except OSError:
        return None


async def get_frontends(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    snap = _snapshot(agent)
    await asyncio.get_running_loop().run_in_executor(None, api_views.warm_table_digests, snap)
    return _json(api_views.frontends(snap, agent.config.lb))


async def get_frontend(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    snap = _snapshot(agent)
    view = _named(request, snap.frontends, "frontend")
    await asyncio.get_running_loop().run_in_executor(None, api_views.warm_table_digests, snap)
    return _json(api_views.frontend(view, agent.config.lb, snap))


async def get_backends(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    return _json(api_views.backends(_snapshot(agent), agent.config.lb))


async def get_backend(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    snap = _snapshot(agent)
    view = _named(request, snap.backends, "backend")
    return _json(api_views.backend(view, agent.config.lb, snap))


async def get_healthchecks(request: web.Request) -> web.Response:
    _query(request)
    return _json(api_views.healthchecks(request.app[AGENT].config.lb))


async def get_healthcheck(request: web.Request) -> web.Response:
    _query(request)
    lb = request.app[AGENT].config.lb
    return _json(api_views.healthcheck(_named(request, lb.healthchecks, "healthcheck"), lb))


def _named(request: web.Request, items: Mapping[str, T], kind: str) -> T:
    """The item the URL's ``{name}`` names; a 404 ``no such <kind> <name>`` when there is none."""
    name = request.match_info["name"]
    item = items.get(name)
    if item is None:
        raise ApiError(404, f"no such {kind} {name}")
    return item


async def get_vpp(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    snap = _snapshot(agent)
    sync = agent.sync_status()
    return _json(api_views.vpp_info(snap.vpp, snap, sync.last_full_sync, sync.sync_errors))


async def get_vpp_lb(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    snap = _snapshot(agent)
    if snap.lb_state is None:
        _vpp_connected(agent)
        raise ApiError(503, "connected to VPP, but its LB state has not been read yet")
    return _json(api_views.lb_state(snap.lb_state, agent.config.lb))


async def get_vpp_counters(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    _vpp_connected(agent)
    return _json(api_views.counters(_snapshot(agent), agent.config.lb))


# -- the event stream -----------------------------------------------------------------------------


def _stream_filter(query: Dict[str, str]):
    """(backend, frontend, log level or None): no type named means backend and frontend events."""
    backend, frontend, log = _flag(query, "backend"), _flag(query, "frontend"), _flag(query, "log")
    level = query.get("log_level")
    if level is not None:
        if level not in logs.LEVELS:
            raise ApiError(400, f"query parameter log_level: expected one of {', '.join(logs.LEVELS)}, got {level!r}")
        if log is False:
            raise ApiError(400, "query parameter log_level needs log=true")
        log = True
    if backend is None and frontend is None and log is None:
        backend, frontend = True, True
    return bool(backend), bool(frontend), (level or "info") if log else None


async def get_events(request: web.Request) -> web.StreamResponse:
    query = _query(request, ("backend", "frontend", "log", "log_level"))
    want_backend, want_frontend, log_level = _stream_filter(query)
    wanted = {"backend": want_backend, "frontend": want_frontend, "log": log_level is not None}
    agent = request.app[AGENT]
    snap = _snapshot(agent)
    streams = request.app[STREAMS]
    task = asyncio.current_task()
    # Subscribe and take the snapshot with no await between: the stream misses nothing.
    try:
        sub = agent.events.subscribe(log_level=log_level, kind="api", limit=MAX_STREAMS)
    except events.TooManySubscribers as exc:
        raise ApiError(503, str(exc)) from None
    first = api_views.initial_events(snap, agent.config.lb, want_backend, want_frontend)
    streams.add(task)
    getter: Optional[asyncio.Task] = None
    loop = asyncio.get_running_loop()
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for event in first:
            await response.write(_line(event))
        dropped = 0
        quiet_since = loop.time()
        while True:
            getter = getter or loop.create_task(sub.get())
            done, _unused = await asyncio.wait({getter}, timeout=STREAM_POLL)
            if not done:
                if request.transport is None or request.transport.is_closing():
                    break  # the client went away
                if loop.time() - quiet_since >= KEEPALIVE:
                    await response.write(b"\n")
                    quiet_since = loop.time()
                continue
            event, getter = getter.result(), None
            if sub.dropped != dropped:
                await response.write(_line({"type": "overflow", "dropped": sub.dropped - dropped}))
                dropped = sub.dropped
            if wanted.get(event.get("type")):
                await response.write(_line(event))
                quiet_since = loop.time()
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # client gone, or the server is closing
    finally:
        if getter is not None:
            getter.cancel()
        sub.close()
        streams.discard(task)
    return response


def _line(event: dict) -> bytes:
    return json.dumps(event, default=str, separators=(",", ":")).encode() + b"\n"


# -- actions --------------------------------------------------------------------------------------


async def post_backend_action(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    name, action = request.match_info["name"], request.match_info["action"]
    if action not in BACKEND_ACTIONS:
        raise ApiError(400, f"unknown action {action!r} (allowed: {', '.join(BACKEND_ACTIONS)})")
    try:
        outcome = agent.backend_action(name, action)
    except KeyError:
        raise ApiError(404, f"no such backend {name}") from None
    except HealthError as exc:
        raise ApiError(409, str(exc)) from None
    synced = await _vpp_settled(agent, SETTLE_TIMEOUT)
    transition = outcome.transition
    return _json({"backend": name, "action": action, "state": outcome.state, "changed": transition is not None,
                  "message": outcome.message,
                  "transition": api_views.transition(transition) if transition is not None else None,
                  "vpp_synced": synced})


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"request body is not UTF-8: {exc}") from None
    if not text.strip():
        raise ApiError(400, 'request body missing: expected JSON like {"weight": 50}')
    try:
        return json.loads(text)
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, f"request body is not JSON: {exc}") from None


async def put_weight(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, f'request body must be a JSON object like {{"weight": 50}}, got {type(body).__name__}')
    unknown = sorted(set(body) - {"weight"})
    if unknown:
        raise ApiError(400, f"unknown field {', '.join(unknown)} in the request body (allowed: weight)")
    if "weight" not in body:
        raise ApiError(400, "field weight missing in the request body")
    weight = body["weight"]
    f, p, b = request.match_info["frontend"], request.match_info["pool"], request.match_info["backend"]
    try:
        agent.set_weight(f, p, b, weight)
    except KeyError as exc:
        raise ApiError(404, exc.args[0] if exc.args else str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    synced = await _vpp_settled(agent, SETTLE_TIMEOUT)
    return _json({"frontend": f, "pool": p, "backend": b, "weight": weight, "vpp_synced": synced})


async def delete_weight(request: web.Request) -> web.Response:
    """Remove a runtime override: the member's configured weight applies again."""
    _query(request)
    agent = request.app[AGENT]
    f, p, b = request.match_info["frontend"], request.match_info["pool"], request.match_info["backend"]
    try:
        agent.set_weight(f, p, b, None)
    except KeyError as exc:
        raise ApiError(404, exc.args[0] if exc.args else str(exc)) from None
    synced = await _vpp_settled(agent, SETTLE_TIMEOUT)
    return _json({"frontend": f, "pool": p, "backend": b, "weight": None, "vpp_synced": synced})


async def post_reload(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    path = _config_path(agent)
    code, messages = await asyncio.get_running_loop().run_in_executor(None, check_config_file, path)
    if code != 0:
        raise ApiError(422, f"{path} is not valid; nothing changed", result=CHECK_RESULTS[code], messages=messages)
    if not await agent.reload():
        raise ApiError(422, f"reloading {path} failed (agent log: config-reload-failed); the old config runs on")
    synced = await _vpp_settled(agent, SETTLE_TIMEOUT)
    lb = agent.config.lb
    return _json({"reloaded": True, "path": path, "frontends": len(lb.frontends), "backends": len(lb.backends),
                  "healthchecks": len(lb.healthchecks), "vpp_synced": synced})


async def post_check(request: web.Request) -> web.Response:
    _query(request)
    path = _config_path(request.app[AGENT])
    code, messages = await asyncio.get_running_loop().run_in_executor(None, check_config_file, path)
    return _json({"ok": code == 0, "result": CHECK_RESULTS[code], "path": path, "messages": messages})


def _config_path(agent: AgentStatus) -> str:
    if not agent.config_path:
        raise ApiError(409, "the agent runs without a config file")
    return agent.config_path


async def post_sync(request: web.Request) -> web.Response:
    _query(request)
    agent = request.app[AGENT]
    _vpp_connected(agent)
    started = clock.now()
    agent.request_full_sync("operator")
    if not await _vpp_settled(agent, SYNC_TIMEOUT):
        _vpp_connected(agent)  # lost meanwhile: say so
        raise ApiError(504, f"the full sync did not finish within {SYNC_TIMEOUT:g}s")
    last = agent.sync_status().last_full_sync
    return _json({"synced": last is not None and last >= started, "last_full_sync": last,
                  "sync_errors": agent.sync_status().sync_errors})


# -- the server -----------------------------------------------------------------------------------


def make_app(agent: AgentStatus) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[AGENT] = agent
    app[STREAMS] = set()
    app.add_routes([
        web.get("/", get_agent),
        web.get("/frontends", get_frontends),
        web.get("/frontends/{name}", get_frontend),
        web.put("/frontends/{frontend}/pools/{pool}/backends/{backend}/weight", put_weight),
        web.post("/frontends/{frontend}/pools/{pool}/backends/{backend}/weight", put_weight),
        web.delete("/frontends/{frontend}/pools/{pool}/backends/{backend}/weight", delete_weight),
        web.get("/backends", get_backends),
        web.get("/backends/{name}", get_backend),
        web.post("/backends/{name}/{action}", post_backend_action),
        web.get("/healthchecks", get_healthchecks),
        web.get("/healthchecks/{name}", get_healthcheck),
        web.get("/vpp", get_vpp),
        web.get("/vpp/lb", get_vpp_lb),
        web.get("/vpp/counters", get_vpp_counters),
        web.post("/vpp/sync", post_sync),
        web.post("/config/reload", post_reload),
        web.post("/config/check", post_check),
        web.get("/events", get_events),
    ])
    return app


class SocketInUse(Exception):
    pass


def bind_socket(path: str, group: Optional[str]) -> socket.socket:
    """A bound (not yet listening) unix socket at ``path``, mode 0660, owned by ``group``.

    A stale socket file is replaced; a live one (another agent answers) or any other kind of
    file is left alone (SocketInUse / FileExistsError).
    """
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if not stat.S_ISSOCK(mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: left over from an agent that did not stop cleanly
        else:
            raise SocketInUse(f"{path} is in use (another agent running?)")
        finally:
            probe.close()
    gid = grp.getgrnam(group).gr_gid if group else -1  # KeyError: no such group, before anything exists
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, SOCKET_MODE)  # before listen(): a connect until then is refused anyway
        if gid != -1:
            os.chown(path, -1, gid)
    except BaseException:
        sock.close()
        raise
    return sock


class StatusServer:
    def __init__(self, runner: web.AppRunner, path: str, inode: int):
        self.runner = runner
        self.path = path
        self._inode = inode

    async def close(self) -> None:
        for task in list(self.runner.app[STREAMS]):
            task.cancel()  # event streams never end on their own
        await self.runner.cleanup()
        try:
            if os.lstat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
        logs.emit("info", "status-api-stopped", socket=self.path)


async def start_status_api(agent: AgentStatus) -> Optional[StatusServer]:
    """Serve on agent.config.settings.status_socket; None (logged) when that is not possible."""
    settings = agent.config.settings
    path, group = settings.status_socket, settings.status_socket_group
    try:
        sock = bind_socket(path, group)
    except KeyError:
        logs.emit("error", "status-api-failed", socket=path, reason=f"no such group {group}")
        return None
    except (OSError, SocketInUse) as exc:
        logs.emit("error", "status-api-failed", socket=path, reason=str(exc))
        return None
    inode = os.lstat(path).st_ino
    runner = web.AppRunner(make_app(agent), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    logs.emit("info", "status-api", socket=path, group=group, mode=oct(SOCKET_MODE))
    return StatusServer(runner, path, inode)
