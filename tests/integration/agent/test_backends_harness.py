"""The backend harness itself: every failure mode is seen by a real client from the root namespace."""

from __future__ import annotations

import http.client
import os
import random
import select
import socket
import ssl
import struct
import subprocess
import sys
import time

import pytest
from backends import BackendNet, http_get, link_exists, netns_names, tcp_connect
from polling import wait_for


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ping(addr: str, timeout: float) -> bool:
    """One ICMP echo over a raw socket: True if the reply arrives within ``timeout``."""
    v6 = ":" in addr
    family, proto, request, reply = (
        (socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, 129) if v6 else (socket.AF_INET, socket.IPPROTO_ICMP, 8, 0)
    )
    ident, payload = random.randrange(1 << 16), b"mgl-harness"  # raw sockets see all replies: match ours
    checksum = 0 if v6 else _checksum(struct.pack("!BBHHH", request, 0, 0, ident, 1) + payload)  # kernel sums v6
    with socket.socket(family, socket.SOCK_RAW, proto) as sock:
        sock.sendto(struct.pack("!BBHHH", request, 0, checksum, ident, 1) + payload, (addr, 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                return False
            data, peer = sock.recvfrom(2048)
            if not v6:
                data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 sockets include the IP header
            if peer[0] == addr and data[0] == reply and struct.unpack("!H", data[4:6])[0] == ident:
                return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_http_backend_reached_over_the_veth_on_ipv4_and_ipv6(backend_net):
    b = backend_net.add_backend(http=80, routes={"/health": (200, "healthy\n")})
    for addr in b.addrs:
        route = subprocess.run(["ip", "route", "get", addr], capture_output=True, text=True, check=True).stdout
        assert f"dev {backend_net.root_if}" in route
        assert http_get(addr, 80, "/health") == (200, b"healthy\n")
        assert http_get(addr, 80, "/other") == (200, b"ok\n")
    assert b.requests() == ["GET /health", "GET /other", "GET /health", "GET /other"]
    assert b.url("/x") == f"http://{b.ip4}:80/x" and b.url(family=6) == f"http://[{b.ip6}]:80/"


def test_set_response_per_path_and_default(backend_net):
    b = backend_net.add_backend(http=8080)
    b.set_response("/health", 503, "down\n")
    b.set_response("*", 404, "no\n")
    assert http_get(b.ip6, 8080, "/health?x=1") == (503, b"down\n")
    assert http_get(b.ip4, 8080, "/anything") == (404, b"no\n")


def test_each_backend_has_its_own_addresses(backend_net):
    one, two = backend_net.add_backend(http=80), backend_net.add_backend(http=80)
    one.set_response("/", 200, "one")
    two.set_response("/", 200, "two")
    assert {one.ip4, one.ip6}.isdisjoint({two.ip4, two.ip6})
    assert http_get(one.ip4, 80)[1] == b"one" and http_get(two.ip6, 80)[1] == b"two"


def test_close_port_refuses_while_the_process_lives_and_restore_reopens(backend_net):
    b = backend_net.add_backend(http=80, tcp=7000)
    b.close_port()
    for addr in b.addrs:
        assert tcp_connect(addr, 80, 1.0) == "refused"
        assert tcp_connect(addr, 7000, 1.0) == "refused"
    assert b.pid is not None and _alive(b.pid)
    b.restore()
    assert http_get(b.ip6, 80)[0] == 200
    assert tcp_connect(b.ip4, 7000, 1.0) == "open"


def test_stop_server_kills_the_process_and_restore_starts_a_new_one(backend_net):
    b = backend_net.add_backend(http=80, routes={"/health": (503, "down")})
    old_pid = b.pid
    b.stop_server()
    assert b.pid is None and not _alive(old_pid)
    assert tcp_connect(b.ip4, 80, 1.0) == "refused"
    b.restore()
    assert b.pid not in (None, old_pid)
    assert http_get(b.ip4, 80, "/health") == (503, b"down")  # responses survive the restart


def test_blackhole_makes_connects_and_pings_hang_until_their_timeout(backend_net):
    b = backend_net.add_backend(http=80)
    other = backend_net.add_backend(http=80)
    b.blackhole()
    for addr in b.addrs:
        start = time.monotonic()
        assert tcp_connect(addr, 80, 1.0) == "timeout"
        assert time.monotonic() - start >= 1.0
        assert not ping(addr, 0.5)
    assert http_get(other.ip4, 80)[0] == 200  # only this backend's addresses are dropped
    b.restore()
    assert http_get(b.ip4, 80)[0] == 200 and http_get(b.ip6, 80)[0] == 200
    assert ping(b.ip4, 2.0) and ping(b.ip6, 2.0)


def test_icmp_only_backend_answers_pings(backend_net):
    b = backend_net.add_backend()
    assert b.pid is None and b.ports == {}
    assert ping(b.ip4, 2.0) and ping(b.ip6, 2.0)
    b.blackhole()
    assert not ping(b.ip4, 0.5) and not ping(b.ip6, 0.5)
    b.restore()
    assert ping(b.ip4, 2.0) and ping(b.ip6, 2.0)


def test_make_slow_delays_responses_and_restore_makes_them_prompt(backend_net):
    delay = 1.0
    b = backend_net.add_backend(http=80)
    b.make_slow(delay)
    start = time.monotonic()
    assert http_get(b.ip4, 80, timeout=delay + 5)[0] == 200
    assert time.monotonic() - start >= delay
    b.restore()
    start = time.monotonic()
    assert http_get(b.ip6, 80, timeout=delay + 5)[0] == 200
    assert time.monotonic() - start < delay


def test_https_is_verified_against_the_test_ca(backend_net):
    b = backend_net.add_backend(https=443)
    assert backend_net.ca_file is not None
    for addr in b.addrs:
        assert http_get(addr, 443, "/", ca_file=backend_net.ca_file) == (200, b"ok\n")
    conn = http.client.HTTPSConnection(b.ip4, 443, timeout=5, context=ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):  # the system trust store does not know the test CA
        conn.request("GET", "/")
    conn.close()


def test_two_nets_do_not_collide(backend_net_factory):
    first, second = backend_net_factory(), backend_net_factory()
    assert first.name != second.name and first.root_if != second.root_if
    assert not first.prefix4.overlaps(second.prefix4) and not first.prefix6.overlaps(second.prefix6)
    a, b = first.add_backend(http=80), second.add_backend(http=80)
    a.set_response("/", 200, "first")
    b.set_response("/", 200, "second")
    assert http_get(a.ip4, 80)[1] == b"first" and http_get(b.ip6, 80)[1] == b"second"


def test_close_removes_namespace_veth_and_server_processes():
    net = BackendNet()
    pid = net.add_backend(http=80).pid
    assert net.name in netns_names() and link_exists(net.root_if)
    net.close()
    assert net.name not in netns_names()
    assert not link_exists(net.root_if)
    assert not _alive(pid)
    assert not os.path.exists(net.workdir)
    net.close()  # idempotent


def test_teardown_happens_when_the_body_raises():
    with pytest.raises(RuntimeError, match="the test body failed"):
        with BackendNet() as net:
            net.add_backend(tcp=7000)
            raise RuntimeError("the test body failed")
    assert net.name not in netns_names() and not link_exists(net.root_if)


def test_leftovers_of_a_killed_process_are_purged_by_the_next_holder_of_its_slot(backend_net_factory):
    crash = "import os, backends; n = backends.BackendNet(); print(n.slot, n.name, n.workdir, flush=True); os._exit(1)"
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    out = subprocess.run([sys.executable, "-c", crash], env=env, capture_output=True, text=True, timeout=60,
                         check=False).stdout
    slot, name, workdir = int(out.split()[0]), out.split()[1], out.split()[2]
    assert name in netns_names() and link_exists(f"mgl{slot}r") and os.path.isdir(workdir)  # no teardown ran
    nets = []  # bounded: BackendNet() raises once all slots are taken
    while name in netns_names():  # each new net takes the lowest free slot; whoever gets this one purges it
        nets.append(backend_net_factory())
    wait_for(lambda: not os.path.exists(workdir), 5.0, f"{workdir} to be removed")  # by us or another worker
    owner = next((net for net in nets if net.slot == slot), None)
    if owner is not None:  # else another pytest worker took the slot (and purged it)
        assert owner.name != name and owner.name in netns_names() and link_exists(owner.root_if)


def test_wait_for_returns_the_first_truthy_value():
    values = iter([0, None, "", "done"])
    assert wait_for(lambda: next(values), 1.0, "a value") == "done"


def test_wait_for_raises_with_what_it_waited_for():
    start = time.monotonic()
    with pytest.raises(AssertionError, match="the impossible"):
        wait_for(lambda: False, 0.2, "the impossible", scale=1)
    assert time.monotonic() - start < 2.0
