"""Real backends for the agent's integration tests.

A ``BackendNet`` is one network namespace joined to the root namespace by a veth pair; each
``Backend`` is its own IPv4 and IPv6 address inside it (the kernel answers pings) and, optionally, a
server process bound to those addresses (HTTP, HTTPS, plain TCP). The agent, in the root namespace,
reaches them over a real link. Failure modes are real and each call returns once a real client sees
the effect: ``close_port`` (refused), ``stop_server`` (process killed: refused), ``blackhole``
(nftables drop in the namespace: connects and pings hang), ``make_slow`` (HTTP answers late), and
``restore`` undoes them all::

    with BackendNet() as net:
        b = net.add_backend(http=80)
        b.set_response("/health", 503, "down")
        b.blackhole()
        b.restore()

The server process itself is backend_server.py.
"""

from __future__ import annotations

import datetime
import fcntl
import http.client
import ipaddress
import json
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import backend_server
from backend_server import HARNESS_HEADER
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from polling import wait_for

# Each live BackendNet holds one slot (an flock, released even if its process dies); the slot picks
# its names and subnets, so parallel pytest workers never collide.
SLOTS = 16
LOCK_DIR = "/run/mgl-test-harness"
# TEST-NET-2 and -3 (eight /27 each). Never TEST-NET-1: the machine's own eth0 may sit on 192.0.2.0/24.
_V4_RANGES = ("198.51.100.0", "203.0.113.0")
MAX_BACKENDS = 28  # a /27 minus network, broadcast, root side and namespace side
OPS_TIMEOUT = 10.0  # bound on any harness operation becoming effective
NO_ANSWER = 0.3  # a local peer answers in milliseconds: silence this long means traffic is dropped


# ----- for tests in general -------------------------------------------------------------------


def tcp_connect(addr: str, port: int, timeout: float) -> str:
    """One real TCP connect: 'open', 'refused', 'timeout' or 'unreachable'."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((addr, port))
            return "open"
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
        except OSError:
            return "unreachable"


def http_get(
    addr: str, port: int, path: str = "/", timeout: float = 5.0, ca_file: Optional[str] = None,
    headers: Optional[Dict[str, str]] = None,
) -> Tuple[int, bytes]:
    """One real HTTP GET (HTTPS verified against ``ca_file`` if given): (status, body)."""
    if ca_file:
        ctx = ssl.create_default_context(cafile=ca_file)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(addr, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(addr, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _check_get(
    addr: str, port: int, path: str, timeout: float = 5.0, ca_file: Optional[str] = None
) -> Tuple[int, bytes]:
    """A harness check request: the server leaves it out of requests()."""
    return http_get(addr, port, path, timeout, ca_file, headers={HARNESS_HEADER: "1"})


def _run(*cmd: str, stdin: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=OPS_TIMEOUT, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


# ----- the harness ----------------------------------------------------------------------------


class Backend:
    """One backend: its own ip4/ip6 in the namespace, and a server process if it has ports."""

    def __init__(self, net: BackendNet, ip4: str, ip6: str, listen: List[Tuple[str, int]]) -> None:
        self.net, self.ip4, self.ip6 = net, ip4, ip6
        self.ports = dict(listen)  # kind ('http', 'https', 'tcp') -> port
        self._routes: Dict[str, Tuple[int, str]] = {}
        self._proc: Optional[subprocess.Popen] = None
        self._buf = b""
        self._cert: Optional[Tuple[str, str]] = None
        self._closed = self._blackholed = False
        self._delay = 0.0

    @property
    def addrs(self) -> Tuple[str, str]:
        return (self.ip4, self.ip6)

    @property
    def http_port(self) -> Optional[int]:
        return self.ports.get("http")

    @property
    def https_port(self) -> Optional[int]:
        return self.ports.get("https")

    @property
    def tcp_port(self) -> Optional[int]:
        return self.ports.get("tcp")

    @property
    def pid(self) -> Optional[int]:
        """The server process's pid, None when it is not running."""
        return self._proc.pid if self._proc is not None else None

    def url(self, path: str = "/", family: int = 4, tls: bool = False) -> str:
        host = self.ip4 if family == 4 else f"[{self.ip6}]"
        return f"{'https' if tls else 'http'}://{host}:{self.ports['https' if tls else 'http']}{path}"

    def start_server(self) -> None:
        """Start the server process (add_backend does when given ports); returns once it answers."""
        if self._proc is not None:
            raise RuntimeError("server already running")
        config: Dict[str, Any] = {"addrs": list(self.addrs), "listen": list(self.ports.items()), "routes": self._routes}
        if "https" in self.ports:
            self._cert = self._cert or self.net._issue_cert(self.addrs)
            config["cert"], config["key"] = self._cert
        log = open(os.path.join(self.net.workdir, f"server-{self.ip4}.log"), "ab")
        with log:
            self._proc = subprocess.Popen(
                ["ip", "netns", "exec", self.net.name, sys.executable, backend_server.__file__, json.dumps(config)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0,
            )
        self._buf, self._closed, self._delay = b"", False, 0.0
        try:
            self._check(self._read_reply())
            self._verify_up()
        except BaseException:
            self._kill()
            raise

    def set_response(self, path: str, status: int = 200, body: str = "ok\n") -> None:
        """Answer ``path`` ('*' = any other path) with ``status`` and ``body``; kept across restarts."""
        self._routes[path] = (status, body)
        if self._proc is not None:
            self._call("route", path=path, status=status, body=body)
            if not (self._closed or self._blackholed or self._delay) and "http" in self.ports:
                wait_for(lambda: _check_get(self.ip4, self.ports["http"], path)[0] == status, OPS_TIMEOUT,
                         f"{self.ip4} {path} to answer {status}")

    def requests(self) -> List[str]:
        """The HTTP requests this server process has seen so far, as 'METHOD /path'."""
        return self._call("seen")["seen"]

    def close_port(self) -> None:
        """Stop listening (the process stays): connects are refused."""
        self._call("close")
        self._closed = True
        self._verify_tcp("refused")

    def stop_server(self) -> None:
        """Kill the server process: connects are refused."""
        self._kill()
        self._verify_tcp("refused")

    def blackhole(self) -> None:
        """Drop all traffic to this backend's addresses: connects and pings hang until their timeout."""
        self.net._nft(f"add element inet mgl bh4 {{ {self.ip4} }}\nadd element inet mgl bh6 {{ {self.ip6} }}\n")
        self._blackholed = True
        for addr in self.addrs:  # the drop is by address: one port per address shows it
            self._wait_tcp(addr, next(iter(self.ports.values()), 9), "timeout")

    def make_slow(self, seconds: float) -> None:
        """Delay every HTTP(S) response by ``seconds``."""
        if "http" not in self.ports and "https" not in self.ports:
            raise ValueError("make_slow needs an http or https port")
        self._call("delay", seconds=seconds)
        self._delay = seconds
        if not (self._closed or self._blackholed):
            port = self.ports.get("http") or self.ports["https"]
            ca_file = None if "http" in self.ports else self.net.ca_file
            wait_for(lambda: not self._answers(self.ip4, port, min(NO_ANSWER, seconds / 2), ca_file),
                     OPS_TIMEOUT, f"{self.ip4}:{port} to answer later than {seconds}s")

    def restore(self) -> None:
        """Undo close_port, stop_server, blackhole and make_slow; returns once the backend answers."""
        if self._blackholed:
            self.net._nft(
                f"delete element inet mgl bh4 {{ {self.ip4} }}\ndelete element inet mgl bh6 {{ {self.ip6} }}\n"
            )
            self._blackholed = False
        if self.ports and self._proc is None:
            self.start_server()
            return
        if self._closed:
            self._call("open")
            self._closed = False
        if self._delay:
            self._call("delay", seconds=0)
            self._delay = 0.0
        self._verify_up()

    # -- internals

    def _answers(self, addr: str, port: int, timeout: float, ca_file: Optional[str]) -> bool:
        try:
            _check_get(addr, port, "/", timeout, ca_file)
            return True
        except (OSError, http.client.HTTPException):
            return False

    def _verify_up(self) -> None:
        for addr in self.addrs:
            for kind, port in self.ports.items():
                if kind == "tcp":
                    self._wait_tcp(addr, port, "open")
                else:
                    ca_file = self.net.ca_file if kind == "https" else None
                    wait_for(lambda a=addr, p=port, c=ca_file: self._answers(a, p, 2.0, c), OPS_TIMEOUT,
                             f"{kind} server on {addr}:{port} to answer")
            if not self.ports:
                self._wait_tcp(addr, 9, "refused")  # the kernel answers: the address is reachable

    def _verify_tcp(self, outcome: str) -> None:
        for addr in self.addrs:
            for port in self.ports.values() or [9]:
                self._wait_tcp(addr, port, outcome)

    def _wait_tcp(self, addr: str, port: int, outcome: str) -> None:
        wait_for(lambda: tcp_connect(addr, port, NO_ANSWER) == outcome, OPS_TIMEOUT,
                 f"TCP connect to {addr} port {port} to be {outcome}")

    def _call(self, op: str, **args: Any) -> Dict[str, Any]:
        if self._proc is None:
            raise RuntimeError(f"{op}: the server of {self.ip4} is not running")
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
        return self._check(self._read_reply())

    def _read_reply(self) -> Dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        fd, deadline = self._proc.stdout.fileno(), time.monotonic() + OPS_TIMEOUT
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(f"server of {self.ip4} did not reply within {OPS_TIMEOUT}s")
            chunk = os.read(fd, 65536)
            if not chunk:
                return {"ok": False, "error": "server exited"}
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _check(self, reply: Dict[str, Any]) -> Dict[str, Any]:
        if not reply.get("ok"):
            with open(os.path.join(self.net.workdir, f"server-{self.ip4}.log"), errors="replace") as log:
                tail = log.read()[-2000:]
            raise RuntimeError(f"server of {self.ip4}: {reply.get('error')}\n{tail}")
        return reply

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(OPS_TIMEOUT)
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe:
                    pipe.close()
            self._proc = None


class BackendNet:
    """A network namespace of backends, reached from the root namespace over a veth pair."""

    def __init__(self) -> None:
        self.slot, self._lock_fd = _claim_slot()
        self.name = f"mgl-{os.getpid()}-{self.slot}"
        self.root_if, self.ns_if = f"mgl{self.slot}r", f"mgl{self.slot}n"
        base4 = ipaddress.ip_address(_V4_RANGES[self.slot // 8]) + (self.slot % 8) * 32
        self.prefix4 = ipaddress.ip_network(f"{base4}/27")
        self.prefix6 = ipaddress.ip_network(f"2001:db8:6d67:{self.slot:x}::/64")
        self.host_ip4, self.host_ip6 = str(base4 + 1), str(self.prefix6[1])  # root side
        self.backends: List[Backend] = []
        self.workdir = ""  # server logs and certificates
        self._ca: Any = None
        self.ca_file: Optional[str] = None  # set once an HTTPS backend exists
        try:
            _purge_slot(self.slot)
            self.workdir = tempfile.mkdtemp(prefix=f"{self.name}-")
            self._setup()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> BackendNet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def add_backend(
        self, http: Optional[int] = None, https: Optional[int] = None, tcp: Optional[int] = None,
        routes: Optional[Dict[str, Tuple[int, str]]] = None,
    ) -> Backend:
        """A new address pair in the namespace; starts its server if given ports. Returns once reachable."""
        i = len(self.backends)
        if i >= MAX_BACKENDS:
            raise RuntimeError(f"at most {MAX_BACKENDS} backends per BackendNet")
        ip4, ip6 = str(self.prefix4[3 + i]), str(self.prefix6[3 + i])
        _run("ip", "-n", self.name, "addr", "add", f"{ip4}/32", "dev", self.ns_if)
        _run("ip", "-n", self.name, "-6", "addr", "add", f"{ip6}/128", "dev", self.ns_if, "nodad")
        listen = [(kind, port) for kind, port in (("http", http), ("https", https), ("tcp", tcp)) if port]
        backend = Backend(self, ip4, ip6, listen)
        backend._routes.update(routes or {})
        self.backends.append(backend)
        if listen:
            backend.start_server()
        else:
            backend._verify_up()
        return backend

    def close(self) -> None:
        """Kill the servers, remove the veth and the namespace; idempotent, and checks it worked."""
        for backend in self.backends:
            backend._kill()
        _run("ip", "link", "del", self.root_if, check=False)
        _run("ip", "netns", "del", self.name, check=False)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self.name in netns_names() or link_exists(self.root_if):
            raise RuntimeError(f"teardown left namespace {self.name} or link {self.root_if} behind")

    # -- internals

    def _setup(self) -> None:
        ns = ("ip", "-n", self.name)
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.root_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.name)
        _run("ip", "addr", "add", f"{self.host_ip4}/27", "dev", self.root_if)
        _run("ip", "-6", "addr", "add", f"{self.host_ip6}/64", "dev", self.root_if, "nodad")
        _run("ip", "link", "set", self.root_if, "up")
        _run(*ns, "link", "set", "lo", "up")
        _run(*ns, "addr", "add", f"{self.prefix4[2]}/27", "dev", self.ns_if)
        _run(*ns, "-6", "addr", "add", f"{self.prefix6[2]}/64", "dev", self.ns_if, "nodad")
        _run(*ns, "link", "set", self.ns_if, "up")
        if shutil.which("nft") is None:
            raise RuntimeError("nft not found: install the Debian package nftables (scripts/setup.sh)")
        self._nft(
            "table inet mgl {\n"
            "  set bh4 { type ipv4_addr; }\n  set bh6 { type ipv6_addr; }\n"
            "  chain input { type filter hook input priority 0; policy accept;\n"
            "    ip daddr @bh4 drop\n    ip6 daddr @bh6 drop\n  }\n}\n"
        )
        for addr in (self.prefix4[2], self.prefix6[2]):
            wait_for(lambda a=str(addr): tcp_connect(a, 9, NO_ANSWER) == "refused", OPS_TIMEOUT,
                     f"namespace side {addr} to be reachable")

    def _nft(self, script: str) -> None:
        _run("ip", "netns", "exec", self.name, "nft", "-f", "-", stdin=script)

    def _issue_cert(self, addrs: Tuple[str, ...]) -> Tuple[str, str]:
        """A server certificate for ``addrs`` (IP SANs) signed by this net's CA (made on first use)."""
        now = datetime.datetime.now(datetime.UTC)

        def build(subject: str, key: Any, issuer: Any, issuer_key: Any, ca: bool) -> Any:
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
            builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(minutes=5))
                       .not_valid_after(now + datetime.timedelta(days=1))
                       .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
            if not ca:
                sans = [x509.IPAddress(ipaddress.ip_address(a)) for a in addrs]
                builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            return builder.sign(issuer_key or key, hashes.SHA256())

        def write(path: str, data: bytes) -> str:
            with open(path, "wb") as f:
                f.write(data)
            return path

        if self._ca is None:
            ca_key = ec.generate_private_key(ec.SECP256R1())
            self._ca = (build(f"{self.name} test CA", ca_key, None, None, True), ca_key)
            ca_pem = self._ca[0].public_bytes(serialization.Encoding.PEM)
            self.ca_file = write(os.path.join(self.workdir, "ca.pem"), ca_pem)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = build(addrs[0], key, self._ca[0].subject, self._ca[1], False)
        stem = os.path.join(self.workdir, f"server-{addrs[0]}")
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return write(stem + ".crt", cert.public_bytes(serialization.Encoding.PEM)), write(stem + ".key", key_pem)


def netns_names() -> List[str]:
    """Names from ``ip netns list``."""
    return [line.split()[0] for line in _run("ip", "netns", "list").stdout.splitlines() if line.strip()]


def link_exists(ifname: str) -> bool:
    return _run("ip", "link", "show", "dev", ifname, check=False).returncode == 0


def _claim_slot() -> Tuple[int, int]:
    os.makedirs(LOCK_DIR, exist_ok=True)
    for slot in range(SLOTS):
        fd = os.open(os.path.join(LOCK_DIR, f"slot-{slot}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # per open file: also excludes this process
            return slot, fd
        except BlockingIOError:
            os.close(fd)
    raise RuntimeError(f"all {SLOTS} BackendNet slots are in use")


def _purge_slot(slot: int) -> None:
    """Remove what a killed earlier holder of this slot left behind (we hold its lock: nobody else owns it)."""
    _run("ip", "link", "del", f"mgl{slot}r", check=False)
    for name in netns_names():
        if re.fullmatch(rf"mgl-\d+-{slot}", name):
            _run("ip", "netns", "del", name, check=False)
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        if re.fullmatch(rf"mgl-\d+-{slot}-\w+", name):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
