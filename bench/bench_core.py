"""Benchmarks of the VPP path: raw vpp_papi round trips against vppsim, and the core pushing and
re-planning 1,000 VIPs x 8 ASes next to the floor (the same API calls from a bare vpp_papi loop).

Run: .venv/bin/python bench/bench_core.py [--vips 1000] [--ases 8] [--pings 10000] [--write]
With --write the results replace the marked section of docs/performance.md.

Against a real VPP instead of vppsim (docs/performance.md "Against a real VPP master"):
    .venv/bin/python bench/bench_core.py --api-socket RUNDIR/api.sock --vpp-pid-file RUNDIR/pid \
        --vpp-restart "../shared/real-vpp/stop_vpp.sh RUNDIR; ../shared/real-vpp/run_vpp.sh PREFIX RUNDIR" [--write]
``--vpp-restart`` runs before every push and floor (each needs an empty LB state, as a fresh
vppsim gives); the vppsim-only line (the hand-written raw-socket client) is left out; VPP's own
CPU (utime + stime of the pid in ``--vpp-pid-file``, or of vppsim) is reported per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import collection_link  # noqa: E402

collection_link.ensure_collection_link()  # the checkout as ansible_collections.maglev.vpp
import vpp_papi  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import (  # noqa: E402
    desired,
    pipeline,
    planner,
    schema,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient  # noqa: E402
from vpp_papi import VPPApiClient  # noqa: E402
from vpp_papi.vpp_papi_async import VPPApiClient as AsyncVPPApiClient  # noqa: E402

from vppsim import launcher  # noqa: E402

MARK_BEGIN = "<!-- bench_core:begin -->"
MARK_END = "<!-- bench_core:end -->"
REAL_BEGIN = "<!-- bench_core_real_vpp:begin -->"
REAL_END = "<!-- bench_core_real_vpp:end -->"
HEADING = "## VPP path: vpp_papi against vppsim, core push and no-op re-plan"
REAL_HEADING = "## Against a real VPP master: pipelined apply"


@dataclass
class Vpp:
    """The VPP a measurement talks to: its API socket and, when known, its process id."""

    api_socket: str
    pid: Optional[int] = None


def vpp_cpu_s(pid: Optional[int]) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far; 0 without a pid."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vppsim_target() -> Callable:
    """A factory of fresh vppsims, each a context manager yielding a Vpp."""

    @contextlib.contextmanager
    def fresh():
        with launcher.start() as sim:
            yield Vpp(sim.api_socket, sim.pid)

    return fresh


def real_vpp_target(api_socket: str, restart: str, pid_file: Optional[str]) -> Callable:
    """A factory of a real VPP restarted (empty LB state) by the shell command ``restart``."""

    @contextlib.contextmanager
    def fresh():
        subprocess.run(restart, shell=True, check=True, stdout=subprocess.DEVNULL)
        pid = None
        if pid_file:
            with open(pid_file) as f:
                pid = int(f.read().split()[0])
        yield Vpp(api_socket, pid)

    return fresh


def generate_maglev_lb(n_vips: int, n_ases: int) -> dict:
    """n_vips per-port IPv4 VIPs in 198.18.0.0/16, each with its own n_ases backends in 198.19/16+."""
    vip_base = int(ipaddress.ip_address("198.18.0.1"))
    as_base = int(ipaddress.ip_address("198.19.0.1"))
    backends, frontends = {}, {}
    for v in range(n_vips):
        members = {}
        for a in range(n_ases):
            name = f"b{v}-{a}"
            backends[name] = {"address": str(ipaddress.ip_address(as_base + v * n_ases + a))}
            members[name] = {"weight": 100 - a}
        frontends[f"f{v}"] = {
            "prefix": f"{ipaddress.ip_address(vip_base + v)}/32", "protocol": "tcp", "port": 80,
            "encap": "gre4", "new_flows_table_length": 1024,
            "pools": [{"name": "primary", "backends": members}],
        }
    return {
        "conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe"},
        "backends": backends, "frontends": frontends,
    }


def bench_pings(sim, n: int) -> dict:
    vpp = VPPApiClient(server_address=sim.api_socket, bootstrapapi=True, async_thread=False)
    vpp.connect("bench")
    try:
        rounds = []
        for _round in range(3):
            t0 = time.perf_counter()
            for _call in range(n):
                vpp.api.control_ping()
            rounds.append(n / (time.perf_counter() - t0))
    finally:
        vpp.disconnect()

    async def pipelined() -> float:
        async with async_papi(sim, "bench-async") as client:
            t0 = time.perf_counter()
            await asyncio.gather(*[client.api.control_ping() for _call in range(n)])
            return n / (time.perf_counter() - t0)

    return {"sync_per_s": statistics.median(rounds), "sync_rounds": rounds,
            "async_pipelined_per_s": asyncio.run(pipelined())}


def raw_socket_pings(sim, n: int) -> float:
    """Round trips/s of a minimal hand-written client: what vppsim itself can answer."""
    hdr = struct.Struct(">QII")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sim.api_socket)

    def read_message() -> bytes:
        _q, length, _ts = hdr.unpack(recv_exactly(hdr.size))
        return recv_exactly(length)

    def recv_exactly(size: int) -> bytes:
        buf = b""
        while len(buf) < size:
            chunk = sock.recv(size - len(buf))
            if not chunk:
                raise ConnectionError("vppsim closed the connection")
            buf += chunk
        return buf

    # sockclnt_create (id 15): context, name[64]; the reply's `index` is at bytes 14..18.
    body = struct.pack(">HI64s", 15, 124, b"bench-raw")
    sock.sendall(hdr.pack(0, len(body), 0) + body)
    index = struct.unpack_from(">I", read_message(), 14)[0]
    ping = struct.pack(">HII", 23, index, 1)  # control_ping is memclnt's fixed id 23
    frame = hdr.pack(0, len(ping), 0) + ping
    t0 = time.perf_counter()
    for _call in range(n):
        sock.sendall(frame)
        read_message()
    rate = n / (time.perf_counter() - t0)
    sock.close()
    return rate


@contextlib.asynccontextmanager
async def async_papi(sim, name: str):
    """A connected vpp_papi asyncio client, torn down by hand on exit: vpp_papi's asyncio client
    has no disconnect that stops its tasks."""
    client = AsyncVPPApiClient(server_address=sim.api_socket)
    await client.connect(name, asyncio.Queue())
    try:
        yield client
    finally:
        await client.api.sockclnt_delete(index=client.socket_index)
        client.writer.close()
        client.socket_task.cancel()
        client.queue_task.cancel()


def asyncio_floor(sim, calls_of, pipelined: bool, vpp_cpu: Optional[list] = None,
                  own_cpu: Optional[list] = None) -> float:
    """Seconds a bare loop over vpp_papi's asyncio client takes for ``calls_of(api)``: awaited one
    by one (the asyncio floor), or all sent at once and then awaited (pipelined: the limit of the
    transport, with no windows and no attribution). With ``vpp_cpu`` (a list), the VPP process's
    CPU seconds during the timed part are appended to it (``sim.pid`` must be known); with
    ``own_cpu``, this process's."""

    async def run() -> float:
        async with async_papi(sim, "floor-pipelined" if pipelined else "floor-async") as client:
            calls = calls_of(client.api)
            c0 = vpp_cpu_s(sim.pid) if vpp_cpu is not None else 0.0
            o0 = time.process_time()
            t0 = time.perf_counter()
            if pipelined:
                replies = await asyncio.gather(*[func(**kwargs) for func, kwargs in calls])
            else:
                replies = [await func(**kwargs) for func, kwargs in calls]
            elapsed = time.perf_counter() - t0
            if own_cpu is not None:
                own_cpu.append(time.process_time() - o0)
            if vpp_cpu is not None:
                vpp_cpu.append(vpp_cpu_s(sim.pid) - c0)
        check_replies(replies)
        return elapsed

    return asyncio.run(run())


def sync_floor(sim, calls_of, vpp_cpu: Optional[list] = None) -> float:
    """Seconds a bare synchronous vpp_papi loop takes for ``calls_of(api)``: no validation,
    planning or parsing, the floor of a synchronous client. ``vpp_cpu``: as asyncio_floor's."""
    vpp = VPPApiClient(server_address=sim.api_socket, bootstrapapi=True, async_thread=False)
    vpp.connect("floor")
    try:
        calls = calls_of(vpp.api)
        c0 = vpp_cpu_s(sim.pid) if vpp_cpu is not None else 0.0
        t0 = time.perf_counter()
        replies = [func(**kwargs) for func, kwargs in calls]
        elapsed = time.perf_counter() - t0
        if vpp_cpu is not None:
            vpp_cpu.append(vpp_cpu_s(sim.pid) - c0)
    finally:
        vpp.disconnect()
    check_replies(replies)
    return elapsed


def check_replies(replies) -> None:
    """Every reply succeeded (a dump's reply is a sequence of details, with no retval)."""
    failed = [r for r in replies if getattr(r, "retval", 0) != 0]
    assert not failed, failed[:3]


def dump_calls(api) -> list:
    """The calls of the core's dump (client.VppLbClient.dump) on LB API 1.2.0."""
    return [(api.lb_conf_get, {}), (api.lb_vip_dump, {}), (api.cli_inband, {"cmd": "show lb vips verbose"})]


def papi_calls(api, ops) -> list:
    calls = []
    for op in ops:
        if op.action == "add_vip":
            calls.append((api.lb_add_del_vip_v2, dict(
                pfx=op.vip.prefix, protocol=op.vip.protocol, port=op.vip.port, encap=0,
                new_flows_table_length=op.spec.new_flows_table_length, is_del=False)))
        elif op.action == "add_as":
            calls.append((api.lb_add_del_as_v2, dict(
                pfx=op.vip.prefix, protocol=op.vip.protocol, port=op.vip.port,
                as_address=op.address, weight=op.weight, is_del=False)))
        elif op.action == "set_conf":
            c = op.conf
            calls.append((api.lb_conf, dict(
                ip4_src_address=c.ip4_src_address, ip6_src_address=c.ip6_src_address,
                sticky_buckets_per_core=c.sticky_buckets_per_core, flow_timeout=c.flow_timeout)))
    return calls


def bench_core(sim, maglev_lb: dict, window: int) -> dict:
    t = {}
    c0 = time.process_time()
    t0 = time.perf_counter()
    config = schema.parse_config(maglev_lb)
    want = desired.desired_state(config)
    t["validate_and_desired_s"] = time.perf_counter() - t0
    with VppLbClient(sim.api_socket) as client:
        client.pipeline_window = window
        t["transport"] = client.capabilities.transport
        connect_calls = sum(client.api_calls.values())
        t0 = time.perf_counter()
        actual = client.dump()
        t["first_dump_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ops = planner.plan(want, actual)
        t["plan_s"] = time.perf_counter() - t0
        v0, a0 = vpp_cpu_s(sim.pid), time.process_time()
        t0 = time.perf_counter()
        client.apply(ops)
        t["apply_s"] = time.perf_counter() - t0
        t["apply_cpu_s"] = time.process_time() - a0
        t["apply_vpp_cpu_s"] = vpp_cpu_s(sim.pid) - v0
        t["ops"] = len(ops)
        t["push_calls"] = sum(client.api_calls.values()) - connect_calls  # the dump's and the apply's
        # CPU seconds of this process (connect included): steadier than wall time on a shared machine
        t["push_cpu_s"] = time.process_time() - c0
        c0 = time.process_time()
        t0 = time.perf_counter()
        again = planner.plan(want, client.dump())
        t["noop_dump_and_plan_s"] = time.perf_counter() - t0
        t["noop_cpu_s"] = time.process_time() - c0
        t["noop_calls"] = sum(client.api_calls.values()) - t["push_calls"] - connect_calls
        assert again == [], again[:5]
    t["push_total_s"] = t["validate_and_desired_s"] + t["first_dump_s"] + t["plan_s"] + t["apply_s"]
    return t, ops


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"vpp_papi {vpp_papi.__version__}, {platform.system()} {platform.release()}")


def _median_of(runs: list, key: str) -> float:
    return statistics.median(r[key] for r in runs)


def spread(values, label: str = "runs") -> str:
    """The median of ``values`` in seconds, followed by every value (this machine is noisy)."""
    values = list(values)
    return f"{statistics.median(values):.2f} s ({label}: {', '.join(f'{v:.2f}' for v in values)})"


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def _cpu_cell(values) -> str:
    values = list(values)
    return f"{statistics.median(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--vips", type=int, default=1000)
    p.add_argument("--ases", type=int, default=8)
    p.add_argument("--pings", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=3, help="push/floor rounds, interleaved; medians reported")
    p.add_argument("--window", type=int, default=pipeline.DEFAULT_WINDOW, help="the core's pipeline window")
    p.add_argument("--api-socket", help="a real VPP's API socket instead of vppsim (needs --vpp-restart)")
    p.add_argument("--vpp-restart", help="shell command that (re)starts that VPP with an empty LB state")
    p.add_argument("--vpp-pid-file", help="file holding that VPP's pid, read after each restart (its CPU)")
    p.add_argument("--write", action="store_true", help="write results into docs/performance.md")
    args = p.parse_args()
    if args.api_socket and not args.vpp_restart:
        p.error("--api-socket needs --vpp-restart: every push and floor starts from an empty VPP")
    real = bool(args.api_socket)
    fresh = real_vpp_target(args.api_socket, args.vpp_restart, args.vpp_pid_file) if real else vppsim_target()
    load_before = load_average()

    maglev_lb = generate_maglev_lb(args.vips, args.ases)
    with fresh() as vpp:
        raw = None if real else raw_socket_pings(vpp, args.pings)  # fixed message ids: vppsim only
        pings = bench_pings(vpp, args.pings)
        version = version_of(vpp) if real else "vppsim"
    # Interleave the core push and the floors, each on a fresh VPP, so machine noise hits all alike.
    cores, floors, floors_async, floors_pipelined = [], [], [], []
    vpp_cpu = {"sync": [], "pipelined": []}
    pipelined_cpu = []
    for _round in range(args.rounds):
        with fresh() as vpp:
            core, ops = bench_core(vpp, maglev_lb, args.window)
            cores.append(core)
        push_calls = functools.partial(papi_calls, ops=ops)
        with fresh() as vpp:
            floors.append(sync_floor(vpp, push_calls, vpp_cpu["sync"]))
        with fresh() as vpp:
            floors_async.append(asyncio_floor(vpp, push_calls, pipelined=False))
        with fresh() as vpp:
            floors_pipelined.append(asyncio_floor(vpp, push_calls, pipelined=True, vpp_cpu=vpp_cpu["pipelined"],
                                                  own_cpu=pipelined_cpu))
    floor = statistics.median(floors)
    apply_s = _median_of(cores, "apply_s")
    total_s = _median_of(cores, "push_total_s")
    ratios = [c["apply_s"] / f for c, f in zip(cores, floors_async, strict=True)]
    speedups = [f / c["apply_s"] for c, f in zip(cores, floors, strict=True)]
    vs_pipelined = [c["apply_s"] / f for c, f in zip(cores, floors_pipelined, strict=True)]

    where = f"a real VPP ({version}) as the VPP" if real else "vppsim as the VPP"
    command = ("`.venv/bin/python bench/bench_core.py --api-socket ... --vpp-restart ... --vpp-pid-file ... --write`"
               if real else "`.venv/bin/python bench/bench_core.py --write`")
    lines = [
        REAL_BEGIN if real else MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {machine()}; {where}; "
        f"{args.rounds} interleaved rounds of push and floors, medians; load average (1/5/15 min) "
        f"{load_before} before, {load_average()} after; {command}.",
        "",
        "| measurement | result |",
        "|---|---|",
    ]
    if raw is not None:
        lines.append(f"| vppsim answering a minimal hand-written socket client, control_ping x {args.pings} "
                     f"| {raw:,.0f}/s |")
    lines += [
        f"| sync vpp_papi (VPPApiClient) control_ping ({args.pings} x 3, median) | "
        f"{pings['sync_per_s']:,.0f}/s (rounds: {', '.join(f'{r:,.0f}' for r in pings['sync_rounds'])}) |",
        f"| asyncio vpp_papi control_ping, {args.pings} pipelined | {pings['async_pipelined_per_s']:,.0f}/s |",
        f"| floor: bare sync vpp_papi loop, the push's {cores[0]['ops']} calls | {spread(floors)} |",
        f"| floor: bare asyncio vpp_papi loop (awaited one by one), same calls | {spread(floors_async)} |",
        f"| limit: bare asyncio vpp_papi loop, same calls all pipelined (gather) | {spread(floors_pipelined)} |",
        f"| core push: validate + desired state | {_median_of(cores, 'validate_and_desired_s'):.2f} s |",
        f"| core push: first dump (empty VPP) | {_median_of(cores, 'first_dump_s'):.3f} s |",
        f"| core push: plan ({cores[0]['ops']} ops) | {_median_of(cores, 'plan_s'):.3f} s |",
        f"| core push: apply ({cores[0]['transport']} transport, window {args.window}) | "
        f"{spread(c['apply_s'] for c in cores)}; "
        f"{apply_s / floor:.2f}x the sync floor, {statistics.median(ratios):.2f}x the asyncio floor "
        f"(per round: {', '.join(f'{r:.2f}' for r in ratios)}) |",
        f"| core apply vs the sync floor (speed-up, per round) | {statistics.median(speedups):.2f}x "
        f"({', '.join(f'{r:.2f}' for r in speedups)}) |",
        f"| core apply vs the pipelined limit (slowdown, per round) | {statistics.median(vs_pipelined):.2f}x "
        f"({', '.join(f'{r:.2f}' for r in vs_pipelined)}) |",
        f"| CPU of this process: core apply / pipelined limit | {_cpu_cell(c['apply_cpu_s'] for c in cores)} / "
        f"{_cpu_cell(pipelined_cpu)} |",
        f"| VPP's own CPU: core apply / sync floor / pipelined limit | "
        f"{_cpu_cell(c['apply_vpp_cpu_s'] for c in cores)} / {_cpu_cell(vpp_cpu['sync'])} / "
        f"{_cpu_cell(vpp_cpu['pipelined'])} |",
        f"| core push: total | {total_s:.2f} s ({total_s / floor:.2f}x the sync floor) |",
        f"| no-op re-plan: dump {args.vips} VIPs x {args.ases} ASes + plan | "
        f"{spread(c['noop_dump_and_plan_s'] for c in cores)} |",
        REAL_END if real else MARK_END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        if real:
            write_section(REAL_BEGIN, REAL_END, text, REAL_HEADING)
        else:
            write_section(MARK_BEGIN, MARK_END, text, HEADING)
    return 0


def version_of(vpp: Vpp) -> str:
    """VPP's own version string (show_version)."""
    client = VPPApiClient(server_address=vpp.api_socket, bootstrapapi=True, async_thread=False)
    client.connect("bench-version")
    try:
        return client.api.show_version().version
    finally:
        client.disconnect()


def write_section(begin: str, end: str, text: str, heading: str) -> None:
    """Replace the marked section of docs/performance.md with text (appended under heading if absent)."""
    path = os.path.join(ROOT, "docs", "performance.md")
    with open(path) as f:
        doc = f.read()
    if begin not in doc:
        doc += f"\n{heading}\n\n{begin}\n{end}\n"
    start, stop = doc.index(begin), doc.index(end) + len(end)
    with open(path, "w") as f:
        f.write(doc[:start] + text + doc[stop:])


if __name__ == "__main__":
    sys.exit(main())
