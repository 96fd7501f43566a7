"""The VPP the integration tests face: vppsim, or a real VPP named by environment variables.

``VPP_API_SOCKET`` (with ``VPP_STATS_SOCKET``, ``VPP_API_DIR``) points the tests at a real VPP;
``VPP_RESTART_CMD`` restarts it so each test starts from a fresh VPP; ``VPP_STOP_CMD`` and
``VPP_START_CMD`` stop and start it; ``VPP_LB_API`` names its LB API generation (else it is read
from its message table). See docs/testing.md.

The helpers here do one thing on both: ``restart_vpp``, ``stop_vpp``/``start_vpp`` and
``send_flows`` (``sim traffic`` on vppsim, VPP's packet generator on a real VPP).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import itertools
import os
import subprocess
import time
from typing import Callable, List, Optional

import pytest

from vppsim.launcher import SimProcess as VppSim
from vppsim.launcher import start as start_vppsim


def external_vpp() -> Optional[VppSim]:
    api = os.environ.get("VPP_API_SOCKET")
    if not api:
        return None
    stats = os.environ.get("VPP_STATS_SOCKET", "/run/vpp/stats.sock")
    return VppSim(api, stats, os.environ.get("VPP_API_DIR"))


RESTART_TIMEOUT = 120.0


def _wait_until_vpp_answers(vpp: VppSim, deadline: float) -> str:
    """Connect until VPP answers a ping (bounded); returns its LB API generation."""
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient, is_retryable

    while True:
        try:
            with VppLbClient(vpp.api_socket, api_dir=vpp.api_dir, timeout=2) as client:
                client.ping()
                return client.capabilities.lb_api_version
        except Exception as exc:
            if not is_retryable(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.2)  # polling a VPP that is starting up; the deadline bounds it


@functools.lru_cache(maxsize=1)
def external_lb_api() -> str:
    """The LB API generation of the VPP at VPP_API_SOCKET (VPP_LB_API, else its message table)."""
    if os.environ.get("VPP_LB_API"):
        return os.environ["VPP_LB_API"]
    return _wait_until_vpp_answers(external_vpp(), time.monotonic() + RESTART_TIMEOUT)


def fresh_external(external: VppSim, *, required: bool) -> VppSim:
    """The real VPP, restarted with VPP_RESTART_CMD; without it, skip if a fresh VPP is required."""
    command = os.environ.get("VPP_RESTART_CMD")
    if not command:
        if required:
            pytest.skip("needs a freshly started VPP: set VPP_RESTART_CMD to a command that restarts it")
        return external
    subprocess.run(command, shell=True, check=True, timeout=RESTART_TIMEOUT)
    _wait_until_vpp_answers(external, time.monotonic() + RESTART_TIMEOUT)
    return external


def restart_vpp(vpp: VppSim, client) -> None:
    """Restart the VPP under test: ``sim fault restart`` on vppsim, VPP_RESTART_CMD on a real one
    (then wait until it answers). The caller's client is disconnected by the restart."""
    if vpp.is_sim:
        client.cli("sim fault restart")
        return
    fresh_external(vpp, required=True)


def _run_command(variable: str) -> None:
    command = os.environ.get(variable)
    if not command:
        pytest.skip(f"needs {variable}: a shell command that does that to the VPP at VPP_API_SOCKET")
    subprocess.run(command, shell=True, check=True, timeout=RESTART_TIMEOUT)


def stop_vpp(vpp: VppSim) -> None:
    """Stop the VPP under test (its sockets go away): vppsim's process, or VPP_STOP_CMD."""
    if vpp.is_sim:
        vpp.terminate()
        return
    _run_command("VPP_STOP_CMD")


def start_vpp(vpp: VppSim) -> None:
    """Start a VPP stopped by ``stop_vpp`` on the same sockets (vppsim again, or VPP_START_CMD),
    and wait until it answers."""
    if vpp.is_sim:
        vpp.proc = start_vppsim(*vpp.args, workdir=vpp.workdir).proc
        return
    _run_command("VPP_START_CMD")
    _wait_until_vpp_answers(vpp, time.monotonic() + RESTART_TIMEOUT)


# Each packet-generator batch without a seed gets fresh source addresses, so its flows are new to
# VPP's sticky table, as ``sim traffic`` without a seed makes new flows.
_pg_batches = itertools.count(1)
PG_SOURCES = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range
PG_BATCH_ADDRESSES = PG_SOURCES.num_addresses // 16
PG_PACKET_BYTES = 100  # as vppsim's simulated packets
PG_TIMEOUT = 60.0
# The packets enter ip4-input on a loopback: an address enables IPv4 on it (else ip4-not-enabled).
PG_INTERFACE = ("create loopback interface", "set interface state loop0 up",
                "set interface ip address loop0 100.64.255.1/32")


def send_flows(vpp: VppSim, client, vip: str, protocol: str = "tcp", port: int = 80, *, flows: int,
               packets: int = 1, seed: int | None = None) -> str:
    """``flows`` new flows of ``packets`` packets (100 bytes each) to an IPv4 VIP: ``sim traffic``
    on vppsim; on a real VPP, a packet-generator stream into ip4-input on a loopback interface
    (through cli_inband). Returns once VPP has counted them all (vppsim's reply, else "")."""
    if vpp.is_sim:
        # Sources from the same range as the packet generator's: distinct per flow, also for
        # src_ip_sticky VIPs.
        command = (f"sim traffic {vip} protocol {protocol} port {port} flows {flows} packets {packets}"
                   f" src {PG_SOURCES}")
        return client.cli(command + (f" seed {seed}" if seed is not None else ""))
    if "loop0" not in client.cli("show interface"):
        for command in PG_INTERFACE:
            client.cli(command)
    batch = seed if seed is not None else 1000 + next(_pg_batches)
    name = f"maglev{batch}x{os.getpid()}"
    for command in pg_stream_commands(name, vip, protocol, port, flows, packets, batch):
        client.cli(command)
    deadline = time.monotonic() + PG_TIMEOUT
    while pg_stream_enabled(client.cli("show packet-generator"), name):
        if time.monotonic() > deadline:
            raise AssertionError(f"packet-generator stream {name} still running after {PG_TIMEOUT}s")
        time.sleep(0.05)  # polling VPP until the stream has sent its limit; the deadline bounds it
    client.cli(f"packet-generator delete {name}")
    return ""


def pg_stream_commands(name: str, vip: str, protocol: str, port: int, flows: int, packets: int,
                       batch: int) -> list[str]:
    """The CLI that sends ``flows`` x ``packets`` packets from ``flows`` source addresses (one flow
    each, a range chosen by ``batch``) to the VIP, into ip4-input on loop0 (PG_INTERFACE)."""
    if flows < 1 or packets < 1 or flows > PG_BATCH_ADDRESSES:
        raise ValueError(f"flows must be 1..{PG_BATCH_ADDRESSES} and packets >= 1")
    address = vip.split("/")[0]
    # 16 source ranges in turn, and a source port of its own per batch: a batch's flows are new
    # to VPP's sticky table (also for src_ip_sticky VIPs, which hash the addresses only).
    first = PG_SOURCES.network_address + (batch % 16) * PG_BATCH_ADDRESSES
    last = first + flows - 1
    sport = 1024 + batch % 60000
    return [
        f"packet-generator new {{ name {name} limit {flows * packets} size {PG_PACKET_BYTES}-{PG_PACKET_BYTES}"
        f" node ip4-input interface loop0 data {{ {protocol.upper()}: {first}-{last} -> {address}"
        # A payload is required after the TCP/UDP header (tcp_pg.c, udp_pg.c: unformat_pg_payload);
        # VPP sizes it to fill the packet, so "incrementing 1" is enough.
        f" {protocol.upper()}: {sport} -> {port} incrementing 1 }} }}",
        f"packet-generator enable-stream {name}",
    ]


def pg_stream_enabled(show_output: str, name: str) -> bool:
    """Whether ``show packet-generator`` lists the stream as still enabled."""
    for line in show_output.splitlines():
        words = line.split()
        if words and words[0] == name:
            return len(words) > 1 and words[1] == "Yes"
    return False


def table_owners(vpp: VppSim, cli: Callable[[str], str], vip: str) -> Optional[List[str]]:
    """The owner of each bucket of a VIP's new-flow table (``vip``: prefix [protocol P port N]),
    from vppsim's ``sim buckets``; None on a real VPP, which has no such dump. (vppsim's table was
    checked against real VPP master and v26.06 bucket by bucket with traced flows: vpp-facts.md;
    a real VPP's per-AS bucket counts, in ``show lb vips verbose``, are checked by the tests.)"""
    if not vpp.is_sim:
        return None
    return [line.split()[1] for line in cli(f"sim buckets {vip}").splitlines()[1:]]


def table_digest(owners: List[str]) -> str:
    """The table digest the core computes (maglev_table.table_digest), from the owners."""
    return hashlib.sha256("".join(owner + "\n" for owner in owners).encode()).hexdigest()[:16]
