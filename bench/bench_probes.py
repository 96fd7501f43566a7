"""Health-probe throughput: HTTP checks per CPU-second of this process, against a local nginx.

Contenders, each doing one HTTP/1.1 GET per fresh TCP connection with a fixed number in flight:
  bare     a bare asyncio loop: open_connection, write a fixed request, read to EOF, close
  probe    the agent's probe, ``run_probe`` (agent/probes), type http
  aiohttp  aiohttp's client (one ClientSession, force_close connector), if importable;
           it is not a dependency: ``pip install --target DIR aiohttp`` and run with PYTHONPATH=DIR
  tcp      the agent's tcp probe (connect only), for scale
  bare_tls / https   the same two over TLS (ECDSA P-256 certificate made here, verified)

CPU time is time.process_time() of this process (nginx runs in its own). Many short rounds,
interleaved contender by contender in one event loop, so that the noise of a shared machine hits
every contender alike; medians are reported with the range of the rounds.

Run: .venv/bin/python bench/bench_probes.py [--checks 1000] [--concurrency 32] [--rounds 12] [--write]
With --write the results replace the marked section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Awaitable, Callable, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import collection_link  # noqa: E402

collection_link.ensure_collection_link()
from ansible_collections.maglev.vpp.agent.probes import run_probe  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema  # noqa: E402
from bench_core import machine, write_section  # noqa: E402

try:
    import aiohttp
except ImportError:  # optional: only to compare against
    aiohttp = None

MARK_BEGIN = "<!-- bench_probes:begin -->"
MARK_END = "<!-- bench_probes:end -->"
HEADING = "## Health probes"
TARGET_PER_CPU_S = 4000
TARGET_RATIO = 1.5

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
    uwsgi_temp_path {dir}; scgi_temp_path {dir};
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_session_cache off;
        ssl_session_tickets off;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_self_signed(cert_path: str, key_path: str) -> None:
    """A self-signed ECDSA certificate for 127.0.0.1 (cryptography comes with ansible-core)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


class Nginx:
    """nginx on a loopback port with a temporary config; stopped on exit."""

    def __init__(self) -> None:
        if shutil.which("nginx") is None:
            raise SystemExit("bench_probes.py needs nginx on PATH: apt-get install nginx-light")
        self.dir = tempfile.mkdtemp(prefix="bench-probes-")
        self.port, self.tls_port = free_port(), free_port()
        self.cert = os.path.join(self.dir, "cert.pem")
        write_self_signed(self.cert, os.path.join(self.dir, "key.pem"))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port, tls_port=self.tls_port))
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode()}") from None
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start listening")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


Check = Callable[[], Awaitable[bool]]


def bare_check(port: int, cafile: Optional[str] = None) -> Check:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    context = ssl.create_default_context(cafile=cafile) if cafile else None

    async def check() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        try:
            writer.write(request)
            data = await reader.read()
            return data.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    return check


def probe_check(port: int, kind: str, cafile: Optional[str] = None) -> Check:
    body = {"type": kind, "port": port, "timeout": 1}
    if cafile:
        body["tls_ca_file"] = cafile
    health_check = schema.parse_config({"healthchecks": {"b": body}}).healthchecks["b"]

    async def check() -> bool:
        return (await run_probe(health_check, "127.0.0.1")).ok

    return check


def aiohttp_check(port: int, session_box: list) -> Check:
    url = f"http://127.0.0.1:{port}/"

    async def check() -> bool:
        if not session_box:
            connector = aiohttp.TCPConnector(force_close=True, limit=0)
            session_box.append(aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=1)))
        async with session_box[0].get(url) as response:
            await response.read()
            return response.status == 200

    return check


async def drive(check: Check, n: int, concurrency: int) -> Dict[str, float]:
    """n checks, ``concurrency`` in flight; checks per CPU-second and per wall-second."""
    remaining = n
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            if not await check():
                failures += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _worker in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if failures:
        raise RuntimeError(f"{failures} of {n} checks failed")
    return {"per_cpu_s": n / cpu, "per_wall_s": n / wall}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--checks", type=int, default=1000, help="checks per contender per round")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--no-tls", dest="tls", action="store_false", help="skip the TLS contenders")
    p.add_argument("--write", action="store_true", help="write results into docs/performance.md")
    args = p.parse_args()

    with Nginx() as nginx:
        contenders: Dict[str, Check] = {
            "bare": bare_check(nginx.port),
            "probe": probe_check(nginx.port, "http"),
            "tcp": probe_check(nginx.port, "tcp"),
        }
        if args.tls:
            contenders["bare_tls"] = bare_check(nginx.tls_port, nginx.cert)
            contenders["https"] = probe_check(nginx.tls_port, "https", nginx.cert)
        sessions: list = []
        if aiohttp is not None:
            contenders["aiohttp"] = aiohttp_check(nginx.port, sessions)
        results = asyncio.run(interleaved(contenders, args.checks, args.concurrency, args.rounds, sessions))

    def median(name: str) -> float:
        return statistics.median(r["per_cpu_s"] for r in results[name])

    def rounds(name: str) -> str:
        values = [r["per_cpu_s"] for r in results[name]]
        return f"{min(values):,.0f} … {max(values):,.0f}"

    bare, probe = median("bare"), median("probe")
    ratio = bare / probe
    lines = [
        MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; nginx {nginx_version()} on loopback "
        f"(`return 200`), {args.checks} checks per contender per round, {args.concurrency} in flight, "
        f"{args.rounds} interleaved rounds, medians; `bench/bench_probes.py --write`"
        + (" with aiohttp on PYTHONPATH." if aiohttp is not None else " (aiohttp not installed)."),
        "",
        "| contender | HTTP checks per CPU-second | per wall-second | vs bare loop (TLS: vs bare TLS loop) |",
        "|---|---|---|---|",
    ]
    labels = {
        "bare": "bare asyncio loop (open_connection, write, read, close)",
        "probe": "agent probe, `run_probe` type http",
        "aiohttp": f"aiohttp {aiohttp.__version__ if aiohttp else ''} client (force_close)",
        "tcp": "agent probe, type tcp (connect only)",
        "bare_tls": "bare asyncio loop over TLS (full handshake each time)",
        "https": "agent probe, type https (verified, full handshake each time)",
    }
    for name in results:
        wall = statistics.median(r["per_wall_s"] for r in results[name])
        baseline = "bare_tls" if name in ("bare_tls", "https") else "bare"  # TLS against TLS
        lines.append(
            f"| {labels[name]} | {median(name):,.0f} (rounds {rounds(name)}) | {wall:,.0f} | "
            f"{median(name) / median(baseline):.2f}x |"
        )
    lines += [
        "",
        f"Targets: at least {TARGET_PER_CPU_S:,} HTTP checks per CPU-second, and no more than {TARGET_RATIO}x "
        f"the bare loop's CPU per check. Here the probe used {ratio:.2f}x the bare loop's CPU per check "
        f"({'within' if ratio <= TARGET_RATIO else 'over'} {TARGET_RATIO}x) at {probe:,.0f} checks per "
        f"CPU-second; the bare loop itself reached {bare:,.0f} in the same run, so the absolute number "
        "follows the machine's load.",
        MARK_END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(MARK_BEGIN, MARK_END, text, HEADING)
    return 0


async def interleaved(
    contenders: Dict[str, Check], n: int, concurrency: int, rounds: int, sessions: list
) -> Dict[str, List[Dict[str, float]]]:
    results: Dict[str, List[Dict[str, float]]] = {name: [] for name in contenders}
    try:
        for check in contenders.values():
            await drive(check, min(200, n), concurrency)  # warm-up: imports, caches, first connections
        for _round in range(rounds):
            for name, check in contenders.items():
                results[name].append(await drive(check, n, concurrency))
    finally:
        for session in sessions:
            await session.close()
    return results


def nginx_version() -> str:
    done = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    return done.stderr.strip().split("/")[-1]


if __name__ == "__main__":
    sys.exit(main())
