"""http and https probes: one request per connection, verdict from status, then body_regex.

Hand-written on asyncio's transports rather than an HTTP client library: bench/bench_probes.py
measured (docs/performance.md, "Health probes") this probe at about the speed of a bare asyncio
open_connection/write/read loop, and aiohttp's client at well under half of it, short of the
4,000 checks per CPU-second target. A library would also need its own hooks for what a probe
needs: sockets made inside the probe namespace, a hard cap on what is read, and stopping as soon
as the verdict is known.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Dict, Optional, Tuple

from ...plugins.module_utils.vpp_lb.schema import HealthCheck
from . import result as codes
from .connect import describe_connect_error, open_tcp
from .http_wire import ResponseReader, build_request, server_name
from .netns import NetnsSockets

TlsKey = Tuple[bool, Optional[str], Optional[str], Optional[str]]
_tls_contexts: Dict[TlsKey, ssl.SSLContext] = {}
_READ_SIZE = 16 * 1024  # one read's buffer; a probe's whole read stays within MAX_RESPONSE_BYTES


class TlsSetupError(Exception):
    """The check's CA file or client certificate cannot be loaded."""


def clear_tls_contexts() -> None:
    """Forget cached TLS contexts, so changed CA or certificate files are read again (on reload)."""
    _tls_contexts.clear()


def _make_tls_context(key: TlsKey) -> ssl.SSLContext:
    insecure, ca_file, client_cert, client_key = key
    try:
        if insecure:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=ca_file)
        if client_cert:
            context.load_cert_chain(client_cert, client_key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"TLS setup: {exc}") from exc
    context.set_alpn_protocols(["http/1.1"])
    return context


async def tls_context(check: HealthCheck) -> ssl.SSLContext:
    """The check's client context, built once (file reads in a worker thread, not the loop)."""
    key = (check.tls_insecure, check.tls_ca_file, check.tls_client_cert, check.tls_client_key)
    context = _tls_contexts.get(key)
    if context is None:
        context = await asyncio.to_thread(_make_tls_context, key)
        _tls_contexts[key] = context
    return context


class _ProbeProtocol(asyncio.BufferedProtocol):
    """Feeds the response into a ResponseReader; resolves ``done`` once it has a verdict.

    A buffered protocol, so the transport reads into our buffer and never more than the reader's
    limit in all: what the server sends past it stays unread in the kernel until the probe closes.
    """

    def __init__(self, reader: ResponseReader, done: asyncio.Future) -> None:
        self.reader = reader
        self.done = done
        self.buffer = bytearray(_READ_SIZE)
        self.transport: Optional[asyncio.BaseTransport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        room = self.reader.limit - self.reader.received
        return memoryview(self.buffer)[: max(1, min(room, _READ_SIZE))]

    def buffer_updated(self, nbytes: int) -> None:
        self.reader.feed(bytes(self.buffer[:nbytes]))
        self._settle()

    def eof_received(self) -> None:
        self.reader.eof()
        self._settle()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.done.done():
            return
        if exc is None:
            self.reader.eof()
            self._settle()
        elif isinstance(exc, ssl.SSLError):
            self.done.set_result((codes.L6RSP, f"TLS: {exc}"))
        else:
            self.done.set_result((codes.L7RSP, f"connection lost: {describe_connect_error(exc)}"))

    def _settle(self) -> None:
        if self.reader.verdict is not None and not self.done.done():
            self.done.set_result(self.reader.verdict)
            if isinstance(self.transport, asyncio.ReadTransport) and not self.transport.is_closing():
                self.transport.pause_reading()  # nothing more is needed; the probe closes next


async def probe_http(
    check: HealthCheck, address: str, netns: Optional[NetnsSockets]
) -> Tuple[str, str, Optional[int]]:
    loop = asyncio.get_running_loop()
    method = check.method or "GET"
    tls = check.type == "https"
    phase = codes.L4TOUT  # what a timeout now means
    sock: Optional[socket.socket] = None
    transport: Optional[asyncio.BaseTransport] = None
    reader = ResponseReader(check, method)
    try:
        async with asyncio.timeout(check.timeout):
            context = await tls_context(check) if tls else None
            sock = await open_tcp(address, check.port, check.source_address, netns)
            phase = codes.L6TOUT if tls else codes.L7TOUT
            done = loop.create_future()
            # server_hostname: the name verified (and sent as SNI); an IP is verified, never sent.
            name = (server_name(check) or address) if tls else None
            transport, _protocol = await loop.create_connection(
                lambda: _ProbeProtocol(reader, done), sock=sock, ssl=context, server_hostname=name
            )
            sock = None  # the transport owns it now
            phase = codes.L7TOUT
            transport.write(build_request(check, address, check.port))
            code, detail = await done
            if tls and code == codes.L7RSP and reader.received == 0:
                # TLS 1.3 ends the client's handshake before the server has checked it: a server that
                # rejects our certificate (or lack of one) just closes, often with a reset.
                code, detail = codes.L6RSP, f"TLS: {detail} (right after the handshake)"
    except TimeoutError:
        what = {codes.L4TOUT: "no connection", codes.L6TOUT: "no TLS handshake", codes.L7TOUT: "no full response"}
        return phase, f"{what[phase]} within {check.timeout:g}s", reader.status
    except TlsSetupError as exc:
        return codes.L6RSP, str(exc), None
    except ssl.SSLCertVerificationError as exc:
        return codes.L6RSP, f"certificate: {exc.verify_message or exc.reason}", None
    except ssl.SSLError as exc:
        return codes.L6RSP, f"TLS: {exc.reason or exc}", None
    except OSError as exc:
        if phase == codes.L4TOUT:
            return codes.L4CON, describe_connect_error(exc), None
        if phase == codes.L6TOUT:
            return codes.L6RSP, f"TLS handshake: {describe_connect_error(exc)}", None
        return codes.L7RSP, describe_connect_error(exc), reader.status
    finally:
        if transport is not None:
            transport.abort()  # immediate close: no TLS close_notify, no lingering
        if sock is not None:
            sock.close()
    return code, detail, reader.status
