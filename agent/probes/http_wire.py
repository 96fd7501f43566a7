"""HTTP/1.1 on the wire for probes: the request bytes and an incremental response reader. Pure."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Optional, Tuple

from ...plugins.module_utils.vpp_lb.schema import DEFAULT_PORTS, HealthCheck
from .. import __version__
from . import result as codes

MAX_RESPONSE_BYTES = 64 * 1024  # the most a probe reads: header block and body together
USER_AGENT = f"maglev-agent/{__version__}"

_STATUS_LINE_RE = re.compile(rb"^HTTP/1\.[01] ([1-5][0-9][0-9])(?: ([^\r\n]*))?$")
_HEADER_NAME_RE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEAD_RE = re.compile(
    rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: ([^\r\n]*))?\r?\n"
    rb"((?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*\r?\n)*)"
    rb"(?:\r?\n)?"
)
_CHUNK_SIZE_RE = re.compile(rb"^([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?$")


class ResponseError(ValueError):
    """The response does not parse as HTTP/1.x."""


# -- request -------------------------------------------------------------------------------------


def host_header(check: HealthCheck, address: str, port: int) -> str:
    """``host`` when set, else the backend address (bracketed for IPv6) with a non-default port."""
    if check.host:
        return check.host
    text = f"[{address}]" if ":" in address else address
    return text if port == DEFAULT_PORTS.get(check.type) else f"{text}:{port}"


def server_name(check: HealthCheck) -> Optional[str]:
    """The TLS server name: tls_server_name, else host without a port; None for an IP literal."""
    name = check.tls_server_name or check.host
    if not name:
        return None
    if name.startswith("["):  # "[2001:db8::1]:443"
        return None
    if name.count(":") == 1:
        name = name.split(":", 1)[0]
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name
    return None  # RFC 6066: SNI carries host names only


@functools.lru_cache(maxsize=4096)
def build_request(check: HealthCheck, address: str, port: int) -> bytes:
    """The request bytes; ``Connection: close`` so the server's close ends an unframed body."""
    lines = [f"{check.method or 'GET'} {check.path or '/'} HTTP/1.1", f"Host: {host_header(check, address, port)}"]
    given = {name.lower() for name, _value in check.headers}
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in given:
        lines.append("Accept: */*")
    lines.extend(f"{name}: {value}" for name, value in check.headers)
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


# -- response ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    raw_headers: bytes  # the header lines as received, already checked to be well-formed

    @functools.cached_property
    def headers(self) -> Tuple[Tuple[str, str], ...]:
        """(lower-case name, value) pairs in order; split only when a verdict needs them."""
        pairs = []
        for line in self.raw_headers.split(b"\n"):
            name, sep, value = line.partition(b":")
            if sep:
                pairs.append((name.decode("ascii").lower(), value.strip(b" \t\r").decode("latin-1")))
        return tuple(pairs)

    def header(self, name: str) -> Optional[str]:
        """The last value of header ``name`` (lower case), or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


def head_end(buffer: bytes) -> int:
    """Offset just past the blank line that ends the header block, or -1 if it has not arrived."""
    crlf = buffer.find(b"\r\n\r\n")
    lf = buffer.find(b"\n\n")  # tolerated, as most clients do
    ends = [i + 4 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
    return min(ends) if ends else -1


def parse_head(block: bytes) -> ResponseHead:
    """Parse a status line and header block (the blank line may be included).

    One regular expression checks the whole block (a probe's hot path); only a bad block is
    taken apart line by line, to say what is wrong.
    """
    match = _HEAD_RE.fullmatch(block)
    if match is None:
        raise ResponseError(_head_problem(block))
    reason = (match.group(2) or b"").decode("latin-1")
    return ResponseHead(int(match.group(1)), reason, match.group(3))


def _head_problem(block: bytes) -> str:
    lines = block.replace(b"\r\n", b"\n").split(b"\n")
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        return "empty response head"
    if not _STATUS_LINE_RE.match(lines[0]):
        return f"bad status line {_show(lines[0])}"
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            return "obsolete header line folding"
        name, sep, _value = line.partition(b":")
        if not sep or not _HEADER_NAME_RE.match(name):
            return f"bad header line {_show(line)}"
    return "malformed response head"


def _show(line: bytes) -> str:
    return repr(line[:60].decode("latin-1"))


# Body framing kinds
NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = "none", "length", "chunked", "close"


def body_framing(head: ResponseHead, method: str) -> Tuple[str, int]:
    """How the body ends (RFC 9112 6.3): (kind, length for LENGTH)."""
    if method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return NO_BODY, 0
    encoding = head.header("transfer-encoding")
    if encoding is not None:
        if encoding.lower().replace(" ", "").split(",")[-1] != "chunked":
            return UNTIL_CLOSE, 0
        return CHUNKED, 0
    length = head.header("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise ResponseError(f"bad Content-Length {length!r}")
        return LENGTH, int(length)
    return UNTIL_CLOSE, 0


class ChunkedDecoder:
    """Incremental chunked transfer decoding: feed raw bytes, get body bytes; ``done`` at the end."""

    def __init__(self) -> None:
        self._pending = b""
        self._left = 0  # bytes of chunk data still to come
        self._need_crlf = False  # after chunk data
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buffer = self._pending + data
        out = []
        pos = 0
        while not self.done:
            if self._left:
                piece = buffer[pos : pos + self._left]
                out.append(piece)
                self._left -= len(piece)
                pos += len(piece)
                if self._left:
                    break
                self._need_crlf = True
                continue
            end = buffer.find(b"\n", pos)
            if end < 0:
                if len(buffer) - pos > 1024:
                    raise ResponseError("chunk size line too long")
                break
            line = buffer[pos:end].rstrip(b"\r")
            pos = end + 1
            if self._need_crlf:
                if line:
                    raise ResponseError("chunk data longer than its size")
                self._need_crlf = False
                continue
            match = _CHUNK_SIZE_RE.match(line)
            if not match:
                raise ResponseError(f"bad chunk size line {_show(line)}")
            size = int(match.group(1), 16)
            if size == 0:
                self.done = True  # trailers are not needed: the verdict is in
            self._left = size
        self._pending = buffer[pos:]
        return b"".join(out)


class ResponseReader:
    """Feeds on response bytes until a verdict: (code, detail) in ``verdict``, HTTP status in ``status``.

    Reads the header block; the status decides unless body_regex needs the body, which is read
    only until the pattern matches, the body ends, or MAX_RESPONSE_BYTES in all have arrived.
    """

    def __init__(self, check: HealthCheck, method: str, limit: int = MAX_RESPONSE_BYTES) -> None:
        self.check = check
        self.method = method
        self.limit = limit
        self.regex = _compile(check.body_regex) if check.body_regex else None
        self.received = 0
        self.status: Optional[int] = None
        self.verdict: Optional[Tuple[str, str]] = None
        self._head_buffer = b""
        self._head: Optional[ResponseHead] = None
        self._framing = UNTIL_CLOSE
        self._length = 0
        self._chunked: Optional[ChunkedDecoder] = None
        self._body = b""

    def feed(self, data: bytes) -> None:
        if self.verdict is not None:
            return
        room = self.limit - self.received
        self.received += len(data)
        over = len(data) > room
        data = data[:room] if over else data
        try:
            if self._head is None:
                self._feed_head(data, over)
            else:
                self._feed_body(data, over)
        except ResponseError as exc:
            self._decide(codes.L7RSP, str(exc))

    def eof(self) -> None:
        """The server closed the connection."""
        if self.verdict is not None:
            return
        if self._head is None:
            if self.received == 0:
                self._decide(codes.L7RSP, "connection closed without a response")
            else:
                self._decide(codes.L7RSP, "connection closed inside the response head")
            return
        complete = self._framing == UNTIL_CLOSE
        self._body_end(complete, "connection closed before the body ended")

    def _decide(self, code: str, detail: str) -> None:
        self.verdict = (code, detail)

    def _feed_head(self, data: bytes, over: bool) -> None:
        buffer = self._head_buffer + data
        while True:
            end = head_end(buffer)
            if end < 0:
                if over or len(buffer) >= self.limit:
                    self._decide(codes.L7RSP, f"response head larger than {self.limit} bytes")
                self._head_buffer = buffer
                return
            head = parse_head(buffer[:end])
            buffer = buffer[end:]
            if 100 <= head.status < 200 and head.status != 101:
                continue  # interim response (103 Early Hints, ...): the real one follows
            break
        self._head_buffer = b""
        self._head = head
        self.status = head.status
        if not self.check.status_ok(head.status):
            self._decide(codes.L7STS, f"HTTP {head.status} {head.reason}".rstrip())
            return
        if self.regex is None:
            self._decide(codes.L7OK, f"HTTP {head.status} {head.reason}".rstrip())
            return
        self._framing, self._length = body_framing(head, self.method)
        if self._framing == CHUNKED:
            self._chunked = ChunkedDecoder()
        if self._framing == NO_BODY:
            self._body_end(True, "")
            return
        self._feed_body(buffer, over)

    def _feed_body(self, data: bytes, over: bool) -> None:
        if self._chunked is not None:
            data = self._chunked.feed(data)
        elif self._framing == LENGTH:
            data = data[: max(0, self._length - len(self._body))]
        self._body += data
        if self.regex.search(self._body.decode("utf-8", "replace")):
            self._decide(codes.L7OK, f"HTTP {self.status}, body matches")
            return
        if (self._chunked is not None and self._chunked.done) or (
            self._framing == LENGTH and len(self._body) >= self._length
        ):
            self._body_end(True, "")
        elif over or self.received >= self.limit:
            self._decide(codes.L7BODY, f"body_regex not found in the first {self.limit} bytes of the response")

    def _body_end(self, complete: bool, why: str) -> None:
        if self.regex is not None and self.regex.search(self._body.decode("utf-8", "replace")):
            self._decide(codes.L7OK, f"HTTP {self.status}, body matches")
        elif complete:
            self._decide(codes.L7BODY, f"HTTP {self.status}, body does not match body_regex")
        else:
            self._decide(codes.L7BODY, f"HTTP {self.status}, {why}, no match")


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
