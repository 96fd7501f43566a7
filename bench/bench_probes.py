"""Health-probe throughput: HTTP checks per CPU-second of this process, against a local nginx.

Contenders, each doing one HTTP/1.1 GET per fresh TCP connection with a fixed number in flight:
  bare     a bare asyncio loop: open_connection, write a fixed request, read to EOF, close
  probe    the agent's probe, ``run_probe`` (agent/probes), type http
  aiohttp  aiohttp's client (one ClientSession, force_close connector), if importable;
           it is not a dependency: ``pip install --target DIR aiohttp`` and run with PYTHONPATH=DIR
  tcp      the agent's tcp probe (connect only), for scale

CPU time is time.process_time() of this process (nginx runs in its own); the rounds are
interleaved so machine noise hits every contender alike, and medians are reported.

Run: .venv/bin/python bench/bench_probes.py [--checks 4000] [--concurrency 32] [--rounds 3] [--write]
With --write the results replace the marked section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Awaitable, Callable, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402

conftest.ensure_collection_link()
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
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx on a loopback port with a temporary config; stopped on exit."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="bench-probes-")
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port))
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


def bare_check(port: int) -> Check:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    async def check() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            data = await reader.read()
            return data.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    return check


def probe_check(port: int, kind: str) -> Check:
    body = {"type": kind, "port": port, "timeout": 1}
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
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if failures:
        raise RuntimeError(f"{failures} of {n} checks failed")
    return {"per_cpu_s": n / cpu, "per_wall_s": n / wall}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--checks", type=int, default=4000, help="checks per contender per round")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--write", action="store_true", help="write results into docs/performance.md")
    args = p.parse_args()

    results: Dict[str, List[Dict[str, float]]] = {}
    with Nginx() as nginx:
        sessions: list = []
        contenders: Dict[str, Callable[[], Check]] = {
            "bare": lambda: bare_check(nginx.port),
            "probe": lambda: probe_check(nginx.port, "http"),
            "tcp": lambda: probe_check(nginx.port, "tcp"),
        }
        if aiohttp is not None:
            contenders["aiohttp"] = lambda: aiohttp_check(nginx.port, sessions)
        for _round in range(args.rounds):
            for name, make in contenders.items():
                sessions.clear()
                results.setdefault(name, []).append(_run_with_sessions(make, args.checks, args.concurrency, sessions))

    def median(name: str) -> float:
        return statistics.median(r["per_cpu_s"] for r in results[name])

    def rounds(name: str) -> str:
        return ", ".join(f"{r['per_cpu_s']:,.0f}" for r in results[name])

    bare, probe = median("bare"), median("probe")
    ratio = bare / probe
    verdict = "meets" if probe >= TARGET_PER_CPU_S and ratio <= TARGET_RATIO else "misses"
    lines = [
        MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; nginx {nginx_version()} on loopback "
        f"(`return 200`), {args.checks} checks per contender per round, {args.concurrency} in flight, "
        f"{args.rounds} interleaved rounds, medians; `.venv/bin/python bench/bench_probes.py --write`"
        + (" with aiohttp on PYTHONPATH." if aiohttp is not None else " (aiohttp not installed)."),
        "",
        "| contender | HTTP checks per CPU-second | per wall-second | vs bare loop |",
        "|---|---|---|---|",
    ]
    labels = {
        "bare": "bare asyncio loop (open_connection, write, read, close)",
        "probe": "agent probe, `run_probe` type http",
        "aiohttp": f"aiohttp {aiohttp.__version__ if aiohttp else ''} client (force_close)",
        "tcp": "agent probe, type tcp (connect only)",
    }
    for name in results:
        wall = statistics.median(r["per_wall_s"] for r in results[name])
        lines.append(
            f"| {labels[name]} | {median(name):,.0f} (rounds: {rounds(name)}) | {wall:,.0f} | "
            f"{median(name) / bare:.2f}x |"
        )
    lines += [
        "",
        f"Target: at least {TARGET_PER_CPU_S:,} HTTP checks per CPU-second and within {TARGET_RATIO}x of the "
        f"bare loop. The probe {verdict} it here: {probe:,.0f} per CPU-second, {1 / ratio:.2f}x the bare loop's "
        "rate (CPU per check: the bare loop's divided by the probe's).",
        MARK_END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(MARK_BEGIN, MARK_END, text, HEADING)
    return 0


def _run_with_sessions(make: Callable[[], Check], n: int, concurrency: int, sessions: list) -> Dict[str, float]:
    async def main() -> Dict[str, float]:
        check = make()
        try:
            await drive(check, min(200, n), concurrency)  # warm-up: imports, caches, first connections
            return await drive(check, n, concurrency)
        finally:
            for session in sessions:
                await session.close()

    return asyncio.run(main())


def nginx_version() -> str:
    done = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    return done.stderr.strip().split("/")[-1]


if __name__ == "__main__":
    sys.exit(main())
