"""Pure parts of the probes: request bytes, response parsing, chunked decoding, ICMP packets."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import struct

import pytest
from ansible_collections.maglev.vpp.agent import __version__
from ansible_collections.maglev.vpp.agent.probes import http_wire, icmp
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema


def check_of(body):
    return schema.parse_config({"healthchecks": {"c": body}}).healthchecks["c"]


# -- request -------------------------------------------------------------------------------------


def test_request_default_get():
    request = http_wire.build_request(check_of({"type": "http"}), "198.51.100.7", 80)
    assert request == (
        b"GET / HTTP/1.1\r\nHost: 198.51.100.7\r\n"
        + f"User-Agent: maglev-agent/{__version__}\r\n".encode()
        + b"Accept: */*\r\nConnection: close\r\n\r\n"
    )


def test_request_head_path_host_and_headers_in_order():
    check = check_of(
        {"type": "https", "method": "HEAD", "path": "/healthz?x=1", "host": "www.example.com",
         "headers": {"X-Token": "abc", "User-Agent": "probe/1"}}
    )
    request = http_wire.build_request(check, "2001:db8::7", 443)
    assert request == (
        b"HEAD /healthz?x=1 HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n"
        b"X-Token: abc\r\nUser-Agent: probe/1\r\nConnection: close\r\n\r\n"
    )


@pytest.mark.parametrize(
    "body, address, port, expected",
    [
        ({"type": "http"}, "198.51.100.7", 80, "198.51.100.7"),
        ({"type": "http", "port": 8080}, "198.51.100.7", 8080, "198.51.100.7:8080"),
        ({"type": "https"}, "2001:db8::7", 443, "[2001:db8::7]"),
        ({"type": "https", "port": 8443}, "2001:db8::7", 8443, "[2001:db8::7]:8443"),
        ({"type": "http", "port": 443}, "198.51.100.7", 443, "198.51.100.7:443"),
        ({"type": "http", "host": "a.example:81"}, "198.51.100.7", 80, "a.example:81"),
    ],
)
def test_host_header(body, address, port, expected):
    assert http_wire.host_header(check_of(body), address, port) == expected


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"type": "https"}, None),
        ({"type": "https", "host": "www.example.com"}, "www.example.com"),
        ({"type": "https", "host": "www.example.com:8443"}, "www.example.com"),
        ({"type": "https", "host": "www.example.com", "tls_server_name": "tls.example"}, "tls.example"),
        ({"type": "https", "host": "198.51.100.7"}, None),
        ({"type": "https", "host": "198.51.100.7:443"}, None),
        ({"type": "https", "host": "[2001:db8::7]:443"}, None),
        ({"type": "https", "tls_server_name": "2001:db8::7"}, None),
    ],
)
def test_server_name(body, expected):
    assert http_wire.server_name(check_of(body)) == expected


# -- response head -------------------------------------------------------------------------------


def test_parse_head():
    head = http_wire.parse_head(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\nX-A:  b \r\n\r\n")
    assert (head.status, head.reason) == (503, "Service Unavailable")
    assert head.headers == (("content-length", "3"), ("x-a", "b"))
    assert head.header("x-a") == "b" and head.header("nope") is None


@pytest.mark.parametrize(
    "block, status, reason",
    [
        (b"HTTP/1.0 200 OK\r\n\r\n", 200, "OK"),
        (b"HTTP/1.1 204\r\n\r\n", 204, ""),
        (b"HTTP/1.1 200 \r\n\r\n", 200, ""),
        (b"HTTP/1.1 302 Found\n\n", 302, "Found"),
    ],
)
def test_parse_status_line(block, status, reason):
    head = http_wire.parse_head(block)
    assert (head.status, head.reason) == (status, reason)


@pytest.mark.parametrize(
    "block",
    [
        b"",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 600 Nope\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
    ],
)
def test_parse_head_rejects(block):
    with pytest.raises(http_wire.ResponseError):
        http_wire.parse_head(block)


@pytest.mark.parametrize(
    "buffer, end",
    [(b"HTTP/1.1 200 OK\r\n\r\nbody", 19), (b"HTTP/1.1 200 OK\r\n", -1), (b"HTTP/1.1 200 OK\n\nx", 17), (b"", -1)],
)
def test_head_end(buffer, end):
    assert http_wire.head_end(buffer) == end


@pytest.mark.parametrize(
    "block, method, framing",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", ("length", 5)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "GET", ("chunked", 0)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", "GET", ("chunked", 0)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", ("close", 0)),
        (b"HTTP/1.1 200 OK\r\n\r\n", "GET", ("close", 0)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", ("none", 0)),
        (b"HTTP/1.1 204 No Content\r\n\r\n", "GET", ("none", 0)),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET", ("none", 0)),
    ],
)
def test_body_framing(block, method, framing):
    assert http_wire.body_framing(http_wire.parse_head(block), method) == framing


def test_body_framing_rejects_bad_length():
    with pytest.raises(http_wire.ResponseError):
        http_wire.body_framing(http_wire.parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), "GET")


# -- chunked -------------------------------------------------------------------------------------

CHUNKED = b"4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n"


@pytest.mark.parametrize("step", [1, 2, 3, 7, len(CHUNKED)])
def test_chunked_decoder_any_split(step):
    decoder = http_wire.ChunkedDecoder()
    out = b"".join(decoder.feed(CHUNKED[i : i + step]) for i in range(0, len(CHUNKED), step))
    assert out == b"Wikipedia in \r\n\r\nchunks."
    assert decoder.done


@pytest.mark.parametrize("data", [b"zz\r\n", b"3\r\nabcd\r\n", b"1" * 2000])
def test_chunked_decoder_rejects(data):
    with pytest.raises(http_wire.ResponseError):
        http_wire.ChunkedDecoder().feed(data)


# -- response reader (verdicts) ------------------------------------------------------------------


def verdict(body, chunks, eof=True, limit=http_wire.MAX_RESPONSE_BYTES):
    check = check_of(body)
    reader = http_wire.ResponseReader(check, check.method or "GET", limit)
    for chunk in chunks:
        reader.feed(chunk)
    if eof:
        reader.eof()
    return reader.verdict[0] if reader.verdict else None, reader.status


OK200 = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhealthy"


@pytest.mark.parametrize(
    "body, chunks, eof, expected",
    [
        pytest.param({"type": "http"}, [OK200[:20]], False, (None, None), id="head-incomplete"),
        pytest.param({"type": "http"}, [OK200[:40]], False, ("L7OK", 200), id="status-enough"),
        pytest.param({"type": "http"}, [b"HTTP/1.1 500 Oops\r\n\r\n"], False, ("L7STS", 500), id="status-bad"),
        pytest.param({"type": "http", "expect_status": [500]}, [b"HTTP/1.1 500 X\r\n\r\n"], False, ("L7OK", 500),
                     id="status-expected"),
        pytest.param({"type": "http"}, [b"HTTP/1.1 100 Continue\r\n\r\n", OK200], False, ("L7OK", 200),
                     id="interim-skipped"),
        pytest.param({"type": "http"}, [], True, ("L7RSP", None), id="empty"),
        pytest.param({"type": "http"}, [b"HTTP/1.1 200"], True, ("L7RSP", None), id="closed-in-head"),
        pytest.param({"type": "http"}, [b"garbage\r\n\r\n"], False, ("L7RSP", None), id="garbage"),
        pytest.param({"type": "http", "body_regex": "heal+thy"}, [OK200[:-3]], False, (None, 200), id="body-wait"),
        pytest.param({"type": "http", "body_regex": "heal+thy"}, [OK200], False, ("L7OK", 200), id="body-match"),
        pytest.param({"type": "http", "body_regex": "sick"}, [OK200], False, ("L7BODY", 200), id="body-no-match"),
        pytest.param({"type": "http", "body_regex": "healthy!"}, [OK200 + b"!"], False, ("L7BODY", 200),
                     id="body-beyond-length-ignored"),
        pytest.param({"type": "http", "body_regex": "sick"}, [b"HTTP/1.1 500 X\r\n\r\nsick"], False,
                     ("L7STS", 500), id="status-before-body"),
        pytest.param({"type": "http", "body_regex": "ok"}, [b"HTTP/1.1 200 OK\r\n\r\nall ok"], False,
                     ("L7OK", 200), id="until-close-match-early"),
        pytest.param({"type": "http", "body_regex": "ok"}, [b"HTTP/1.1 200 OK\r\n\r\nnope"], True,
                     ("L7BODY", 200), id="until-close-no-match"),
        pytest.param({"type": "http", "body_regex": "ok"}, [b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nno"],
                     True, ("L7BODY", 200), id="truncated"),
        pytest.param({"type": "http", "body_regex": "Wikipedia in"},
                     [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", CHUNKED], False, ("L7OK", 200),
                     id="chunked-match-across-chunks"),
        pytest.param({"type": "http", "body_regex": "x"}, [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
                     False, ("L7BODY", 200), id="empty-body"),
    ],
)
def test_reader_verdicts(body, chunks, eof, expected):
    assert verdict(body, chunks, eof) == expected


def test_reader_header_block_over_limit_is_l7rsp():
    big = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n"
    assert verdict({"type": "http"}, [big] * 10, eof=False, limit=1024) == ("L7RSP", None)


def test_reader_body_regex_not_searched_past_limit():
    head = b"HTTP/1.1 200 OK\r\n\r\n"
    # the match starts past the limit: a probe reads no further
    assert verdict({"type": "http", "body_regex": "needle"}, [head, b"." * 1100, b"needle"], False, 1024) == (
        "L7BODY", 200)
    assert verdict({"type": "http", "body_regex": "needle"}, [head, b"." * 900, b"needle"], False, 1024) == (
        "L7OK", 200)


# -- icmp ----------------------------------------------------------------------------------------


def test_checksum_rfc1071_example():
    # RFC 1071 section 3's example words sum to 0xddf2, so the checksum is its complement.
    assert icmp.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_echo_request_ipv4_checksums_to_zero():
    packet = icmp.echo_request(socket.AF_INET, 0x1234, 7, b"abc")
    assert packet[:1] == b"\x08" and struct.unpack("!HH", packet[4:8]) == (0x1234, 7)
    assert icmp.checksum(packet) == 0


def test_echo_request_ipv6_leaves_checksum_to_kernel():
    assert icmp.echo_request(socket.AF_INET6, 1, 2, b"x") == b"\x80\x00\x00\x00\x00\x01\x00\x02x"


def test_parse_echo_reply():
    reply = bytes([0, 0, 0, 0]) + struct.pack("!HH", 9, 3) + b"pay"
    ip_header = bytes([0x45]) + bytes(19)
    assert icmp.parse_echo_reply(socket.AF_INET, ip_header + reply, True) == (9, 3, b"pay")
    assert icmp.parse_echo_reply(socket.AF_INET, reply, False) == (9, 3, b"pay")
    v6 = bytes([129, 0, 0, 0]) + struct.pack("!HH", 9, 3) + b"pay"
    assert icmp.parse_echo_reply(socket.AF_INET6, v6, False) == (9, 3, b"pay")


@pytest.mark.parametrize(
    "family, packet, has_ip",
    [
        (socket.AF_INET, bytes([8, 0, 0, 0, 0, 9, 0, 3]), False),  # our own request
        (socket.AF_INET, bytes([3, 1, 0, 0, 0, 0, 0, 0]), False),  # unreachable
        (socket.AF_INET, bytes([0, 0, 0]), False),  # short
        (socket.AF_INET, bytes([0x60]) + bytes(27), True),  # not IPv4
        (socket.AF_INET6, bytes([128, 0, 0, 0, 0, 9, 0, 3]), False),
    ],
)
def test_parse_echo_reply_ignores_others(family, packet, has_ip):
    assert icmp.parse_echo_reply(family, packet, has_ip) is None


def _reply(ident, seq, payload, kind=0):
    return struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload


OURS = icmp.Expected(ipaddress.ip_address("198.51.100.2"), 77, 5, b"maglev-12345678")


@pytest.mark.parametrize(
    "expected, packet, source, ours",
    [
        (OURS, _reply(77, 5, b"maglev-12345678"), "198.51.100.2", True),
        (OURS, _reply(77, 5, b"maglev-12345678"), "198.51.100.3", False),  # another host
        (OURS, _reply(78, 5, b"maglev-12345678"), "198.51.100.2", False),  # another prober's identifier
        (OURS, _reply(77, 6, b"maglev-12345678"), "198.51.100.2", False),  # another sequence
        (OURS, _reply(77, 5, b"maglev-87654321"), "198.51.100.2", False),  # another payload
        (OURS, _reply(77, 5, b"maglev-12345678", kind=8), "198.51.100.2", False),  # a request
        (dataclasses.replace(OURS, ident=None), _reply(4242, 5, b"maglev-12345678"), "198.51.100.2", True),
        (icmp.Expected(ipaddress.ip_address("2001:db8::2"), 1, 2, b"p"), bytes([129, 0, 0, 0, 0, 1, 0, 2]) + b"p",
         "2001:db8:0::2", True),
        (icmp.Expected(ipaddress.ip_address("fe80::2"), 1, 2, b"p"), bytes([129, 0, 0, 0, 0, 1, 0, 2]) + b"p",
         "fe80::2%vc", True),
    ],
)
def test_is_our_reply(expected, packet, source, ours):
    family = socket.AF_INET6 if expected.source.version == 6 else socket.AF_INET
    assert icmp.is_our_reply(expected, family, packet, source, False) is ours
