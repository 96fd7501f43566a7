"""http and https probes: one request per connection, verdict from status, then body_regex.

Hand-written rather than on an HTTP client library: bench/bench_probes.py measured
(docs/performance.md, "Health probes") aiohttp's client at about half the checks per CPU-second
of a bare asyncio open_connection/write/read loop, well short of the 4,000 per CPU-second and
1.5x targets, while this probe (plain http on loop.sock_* calls, https on an asyncio SSL
transport) runs at or above the bare loop's rate. A library would also need hooks for what a
probe needs: sockets made inside the probe namespace, a hard cap on what is read, and stopping
as soon as the verdict is known.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Optional, Tuple

from ...plugins.module_utils.vpp_lb.schema import HealthCheck
from . import result as codes
from .connect import describe_os_error, open_tcp
from .http_wire import ResponseReader, build_request, server_name
from .netns import NetnsSockets
from .tls import TlsSetupError, tls_context

_READ_SIZE = 16 * 1024  # one read's buffer; a probe's whole read stays within MAX_RESPONSE_BYTES


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
            self.done.set_result((codes.L7RSP, f"connection lost: {describe_os_error(exc)}"))

    def _settle(self) -> None:
        if self.reader.verdict is not None and not self.done.done():
            self.done.set_result(self.reader.verdict)
            if isinstance(self.transport, asyncio.ReadTransport) and not self.transport.is_closing():
                self.transport.pause_reading()  # nothing more is needed; the probe closes next


async def probe_http(
    check: HealthCheck, address: str, netns: Optional[NetnsSockets]
) -> Tuple[str, str, Optional[int]]:
    tls = check.type == "https"
    phase = _Phase()
    reader = ResponseReader(check, check.method or "GET")
    request = build_request(check, address, check.port)
    try:
        async with asyncio.timeout(check.timeout):
            context = await tls_context(check) if tls else None
            sock = await open_tcp(address, check.port, check.source_address, netns)
            if context is None:
                phase.timeout = codes.L7TOUT
                code, detail = await _exchange_plain(sock, request, reader)
            else:
                phase.timeout = codes.L6TOUT
                code, detail = await _exchange_tls(sock, request, reader, context, server_name(check) or address, phase)
    except TimeoutError:
        what = {codes.L4TOUT: "no connection", codes.L6TOUT: "no TLS handshake", codes.L7TOUT: "no full response"}
        return phase.timeout, f"{what[phase.timeout]} within {check.timeout:g}s", reader.status
    except TlsSetupError as exc:
        return codes.L6RSP, str(exc), None
    except ssl.SSLCertVerificationError as exc:
        return codes.L6RSP, f"certificate: {exc.verify_message or exc.reason}", None
    except ssl.SSLError as exc:
        return codes.L6RSP, f"TLS: {exc.reason or exc}", None
    except OSError as exc:
        if phase.timeout == codes.L4TOUT:
            return codes.L4CON, describe_os_error(exc), None
        if phase.timeout == codes.L6TOUT:
            return codes.L6RSP, f"TLS handshake: {describe_os_error(exc)}", None
        return codes.L7RSP, describe_os_error(exc), reader.status
    if tls and code == codes.L7RSP and reader.received == 0:
        # TLS 1.3 ends the client's handshake before the server has checked it: a server that
        # rejects our certificate (or lack of one) just closes, often with a reset.
        code, detail = codes.L6RSP, f"TLS: {detail} (right after the handshake)"
    return code, detail, reader.status


class _Phase:
    """What a timeout means at this point of the probe."""

    timeout = codes.L4TOUT


async def _exchange_plain(sock: socket.socket, request: bytes, reader: ResponseReader) -> Tuple[str, str]:
    """Plain http straight on the socket (cheaper than a transport; bench_probes.py measured it)."""
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, request)
        buffer = bytearray(_READ_SIZE)
        view = memoryview(buffer)
        while reader.verdict is None:
            room = min(reader.limit - reader.received, _READ_SIZE)
            if room <= 0:
                return codes.L7RSP, "response larger than the read limit"  # unreachable: the reader decides first
            size = await loop.sock_recv_into(sock, view[:room])
            if size:
                reader.feed(bytes(view[:size]))
            else:
                reader.eof()
        return reader.verdict
    finally:
        sock.close()


async def _exchange_tls(
    sock: socket.socket,
    request: bytes,
    reader: ResponseReader,
    context: ssl.SSLContext,
    hostname: str,
    phase: _Phase,
) -> Tuple[str, str]:
    """https on an asyncio SSL transport; ``hostname`` is verified (sent as SNI unless an IP)."""
    loop = asyncio.get_running_loop()
    transport: Optional[asyncio.BaseTransport] = None
    try:
        done = loop.create_future()
        transport, _protocol = await loop.create_connection(
            lambda: _ProbeProtocol(reader, done), sock=sock, ssl=context, server_hostname=hostname
        )
        phase.timeout = codes.L7TOUT
        transport.write(request)
        return await done
    finally:
        if transport is not None:
            transport.abort()  # immediate close: no TLS close_notify, no lingering
        else:
            sock.close()  # the handshake failed or was cancelled: asyncio has let go of it
