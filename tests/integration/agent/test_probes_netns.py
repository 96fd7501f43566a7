"""icmp and tcp probes, and probes inside a network namespace, between namespaces made here.

Each test gets two fresh namespaces joined by a veth pair: ``client`` (where probes run, through
NetnsSockets) and ``server`` (the backend). Nothing is added to the machine's own namespace, so no
probe here can reach beyond the two.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Iterator, List, Set, Tuple

import pytest
from ansible_collections.maglev.vpp.agent.probes import NetnsError, NetnsSockets, ProbeResult, run_probe
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from polling import until, wait_for
from probing import MARGIN, TIMEOUT, check_of, open_sockets

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CLIENT4, SERVER4 = "198.51.100.1", "198.51.100.2"
CLIENT6, SERVER6 = "2001:db8:51::1", "2001:db8:51::2"
BEYOND4, BEYOND6 = "203.0.113.5", "2001:db8:99::5"  # routed via the server, which has no route on
_numbers = itertools.count()


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


def link_is_up(namespace: str, device: str) -> bool:
    shown = subprocess.run(["ip", "-n", namespace, "-j", "link", "show", "dev", device],
                           check=True, capture_output=True, text=True, timeout=20)
    return json.loads(shown.stdout)[0].get("operstate") == "UP"


def wait_link_up(namespace: str, device: str) -> None:
    """Until the kernel has activated the link (it drops packets until then, up to a second)."""
    wait_for(lambda: link_is_up(namespace, device), 10, f"{device} in {namespace} to come up")


@dataclass
class Lab:
    client: str
    server: str
    client_sockets: NetnsSockets
    server_sockets: NetnsSockets

    def in_server(self, *args: str) -> None:
        run("ip", "netns", "exec", self.server, *args)

    def in_client(self, *args: str) -> None:
        run("ip", "netns", "exec", self.client, *args)


@pytest.fixture
def lab() -> Iterator[Lab]:
    number = next(_numbers)
    client, server = f"mgp{os.getpid()}-{number}c", f"mgp{os.getpid()}-{number}s"
    made: List[str] = []
    opened: List[NetnsSockets] = []
    try:
        for name in (client, server):
            run("ip", "netns", "add", name)
            made.append(name)
            # No duplicate address detection: addresses (link-local ones too) are usable at once.
            run("ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.all.accept_dad=0")
        run("ip", "link", "add", "vc", "netns", client, "type", "veth", "peer", "name", "vs", "netns", server)
        for name, dev, v4, v6 in ((client, "vc", CLIENT4, CLIENT6), (server, "vs", SERVER4, SERVER6)):
            run("ip", "-n", name, "addr", "add", f"{v4}/24", "dev", dev)
            run("ip", "-n", name, "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            run("ip", "-n", name, "link", "set", "dev", dev, "up")
            run("ip", "-n", name, "link", "set", "dev", "lo", "up")
        for name, dev in ((client, "vc"), (server, "vs")):
            wait_link_up(name, dev)
        opened.append(NetnsSockets.open(client))
        opened.append(NetnsSockets.open(server))
        yield Lab(client, server, opened[0], opened[1])
    finally:
        for sockets in opened:
            sockets.close()
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20, check=False)


def probe(lab: Lab, check: schema.HealthCheck, address: str) -> ProbeResult:
    return asyncio.run(run_probe(check, address, netns=lab.client_sockets))


async def serve_in(sockets: NetnsSockets, address: str, handler: Any = None) -> asyncio.Server:
    """A TCP server listening inside the namespace of ``sockets`` (HTTP 200 for any request)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = await sockets.socket(family, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen(16)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handler or answer, sock=sock)


def port_of(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


# -- icmp ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [SERVER4, SERVER6])
def test_icmp_up(lab, address):
    result = probe(lab, check_of(type="icmp"), address)
    assert (result.ok, result.code) == (True, "L3OK")
    assert result.duration < TIMEOUT


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_icmp_up_without_netns(address):
    result = asyncio.run(run_probe(check_of(type="icmp"), address))
    assert (result.ok, result.code) == (True, "L3OK")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_icmp_up_on_uvloop(address):
    """uvloop has no loop.sock_recvfrom (NotImplementedError): every icmp probe crashed, the
    backend stayed blind and its frontend was never released (`--event-loop uvloop`)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(run_probe(check_of(type="icmp"), address))
    assert (result.ok, result.code) == (True, "L3OK"), result


@pytest.mark.parametrize("address", [SERVER4, SERVER6])
def test_icmp_concurrent_probes_each_take_their_own_reply(lab, address):
    """20 raw sockets to one host see each other's replies; every probe must still pass."""

    async def scenario() -> List[ProbeResult]:
        check = check_of(type="icmp")
        return await asyncio.gather(*(run_probe(check, address, netns=lab.client_sockets) for _probe in range(20)))

    assert [r.code for r in asyncio.run(scenario())] == ["L3OK"] * 20


@pytest.mark.parametrize("address", [SERVER4, SERVER6])
def test_icmp_down_when_peer_link_is_down(lab, address):
    assert probe(lab, check_of(type="icmp"), address).ok
    lab.in_server("ip", "link", "set", "dev", "vs", "down")
    result = probe(lab, check_of(type="icmp"), address)
    assert not result.ok and result.code in ("L3TOUT", "L3CON")
    assert result.duration < TIMEOUT + MARGIN


@pytest.mark.parametrize("address, client", [(SERVER4, CLIENT4), (SERVER6, CLIENT6)])
def test_icmp_down_when_replies_are_dropped(lab, address, client):
    assert probe(lab, check_of(type="icmp"), address).ok
    lab.in_server("ip", "route", "add", "blackhole", client)  # the server drops all it sends us
    result = probe(lab, check_of(type="icmp"), address)
    assert (result.ok, result.code) == (False, "L3TOUT")
    assert TIMEOUT <= result.duration < TIMEOUT + MARGIN


def _route_beyond_server(lab: Lab) -> None:
    lab.in_client("ip", "route", "add", "203.0.113.0/24", "via", SERVER4)
    lab.in_client("ip", "-6", "route", "add", "2001:db8:99::/64", "via", SERVER6)
    lab.in_server("sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
    lab.in_server("ip", "route", "add", "unreachable", "203.0.113.0/24")
    lab.in_server("ip", "-6", "route", "add", "unreachable", "2001:db8:99::/64")


@pytest.mark.parametrize("address", [BEYOND4, BEYOND6])
def test_icmp_unreachable_from_a_router_is_l3con(lab, address):
    _route_beyond_server(lab)
    result = probe(lab, check_of(type="icmp"), address)
    assert (result.ok, result.code) == (False, "L3CON")
    assert "UNREACH" in result.detail  # EHOSTUNREACH or ENETUNREACH, from the router's ICMP error


def test_icmp_no_route_is_l3con(lab):
    lab.in_client("ip", "route", "add", "unreachable", BEYOND4)
    result = probe(lab, check_of(type="icmp"), BEYOND4)
    assert (result.ok, result.code) == (False, "L3CON")


def test_icmp_source_address(lab):
    assert probe(lab, check_of(type="icmp", source_address=CLIENT4), SERVER4).code == "L3OK"
    result = probe(lab, check_of(type="icmp", source_address="198.51.100.9"), SERVER4)
    assert (result.ok, result.code) == (False, "L3CON")
    assert "198.51.100.9" in result.detail


def test_icmp_without_cap_net_raw_uses_datagram_socket(lab):
    """No CAP_NET_RAW, but ping_group_range allows our group: the probe falls back and passes."""
    lab.in_client("sysctl", "-q", "-w", f"net.ipv4.ping_group_range={os.getgid()} {os.getgid()}")
    script = textwrap.dedent(
        f"""
        import asyncio, socket, sys
        sys.path[:0] = [{os.path.join(REPO_ROOT, ".build")!r}]
        from ansible_collections.maglev.vpp.agent.probes import run_probe
        from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
        try:
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            print("raw-allowed")
        except PermissionError:
            print("raw-denied")
        check = schema.parse_config({{"healthchecks": {{"c": {{"type": "icmp", "timeout": {TIMEOUT}}}}}}})
        for address in ({SERVER4!r}, {SERVER6!r}):
            print(asyncio.run(run_probe(check.healthchecks["c"], address)).code)
        """
    )
    done = subprocess.run(
        ["ip", "netns", "exec", lab.client, "setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw",
         "--", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["raw-denied", "L3OK", "L3OK"]


def test_icmp_without_any_icmp_socket_is_l3con(lab):
    """Neither CAP_NET_RAW nor a ping group: the probe says why instead of raising."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path[:0] = [{os.path.join(REPO_ROOT, ".build")!r}]
        from ansible_collections.maglev.vpp.agent.probes import run_probe
        from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
        check = schema.parse_config({{"healthchecks": {{"c": {{"type": "icmp", "timeout": {TIMEOUT}}}}}}})
        result = asyncio.run(run_probe(check.healthchecks["c"], {SERVER4!r}))
        print(result.code, result.detail)
        """
    )
    lab.in_client("sysctl", "-q", "-w", "net.ipv4.ping_group_range=1 0")
    done = subprocess.run(
        ["ip", "netns", "exec", lab.client, "setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw",
         "--", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("L3CON no ICMP socket")


# -- tcp -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [SERVER4, SERVER6])
def test_tcp_listener_closed_port_and_black_hole(lab, address):
    client = CLIENT6 if ":" in address else CLIENT4

    async def scenario() -> List[ProbeResult]:
        server = await serve_in(lab.server_sockets, address)
        try:
            check = check_of(type="tcp", port=port_of(server))
            closed = dataclasses.replace(check, port=port_of(server) + 1 if port_of(server) < 65535 else 1)
            results = [await run_probe(check, address, netns=lab.client_sockets)]
            results.append(await run_probe(closed, address, netns=lab.client_sockets))
            lab.in_server("ip", "route", "add", "blackhole", client)  # SYN-ACKs go nowhere
            results.append(await run_probe(check, address, netns=lab.client_sockets))
            return results
        finally:
            server.close()
            await server.wait_closed()

    up, closed, black_hole = asyncio.run(scenario())
    assert (up.ok, up.code) == (True, "L4OK")
    assert (closed.ok, closed.code) == (False, "L4CON")
    assert (black_hole.ok, black_hole.code) == (False, "L4TOUT")
    assert TIMEOUT <= black_hole.duration < TIMEOUT + MARGIN


def test_tcp_unreachable_from_a_router_is_l4con(lab):
    _route_beyond_server(lab)
    result = probe(lab, check_of(type="tcp", port=80), BEYOND4)
    assert (result.ok, result.code) == (False, "L4CON")


# -- the probe namespace -------------------------------------------------------------------------


def test_server_reachable_only_inside_the_namespace(lab):
    """A server on the client namespace's own loopback: up through NetnsSockets, refused outside."""

    async def scenario() -> List[ProbeResult]:
        server = await serve_in(lab.client_sockets, "127.0.0.1")
        port = port_of(server)
        holder = socket.socket()  # holds the same port in our namespace, never listening
        try:
            holder.bind(("127.0.0.1", port))
            check = check_of(type="http", port=port)
            inside = await run_probe(check, "127.0.0.1", netns=lab.client_sockets)
            outside = await run_probe(check, "127.0.0.1")
            return [inside, outside]
        finally:
            holder.close()
            server.close()
            await server.wait_closed()

    inside, outside = asyncio.run(scenario())
    assert (inside.ok, inside.code, inside.status) == (True, "L7OK", 200)
    assert (outside.ok, outside.code) == (False, "L4CON")


@pytest.mark.parametrize("address", [SERVER4, SERVER6])
def test_http_to_the_server_namespace(lab, address):
    async def scenario() -> ProbeResult:
        server = await serve_in(lab.server_sockets, address)
        try:
            return await run_probe(check_of(type="http", port=port_of(server)), address, netns=lab.client_sockets)
        finally:
            server.close()
            await server.wait_closed()

    result = asyncio.run(scenario())
    assert (result.ok, result.code) == (True, "L7OK")


def test_missing_namespace_cannot_be_opened():
    name = f"mgp{os.getpid()}-absent"
    with pytest.raises(NetnsError, match=f"cannot enter network namespace {name}: /run/netns/{name}"):
        NetnsSockets.open(name)


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".."])
def test_bad_namespace_name(name):
    with pytest.raises(NetnsError, match="is not a network namespace name"):
        NetnsSockets.open(name)


@pytest.mark.parametrize("kind", ["http", "tcp", "icmp"])
def test_closed_namespace_gives_netns_code(lab, kind):
    lab.client_sockets.close()
    body: dict = {"type": kind}
    if kind == "tcp":
        body["port"] = 80
    result = probe(lab, check_of(**body), SERVER4)
    assert (result.ok, result.code) == (False, "NETNS")
    assert lab.client in result.detail


@pytest.mark.parametrize("kind", ["tcp", "icmp"])
def test_cancelled_probes_close_their_sockets(lab, kind):
    lab.in_server("ip", "route", "add", "blackhole", CLIENT4)  # no answer ever: the probes wait
    body: dict = {"type": kind, "timeout": 30, "interval": 60}
    if kind == "tcp":
        body["port"] = 80

    async def scenario() -> Tuple[Set[str], Set[str], Set[str]]:
        before = open_sockets()
        tasks = [asyncio.create_task(run_probe(check_of(**body), SERVER4, netns=lab.client_sockets))
                 for _probe in range(10)]
        await until(lambda: len(open_sockets() - before) >= 10, 30, "the 10 probes' sockets")
        during = open_sockets()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results), results
        return before, during, open_sockets()

    before, during, after = asyncio.run(scenario())
    assert len(during - before) == 10, (before, during)  # each probe had its socket open
    assert not (during - before) & after  # and every one of them is closed


def test_still_named_follows_the_name_not_the_namespace():
    """``ip netns del`` removes a name, not a namespace its thread is in; ``ip netns add`` then
    names a new one. The agent leaves a namespace that is no longer the one named (daemon.py)."""
    name = f"mgq{os.getpid()}-{next(_numbers)}"
    run("ip", "netns", "add", name)
    try:
        with NetnsSockets.open(name) as sockets:
            assert sockets.still_named()
            run("ip", "netns", "del", name)
            assert not sockets.still_named()  # deleted: the thread keeps the namespace alive, not its name
            run("ip", "netns", "add", name)
            assert not sockets.still_named()  # the name is back, on another namespace
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
