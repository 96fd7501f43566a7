"""http and https probes against real servers on loopback (asyncio servers, certificates made here)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import pytest
from ansible_collections.maglev.vpp.agent import __version__
from ansible_collections.maglev.vpp.agent.probes import ProbeResult, clear_tls_contexts, run_probe
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from polling import until
from probing import MARGIN, TIMEOUT, check_of, open_sockets


@dataclass
class Seen:
    method: str
    path: str
    headers: Dict[str, str]
    peer: Tuple[Any, ...]
    sni: Optional[str] = None


@dataclass
class Server:
    """An HTTP server whose answer depends on the path; it records every request head it read."""

    port: int = 0
    seen: List[Seen] = field(default_factory=list)
    sni: List[Optional[str]] = field(default_factory=list)
    release: Optional[asyncio.Event] = None
    greeting: bytes = b""  # written as soon as a client connects, before reading anything

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.greeting)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()
            return
        lines = head.decode().split("\r\n")
        method, path, _version = lines[0].split(" ")
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        self.seen.append(Seen(method, path, headers, writer.get_extra_info("peername")))
        try:
            await self.answer(path, writer)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        if path.startswith("/status/"):
            code = int(path.split("/")[2])
            writer.write(f"HTTP/1.1 {code} Some Reason\r\nContent-Length: 0\r\n\r\n".encode())
        elif path == "/body":
            body = b"<html>state: healthy</html>"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        elif path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"sta", b"te: heal", b"thy"):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        elif path == "/huge":
            body = b"start-marker " + b"." * (1024 * 1024) + b" end-marker"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        elif path == "/big-head":
            writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * (70 * 1024) + b"\r\n\r\n")
        elif path == "/slow":
            assert self.release is not None
            await asyncio.wait_for(self.release.wait(), 10)
        elif path == "/late":  # a good answer, once the test releases it
            assert self.release is not None
            await asyncio.wait_for(self.release.wait(), 10)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        elif path == "/trickle":  # part of the head at once, the rest once released
            assert self.release is not None
            writer.write(b"HTTP/1.1 200 OK\r\n")
            await writer.drain()
            await asyncio.wait_for(self.release.wait(), 10)
            writer.write(b"Content-Length: 2\r\n\r\nok")
        elif path == "/garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


async def start(
    host: str = "127.0.0.1", context: Optional[ssl.SSLContext] = None, greeting: bytes = b""
) -> Tuple[Server, asyncio.Server]:
    server = Server(release=asyncio.Event(), greeting=greeting)
    if context is not None:
        def remember(_sslobj: Any, name: Optional[str], _ctx: Any) -> None:
            server.sni.append(name)
        context.sni_callback = remember
    listener = await asyncio.start_server(server.handle, host, 0, ssl=context)
    server.port = listener.sockets[0].getsockname()[1]
    return server, listener


def probe(check: schema.HealthCheck, address: str, serve_with: Optional[ssl.SSLContext] = None,
          host: str = "127.0.0.1", greeting: bytes = b"") -> Tuple[ProbeResult, Server]:
    """Start a server, probe it once, stop it; the check's port is replaced by the server's."""

    async def scenario() -> Tuple[ProbeResult, Server]:
        server, listener = await start(host, serve_with, greeting)
        try:
            return await run_probe(_with_port(check, server.port), address), server
        finally:
            server.release.set()
            listener.close()
            await listener.wait_closed()

    return asyncio.run(scenario())


def _with_port(check: schema.HealthCheck, port: int) -> schema.HealthCheck:
    return dataclasses.replace(check, port=port)


# -- plain http ----------------------------------------------------------------------------------


def test_ok_and_what_the_server_saw():
    result, server = probe(check_of(type="http", path="/hello"), "127.0.0.1")
    assert (result.ok, result.code, result.status) == (True, "L7OK", 200)
    assert 0 < result.duration < TIMEOUT
    (seen,) = server.seen
    assert (seen.method, seen.path) == ("GET", "/hello")
    assert seen.headers["Host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["User-Agent"] == f"maglev-agent/{__version__}"
    assert seen.headers["Connection"] == "close"


def test_host_header_and_custom_headers():
    check = check_of(type="http", host="www.example.test", headers={"X-Probe": "yes", "User-Agent": "custom/2"})
    result, server = probe(check, "127.0.0.1")
    assert result.code == "L7OK"
    headers = server.seen[0].headers
    assert (headers["Host"], headers["X-Probe"], headers["User-Agent"]) == ("www.example.test", "yes", "custom/2")


def test_head_request():
    result, server = probe(check_of(type="http", method="HEAD"), "127.0.0.1")
    assert result.code == "L7OK"
    assert server.seen[0].method == "HEAD"


@pytest.mark.parametrize(
    "path, expect_status, code, ok",
    [
        ("/status/200", None, "L7OK", True),
        ("/status/204", None, "L7OK", True),
        ("/status/301", None, "L7STS", False),
        ("/status/404", None, "L7STS", False),
        ("/status/503", None, "L7STS", False),
        ("/status/503", [503], "L7OK", True),
        ("/status/302", [200, "301-302"], "L7OK", True),
        ("/status/303", [200, "301-302"], "L7STS", False),
    ],
)
def test_status_codes(path, expect_status, code, ok):
    body = {"type": "http", "path": path}
    if expect_status is not None:
        body["expect_status"] = expect_status
    result, _server = probe(check_of(**body), "127.0.0.1")
    assert (result.code, result.ok, result.status) == (code, ok, int(path.split("/")[2]))


@pytest.mark.parametrize(
    "path, regex, code",
    [
        ("/body", "state: heal+thy", "L7OK"),
        ("/body", "state: sick", "L7BODY"),
        ("/chunked", "state: healthy", "L7OK"),
        ("/chunked", "^state: sick$", "L7BODY"),
    ],
)
def test_body_regex(path, regex, code):
    result, _server = probe(check_of(type="http", path=path, body_regex=regex), "127.0.0.1")
    assert (result.code, result.status) == (code, 200)


@pytest.mark.parametrize("regex, code", [("start-marker", "L7OK"), ("end-marker", "L7BODY")])
def test_body_regex_reads_at_most_64_kib(regex, code):
    """A 1 MiB body: a match near its start passes, one at its end is never read."""
    result, _server = probe(check_of(type="http", path="/huge", body_regex=regex), "127.0.0.1")
    assert (result.code, result.status) == (code, 200)
    if code == "L7BODY":
        assert "65536" in result.detail


def test_oversized_header_block_is_l7rsp():
    result, _server = probe(check_of(type="http", path="/big-head"), "127.0.0.1")
    assert (result.ok, result.code) == (False, "L7RSP")


def test_not_http_is_l7rsp():
    result, _server = probe(check_of(type="http", path="/garbage"), "127.0.0.1")
    assert (result.ok, result.code) == (False, "L7RSP")


def test_slow_server_times_out_within_timeout():
    result, server = probe(check_of(type="http", path="/slow"), "127.0.0.1")
    assert (result.ok, result.code) == (False, "L7TOUT")
    assert TIMEOUT <= result.duration < TIMEOUT + MARGIN
    assert server.seen[0].path == "/slow"  # the request was sent and read: the wait was for the answer


def probe_released(check: schema.HealthCheck, release_after: Optional[float]) -> Tuple[ProbeResult, Server]:
    """Probe a server whose answer waits for its release: ``release_after`` seconds after the
    probe starts, or (None) only after the probe has returned."""

    async def scenario() -> Tuple[ProbeResult, Server]:
        server, listener = await start()
        loop = asyncio.get_running_loop()
        if release_after is not None:
            loop.call_later(release_after, server.release.set)
        try:
            return await run_probe(_with_port(check, server.port), "127.0.0.1"), server
        finally:
            server.release.set()
            listener.close()
            await listener.wait_closed()

    return asyncio.run(scenario())


BOUNDARY_TIMEOUT = 2.0
# (path, when the server answers, the probe's result). "Exactly at the timeout" is a race between
# two events on one loop (the answer read, the deadline) that no test can pin; each side is pinned
# with half the timeout as margin (it holds on a loaded machine), and the answer past the deadline
# is released only once the probe has returned, so that side is deterministic.
BOUNDARY = [
    ("/late", BOUNDARY_TIMEOUT / 2, True, "L7OK", "a late answer inside the timeout passes"),
    ("/late", None, False, "L7TOUT", "an answer past the timeout fails, at the timeout"),
    ("/trickle", None, False, "L7TOUT", "half the head in time, the rest past it: one deadline for the exchange"),
]


@pytest.mark.parametrize("path, release_after, ok, code, label", BOUNDARY, ids=[b[4] for b in BOUNDARY])
def test_an_answer_at_the_edge_of_the_timeout(path, release_after, ok, code, label):
    check = check_of(type="http", path=path, timeout=BOUNDARY_TIMEOUT, interval=5)
    result, server = probe_released(check, release_after)
    assert (result.ok, result.code) == (ok, code), result.detail
    assert server.seen[0].path == path
    if ok:  # it waited for the answer: slowness within the timeout is not a failure
        assert BOUNDARY_TIMEOUT / 2 <= result.duration < BOUNDARY_TIMEOUT
    else:  # it gave up at the deadline, not later: no per-read timeout a trickle could stretch
        assert BOUNDARY_TIMEOUT <= result.duration < BOUNDARY_TIMEOUT + MARGIN


def test_closed_port_is_l4con():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        check = _with_port(check_of(type="http"), holder.getsockname()[1])
        result = asyncio.run(run_probe(check, "127.0.0.1"))
    finally:
        holder.close()
    assert (result.ok, result.code) == (False, "L4CON")
    assert "refused" in result.detail


def test_ipv6_loopback():
    result, server = probe(check_of(type="http"), "::1", host="::1")
    assert result.code == "L7OK"
    assert server.seen[0].headers["Host"] == f"[::1]:{server.port}"


def test_source_address_is_bound():
    result, server = probe(check_of(type="http", source_address="127.0.0.2"), "127.0.0.1")
    assert result.code == "L7OK"
    assert server.seen[0].peer[0] == "127.0.0.2"


def test_source_address_not_local_is_l4con():
    result, server = probe(check_of(type="http", source_address="198.51.100.250"), "127.0.0.1")
    assert (result.ok, result.code) == (False, "L4CON")
    assert "198.51.100.250" in result.detail and server.seen == []


def test_cancelled_probe_closes_its_socket():
    async def scenario() -> Tuple[Set[str], Set[str], Set[str]]:
        server, listener = await start()
        try:
            check = _with_port(check_of(type="http", path="/slow", timeout=30, interval=60), server.port)
            before = open_sockets()
            tasks = [asyncio.create_task(run_probe(check, "127.0.0.1")) for _probe in range(5)]
            await until(lambda: len(server.seen) >= 5, 10, "the server to see the 5 probes")
            during = open_sockets()
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results), results
            return before, during, open_sockets()
        finally:
            server.release.set()
            listener.close()
            await listener.wait_closed()

    before, during, after = asyncio.run(scenario())
    opened = during - before  # the probes' sockets and the server's ends of them
    assert len(opened) == 10
    # The server's ends stay open until it sees the close; the probes' ends are gone at once.
    assert len(opened & after) == 5


# -- https ---------------------------------------------------------------------------------------


@dataclass
class Pki:
    ca: str  # CA that signed the server and client certificates
    other_ca: str  # a CA that signed nothing here
    server_cert: str
    server_key: str
    expired_cert: str  # the server's name and key, signed by ``ca``, expired
    client_cert: str
    client_key: str


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool, sans: Optional[list] = None,
    expired: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    if expired:  # valid for a day that ended an hour ago: only its dates are wrong
        now -= datetime.timedelta(days=1, hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")

    def write(name: str, data: bytes) -> str:
        path = folder / name
        path.write_bytes(data)
        return str(path)

    def pem_key(key: Any) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key, other_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _key in range(4))
    ca = _cert("probe test CA", ca_key, "probe test CA", ca_key, ca=True)
    other = _cert("other CA", other_key, "other CA", other_key, ca=True)
    sans = [x509.DNSName("www.example.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = _cert("www.example.test", server_key, "probe test CA", ca_key, ca=False, sans=sans)
    client = _cert("maglev-agent", client_key, "probe test CA", ca_key, ca=False)
    expired = _cert("www.example.test", server_key, "probe test CA", ca_key, ca=False, sans=sans, expired=True)
    pem = serialization.Encoding.PEM
    return Pki(
        ca=write("ca.pem", ca.public_bytes(pem)),
        other_ca=write("other.pem", other.public_bytes(pem)),
        server_cert=write("server.pem", server.public_bytes(pem)),
        server_key=write("server.key", pem_key(server_key)),
        expired_cert=write("expired.pem", expired.public_bytes(pem)),
        client_cert=write("client.pem", client.public_bytes(pem)),
        client_key=write("client.key", pem_key(client_key)),
    )


def server_context(pki: Pki, require_client_cert: bool = False, expired: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.expired_cert if expired else pki.server_cert, pki.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    return context


@pytest.fixture(autouse=True)
def fresh_tls_contexts():
    clear_tls_contexts()
    yield
    clear_tls_contexts()


def test_https_verified_with_sni(pki):
    check = check_of(type="https", host="www.example.test", tls_ca_file=pki.ca, path="/body", body_regex="healthy")
    result, server = probe(check, "127.0.0.1", server_context(pki))
    assert (result.ok, result.code, result.status) == (True, "L7OK", 200)
    assert server.sni == ["www.example.test"]
    assert server.seen[0].headers["Host"] == "www.example.test"


def test_https_tls_server_name_overrides_host(pki):
    check = check_of(type="https", host="other.example", tls_server_name="www.example.test", tls_ca_file=pki.ca)
    result, server = probe(check, "127.0.0.1", server_context(pki))
    assert result.code == "L7OK"
    assert server.sni == ["www.example.test"] and server.seen[0].headers["Host"] == "other.example"


def test_https_ip_address_verified_without_sni(pki):
    result, server = probe(check_of(type="https", tls_ca_file=pki.ca), "127.0.0.1", server_context(pki))
    assert result.code == "L7OK"
    assert server.sni == [None]


def test_https_wrong_name_is_l6rsp(pki):
    check = check_of(type="https", host="wrong.example.test", tls_ca_file=pki.ca)
    result, server = probe(check, "127.0.0.1", server_context(pki))
    assert (result.ok, result.code) == (False, "L6RSP")
    assert "wrong.example.test" in result.detail or "match" in result.detail
    assert server.seen == []


@pytest.mark.parametrize("ca", ["other", "system"])
def test_https_untrusted_ca_is_l6rsp(pki, ca):
    body: Dict[str, Any] = {"type": "https", "host": "www.example.test"}
    if ca == "other":
        body["tls_ca_file"] = pki.other_ca
    result, server = probe(check_of(**body), "127.0.0.1", server_context(pki))
    assert (result.ok, result.code) == (False, "L6RSP")
    assert "certificate" in result.detail
    assert server.seen == []


@pytest.mark.parametrize("expired, ok, code", [(False, True, "L7OK"), (True, False, "L6RSP")])
def test_https_expired_certificate_is_l6rsp(pki, expired, ok, code):
    """The same name, key and CA: only the dates differ, so the expiry alone fails the check, with
    the code of every other certificate failure."""
    check = check_of(type="https", host="www.example.test", tls_ca_file=pki.ca)
    result, server = probe(check, "127.0.0.1", server_context(pki, expired=expired))
    assert (result.ok, result.code) == (ok, code)
    if expired:
        assert "expired" in result.detail
        assert server.seen == []  # no request was sent over an untrusted connection
    else:
        assert len(server.seen) == 1


def test_https_insecure_accepts_any_certificate(pki):
    check = check_of(type="https", host="wrong.example.test", tls_insecure=True)
    result, server = probe(check, "127.0.0.1", server_context(pki))
    assert result.code == "L7OK"
    assert server.sni == ["wrong.example.test"]


def test_https_client_certificate_required(pki):
    context = server_context(pki, require_client_cert=True)
    without = check_of(type="https", host="www.example.test", tls_ca_file=pki.ca)
    result, server = probe(without, "127.0.0.1", context)
    assert (result.ok, result.code) == (False, "L6RSP")
    assert server.seen == []

    context = server_context(pki, require_client_cert=True)
    with_cert = check_of(type="https", host="www.example.test", tls_ca_file=pki.ca,
                         tls_client_cert=pki.client_cert, tls_client_key=pki.client_key)
    result, server = probe(with_cert, "127.0.0.1", context)
    assert (result.ok, result.code) == (True, "L7OK")
    assert len(server.seen) == 1


def test_https_missing_ca_file_is_l6rsp(pki, tmp_path):
    check = check_of(type="https", host="www.example.test", tls_ca_file=str(tmp_path / "absent.pem"))
    result, server = probe(check, "127.0.0.1", server_context(pki))
    assert (result.ok, result.code) == (False, "L6RSP")
    assert "TLS setup" in result.detail and server.seen == []


def test_https_against_plain_http_is_l6rsp():
    # What a plain HTTP server says to a TLS ClientHello: not a TLS record.
    greeting = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    result, _server = probe(check_of(type="https", tls_insecure=True), "127.0.0.1", greeting=greeting)
    assert (result.ok, result.code) == (False, "L6RSP")


def test_https_against_silent_plain_server_is_l6tout():
    result, _server = probe(check_of(type="https", tls_insecure=True), "127.0.0.1")
    assert (result.ok, result.code) == (False, "L6TOUT")
    assert TIMEOUT <= result.duration < TIMEOUT + MARGIN


def test_https_slow_server_times_out(pki):
    check = check_of(type="https", host="www.example.test", tls_ca_file=pki.ca, path="/slow")
    result, _server = probe(check, "127.0.0.1", server_context(pki))
    assert (result.ok, result.code) == (False, "L7TOUT")
    assert TIMEOUT <= result.duration < TIMEOUT + MARGIN
