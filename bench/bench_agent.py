"""Benchmarks of the agent: failover latency, HTTP checks per CPU-second, probe lag, memory.

Backends: one nginx listening on 1,000 loopback addresses (127.77.x.y); per-address faults by
nftables rules in a table of the benchmark's own (see Faults). Everything runs at nice -10 by
default, as the machine is shared with other jobs (docs/performance.md, "Agent", says why).

1. Failover latency: the real agent process against vppsim. A trial stops one backend answering
   (refused: TCP reset; or hang: handshake completes, no answer) and takes the time from that
   moment to the agent's ``vpp-lbsync`` record setting its weight to 0 (written after VPP
   accepted it). Both modes alternate in one run, at two sizes (one frontend of 12 backends;
   100 frontends x 10 backends = 1,000 probed backends).
2. HTTP checks per CPU-second of the whole agent process (utime + stime from /proc over a steady
   window; checks counted by nginx's stub_status), next to a bare asyncio
   open_connection/write/read loop and the agent's own run_probe in a bare loop, interleaved.
3. Probe scheduling lag (``Agent.probe_lag``) of an in-process Agent with 1,000 backends at 1 s,
   with a short cProfile of the same agent; RSS of the agent process with 1,000 backends.

Under load: ``--cpu-hog`` starts one busy-loop process per core at normal priority for the run
(stopped after it); with ``--no-priority`` the benchmark and the agent run at normal priority too.
``--event-loop`` picks the agent's event loop (asyncio's own or uvloop); the bare loops always
run on asyncio's own, the reference. ``--compare-loops`` runs every part on the other loop too,
in the same run (throughput interleaved per round; the large failover and the lag run once more).
``--backends 5000 --interval 5s``: the large runs at another size and interval (500 frontends of
10); their section in docs/performance.md is its own.

Run: .venv/bin/python bench/bench_agent.py [--write] [--trials 30] [--rounds 2] [--only PART] [--no-priority]
[--cpu-hog] [--event-loop asyncio|uvloop] [--compare-loops] [--backends N] [--interval D]
(root: nginx-light, nft; about 4-5 minutes on a quiet machine).
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import cProfile
import io
import json
import os
import pstats
import random
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)
# The agent tests' folder (for agentproc) goes on the path once the collection link exists.
import collection_link  # noqa: E402

collection_link.ensure_collection_link()  # the checkout as ansible_collections.maglev.vpp
sys.path.append(os.path.join(ROOT, "tests", "integration", "agent"))
import bench_core  # noqa: E402
from agentproc import AgentProcess, agent_config, wait_for  # noqa: E402
from ansible_collections.maglev.vpp.agent import logs as agent_logs  # noqa: E402
from ansible_collections.maglev.vpp.agent import probes  # noqa: E402
from ansible_collections.maglev.vpp.agent.__main__ import EVENT_LOOPS, loop_factory  # noqa: E402
from ansible_collections.maglev.vpp.agent.config import parse_agent_config  # noqa: E402
from ansible_collections.maglev.vpp.agent.daemon import Agent  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema  # noqa: E402

from vppsim import launcher  # noqa: E402

DEFAULT_BACKENDS = 1000


def markers(n_backends: int, interval: str) -> Tuple[str, str]:
    """The docs section of a run: the default size's (smaller ones, smoke runs, print the same),
    or one per larger size and interval."""
    key = f"-{n_backends}-{interval}" if n_backends > DEFAULT_BACKENDS else ""
    return f"<!-- bench_agent{key}:begin -->", f"<!-- bench_agent{key}:end -->"


HEADING = "## Agent"
ADDRESS_BASE = "127.77"  # loopback addresses of the benchmark's backends (tests use 127.1-250.x)
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
# Failover: probes as fast as a trial count needs, the timeout well inside fast_interval.
FAILOVER_CHECK = {"type": "http", "path": "/", "interval": "1s", "fast_interval": "500ms",
                  "down_interval": "1s", "timeout": "300ms", "rise": 2, "fall": 3}
PRIORITY = -10  # nice value of the benchmark and its children: the machine is shared with other jobs
AGENT_ARGS: List[str] = ["--event-loop", "asyncio"]  # command-line arguments of every agent process
# Every part also on the other event loop: throughput (an agent process on it each round), the
# large failover run and the probe lag run (one more run each, right after the first).
COMPARE_LOOPS = False
OTHER_LOOP = {"asyncio": "uvloop", "uvloop": "asyncio"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- helpers: addresses, configs, /proc ------------------------------------------------------


_T0 = time.monotonic()


def note(message: str) -> None:
    """Progress on stderr (the results go to stdout at the end)."""
    print(f"[{time.monotonic() - _T0:6.1f} s] {message}", file=sys.stderr, flush=True)


def loopback_addresses(n: int) -> List[str]:
    return [f"{ADDRESS_BASE}.{i // 250}.{i % 250 + 1}" for i in range(n)]


def lb_config(sim, workdir: str, addresses: List[str], per_frontend: int, check: dict, **agent) -> dict:
    """Frontends of ``per_frontend`` backends each (one pool), every backend checked by ``check``."""
    backends = {f"b{i}": {"address": a, "healthcheck": "h"} for i, a in enumerate(addresses)}
    frontends = {}
    for f in range((len(addresses) + per_frontend - 1) // per_frontend):
        members = {f"b{i}": {} for i in range(f * per_frontend, min(len(addresses), (f + 1) * per_frontend))}
        frontends[f"f{f}"] = {"prefix": f"198.18.{f // 250}.{f % 250 + 1}/32", "protocol": "tcp", "port": 80,
                              "encap": "gre4", "pools": [{"name": "primary", "backends": members}]}
    settings = {"log_level": "info", "stats_interval": "5s", **agent}
    return agent_config(sim, os.path.join(workdir, "state.json"), frontends, backends, {"h": check}, **settings)


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` (not its children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mb(pid: int) -> Tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _unused, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def log_time(record: dict) -> float:
    """Unix seconds of an agent log record ("2026-12-01T21:23:06.123Z", millisecond resolution)."""
    stamp, millis = record["time"].rstrip("Z").split(".")
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def free_port_on(addresses: List[str]) -> int:
    """A TCP port free on the first address (the others are checked when they bind)."""
    with socket.socket() as sock:
        sock.bind((addresses[0], 0))
        return sock.getsockname()[1]


class CpuHog:
    """One busy-loop process per core, at normal priority (nice 0 even when the benchmark runs at
    PRIORITY): the load of a router's control plane beside the agent."""

    def __init__(self) -> None:
        self.procs: List[subprocess.Popen] = []

    def start(self) -> CpuHog:
        for _core in range(os.cpu_count() or 1):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
                preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0)))
        note(f"cpu hog: {len(self.procs)} busy loops at nice 0")
        return self

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait(10)
        self.procs = []


# -- backends: nginx on many loopback addresses, nftables faults in front of it ---------------


class Faults:
    """Per-address faults in front of nginx, through nftables (a table of this benchmark's own, matching
    only the benchmark's port): ``refused`` answers SYNs with a TCP reset, as a closed port does;
    ``hang`` redirects new connections to a listening socket that never accepts: the kernel completes
    the handshake, the request is sent, and nothing ever answers."""

    def __init__(self, port: int) -> None:
        self.table = f"maglev_bench_{os.getpid()}"
        self.hang_sock = socket.socket()
        self.hang_sock.bind(("127.0.0.1", 0))
        self.hang_sock.listen(4096)
        hang_port = self.hang_sock.getsockname()[1]
        t = self.table
        self._nft(f"""add table ip {t}
add set ip {t} refused {{ type ipv4_addr; }}
add set ip {t} hang {{ type ipv4_addr; }}
add chain ip {t} out_filter {{ type filter hook output priority 0; }}
add chain ip {t} out_nat {{ type nat hook output priority -100; }}
add rule ip {t} out_filter ip daddr @refused tcp dport {port} reject with tcp reset
add rule ip {t} out_nat ip daddr @hang tcp dport {port} dnat to 127.0.0.1:{hang_port}
""")

    @staticmethod
    def _nft(script: str) -> None:
        subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True, timeout=10)

    def fail(self, address: str, mode: str) -> float:
        """Stop ``address`` answering ("refused" or "hang"); the wall time the rule is in force."""
        self._nft(f"add element ip {self.table} {mode} {{ {address} }}\n")
        return time.time()

    def restore(self, address: str, mode: str) -> None:
        self._nft(f"delete element ip {self.table} {mode} {{ {address} }}\n")

    def close(self) -> None:
        self._nft(f"delete table ip {self.table}\n")
        self.hang_sock.close()


class Nginx:
    """nginx on the benchmark addresses (one listen line each) plus a stub_status port; a temp prefix."""

    def __init__(self, addresses: List[str]) -> None:
        self.addresses = addresses
        self.dir = tempfile.mkdtemp(prefix="bench-nginx-")
        self.port = self.status_port = 0
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> Nginx:
        if shutil.which("nginx") is None:
            raise RuntimeError("nginx not found: apt-get install nginx-light")
        for _attempt in range(5):
            self.port, self.status_port = free_port_on(self.addresses), free_port_on(["127.0.0.1"])
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self._config())
            log = open(os.path.join(self.dir, "stderr.log"), "w")
            cmd = ["nginx", "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            log.close()
            try:
                wait_for(lambda: self.proc.poll() is not None or self._accepts(), 10, "nginx to accept")
            except AssertionError:
                self.stop()
                raise
            if self.proc.poll() is None:
                return self
            self.proc = None  # a port was taken: try others
        raise RuntimeError(f"nginx did not start: {open(os.path.join(self.dir, 'error.log')).read()[-2000:]}")

    def _config(self) -> str:
        listens = "\n".join(f"    listen {a}:{self.port} backlog=1024;" for a in self.addresses)
        kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        temp = "\n".join(f"  {k}_temp_path {self.dir}/{k};" for k in kinds)
        return f"""daemon off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
{temp}
  server {{
{listens}
    location / {{ return 200 "ok\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{self.status_port};
    location = /status {{ stub_status; }}
  }}
}}
"""

    def _accepts(self) -> bool:
        try:
            self.requests()
            return True
        except OSError:
            return False

    def requests(self) -> int:
        """nginx's request counter (this status request included)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/status", timeout=5) as r:
            lines = r.read().decode().splitlines()
        return int(lines[2].split()[2])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its worker
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- 1. failover latency ------------------------------------------------------------------------


class LogFollower:
    """Reads an AgentProcess's records once each: last weight per address, down transitions."""

    def __init__(self, proc: AgentProcess, address_of: Dict[str, str]) -> None:
        self.proc, self.address_of, self.cursor = proc, address_of, 0
        self.weight: Dict[str, int] = {}

    def new_records(self) -> List[dict]:
        records = self.proc.records[self.cursor:]  # appended by the reader thread; slicing is atomic
        self.cursor += len(records)
        for r in records:
            if r.get("event") == "vpp-lbsync" and r.get("address") is not None and r.get("weight") is not None:
                self.weight[r["address"]] = r["weight"]
        return records


def expected_detection(check: dict, hang: bool) -> float:
    """Worst-case detection by the schedule: the probe due in up to interval (+10% jitter), fall - 1
    more at fast_interval (+10%, or back to back when a hanging probe outlasts it), plus the last
    probe's timeout when the backend hangs."""
    interval, fast, timeout = (schema.parse_duration(check[k]) for k in ("interval", "fast_interval", "timeout"))
    gap = max(fast * 1.1, timeout) if hang else fast * 1.1
    return interval * 1.1 + (check["fall"] - 1) * gap + (timeout if hang else 0.0)


def failover(nginx: Nginx, faults: Faults, n_backends: int, per_frontend: int, trials_per_mode: int,
             concurrency: int, rng: random.Random, interval: str = "1s", agent_args: Optional[List[str]] = None,
             **agent_settings) -> dict:
    agent_args = AGENT_ARGS if agent_args is None else agent_args
    note(f"failover: {n_backends} backends, {trials_per_mode} trials per mode, agent {' '.join(agent_args)}")
    addresses = loopback_addresses(n_backends)
    address_of = {f"b{i}": a for i, a in enumerate(addresses)}
    workdir = tempfile.mkdtemp(prefix="bench-agent-")
    # down_interval may not be shorter than interval (the config check): at a long interval it follows it
    down = max(FAILOVER_CHECK["down_interval"], interval, key=schema.parse_duration)
    check = dict(FAILOVER_CHECK, port=nginx.port, interval=interval, down_interval=down)
    try:
        with launcher.start() as sim:
            config = lb_config(sim, workdir, addresses, per_frontend, check, **agent_settings)
            begun = time.monotonic()
            proc = AgentProcess(config, workdir, args=agent_args).start()
            try:
                follow = LogFollower(proc, address_of)
                try:
                    wait_for(lambda: follow.new_records() is not None and all(
                        follow.weight.get(a, 0) > 0 for a in addresses), 60, "every backend up in VPP")
                except AssertionError:
                    pass  # reported: trials then run on the backends that are up
                up_at_start = sum(1 for a in addresses if follow.weight.get(a, 0) > 0)
                down_at_start = proc.count("backend-transition", to="down")
                # The bound is the configured schedule's: trials start once it runs unstretched
                unstretched_after = schedule_unstretched(proc, begun, UNSTRETCHED_TIMEOUT)
                # Counted from here: a stretch in the steady-state wait below runs into the trials too
                stretched_before = proc.count("probe-schedule-stretched")
                time.sleep(2)  # steady state: every backend at its regular interval (paces nothing)
                result = run_trials(follow, faults, addresses, trials_per_mode, concurrency, check, rng)
                # The bound assumes the configured intervals: a stretch during the trials lengthens detection
                result["stretched_during"] = proc.count("probe-schedule-stretched") - stretched_before
                result["up_at_start"] = up_at_start
                result["unstretched_after"] = unstretched_after
                result["rss_mb"], result["hwm_mb"] = memory_mb(proc.proc.pid)
                result["down_at_start"] = down_at_start
                result["check"] = check
                result["frontends"] = (n_backends + per_frontend - 1) // per_frontend
                return result
            finally:
                proc.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


UNSTRETCHED_TIMEOUT = 120.0  # seconds a failover run waits for the agent's schedule to unstretch


def schedule_unstretched(proc: AgentProcess, begun: float, timeout: float) -> Optional[float]:
    """Seconds from ``begun`` (the agent's start) until its probe schedule runs at the configured
    intervals (every probe-schedule-stretched warning answered by probe-schedule-restored);
    None if it still did not after ``timeout`` seconds (the trials then run stretched)."""
    try:
        wait_for(lambda: proc.count("probe-schedule-stretched") == proc.count("probe-schedule-restored"),
                 timeout, "the probe schedule unstretched", scale=1)
    except AssertionError:
        return None
    return time.monotonic() - begun


def run_trials(follow, faults, addresses, trials_per_mode, concurrency, check, rng) -> dict:
    modes = ["refused", "hang"] * trials_per_mode  # alternating: both modes see the same conditions
    in_trial: Dict[str, list] = {}  # address -> [mode, t0, time of the down transition]
    recovering = set()
    spurious = 0  # down transitions of backends not in a trial (false alarms of an overloaded machine)
    results = {"refused": [], "hang": []}
    agent_part = {"refused": [], "hang": []}  # down transition -> weight 0 in VPP
    spacing = 1.2 / concurrency
    bound = {m: expected_detection(check, m == "hang") for m in results}
    next_start = time.monotonic()
    # room for every start, then twice the slowest detection the schedule allows (5 s+ at long intervals)
    deadline = time.monotonic() + 20 + 3 * len(modes) * spacing + 2 * max(bound.values())
    while modes or in_trial:
        now = time.monotonic()
        if now > deadline:  # an overloaded machine: report what finished and what did not
            note(f"failover trials did not finish: {len(modes)} not started, in trial {in_trial}")
            for address, (mode, _t0, _down_at) in in_trial.items():
                faults.restore(address, mode)
            break
        # The candidates only when a trial may start: a scan of 5,000 addresses every 5 ms took a
        # fifth of a core from the machine the agent measured runs on.
        up = [a for a in addresses if follow.weight.get(a, 0) > 0 and a not in in_trial and a not in recovering] \
            if modes and len(in_trial) < concurrency and now >= next_start else []
        if up:
            address = rng.choice(up)
            mode = modes.pop(0)
            in_trial[address] = [mode, faults.fail(address, mode), None]
            next_start = now + rng.uniform(0.5, 1.5) * spacing  # random phase against the probe schedule
        for r in follow.new_records():
            event = r.get("event")
            if event == "backend-transition" and r.get("to") == "down":
                trial = in_trial.get(follow.address_of.get(r["backend"]))
                if trial is None:
                    spurious += 1
                elif trial[2] is None:
                    trial[2] = log_time(r)
            elif event == "vpp-lbsync" and r.get("address") in in_trial and r.get("weight") == 0:
                address = r["address"]
                mode, t0, down_at = in_trial.pop(address)
                results[mode].append(log_time(r) - t0)
                if down_at is not None:
                    agent_part[mode].append(log_time(r) - down_at)
                faults.restore(address, mode)
                recovering.add(address)
            elif event == "vpp-lbsync" and r.get("address") in recovering and (r.get("weight") or 0) > 0:
                recovering.discard(r["address"])
        time.sleep(0.005)  # paces the polling of the agent's log (a real condition)
    return {"latency": results, "agent_part": agent_part, "spurious_down": spurious,
            "unfinished": len(in_trial), "not_started": len(modes),
            "bound": bound}


def steady_check(port: int, interval: str) -> dict:
    """The check of the throughput and lag runs: defaults (timeout interval / 2, fast_interval <= 0.5 s,
    rise 2, fall 3) but down_interval 1 s, so a backend marked down by a start-up burst is back soon."""
    down = max(interval, "1s", key=schema.parse_duration)
    return {"type": "http", "path": "/", "interval": interval, "down_interval": down, "port": port}


# -- 2. checks per CPU-second ---------------------------------------------------------------


def bare_loop_main(spec_path: str) -> int:
    """A child process: probe every address at a fixed interval until SIGTERM (or 10 minutes)."""
    with open(spec_path) as f:
        spec = json.load(f)
    lb = schema.parse_config({"healthchecks": {"h": spec["check"]}, "backends": {}, "frontends": {}})
    check = lb.healthchecks["h"]
    request = (b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bare\r\nAccept: */*\r\n"
               b"Connection: close\r\n\r\n")

    async def streams_probe(address: str) -> bool:
        reader, writer = await asyncio.open_connection(address, check.port)
        try:
            writer.write(request)
            data = await reader.read()
            return data.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    async def agent_probe(address: str) -> bool:
        return (await probes.run_probe(check, address)).ok

    probe = streams_probe if spec["kind"] == "streams" else agent_probe

    async def one_backend(address: str, rng: random.Random) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + rng.random() * check.interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            started = loop.time()
            try:
                async with asyncio.timeout(check.timeout):
                    await probe(address)
            except (OSError, TimeoutError):
                pass
            due = started + check.interval

    async def run() -> None:
        rng = random.Random(1)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        tasks = [asyncio.create_task(one_backend(a, rng)) for a in spec["addresses"]]
        print("ready", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), 600)
        except TimeoutError:
            pass
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    return 0


def measure_window(nginx: Nginx, pid: int, seconds: float) -> Tuple[float, float]:
    """(checks per second, checks per CPU-second of ``pid``) over a window of ``seconds``."""
    r0, c0, t0 = nginx.requests(), cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # the measuring window itself
    r1, c1, t1 = nginx.requests(), cpu_seconds(pid), time.monotonic()
    checks = r1 - r0 - 1  # minus the second status request
    return checks / (t1 - t0), checks / max(c1 - c0, 1e-9)


def last_states(proc: AgentProcess) -> Dict[str, str]:
    """Each backend's state after its last logged transition."""
    return {r["backend"]: r["to"] for r in proc.events("backend-transition")}


def run_bare(nginx: Nginx, addresses: List[str], check: dict, kind: str, workdir: str, window: float) -> dict:
    spec = os.path.join(workdir, f"bare-{kind}.json")
    with open(spec, "w") as f:
        json.dump({"addresses": addresses, "check": check, "kind": kind}, f)
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--bare-loop", spec],
                            stdout=subprocess.PIPE, text=True)
    note(f"throughput: bare loop ({kind}), {len(addresses)} backends every {check['interval']}")
    try:
        ready, _unused, _unused = select.select([proc.stdout], [], [], 30)
        if not ready or proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the bare loop ({kind}) did not start")
        time.sleep(schema.parse_duration(check["interval"]) + 1)  # every backend probed once: steady
        rate, per_cpu = measure_window(nginx, proc.pid, window)
        return {"rate": rate, "per_cpu": per_cpu, "rss_mb": memory_mb(proc.pid)[0]}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def run_agent_process(nginx: Nginx, addresses: List[str], per_frontend: int, check: dict, workdir: str,
                      window: float, args: List[str]) -> dict:
    note(f"throughput: agent process, {len(addresses)} backends every {check['interval']}")
    with launcher.start() as sim:
        proc = AgentProcess(lb_config(sim, workdir, addresses, per_frontend, check), workdir, args=args).start()
        try:
            try:
                wait_for(lambda: sum(1 for s in last_states(proc).values() if s == "up") == len(addresses), 60,
                         "every backend up")
            except AssertionError:
                pass  # measured anyway; the start-up downs are reported
            down_at_start = proc.count("backend-transition", to="down")
            time.sleep(schema.parse_duration(check["interval"]) + 1)  # past the first syncs: steady
            down_before = proc.count("backend-transition", to="down")
            rate, per_cpu = measure_window(nginx, proc.proc.pid, window)
            rss, hwm = memory_mb(proc.proc.pid)
            return {"rate": rate, "per_cpu": per_cpu, "rss_mb": rss, "hwm_mb": hwm, "down_at_start": down_at_start,
                    "down_in_window": proc.count("backend-transition", to="down") - down_before}
        finally:
            proc.stop()


def throughput(nginx: Nginx, n_backends: int, per_frontend: int, interval: str, rounds: int) -> dict:
    addresses = loopback_addresses(n_backends)
    check = steady_check(nginx.port, interval)
    workdir = tempfile.mkdtemp(prefix="bench-agent-")
    runs = {"agent": [], "streams": [], "run_probe": []}
    other = OTHER_LOOP[AGENT_ARGS[1]] if COMPARE_LOOPS else None
    if other:
        runs["agent_other"] = []
    try:
        for _round in range(rounds):  # interleaved, so machine noise hits all three alike
            runs["agent"].append(run_agent_process(nginx, addresses, per_frontend, check, workdir, 8, AGENT_ARGS))
            if other:
                runs["agent_other"].append(run_agent_process(nginx, addresses, per_frontend, check, workdir, 8,
                                                             ["--event-loop", other]))
            runs["streams"].append(run_bare(nginx, addresses, check, "streams", workdir, 8))
            runs["run_probe"].append(run_bare(nginx, addresses, check, "run_probe", workdir, 8))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"n": n_backends, "interval": interval, "runs": runs}


# -- 3. probe lag of an in-process Agent, and its profile -------------------------------------


async def in_process_agent(nginx: Nginx, n_backends: int, per_frontend: int, window: float,
                           profile_s: float, workdir: str, sim, interval: str) -> dict:
    addresses = loopback_addresses(n_backends)
    check = steady_check(nginx.port, interval)
    config = parse_agent_config(lb_config(sim, workdir, addresses, per_frontend, check))
    agent_logs.setup("info", stream=open(os.devnull, "w"))
    agent = Agent(config)
    begun = time.monotonic()
    await agent.start()
    try:
        deadline = time.monotonic() + 60
        down_at_start = set()
        while not all(v.state == "up" for v in agent.snapshot.backends.values()):
            down_at_start.update(n for n, v in agent.snapshot.backends.items() if v.state == "down")
            if time.monotonic() > deadline:
                break  # measured anyway: the start-up downs are reported
            await asyncio.sleep(0.1)
        start_s = time.monotonic() - begun  # until every backend was up (or the 60 s deadline)
        await asyncio.sleep(2)
        lags: List[float] = []
        stretches = [agent.stretch.factor]  # the probe schedule's stretch, each second of the window
        agent.probe_lag.clear()
        r0, c0, t0 = nginx.requests(), cpu_seconds(os.getpid()), time.monotonic()
        while time.monotonic() - t0 < window:
            await asyncio.sleep(1)
            lags.extend(agent.probe_lag)
            agent.probe_lag.clear()
            stretches.append(agent.stretch.factor)
        checks = nginx.requests() - r0 - 1
        cpu = cpu_seconds(os.getpid()) - c0
        profiler = cProfile.Profile()
        profiler.enable()
        await asyncio.sleep(profile_s)
        profiler.disable()
        elapsed = time.monotonic() - t0
        return {"lags": lags, "checks_per_s": checks / elapsed, "per_cpu": checks / max(cpu, 1e-9),
                "profile": profile_text(profiler), "down_at_start": len(down_at_start), "n": n_backends,
                "interval": interval, "cpu_percent": 100 * cpu / elapsed, "starved_reruns": agent.starved_reruns,
                "stretch": stretches, "start_s": start_s, "load": os.getloadavg()[0],
                "rss_mb": memory_mb(os.getpid())[0]}
    finally:
        await agent.stop()


def profile_text(profiler: cProfile.Profile, top: int = 14) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def lag_and_profile(nginx: Nginx, n_backends: int, per_frontend: int, window: float, profile_s: float,
                    interval: str, event_loop: str) -> dict:
    workdir = tempfile.mkdtemp(prefix="bench-agent-")
    note(f"probe lag: in-process Agent, {n_backends} backends every {interval}, event loop {event_loop}")
    try:
        with launcher.start() as sim, asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
            return runner.run(in_process_agent(nginx, n_backends, per_frontend, window, profile_s, workdir, sim,
                                               interval))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# -- report -------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def failover_rows(label: str, result: dict) -> List[str]:
    rows = []
    for mode in ("refused", "hang"):
        lat, part, bound = result["latency"][mode], result["agent_part"][mode], result["bound"][mode]
        if not lat or not part:
            rows.append(f"| {label}, {mode} (0 trials finished) | - | - | - |")
            continue
        p99 = percentile(lat, 0.99)
        verdict = "met" if p99 <= bound + 0.1 else "MISSED"
        rows.append(
            f"| {label}, {mode} ({len(lat)} trials) | p50 {ms(percentile(lat, 0.5))}, p99 {ms(p99)} "
            f"(min {ms(min(lat))}, max {ms(max(lat))}) | {ms(bound)} + 100 ms: **{verdict}** | "
            f"p50 {ms(percentile(part, 0.5))}, p99 {ms(percentile(part, 0.99))}; target p99 <= 20 ms: "
            f"**{'met' if percentile(part, 0.99) <= 0.02 else 'MISSED'}** |")
    return rows


def ratio_of(bare: float, agent: float) -> float:
    """Bare loop / agent checks per CPU-second; nan when either round answered no check."""
    return bare / agent if bare and agent else float("nan")


def other_loop_failover_rows(out: dict, big_n: int) -> List[str]:
    """The large failover run again with the agent on the other event loop (--compare-loops)."""
    if "failover_large_other" not in out:
        return []
    label = f"{size_label(big_n)} on {OTHER_LOOP[out['options']['event_loop']]}"
    return failover_rows(label, out["failover_large_other"])


def throughput_rows(result: dict) -> List[str]:
    runs = result["runs"]
    med = {k: statistics.median(r["per_cpu"] for r in v) for k, v in runs.items()}

    def cell(kind: str) -> str:
        values = ", ".join(f"{r['per_cpu']:,.0f}" for r in runs[kind])
        rate = statistics.median(r["rate"] for r in runs[kind])
        # a round in which nginx answered no check (starved) has no CPU per check: nan, not a crash
        cpu = statistics.median(100 * r["rate"] / r["per_cpu"] if r["per_cpu"] else float("nan") for r in runs[kind])
        return f"{med[kind]:,.0f} (rounds: {values}); {rate:,.0f} checks/s; CPU {cpu:.0f} %"

    ratios = [ratio_of(s["per_cpu"], a["per_cpu"]) for s, a in zip(runs["streams"], runs["agent"], strict=True)]
    ratio = statistics.median(ratios)
    ok = ratio <= 1.15
    where = f"{result['n']} backends every {result['interval']}"
    loop = AGENT_ARGS[1]
    rows = [
        f"| {where}: bare asyncio open_connection/write/read loop | {cell('streams')} |",
        f"| {where}: the agent's run_probe in the same bare loop | {cell('run_probe')} |",
        f"| {where}: **agent process** on {loop} (probes, state machine, weights, snapshot, VPP thread) | "
        f"{cell('agent')}; bare loop / agent {ratio:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)}); "
        f"target <= 1.15x: **{'met' if ok else 'MISSED'}** |",
    ]
    if "agent_other" in runs:
        other = OTHER_LOOP[loop]
        ratios = [ratio_of(s["per_cpu"], a["per_cpu"])
                  for s, a in zip(runs["streams"], runs["agent_other"], strict=True)]
        rows.append(f"| {where}: **agent process** on {other} | {cell('agent_other')}; bare loop / agent "
                    f"{statistics.median(ratios):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)}) |")
    return rows


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=30, help="failover trials per mode and size")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the throughput runs")
    p.add_argument("--backends", type=int, default=DEFAULT_BACKENDS,
                   help="backends of the large runs, 10 per frontend (smaller: a smoke run)")
    p.add_argument("--interval", default="1s", help="probe interval of the large runs (the small ones keep theirs)")
    p.add_argument("--lag-seconds", type=float, default=15.0, help="probe lag window (the profile takes a third)")
    p.add_argument("--only", choices=("failover", "throughput", "lag"), help="run one part (no --write)")
    p.add_argument("--write", action="store_true", help="write results into docs/performance.md")
    p.add_argument("--no-priority", dest="priority", action="store_false",
                   help=f"do not run at nice {PRIORITY} (the default, against other jobs on a shared machine)")
    p.add_argument("--cpu-hog", action="store_true", help="one busy loop per core at nice 0 beside the run")
    p.add_argument("--event-loop", choices=EVENT_LOOPS, default="asyncio", help="the agent's event loop")
    p.add_argument("--compare-loops", action="store_true",
                   help="every part also on the other event loop (throughput: each round; failover at the "
                        "large size and probe lag: one more run each)")
    p.add_argument("--bare-loop", metavar="SPEC", help=argparse.SUPPRESS)  # child process of part 2
    args = p.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so nginx, the nft table, vppsim and the hogs are cleaned up
    if args.bare_loop:
        return bare_loop_main(args.bare_loop)
    if args.priority:
        os.nice(PRIORITY)  # inherited by the agent, nginx, vppsim and the bare loops
    AGENT_ARGS[:] = ["--event-loop", args.event_loop]
    global COMPARE_LOOPS
    COMPARE_LOOPS = args.compare_loops
    rng = random.Random(7)
    started = time.monotonic()
    out: Dict[str, object] = {"options": {"cpu_hog": args.cpu_hog, "priority": args.priority,
                                          "event_loop": args.event_loop}}
    big, per_frontend, interval = args.backends, min(10, args.backends), args.interval
    default_size = (big, interval) == (DEFAULT_BACKENDS, "1s")
    nginx = Nginx(loopback_addresses(big)).start()
    hog = CpuHog().start() if args.cpu_hog else None
    try:
        if args.only in (None, "failover"):
            faults = Faults(nginx.port)
            try:
                if default_size:
                    small = min(12, big)
                    out["failover_small"] = failover(nginx, faults, small, small, args.trials, 3, rng)
                out["failover_large"] = failover(nginx, faults, big, per_frontend, args.trials, 4, rng, interval)
                if args.compare_loops:
                    out["failover_large_other"] = failover(nginx, faults, big, per_frontend, args.trials, 4, rng,
                                                           interval, ["--event-loop", OTHER_LOOP[args.event_loop]])
            finally:
                faults.close()
        if args.only in (None, "throughput"):
            if default_size:
                out["tp_small"] = throughput(nginx, min(250, big), per_frontend, "250ms", args.rounds)
            out["tp_large"] = throughput(nginx, big, per_frontend, interval, args.rounds)
        if args.only in (None, "lag"):
            out["lag"] = lag_and_profile(nginx, big, per_frontend, args.lag_seconds, args.lag_seconds / 3,
                                         interval, args.event_loop)
            if args.compare_loops:
                out["lag_other"] = lag_and_profile(nginx, big, per_frontend, args.lag_seconds,
                                                   args.lag_seconds / 3, interval, OTHER_LOOP[args.event_loop])
    finally:
        if hog is not None:
            hog.stop()
        nginx.cleanup()
    begin, end = markers(big, interval)
    # The raw results first: a long run is not lost to a fault in the report below.
    print(json.dumps({k: v for k, v in out.items() if k != "lag"} | (
        {"lag": {k: v for k, v in out["lag"].items() if k not in ("profile", "lags")}} if "lag" in out else {}),
        default=str), file=sys.stderr, flush=True)
    text = report(out, time.monotonic() - started, begin, end, " ".join(sys.argv[1:]))
    print(text)
    if "lag" in out:
        print(out["lag"]["profile"])
    if args.write and args.only is None:
        bench_core.write_section(begin, end, text, HEADING)
    return 0


def _exit_on_sigterm(_signo, _frame) -> None:
    raise SystemExit(143)


def downs(result: dict, kind: str, key: str) -> str:
    return ", ".join(str(run[key]) for run in result["runs"][kind])


def failover_note(label: str, r: dict) -> str:
    unfinished = (f"; {r['unfinished']} trials unfinished and {r['not_started']} not started at the deadline"
                  if r["unfinished"] or r["not_started"] else "")
    after = r.get("unstretched_after")
    schedule = (f"still stretched after {UNSTRETCHED_TIMEOUT:.0f} s (the trials ran stretched)" if after is None else
                f"at its configured intervals {after:.1f} s after the agent's start")
    during = r.get("stretched_during")
    stretches = "" if during is None else (
        f"; the schedule stretched {during} times during the trials" if during else "; no stretch during the trials")
    return (f"- {label}: {r['up_at_start']} backends up in VPP when the trials began; {r['down_at_start']} down "
            f"transitions during start-up; the probe schedule {schedule}{stretches}; {r['spurious_down']} down "
            f"transitions of backends not in a trial (false alarms) during the trials{unfinished}.")


def size_label(n_backends: int) -> str:
    return f"{(n_backends + 9) // 10} frontends x 10 backends ({n_backends:,})"


def report(out: dict, elapsed: float, begin: str, end: str, argv: str) -> str:
    options = out["options"]
    load = ("**with a CPU hog on every core** (one busy loop per core at nice 0)" if options["cpu_hog"]
            else "without a CPU hog")
    priority = "at nice 0" if not options["priority"] else f"at nice {PRIORITY}"
    lines = [
        begin,
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {bench_core.machine()}; vppsim as the VPP; "
        f"whole run {elapsed:.0f} s; `.venv/bin/python bench/bench_agent.py {argv}`; {load}, "
        f"the benchmark and the agent {priority}; the agent's event loop: {options['event_loop']}; "
        f"load average at the end {os.getloadavg()[0]:.1f}.",
        "",
    ]
    big_n = out["failover_large"]["frontends"] * 10 if "failover_large" in out else 0
    if "failover_large" in out and "failover_small" not in out:
        check = ", ".join(f"{k} {v}" for k, v in out["failover_large"]["check"].items() if k not in ("type", "port"))
        lines += [
            f"Failover (http check: {check}), as below:",
            "",
            "| backends checked, mode | failover latency | target: bound + 100 ms at p99 | of which down transition "
            "-> weight 0 in VPP |",
            "|---|---|---|---|",
            *failover_rows(size_label(big_n), out["failover_large"]),
            *other_loop_failover_rows(out, big_n),
            "",
            failover_note(f"{big_n:,} backends", out["failover_large"]),
            "",
        ]
    if "failover_small" in out:
        check = ", ".join(f"{k} {v}" for k, v in FAILOVER_CHECK.items() if k != "type")
        lines += [
            f"Failover (http check: {check}): from the moment the backend stops answering to the agent's "
            "`vpp-lbsync` record of weight 0 (written once VPP accepted it); the bound is the worst case of "
            "the probe schedule (interval + (fall - 1) x fast_interval, +10% jitter, + timeout when it hangs).",
            "",
            "| backends checked, mode | failover latency | target: bound + 100 ms at p99 | of which down transition "
            "-> weight 0 in VPP |",
            "|---|---|---|---|",
            *failover_rows("1 frontend x 12 backends", out["failover_small"]),
            *failover_rows(size_label(big_n), out["failover_large"]),
            *other_loop_failover_rows(out, big_n),
            "",
            *(failover_note(label, r)
              for label, r in (("12 backends", out["failover_small"]), (f"{big_n:,} backends", out["failover_large"]))),
            "",
        ]
    if "tp_large" in out:
        lines += [
            "HTTP checks per CPU-second (process utime + stime over an 8 s steady window; checks counted by "
            "nginx's stub_status; nginx 1 worker on the same machine):",
            "",
            "| load, prober | checks per CPU-second (median) |",
            "|---|---|",
            *(throughput_rows(out["tp_small"]) if "tp_small" in out else []),
            *throughput_rows(out["tp_large"]),
            "",
            *(f"- agent at {r['n']} backends every {r['interval']}: down transitions at start-up per round: "
              f"{', '.join(str(x['down_at_start']) for x in r['runs']['agent'])}; during the window: "
              f"{', '.join(str(x['down_in_window']) for x in r['runs']['agent'])}"
              + (f"; on the other event loop: at start-up {downs(r, 'agent_other', 'down_at_start')}, "
                 f"during the window {downs(r, 'agent_other', 'down_in_window')}"
                 if "agent_other" in r["runs"] else "") + "."
              for r in (out.get("tp_small"), out["tp_large"]) if r is not None),
            "",
        ]
    rows = []
    if "lag" in out:
        lag = out["lag"]
        p99 = percentile(lag["lags"], 0.99)
        lag_target = 0.05 if lag["n"] <= DEFAULT_BACKENDS else 0.1
        rows += [
            f"| probe scheduling lag, in-process Agent, {lag['n']:,} backends every {lag['interval']} "
            f"({len(lag['lags']):,} probes) | "
            f"p50 {ms(percentile(lag['lags'], 0.5))}, p99 {ms(p99)}, max {ms(max(lag['lags']))}; "
            f"target p99 <= {lag_target * 1000:.0f} ms: **{'met' if p99 <= lag_target else 'MISSED'}** |",
            f"| ... its checks per CPU-second (the whole benchmark process) | {lag['per_cpu']:,.0f} "
            f"({lag['checks_per_s']:,.0f} checks/s; CPU {lag['cpu_percent']:.0f} %) |",
            f"| ... backends seen down during its start-up | {lag['down_at_start']} |",
            f"| ... timed-out probes not counted because the loop was starved (agent/starvation.py) | "
            f"{lag['starved_reruns']} |",
            f"| ... start-up: every backend up after | {lag['start_s']:.1f} s |",
            f"| ... probe schedule stretch (agent/starvation.py) during the window: min, max, at its end | "
            f"{min(lag['stretch']):.2f}, {max(lag['stretch']):.2f}, {lag['stretch'][-1]:.2f}; "
            f"load average (1 min) at its end {lag['load']:.1f} |",
        ]
        if "lag_other" in out:
            other = out["lag_other"]
            rows += [
                f"| ... the same on {OTHER_LOOP[options['event_loop']]} ({len(other['lags']):,} probes) | "
                f"p50 {ms(percentile(other['lags'], 0.5))}, p99 {ms(percentile(other['lags'], 0.99))}, "
                f"max {ms(max(other['lags']))}; {other['per_cpu']:,.0f} checks per CPU-second "
                f"(CPU {other['cpu_percent']:.0f} %); {other['down_at_start']} down at start-up; "
                f"{other['starved_reruns']} starved reruns |",
            ]
    if "failover_large" in out:
        big = out["failover_large"]
        rss_target = 80 if big_n <= DEFAULT_BACKENDS else 150
        rows.append(f"| agent process RSS, {big_n:,} backends (failover run, at its end) | {big['rss_mb']:.1f} MB "
                    f"(peak {big['hwm_mb']:.1f} MB); target <= {rss_target} MB: "
                    f"**{'met' if big['hwm_mb'] <= rss_target else 'MISSED'}** |")
    if "tp_large" in out:
        agent = out["tp_large"]["runs"]["agent"]
        rows.append(f"| agent process RSS, {out['tp_large']['n']:,} backends every {out['tp_large']['interval']} "
                    "(throughput runs) | "
                    f"{statistics.median(r['rss_mb'] for r in agent):.1f} MB "
                    f"(peak {max(r['hwm_mb'] for r in agent):.1f} MB) |")
    if rows:
        lines += ["| measurement | result |", "|---|---|", *rows]
    lines.append(end)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
