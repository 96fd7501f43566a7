"""Binary API: message definitions, the message table, and one handler per request.

The definitions come from ``vppsim/api/*.api.json`` (the same files a client loads with
``VPPApiClient(apidir=...)``), so the simulator and its clients cannot disagree on a layout.
Each message is compiled once into a big-endian ``struct.Struct`` over its flattened fixed
part, plus an optional tail (a ``string x[]`` or a counted array) that must come last. The
per-message path is then one ``unpack_from`` for the request and one ``pack`` for the reply.

A handler takes ``(conn, body)`` and returns the framed bytes to send (or ``b""``). Handlers
that touch the LB plugin hold ``server.lock``: ``LbPlugin`` is not thread-safe.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
import sys
import time
import traceback
from collections import namedtuple
from typing import Any, Callable, ContextManager, Protocol

from vppsim import api_dir_for
from vppsim.cli import run_cli
from vppsim.connection import Connection


class ServerSide(Protocol):
    """What the handlers use of the server (vppsim.server.Server): no import back, no cycle."""

    api: ApiDefinitions
    generation: int
    lb: Any
    lock: ContextManager[Any]
    restart_after: int

    @property
    def vpe_pid(self) -> int: ...

    def register(self, conn: Connection, name: str) -> int: ...

    def unregister(self, conn: Connection) -> None: ...

    def registration(self, index: int) -> Connection | None: ...

    def fault_command(self, conn: Connection, words: list[str]) -> tuple[int, str]: ...

    def note_write(self, conn: Connection) -> None: ...

    def stats_command(self, words: list[str]) -> tuple[int, str]: ...


# Modules that register messages, in message-id order. memclnt must come first: vpp_papi
# hardcodes sockclnt_create=15 and its reply=16, which is memclnt's file order from id 1.
MODULES = ("memclnt", "vlib", "vpe", "ip", "lb")
# Messages that only exist in LB API 1.2.0 (VPP master after 26.06); vppsim/api-1.1.0/lb.api.json
# is vppsim/api/lb.api.json without them (a test keeps the two in step).
LB_MASTER_ONLY = frozenset(
    {
        "lb_conf_get",
        "lb_conf_get_reply",
        "lb_add_del_as_v2",
        "lb_add_del_as_v2_reply",
        "lb_as_set_weight",
        "lb_as_set_weight_reply",
        "lb_as_v2_dump",
        "lb_as_v2_details",
    }
)

HDR = struct.Struct(">QII")

# VNET_API_ERROR values used here (src/vnet/error.h)
E_INVALID_SW_IF_INDEX = -2
E_NO_SUCH_FIB = -3
E_NO_SUCH_ENTRY = -6
E_INVALID_VALUE = -7
E_UNIMPLEMENTED = -9

_BASE_FMT = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i", "u64": "Q", "i64": "q",
             "bool": "B"}


class ProtocolError(Exception):
    """The peer sent something VPP would not accept; the connection is dropped."""


# ---------------------------------------------------------------------- definitions / codec
def _strip(t: str) -> str:
    return t[7:-2] if t.startswith("vl_api_") and t.endswith("_t") else t


class TypeRegistry:
    """All named types (enums, unions, typedefs, aliases) of the loaded api.json documents."""

    def __init__(self) -> None:
        self.enums: dict[str, str] = {}
        self.unions: dict[str, list] = {}
        self.types: dict[str, list] = {}
        self.aliases: dict[str, dict] = {}

    def add_document(self, doc: dict) -> None:
        for e in doc.get("enums", []) + doc.get("enumflags", []):
            enumtype = "u32"
            for item in e[1:]:
                if isinstance(item, dict):
                    enumtype = item.get("enumtype", "u32")
            self.enums[e[0]] = enumtype
        for u in doc.get("unions", []):
            self.unions[u[0]] = [f for f in u[1:] if isinstance(f, list)]
        for t in doc.get("types", []):
            self.types[t[0]] = [f for f in t[1:] if isinstance(f, list)]
        self.aliases.update(doc.get("aliases", {}))

    def size(self, ftype: str) -> int:
        leaves, tail = self.flatten(ftype, "x")
        if tail is not None:
            raise ValueError(f"{ftype} has no fixed size")
        return struct.calcsize(">" + "".join(f for f, _leaf in leaves))

    def flatten(self, ftype: str, name: str) -> tuple[list[tuple[str, str]], tuple | None]:
        """Return ([(struct code, leaf name)], tail) for one field of type ``ftype``."""
        t = _strip(ftype)
        if t in _BASE_FMT:
            return [(_BASE_FMT[t], name)], None
        if t == "f64":
            raise NotImplementedError("f64 is native-endian in vpp_papi; not used by vppsim")
        if t in self.enums:
            return [(_BASE_FMT[self.enums[t]], name)], None
        if t in self.unions:
            size = max(self.size(m[0]) for m in self.unions[t])
            return [(f"{size}s", name)], None
        if t in self.aliases:
            a = self.aliases[t]
            if "length" in a:
                return self.flatten_field([a["type"], name, a["length"]])
            return self.flatten(a["type"], name)
        if t in self.types:
            return self.flatten_fields(self.types[t], name + "_")
        raise KeyError(f"unknown type {ftype}")

    def flatten_field(self, f: list) -> tuple[list[tuple[str, str]], tuple | None]:
        ftype, name = f[0], f[1]
        rest = [x for x in f[2:] if not isinstance(x, dict)]
        if not rest:
            return self.flatten(ftype, name)
        n = rest[0]
        if len(rest) == 2:  # counted array: [type, name, 0, "count_field"]
            return [], ("vla", name, rest[1], ftype)
        if n == 0:
            if ftype == "string":
                return [], ("string", name)
            return [], ("vla", name, None, ftype)
        if ftype in ("string", "u8"):
            return [(f"{n}s", name)], None
        leaves: list[tuple[str, str]] = []
        for i in range(n):
            sub, tail = self.flatten(ftype, f"{name}_{i}")
            if tail is not None:
                raise ValueError("variable-size array element")
            leaves += sub
        return leaves, None

    def flatten_fields(self, fields: list, prefix: str = "") -> tuple[list[tuple[str, str]], tuple | None]:
        leaves: list[tuple[str, str]] = []
        tail = None
        for f in fields:
            if tail is not None:
                raise ValueError(f"field {f[1]} follows a variable-size field")
            sub, sub_tail = self.flatten_field(f)
            leaves += [(code, prefix + leaf) for code, leaf in sub]
            if sub_tail is not None:
                if sub_tail[0] == "vla" and sub_tail[2] is not None:
                    sub_tail = ("vla", prefix + sub_tail[1], prefix + sub_tail[2], sub_tail[3])
                elif sub_tail[0] == "string":
                    sub_tail = ("string", prefix + sub_tail[1])
                tail = sub_tail
        return leaves, tail


class Codec:
    """One message compiled to structs: fixed part + optional trailing string or counted array."""

    def __init__(self, registry: TypeRegistry, name: str, crc: str, fields: list, msg_id: int) -> None:
        self.name = name
        self.crc = crc
        self.id = msg_id
        leaves, tail = registry.flatten_fields(fields)
        self.fields = [leaf for _code, leaf in leaves]
        fmt = "".join(code for code, _leaf in leaves)
        self.body = struct.Struct(">" + fmt)
        # Header and fixed body in one struct: a fixed-size reply is framed by a single pack().
        self.framed = struct.Struct(">QII" + fmt)
        self.tail = tail
        self.elem: struct.Struct | None = None
        if tail is not None and tail[0] == "vla":
            elem_leaves, elem_tail = registry.flatten(tail[3], "e")
            if elem_tail is not None:
                raise ValueError("nested variable-size arrays are not supported")
            self.elem = struct.Struct(">" + "".join(code for code, _leaf in elem_leaves))
        names = self.fields + ([tail[1]] if tail else [])
        self.tuple = namedtuple(name, [n if n != "_vl_msg_id" else "msgid" for n in names])
        self.has_retval = "retval" in self.fields
        self.has_context = "context" in self.fields

    def decode(self, body: bytes) -> Any:
        """Request bytes → namedtuple of flattened fields (a trailing string is returned as bytes)."""
        try:
            vals = self.body.unpack_from(body, 0)
            if self.tail is None:
                return self.tuple._make(vals)
            off = self.body.size
            if self.tail[0] == "string":
                (n,) = struct.unpack_from(">I", body, off)
                data = bytes(body[off + 4 : off + 4 + n])
                if len(data) != n:
                    raise ProtocolError(f"{self.name}: truncated string")
                return self.tuple._make((*vals, data))
            count = vals[self.fields.index(self.tail[2])] if self.tail[2] else None
            assert self.elem is not None
            items = []
            n = count if count is not None else (len(body) - off) // self.elem.size
            for i in range(n):
                items.append(self.elem.unpack_from(body, off + i * self.elem.size))
            return self.tuple._make((*vals, items))
        except struct.error as e:
            raise ProtocolError(f"{self.name}: {e}") from e

    def frame(self, *vals: Any) -> bytes:
        """Frame a fixed-size message from its flattened values (starting with the message id)."""
        return self.framed.pack(0, self.body.size, 0, *vals)

    def frame_tail(self, vals: tuple, tail: bytes) -> bytes:
        """Frame a message whose variable part is already encoded."""
        body = self.body.pack(*vals)
        return HDR.pack(0, len(body) + len(tail), 0) + body + tail

    def zero_values(self) -> list:
        """Flattened values of an all-zero message (used for injected error replies)."""
        return [b"" if code.endswith("s") else 0 for code in _codes(self.body.format)]


def _codes(fmt: str) -> list[str]:
    out, num = [], ""
    for ch in fmt.lstrip(">"):
        if ch.isdigit():
            num += ch
        else:
            out.append(num + ch)
            num = ""
    return out


def encode_string(s: bytes | str) -> bytes:
    """``string x[]``: u32 big-endian length + bytes, no NUL."""
    if isinstance(s, str):
        s = s.encode("utf-8", errors="replace")
    return struct.pack(">I", len(s)) + s


class ApiDefinitions:
    """Loaded api.json documents, the message table and compiled codecs."""

    def __init__(self, api_dir: str | None = None, lb_api_version: str = "1.2.0") -> None:
        """Load ``api_dir`` (default: the directory of ``lb_api_version``, see vppsim.api_dir_for)."""
        self.api_dir = api_dir if api_dir is not None else api_dir_for(lb_api_version)
        self.lb_api_version = lb_api_version
        self.registry = TypeRegistry()
        docs: dict[str, dict] = {}
        for fn in sorted(os.listdir(self.api_dir)):
            if fn.endswith(".api.json"):
                with open(os.path.join(self.api_dir, fn)) as f:
                    docs[fn[: -len(".api.json")]] = json.load(f)
        for d in docs.values():
            self.registry.add_document(d)
        self.codecs: dict[str, Codec] = {}
        self.by_id: list[Codec | None] = [None]
        self.services: dict[str, dict] = {}
        self.module_first_id: dict[str, int] = {}
        served_docs = []
        for module in MODULES:
            doc = docs[module]
            self.module_first_id[module] = len(self.by_id)
            for m in doc["messages"]:
                meta = next(x for x in m[1:] if isinstance(x, dict))
                fields = [x for x in m[1:] if isinstance(x, list)]
                codec = Codec(self.registry, m[0], meta["crc"], fields, len(self.by_id))
                self.codecs[m[0]] = codec
                self.by_id.append(codec)
            self.services.update(doc.get("services", {}))
            if module != "memclnt":
                served_docs.append(doc)
        # get_api_json: every module that registers messages except memclnt; type-only files are
        # left out (their types travel inside each module's own document), as VPP does.
        self.api_json = json.dumps(served_docs)
        self.message_table = [(c.id, f"{c.name}_{c.crc[2:]}") for c in self.by_id[1:] if c is not None]

    def __getitem__(self, name: str) -> Codec:
        return self.codecs[name]

    def reply_of(self, request: str) -> Codec | None:
        svc = self.services.get(request)
        if not svc or svc.get("reply") in (None, "null"):
            return None
        if svc.get("stream") and "stream_msg" not in svc:
            return None  # old-style dump: details carry no retval
        return self.codecs.get(svc["reply"])


# ---------------------------------------------------------------------- address helpers
_ZERO12 = bytes(12)


def decode_address(af: int, un: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """vl_api_address_t → ipaddress object (IPv4 sits in the first 4 bytes of the union)."""
    if af == 0:
        return ipaddress.IPv4Address(un[:4])
    return ipaddress.IPv6Address(un)


def encode_address(ip: Any) -> tuple[int, bytes]:
    if ip.version == 4:
        return 0, ip.packed + _ZERO12
    return 1, ip.packed


def encode_prefix(pfx: Any) -> tuple[int, bytes, int]:
    """Interface/Network, or an (address, plen) pair carried as-is (REL-style IPv4 len 96+x)."""
    if isinstance(pfx, tuple):
        ip, plen = pfx
        if isinstance(ip, str):
            ip = ipaddress.ip_address(ip)
        af, un = encode_address(ip)
        return af, un, int(plen)
    if isinstance(pfx, str):
        pfx = ipaddress.ip_interface(pfx)
    if isinstance(pfx, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        af, un = encode_address(pfx.network_address)
    else:
        af, un = encode_address(pfx.ip)
    return af, un, pfx.network.prefixlen if hasattr(pfx, "network") else pfx.prefixlen


def _vip_values(vip: dict) -> tuple:
    af, un, plen = encode_prefix(vip["pfx"])
    return af, un, plen, int(vip["protocol"]) & 0xFF, int(vip["port"]) & 0xFFFF


# ---------------------------------------------------------------------- handlers
class Handlers:
    """Request handlers indexed by message id (``table[msg_id]``)."""

    def __init__(self, server: ServerSide) -> None:
        self.server = server
        self.api = api = server.api
        self.table: list[Callable[[Connection, bytes], bytes] | None] = [None] * len(api.by_id)
        self._hostname = socket.gethostname()
        own = {name[len("_h_") :]: getattr(self, name) for name in dir(self) if name.startswith("_h_")}
        for name, fn in own.items():
            if name in api.codecs:
                self.table[api[name].id] = fn
        # Messages VPP knows but a socket client never needs: harmless replies, no drops.
        for name in ("memclnt_create", "memclnt_create_v2", "memclnt_delete", "rpc_call", "sock_init_shm"):
            if name in api.codecs:
                self.table[api[name].id] = self._unsupported(name)
        for name in ("rx_thread_exit", "memclnt_rx_thread_suspend", "memclnt_read_timeout",
                     "trace_plugin_msg_ids", "memclnt_keepalive_reply"):
            if name in api.codecs:
                self.table[api[name].id] = self._ignore

        # Precomputed pieces for the hot and the constant replies.
        self._ping_id = api["control_ping_reply"].id
        self._ping_in = struct.Struct(">HII")
        self._ping_out = struct.Struct(">QIIHIiII")
        entries = b"".join(struct.pack(">H64s", i, n.encode()) for i, n in api.message_table)
        self._msg_table = struct.pack(">H", len(api.message_table)) + entries
        self._create_head = struct.Struct(">HIIiI")
        self._api_json = encode_string(api.api_json)

    # ------------------------------------------------------------------ utilities
    def _autoreply(self, name: str, context: int, retval: int) -> bytes:
        c = self.api[name + "_reply"]
        return c.frame(c.id, context, retval)

    def _unsupported(self, name: str) -> Callable[[Connection, bytes], bytes]:
        reply = self.api.codecs.get(name + "_reply")

        def handler(conn: Connection, body: bytes) -> bytes:
            if reply is None or not reply.has_retval:
                return b""
            req = self.api[name].decode(body)
            vals = reply.zero_values()
            vals[0] = reply.id
            vals[reply.fields.index("context")] = getattr(req, "context", 0)
            vals[reply.fields.index("retval")] = E_UNIMPLEMENTED
            return reply.frame(*vals)

        return handler

    def _ignore(self, conn: Connection, body: bytes) -> bytes:
        return b""

    def error_reply(self, request: str, body: bytes, retval: int) -> bytes:
        """An injected error: the request's reply with ``retval`` and every other field zero."""
        reply = self.api.reply_of(request)
        if reply is None:
            return b""
        req = self.api[request].decode(body)
        vals = reply.zero_values()
        vals[0] = reply.id
        vals[reply.fields.index("context")] = req.context
        vals[reply.fields.index("retval")] = retval
        if reply.tail is None:
            return reply.frame(*vals)
        return reply.frame_tail(tuple(vals), struct.pack(">I", 0) if reply.tail[0] == "string" else b"")

    def _lb(self, conn: Connection) -> Any:
        """The current LbPlugin; caller holds server.lock. Stale (pre-restart) requests are dropped."""
        if conn.generation != self.server.generation:
            raise ProtocolError("connection belongs to a previous incarnation")
        return self.server.lb

    # ------------------------------------------------------------------ memclnt
    def _h_sockclnt_create(self, conn: Connection, body: bytes) -> bytes:
        req = self.api["sockclnt_create"].decode(body)
        index = self.server.register(conn, req.name.split(b"\0", 1)[0].decode("ascii", "replace"))
        head = self._create_head.pack(16, 0, req.context, 0, index)
        return HDR.pack(0, len(head) + len(self._msg_table), 0) + head + self._msg_table

    def _h_sockclnt_delete(self, conn: Connection, body: bytes) -> bytes:
        req = self.api["sockclnt_delete"].decode(body)
        c = self.api["sockclnt_delete_reply"]
        target = self.server.registration(req.index)
        if target is None:
            return c.frame(c.id, req.context, -1)
        # VPP answers, then frees the registration and closes its socket.
        if target is conn:
            conn.close_after_reply = True
        else:
            self.server.unregister(target)
            target.shutdown()
        return c.frame(c.id, req.context, 1)

    def _h_control_ping(self, conn: Connection, body: bytes) -> bytes:
        try:
            _msg_id, client_index, context = self._ping_in.unpack_from(body, 0)
        except struct.error as e:
            raise ProtocolError(str(e)) from e
        # Master echoes the caller's client_index; v26.06 (LB API 1.1.0) answers 0 to every
        # client (observed on a real v26.06).
        if self.api.lb_api_version == "1.1.0":
            client_index = 0
        return self._ping_out.pack(0, 18, 0, self._ping_id, context, 0, client_index, self.server.vpe_pid)

    def _h_get_api_json(self, conn: Connection, body: bytes) -> bytes:
        context = self.api["get_api_json"].decode(body).context
        c = self.api["get_api_json_reply"]
        return c.frame_tail((c.id, context, 0), self._api_json)

    def _h_api_versions(self, conn: Connection, body: bytes) -> bytes:
        context = self.api["api_versions"].decode(body).context
        c = self.api["api_versions_reply"]
        return c.frame_tail((c.id, context, 0, 0), b"")

    def _h_get_first_msg_id(self, conn: Connection, body: bytes) -> bytes:
        req = self.api["get_first_msg_id"].decode(body)
        name = req.name.split(b"\0", 1)[0].decode("ascii", "replace")
        module = name.rsplit("_", 1)[0] if name not in self.api.module_first_id else name
        first = self.api.module_first_id.get(module)
        c = self.api["get_first_msg_id_reply"]
        if first is None:
            return c.frame(c.id, req.context, E_INVALID_VALUE, 0xFFFF)
        return c.frame(c.id, req.context, 0, first)

    def _h_memclnt_keepalive(self, conn: Connection, body: bytes) -> bytes:
        return self._autoreply("memclnt_keepalive", self.api["memclnt_keepalive"].decode(body).context, 0)

    # ------------------------------------------------------------------ vpe / vlib
    def _h_show_version(self, conn: Connection, body: bytes) -> bytes:
        context = self.api["show_version"].decode(body).context
        c = self.api["show_version_reply"]
        s = self.server
        return c.frame(c.id, context, 0, b"vpe", s.version.encode(), s.build_date.encode(), b"")

    def _h_cli_inband(self, conn: Connection, body: bytes) -> bytes:
        req = self.api["cli_inband"].decode(body)
        cmd = req.cmd.decode("utf-8", "replace")
        words = cmd.split()
        if (len(words) == 2 and len(words[0]) >= 2 and "show".startswith(words[0])
                and len(words[1]) >= 3 and "version".startswith(words[1])):
            s = self.server
            retval, text = 0, f"vpp v{s.version} built by vppsim on {self._hostname} at {s.build_date}\n"
        elif words[:2] == ["sim", "fault"]:
            retval, text = self.server.fault_command(conn, words[2:])
        elif words[:2] == ["sim", "stats"]:
            retval, text = self.server.stats_command(words[2:])
        else:
            with self.server.lock:
                retval, text = run_cli(self._lb(conn), cmd)
            if words and words[0] == "lb" and self.server.restart_after:
                self.server.note_write(conn)  # an LB change by CLI counts as a write
        c = self.api["cli_inband_reply"]
        return c.frame_tail((c.id, req.context, retval), encode_string(text))

    # ------------------------------------------------------------------ ip
    def _h_ip_route_lookup(self, conn: Connection, body: bytes) -> bytes:
        req = self.api["ip_route_lookup"].decode(body)
        c = self.api["ip_route_lookup_reply"]
        ip = decode_address(req.prefix_address_af, req.prefix_address_un)
        plen = req.prefix_len
        found = None
        retval = 0
        if req.table_id != 0:
            retval = E_NO_SUCH_FIB  # only the default table exists in the simulator
        else:
            with self.server.lock:
                found = self._lb(conn).route_lookup(0, ip, plen, bool(req.exact))
            if found is None:
                retval = E_NO_SUCH_ENTRY
        if retval:
            return c.frame_tail((c.id, req.context, retval, 0, 0, 0, b"", 0, 0), b"")
        if isinstance(found, tuple):  # (stats_index, matched prefix) if the plugin reports it
            stats_index, matched = found
            af, un, plen = encode_prefix(matched)
        else:
            stats_index = found
            af, un = req.prefix_address_af, req.prefix_address_un
            net = ipaddress.ip_network((ip, min(plen, ip.max_prefixlen)), strict=False)
            un = encode_address(net.network_address)[1]
        assert c.elem is not None
        nh_proto = 0 if af == 0 else 1
        path = [0xFFFFFFFF, 0, 0, 1, 0, 0, 0, nh_proto, b"", 0, 0, 0, 0]
        path += [0] * (len(_codes(c.elem.format)) - len(path))
        route = (req.table_id, stats_index, af, un, plen, 1)
        return c.frame_tail((c.id, req.context, 0, *route), c.elem.pack(*path))

    # ------------------------------------------------------------------ lb
    def _vip_key(self, req: Any) -> tuple:
        return decode_address(req.pfx_address_af, req.pfx_address_un), req.pfx_len, req.protocol, req.port

    def _h_lb_conf(self, conn: Connection, body: bytes) -> bytes:
        req = self.api["lb_conf"].decode(body)
        ip4 = ipaddress.IPv4Address(req.ip4_src_address)
        ip6 = ipaddress.IPv6Address(req.ip6_src_address)
        with self.server.lock:
            rv = self._lb(conn).conf(ip4, ip6, req.sticky_buckets_per_core, req.flow_timeout)
        return self._autoreply("lb_conf", req.context, rv)

    def _h_lb_conf_get(self, conn: Connection, body: bytes) -> bytes:
        context = self.api["lb_conf_get"].decode(body).context
        with self.server.lock:
            conf = self._lb(conn).conf_get()
        c = self.api["lb_conf_get_reply"]
        return c.frame(c.id, context, 0, ipaddress.IPv4Address(conf["ip4_src_address"]).packed,
                       ipaddress.IPv6Address(conf["ip6_src_address"]).packed,
                       conf["sticky_buckets_per_core"] & 0xFFFFFFFF, conf["flow_timeout"] & 0xFFFFFFFF)

    def _vip_add_del(self, name: str, conn: Connection, body: bytes, sticky_field: bool) -> bytes:
        req = self.api[name].decode(body)
        ip, plen, protocol, port = self._vip_key(req)
        with self.server.lock:
            lb = self._lb(conn)
            if req.is_del:
                rv = lb.vip_del(ip, plen, protocol, port)
            else:
                sticky = bool(req.src_ip_sticky) if sticky_field else False
                rv = lb.vip_add(ip, plen, protocol, port, req.encap, req.dscp, req.type, req.target_port,
                                req.new_flows_table_length, sticky)
        return self._autoreply(name, req.context, rv)

    def _h_lb_add_del_vip(self, conn: Connection, body: bytes) -> bytes:
        return self._vip_add_del("lb_add_del_vip", conn, body, False)

    def _h_lb_add_del_vip_v2(self, conn: Connection, body: bytes) -> bytes:
        return self._vip_add_del("lb_add_del_vip_v2", conn, body, True)

    def _as_add_del(self, name: str, conn: Connection, body: bytes, weighted: bool) -> bytes:
        req = self.api[name].decode(body)
        ip, plen, protocol, port = self._vip_key(req)
        as_ip = decode_address(req.as_address_af, req.as_address_un)
        with self.server.lock:
            lb = self._lb(conn)
            if req.is_del:
                rv = lb.as_del(ip, plen, protocol, port, as_ip, bool(req.is_flush))
            else:
                weight = req.weight if weighted else 100
                rv = lb.as_add(ip, plen, protocol, port, as_ip, weight, bool(req.is_flush))
        return self._autoreply(name, req.context, rv)

    def _h_lb_add_del_as(self, conn: Connection, body: bytes) -> bytes:
        return self._as_add_del("lb_add_del_as", conn, body, False)

    def _h_lb_add_del_as_v2(self, conn: Connection, body: bytes) -> bytes:
        return self._as_add_del("lb_add_del_as_v2", conn, body, True)

    def _h_lb_as_set_weight(self, conn: Connection, body: bytes) -> bytes:
        req = self.api["lb_as_set_weight"].decode(body)
        ip, plen, protocol, port = self._vip_key(req)
        as_ip = decode_address(req.as_address_af, req.as_address_un)
        with self.server.lock:
            rv = self._lb(conn).as_set_weight(ip, plen, protocol, port, as_ip, req.weight, bool(req.is_flush))
        return self._autoreply("lb_as_set_weight", req.context, rv)

    def _h_lb_flush_vip(self, conn: Connection, body: bytes) -> bytes:
        req = self.api["lb_flush_vip"].decode(body)
        ip, plen, protocol, port = self._vip_key(req)
        with self.server.lock:
            rv = self._lb(conn).flush_vip(ip, plen, protocol, port)
        return self._autoreply("lb_flush_vip", req.context, rv)

    def _h_lb_vip_dump(self, conn: Connection, body: bytes) -> bytes:
        context = self.api["lb_vip_dump"].decode(body).context
        with self.server.lock:
            vips = self._lb(conn).vip_details()
        c = self.api["lb_vip_details"]
        cid, pack, size = c.id, c.framed.pack, c.body.size
        return b"".join(
            pack(0, size, 0, cid, context, *_vip_values(v["vip"]), int(v["encap"]) & 0xFFFFFFFF,
                 int(v["dscp"]) & 0xFF, int(v["srv_type"]) & 0xFFFFFFFF, int(v["target_port"]) & 0xFFFF,
                 int(v["flow_table_length"]) & 0xFFFF)
            for v in vips
        )

    def _as_dump(self, name: str, details: str, conn: Connection, body: bytes, v2: bool) -> bytes:
        req = self.api[name].decode(body)
        ip, plen, protocol, port = self._vip_key(req)
        with self.server.lock:
            ases = self._lb(conn).as_details(ip, plen, protocol, port)
        c = self.api[details]
        cid, pack, size, context = c.id, c.framed.pack, c.body.size, req.context
        out = []
        vip_cache: dict[int, tuple] = {}  # ASes of one VIP share its dict: encode it once
        for a in ases:
            vd = a["vip"]
            vv = vip_cache.get(id(vd))
            if vv is None:
                vv = vip_cache[id(vd)] = _vip_values(vd)
            af, un = encode_address(a["app_srv"])
            if v2:
                out.append(pack(0, size, 0, cid, context, *vv, af, un, a["flags"] & 0xFF,
                                a["in_use_since"] & 0xFFFFFFFF, a["weight"] & 0xFF,
                                a["num_buckets"] & 0xFFFFFFFF))
            else:
                out.append(pack(0, size, 0, cid, context, *vv, af, un, a["flags"] & 0xFF,
                                a["in_use_since"] & 0xFFFFFFFF))
        return b"".join(out)

    def _h_lb_as_dump(self, conn: Connection, body: bytes) -> bytes:
        return self._as_dump("lb_as_dump", "lb_as_details", conn, body, False)

    def _h_lb_as_v2_dump(self, conn: Connection, body: bytes) -> bytes:
        return self._as_dump("lb_as_v2_dump", "lb_as_v2_details", conn, body, True)

    def _nat_intf(self, name: str, body: bytes) -> bytes:
        # The only interface is local0 (sw_if_index 0, on every VPP): enabling or disabling the
        # NAT feature on it answers 0 as on VPP; every other index is invalid.
        msg = self.api[name].decode(body)
        return self._autoreply(name, msg.context, 0 if msg.sw_if_index == 0 else E_INVALID_SW_IF_INDEX)

    def _h_lb_add_del_intf_nat4(self, conn: Connection, body: bytes) -> bytes:
        return self._nat_intf("lb_add_del_intf_nat4", body)

    def _h_lb_add_del_intf_nat6(self, conn: Connection, body: bytes) -> bytes:
        return self._nat_intf("lb_add_del_intf_nat6", body)


def log_exception(what: str) -> None:
    """Report a handler failure on stderr (the connection is then dropped, like a VPP crash would)."""
    sys.stderr.write(f"vppsim: {what} at {time.strftime('%H:%M:%S')}\n{traceback.format_exc()}")
    sys.stderr.flush()
