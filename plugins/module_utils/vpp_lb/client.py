"""The one way the core talks to VPP: a thin wrapper over the real vpp_papi client.

It dumps the LB state once into plain model objects, executes planner ops, and turns VPP's
retvals (which vpp_papi never raises on) into typed errors. vpp_papi is not thread-safe, so every
call goes through one lock; the agent additionally keeps the connection in one task.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import os
import re
import threading
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from . import pipeline, unix_socket
from .cli_parser import ParsedVip, parse_show_lb, parse_vips_verbose, vip_spec
from .errors import (
    ApplyError,
    VppApiMissingError,
    VppConnectError,
    VppDisconnectedError,
    VppError,
    VppRetvalError,
)
from .model import (
    ADD_AS,
    ADD_VIP,
    DEL_AS,
    DEL_VIP,
    ENCAP_API,
    ENCAP_FROM_API,
    SET_CONF,
    SET_WEIGHT,
    AsState,
    LbConf,
    LbState,
    Op,
    VipCounters,
    VipKey,
    VipSpec,
    VipState,
)
from .papi_session import AsyncPapiSession, SyncPapiSession

DEFAULT_API_SOCKET = "/run/vpp/api.sock"
DEFAULT_STATS_SOCKET = "/run/vpp/stats.sock"
DEFAULT_API_DIRS = ("/usr/share/vpp/api",)
DEFAULT_TIMEOUT = 5.0

# Messages every LB API generation has and the client cannot work without.
REQUIRED_MESSAGES = (
    "control_ping",
    "cli_inband",
    "show_version",
    "lb_conf",
    "lb_add_del_vip_v2",
    "lb_add_del_as",
    "lb_vip_dump",
)
SRV_TYPE_API = {"clusterip": 0, "nodeport": 1}
# LB API 1.1.0 details carry IPv4 prefixes that vpp_papi cannot convert (papi_session.py).
RAW_REPLIES_1_1_0 = frozenset({"lb_vip_details", "lb_as_details"})
_KEEP = 0xFFFFFFFF  # lb_conf: a number VPP keeps as it is
_CLI_ERROR_RETVAL = re.compile(r"error (-\d+)")


@dataclass(frozen=True)
class Capabilities:
    """What the connected VPP offers, detected from its message table at connect time."""

    lb_api_version: str  # "1.2.0" (per-AS weights, master after 26.06) or "1.1.0" (releases <= 26.06),
    # told apart by the message table: 1.1.0 lacks lb_as_set_weight and lb_add_del_as_v2
    as_weights: bool  # lb_add_del_as_v2 + lb_as_set_weight
    conf_get: bool  # lb_conf_get
    as_v2_dump: bool  # lb_as_v2_dump exists (reported only: dump() reads ASes from the CLI)
    route_lookup: bool  # ip_route_lookup (FIB stats index of a VIP)
    api_from_vpp: bool  # definitions came from VPP itself (get_api_json)
    transport: str  # "asyncio" (vpp_papi's asyncio client) or "sync" (VPPApiClient + api_dir)


def served_generation(served: Iterable[str]) -> str:
    """The LB API generation of a VPP from the messages it serves (``name_crc``): 1.2.0 serves
    lb_as_set_weight and lb_add_del_as_v2, 1.1.0 neither."""
    names = {entry.rsplit("_", 1)[0] for entry in served}
    return "1.2.0" if {"lb_as_set_weight", "lb_add_del_as_v2"} <= names else "1.1.0"


def stale_definitions(served: Iterable[str], loaded: Iterable[str]) -> List[str]:
    """The LB messages VPP serves (``name_crc``) that the loaded definitions lack or define with
    another CRC: definitions of another VPP version, which would misread or miss messages."""
    loaded = set(loaded)
    return sorted(entry for entry in served if entry.startswith("lb_") and entry not in loaded)


def is_connection_error(exc: BaseException) -> bool:
    """vpp_papi reports a dead peer with IOError subclasses (VPPIOError, VppTransportSocketIOError)."""
    return isinstance(exc, (IOError, VppDisconnectedError)) and not isinstance(exc, FileNotFoundError)


def is_retryable(exc: BaseException) -> bool:
    """Whether connecting again later may cure ``exc``: VPP not up yet, restarting, or gone.

    Not retryable: missing API messages (wrong VPP or plugin not loaded) and VPP refusing an
    operation; those need an operator.
    """
    if isinstance(exc, (VppConnectError, VppDisconnectedError)):
        return True
    return is_connection_error(exc)


class VppLbClient:
    """A connection to one VPP's LB plugin. Use as a context manager, or connect()/disconnect()."""

    def __init__(
        self,
        api_socket: str = DEFAULT_API_SOCKET,
        api_dir: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT,
        name: str = "maglev-vpp",
    ):
        self.api_socket = api_socket
        self.api_dir = api_dir
        self.timeout = timeout
        self.name = name
        self.capabilities: Optional[Capabilities] = None
        # (message, "ok" | "error" | "broken") -> count of API requests, for the agent's metrics
        self.api_calls: Dict[Tuple[str, str], int] = {}
        # ops in flight at most during an apply (pipeline.py); 1 sends one at a time
        self.pipeline_window = pipeline.DEFAULT_WINDOW
        self._session = None
        self._lock = threading.RLock()

    # -- connection -------------------------------------------------------------------------

    def __enter__(self) -> VppLbClient:
        self.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        self.disconnect()

    @property
    def connected(self) -> bool:
        """A session exists (it may have died since: see ``alive``)."""
        return self._session is not None

    @property
    def alive(self) -> bool:
        """Connected and the transport has not seen the peer go away."""
        session = self._session
        return session is not None and session.alive

    def fileno(self) -> int:
        """The API socket's file descriptor, -1 when not connected."""
        session = self._session
        return session.fileno() if session is not None else -1

    def connect(self) -> Capabilities:
        """Connect, load API definitions (from VPP, else api_dir) and detect capabilities.

        Without api_dir the definitions come from VPP itself (get_api_json, VPP >= 24.06) through
        vpp_papi's asyncio client; if VPP cannot serve them, from the first of DEFAULT_API_DIRS.
        """
        with self._lock:
            if self._session is not None:
                return self.capabilities
            self._check_socket()
            if self.api_dir:
                session = SyncPapiSession(self.api_socket, self.timeout, self.name, self.api_dir)
            else:
                try:
                    session = AsyncPapiSession(self.api_socket, self.timeout, self.name)
                except VppConnectError:
                    raise
                except Exception as exc:  # no get_api_json in this VPP
                    api_dir = next((d for d in DEFAULT_API_DIRS if os.path.isdir(d)), None)
                    if api_dir is None:
                        raise VppConnectError(
                            f"VPP at {self.api_socket} did not serve its API definitions ({exc!r}) and "
                            f"none of {', '.join(DEFAULT_API_DIRS)} exists: set api_dir"
                        ) from exc
                    session = SyncPapiSession(self.api_socket, self.timeout, self.name, api_dir)
            from_vpp = session.kind == "asyncio"
            missing = [m for m in REQUIRED_MESSAGES if not session.has(m)]
            if missing:
                session.close()
                raise VppApiMissingError(missing, "from VPP" if from_vpp else self.api_dir or "api_dir")
            served = session.served()
            mismatched = stale_definitions(served, session.loaded())
            if mismatched:
                session.close()
                raise VppConnectError(
                    f"the API definitions in {self.api_dir or 'the API directory'} do not match VPP at"
                    f" {self.api_socket}: VPP serves {', '.join(mismatched)}, which they lack or define"
                    " with another CRC (definitions of another VPP version?); point api_dir at this VPP's"
                    " definitions, or leave it unset to load them from VPP"
                )
            self._session = session
            # The generation is what VPP serves, never what the definitions happen to contain.
            weights = served_generation(served) == "1.2.0" if served else (
                session.has("lb_as_set_weight") and session.has("lb_add_del_as_v2"))
            if not weights:
                session.decode_raw(RAW_REPLIES_1_1_0)
            self.capabilities = Capabilities(
                lb_api_version="1.2.0" if weights else "1.1.0",
                as_weights=weights,
                conf_get=session.has("lb_conf_get"),
                as_v2_dump=session.has("lb_as_v2_dump"),
                route_lookup=session.has("ip_route_lookup"),
                api_from_vpp=from_vpp,
                transport=session.kind,
            )
            return self.capabilities

    def _check_socket(self) -> None:
        path = self.api_socket
        try:
            os.stat(path)
        except FileNotFoundError:
            raise VppConnectError(f"VPP API socket {path} does not exist: is VPP running?") from None
        except PermissionError:
            # os.path.exists would say "missing" here, sending the operator to restart VPP.
            raise VppConnectError(
                f"permission denied on the way to VPP API socket {path}: a directory above it is not"
                " searchable by this user (run as root or give the user access to that directory)"
            ) from None
        problem = unix_socket.file_problem(path, unix_socket.API)
        if problem:
            raise VppConnectError(f"VPP API socket {problem}")
        if not os.access(path, os.R_OK | os.W_OK):
            raise VppConnectError(
                f"permission denied on VPP API socket {path}: run as root or as a member of the group"
                " that owns it"
            )
        # vpp_papi would say only "Connection refused" or "Protocol wrong type for socket".
        problem = unix_socket.probe(path, unix_socket.API)
        if problem:
            raise VppConnectError(f"cannot use VPP API socket: {problem}")

    def disconnect(self) -> None:
        """Disconnect; quick and silent even when the peer is already gone."""
        with self._lock:
            session, self._session = self._session, None
            # Everything learnt from that VPP goes with it: the next one may be another version.
            self.capabilities = None
            if session is not None:
                session.close()

    def reconnect(self) -> Capabilities:
        """Drop the (possibly dead) connection and connect again; message ids may change."""
        self.disconnect()
        return self.connect()

    # -- calls ------------------------------------------------------------------------------

    def _require_session(self):
        if self._session is None:
            raise VppDisconnectedError(f"not connected to VPP at {self.api_socket}")
        return self._session

    def _require_capabilities(self) -> Capabilities:
        """What the connected VPP offers; VppDisconnectedError (retryable) once disconnected."""
        capabilities = self.capabilities
        if capabilities is None or self._session is None:
            raise VppDisconnectedError(f"not connected to VPP at {self.api_socket}")
        return capabilities

    def _call(self, message: str, operation: str = "", check: bool = True, **fields):
        with self._lock:
            session = self._require_session()
            if not session.has(message):
                raise VppApiMissingError([message], "connected VPP")
            try:
                reply = session.call(message, **fields)
            except VppDisconnectedError:
                self._count(message, "broken")
                raise
        self._count(message, "error" if not isinstance(reply, list) and getattr(reply, "retval", 0) else "ok")
        if check and not isinstance(reply, list) and getattr(reply, "retval", 0) != 0:
            raise VppRetvalError(message, reply.retval, operation)
        return reply

    def _count(self, message: str, result: str) -> None:
        key = (message, result)
        self.api_calls[key] = self.api_calls.get(key, 0) + 1

    def ping(self) -> int:
        """A liveness check; returns VPP's process id (a new one means VPP restarted)."""
        return self._call("control_ping").vpe_pid

    def show_version(self) -> str:
        return self._call("show_version").version

    def cli(self, command: str) -> str:
        """Run a CLI command through cli_inband; a CLI error raises VppRetvalError with VPP's text."""
        reply = self._call("cli_inband", check=False, cmd=command)
        if reply.retval != 0:
            raise VppRetvalError(f"cli_inband {command!r}: {reply.reply.strip()}", cli_retval(reply))
        return reply.reply

    @property
    def legacy_api(self) -> bool:
        """LB API 1.1.0 (VPP releases up to v26.06) and its handler bugs (vpp-facts Part 1
        "Handler bugs"): IPv4 prefixes need the ip46 length, encaps other than gre4 are misread,
        lb_vip_details is garbled."""
        return self.capabilities is not None and not self.capabilities.as_weights

    # -- state ------------------------------------------------------------------------------

    def dump_conf(self) -> LbConf:
        if self._require_capabilities().conf_get:
            r = self._call("lb_conf_get")
            return LbConf(
                ip4_src_address=str(r.ip4_src_address),
                ip6_src_address=str(r.ip6_src_address),
                sticky_buckets_per_core=r.sticky_buckets_per_core,
                flow_timeout=r.flow_timeout,
            )
        # LB API 1.1.0 cannot read buckets/timeout back; `show lb` gives the addresses only.
        parsed = parse_show_lb(self.cli("show lb"))
        return LbConf(parsed.ip4_src_address, parsed.ip6_src_address, None, None)

    def dump(self) -> LbState:
        """The live LB state: conf, VIPs (with sticky flag, pool index, counters) and used ASes.

        VIPs come from lb_vip_dump; what it lacks (src_ip_sticky, pool index, counters, and on
        LB API 1.1.0 several fields it gets wrong) and the ASes come from `show lb vips
        verbose`, which must be read anyway and lists every AS with its weight (1.2.0), bucket
        count and used/removed flag (vpp-facts.md §3). Taking the ASes from it instead of a
        second dump (lb_as_v2_dump: same pool, same fields) cuts reading 1,000 VIPs x 8 ASes
        from ~1.2 s to ~0.3 s here: vpp_papi's decoding of 8,000 AS details cost more than the
        whole CLI scrape and parse.
        """
        with gc_paused():
            conf = self.dump_conf()
            vip_details = self._call("lb_vip_dump")
            verbose = self.cli("show lb vips verbose")
            parsed = parse_vips_verbose(verbose)
            if self.legacy_api:
                vips = _vips_legacy(vip_details, parsed)
            else:
                vips = _vips(vip_details, parsed)
        return LbState(conf=conf, vips=vips)

    def parsed_vips(self) -> List[ParsedVip]:
        return parse_vips_verbose(self.cli("show lb vips verbose"))

    def route_stats_index(self, prefix: str) -> Optional[int]:
        """The FIB stats index (/net/route/to column) of a VIP prefix, or None if VPP has no route."""
        return self.route_stats_indexes([prefix])[prefix]

    def route_stats_indexes(self, prefixes: Iterable[str]) -> Dict[str, Optional[int]]:
        """``route_stats_index`` of every prefix, the lookups pipelined (one round trip per
        window, not per prefix: 100 VIPs took 80 ms one by one on a loaded machine)."""
        prefixes = list(dict.fromkeys(prefixes))
        if not self.capabilities.route_lookup:
            return dict.fromkeys(prefixes)
        found: Dict[str, Optional[int]] = {}
        window = pipeline.check_window(self.pipeline_window)
        while len(found) < len(prefixes):
            rest = prefixes[len(found):]
            requests = [("ip_route_lookup", dict(table_id=0, exact=1, prefix=p)) for p in rest]
            with self._lock:
                replies, broken, _sent = self._require_session().call_pipelined(requests, [len(requests)], window)
            for position, reply in enumerate(replies):  # VPP answers in order
                self._count("ip_route_lookup", "error" if reply.retval else "ok")
                found[rest[position]] = reply.route.stats_index if reply.retval == 0 else None
            if broken is not None or not replies:
                self._count("ip_route_lookup", "broken")
                raise broken or VppDisconnectedError(f"VPP at {self.api_socket} answered no route lookup")
            # A prefix without a route is a refusal, after which nothing more is sent: go on
            # from the first unanswered lookup.
        return found

    # -- changes ----------------------------------------------------------------------------

    def apply(self, ops: Iterable[Op]) -> List[Op]:
        """Execute ops in order, pipelined as ``pipeline.barrier_ends`` allows; returns the ops
        applied (all of them).

        VPP answers one client's requests in order, so up to ``pipeline_window`` ops are in flight,
        topped up whenever half of them were answered; at a barrier every reply so far must have
        said retval 0. On a refusal or a broken connection raises ApplyError with exact
        attribution: ``applied`` (VPP accepted them, in plan order; on the asyncio transport this
        includes ops that were in flight behind the refused one), ``failed`` (the first refused
        or unanswered op), ``refused`` (every refused op with its error), ``not_sent`` (never
        sent) and ``in_doubt`` (sent, unanswered: the connection broke; VPP may have applied
        them). The next run converges from there.
        """
        self._require_capabilities()  # each op's message depends on the LB API generation
        window = pipeline.check_window(self.pipeline_window)
        ops = list(ops)
        requests, unsendable = [], None
        for op in ops:
            try:
                requests.append(self._request_for(op))
            except VppError as exc:  # refused before reaching VPP; send what precedes it
                unsendable = exc
                break
        with self._lock, gc_paused():
            session = self._require_session()
            if requests:
                barriers = pipeline.barrier_ends(ops[: len(requests)])
                replies, broken, sent = session.call_pipelined(requests, barriers, window)
            else:
                replies, broken, sent = [], None, 0
        for position, reply in enumerate(replies):
            self._count(requests[position][0], "error" if reply.retval else "ok")
        applied, refused = [], []
        for position, reply in enumerate(replies):
            op = ops[position]
            if reply.retval == 0:
                applied.append(op)
                continue
            message = requests[position][0]
            retval = cli_retval(reply) if message == "cli_inband" else reply.retval
            refused.append((op, VppRetvalError(message, retval, self.describe(op))))
        answered = len(replies)
        if broken is not None and answered < len(requests):
            self._count(requests[answered][0], "broken")
        in_doubt, not_sent = ops[answered:sent], ops[sent:]  # without a break, all sent were answered
        if refused:
            failed, cause = refused[0]
        elif broken is not None:
            failed, cause = (in_doubt or not_sent)[0], broken  # not_sent: found dead before sending
        elif unsendable is not None:
            failed, cause = ops[len(requests)], unsendable
        else:
            return applied
        raise ApplyError(applied, failed, cause, refused=refused, not_sent=not_sent,
                         in_doubt=in_doubt) from cause

    def execute(self, op: Op) -> None:
        """Execute one op; raises VppRetvalError if VPP refuses it."""
        self._require_capabilities()
        message, fields = self._request_for(op)
        reply = self._call(message, self.describe(op), check=False, **fields)
        if reply.retval != 0:
            retval = cli_retval(reply) if message == "cli_inband" else reply.retval
            raise VppRetvalError(message, retval, self.describe(op))

    def describe(self, op: Op) -> str:
        """``op`` as the CLI of the connected VPP's generation (no ``weight`` on LB API 1.1.0)."""
        return op.describe(as_weights=not self.legacy_api)

    def _request_for(self, op: Op) -> Tuple[str, dict]:
        """The vpp_papi message and fields that carry out an op."""
        if op.action == SET_CONF:
            c = op.conf
            return "lb_conf", dict(
                ip4_src_address=c.ip4_src_address,
                ip6_src_address=c.ip6_src_address,
                # VPP keeps a number sent as 0xffffffff (vpp-facts: lb_conf and its defaults).
                sticky_buckets_per_core=_KEEP if c.sticky_buckets_per_core is None else c.sticky_buckets_per_core,
                flow_timeout=_KEEP if c.flow_timeout is None else c.flow_timeout,
            )
        if op.action in (ADD_VIP, DEL_VIP):
            spec = op.spec or VipSpec()
            if spec.new_flows_table_length < 1:
                # VPP accepts 0 as a power of two and then tries to allocate 2^32 buckets.
                raise VppRetvalError("lb_add_del_vip_v2", -70, self.describe(op))
            if op.action == ADD_VIP and self._vip_add_needs_cli(spec):
                return "cli_inband", dict(cmd=op.describe(as_weights=False))
            return "lb_add_del_vip_v2", dict(
                self._vip_fields(op.vip),
                encap=ENCAP_API[spec.encap],
                dscp=spec.dscp,
                type=SRV_TYPE_API[spec.srv_type],
                target_port=spec.target_port,
                new_flows_table_length=spec.new_flows_table_length,
                src_ip_sticky=spec.src_ip_sticky,
                is_del=op.action == DEL_VIP,
            )
        if op.action in (ADD_AS, DEL_AS):
            fields = dict(self._vip_fields(op.vip), as_address=op.address, is_del=op.action == DEL_AS,
                          is_flush=op.flush)
            if self.capabilities.as_weights:
                return "lb_add_del_as_v2", dict(fields, weight=op.weight or 0)
            return "lb_add_del_as", fields
        if op.action == SET_WEIGHT:
            if not self.capabilities.as_weights:
                raise VppApiMissingError(["lb_as_set_weight"], "connected VPP (LB API 1.1.0)")
            return "lb_as_set_weight", dict(
                self._vip_fields(op.vip), as_address=op.address, weight=op.weight, is_flush=op.flush,
            )
        raise ValueError(f"unknown op action {op.action!r}")

    def _vip_add_needs_cli(self, spec: VipSpec) -> bool:
        """Whether lb_add_del_vip_v2 cannot create this VIP as asked, so the CLI must.

        Both generations read the srv_type without byte-swapping it, so NODEPORT arrives as
        CLUSTERIP (vpp-facts Part 1 "Handler bugs" 7); LB API 1.1.0 also honours no encap but
        gre4 (bug 2). ``lb vip ... type nodeport`` / ``encap X`` through cli_inband does it right.
        """
        if spec.encap in ("nat4", "nat6") and spec.srv_type == "nodeport":
            return True
        return self.legacy_api and spec.encap != "gre4"

    def _vip_fields(self, key: VipKey) -> dict:
        """A VIP's pfx/protocol/port fields; on LB API 1.1.0 an IPv4 prefix carries the ip46
        length (96 + plen): its handlers pass the length through, and a.b.c.d/32 would make the
        IPv6 VIP ::/32 (vpp-facts Part 3 §4.2). vpp_papi takes the dict form as is."""
        if self.legacy_api and ":" not in key.prefix:
            address, length = key.prefix.split("/")
            return {"pfx": {"address": address, "len": 96 + int(length)}, "protocol": key.protocol,
                    "port": key.port}
        return {"pfx": key.prefix, "protocol": key.protocol, "port": key.port}


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic GC during bulk work (a dump, an apply, a whole module run).

    Each reply or state object is an allocation, so the GC runs often, and every full pass walks
    the whole desired and actual state the caller holds; none of these objects form cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def cli_retval(reply) -> int:
    """The VNET error a failed cli_inband reports in its text (``lb vip: lb_vip_add error -81``);
    -1 (what cli_inband's retval says) when the text names none, e.g. a parse error."""
    found = _CLI_ERROR_RETVAL.search(reply.reply or "")
    return int(found.group(1)) if found else reply.retval


def _lb_ases(cli: ParsedVip) -> Dict[str, AsState]:
    return {
        a.address: AsState(
            address=a.address,
            weight=a.weight if a.weight is not None else 100,  # 1.1.0: no weights
            num_buckets=a.buckets,
            flows=a.flows,  # lets the planner flush a drained AS (planner.py)
        )
        for a in cli.ases
        if a.used  # removed ASes stay listed until VPP's GC frees them
    }


def _vip_state(key: VipKey, spec: VipSpec, cli: ParsedVip) -> VipState:
    return VipState(key=key, spec=spec, ases=_lb_ases(cli), index=cli.index, counters=VipCounters(**cli.counters))


def _vips(vip_details, parsed: List[ParsedVip]) -> Dict[VipKey, VipState]:
    """LB API 1.2.0: VIPs from lb_vip_details, completed by the CLI."""
    by_key = {(p.prefix, p.protocol, p.port): p for p in parsed if not p.removed}
    vips: Dict[VipKey, VipState] = {}
    for d in vip_details:
        key = VipKey(str(d.vip.pfx.network), int(d.vip.protocol), int(d.vip.port))
        cli = by_key.get((key.prefix, key.protocol, key.port))
        if cli is None:
            continue  # removed between the dump and the CLI scrape; the next run sees it again
        vips[key] = _vip_state(key, _spec_from_details(d, cli), cli)
    return vips


def _vips_legacy(vip_details, parsed: List[ParsedVip]) -> Dict[VipKey, VipState]:
    """LB API 1.1.0: lb_vip_details (decoded raw) gives only which (prefix, port) exist; its
    protocol (always 0), encap (the internal type), flow_table_length (0) and srv_type are
    garbage and it lists removed VIPs too. Everything else comes from `show lb vips verbose`,
    which prints each VIP right; a VIP counts when both list it and the CLI has it in use."""
    dumped = {(raw_prefix(d.vip.pfx), int(d.vip.port)) for d in vip_details}
    vips: Dict[VipKey, VipState] = {}
    for cli in parsed:
        if cli.removed or (cli.prefix, cli.port) not in dumped:
            continue
        key = VipKey(cli.prefix, cli.protocol, cli.port)
        vips[key] = _vip_state(key, vip_spec(cli), cli)
    return vips


def raw_prefix(pfx) -> str:
    """The canonical prefix of a vl_api_prefix_t decoded without type conversion, fixed for
    LB API 1.1.0: an IPv4 VIP comes as af=IP4 with the ip46 length (96 + plen); an af=IP4
    prefix shorter than 96 is an IPv6 VIP in the low bits (the ``::/32`` an IPv4 prefix sent
    with its plain length creates), as VPP's CLI prints it."""
    address, length = pfx.address, int(pfx.len)
    if int(address.af) == 0:
        ip4 = bytes(address.un.ip4)
        if length >= 96:
            return str(ipaddress.IPv4Network((ip4, length - 96), strict=False))
        return str(ipaddress.IPv6Network((bytes(12) + ip4, length), strict=False))
    return str(ipaddress.IPv6Network((bytes(address.un.ip6), length), strict=False))


def _spec_from_details(d, cli: ParsedVip) -> VipSpec:
    encap = ENCAP_FROM_API.get(int(d.encap), cli.encap)
    # flow_table_length is a u16 on the wire (65536 reads as 0); the CLI has the real size.
    length = d.flow_table_length or cli.new_size or 0
    return VipSpec(
        encap=encap,
        src_ip_sticky=cli.src_ip_sticky,
        new_flows_table_length=length,
        dscp=int(d.dscp) if encap == "l3dsr" else 0,
        # srv_type is not byte-swapped in lb_vip_details; the CLI prints the real one.
        srv_type=(cli.srv_type or "clusterip") if encap in ("nat4", "nat6") else "clusterip",
        # target_port comes byte-swapped in lb_vip_details; the CLI prints it right.
        target_port=(cli.target_port or 0) if encap in ("nat4", "nat6") else 0,
    )
