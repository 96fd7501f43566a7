"""icmp: one echo request, up when the matching echo reply comes back (IPv4 and IPv6).

A raw socket needs CAP_NET_RAW; without it an unprivileged ICMP datagram socket is used, which
Linux allows for groups in net.ipv4.ping_group_range (the kernel then picks the identifier and
computes the checksum). The socket is connected to the backend, so the kernel passes up only its
packets and reports ICMP errors about our request (unreachable) as socket errors; replies are
still matched by source, identifier (raw sockets), sequence and payload.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

from ...plugins.module_utils.vpp_lb.schema import HealthCheck
from . import result as codes
from .connect import describe_os_error
from .netns import NetnsSockets, bind_source, family_of, new_socket

ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTO = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}
_SOL_RAW, _ICMP_FILTER = 255, 1  # linux/icmp.h: drop every ICMPv4 type whose bit is set
_ICMP6_FILTER = 1  # linux/icmpv6.h: same for ICMPv6, 256 bits
_IP_RECVERR, _IPV6_RECVERR = 11, 25  # linux/in.h, linux/in6.h
_sequence = itertools.count(1)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request; the ICMPv6 checksum is left 0 for the kernel (it covers a pseudo-header)."""
    header = struct.pack("!BBHHH", ECHO_REQUEST[family], 0, 0, ident, seq)
    if family == socket.AF_INET6:
        return header + payload
    return struct.pack("!BBHHH", ECHO_REQUEST[family], 0, checksum(header + payload), ident, seq) + payload


def parse_echo_reply(family: int, packet: bytes, has_ip_header: bool) -> Optional[Tuple[int, int, bytes]]:
    """(identifier, sequence, payload) of an echo reply, None for anything else."""
    if has_ip_header:  # raw IPv4 sockets see the IP header
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < 8:
        return None
    kind, code, _sum, ident, seq = struct.unpack("!BBHHH", packet[:8])
    if kind != ECHO_REPLY[family] or code != 0:
        return None
    return ident, seq, packet[8:]


@dataclass(frozen=True)
class Expected:
    """What our echo reply carries; ident None where the kernel owns it (datagram sockets)."""

    source: Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
    ident: Optional[int]
    seq: int
    payload: bytes


def is_our_reply(expected: Expected, family: int, packet: bytes, source: str, has_ip_header: bool) -> bool:
    """Whether a received packet is the echo reply to our request (others' replies are ignored)."""
    if ipaddress.ip_address(source.split("%", 1)[0]) != expected.source:
        return False
    reply = parse_echo_reply(family, packet, has_ip_header)
    if reply is None:
        return False
    ident, seq, payload = reply
    return seq == expected.seq and payload == expected.payload and expected.ident in (None, ident)


async def _open_icmp(family: int, netns: Optional[NetnsSockets]) -> Tuple[socket.socket, bool]:
    """(socket, is_raw): raw when allowed, else the unprivileged datagram kind."""
    raw = True
    try:
        sock = await new_socket(netns, family, socket.SOCK_RAW, PROTO[family])
    except PermissionError:
        sock = await new_socket(netns, family, socket.SOCK_DGRAM, PROTO[family])
        raw = False
    try:
        # Without RECVERR, Linux reports only "hard" ICMP errors: host and net unreachable are not.
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
        if raw:
            _pass_only_echo_replies(sock, family)
    except BaseException:
        sock.close()
        raise
    return sock, raw


def _pass_only_echo_replies(sock: socket.socket, family: int) -> None:
    """A raw socket sees every ICMP packet from its peer: let the kernel drop all but echo replies."""
    if family == socket.AF_INET:
        sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("I", ~(1 << ECHO_REPLY[family]) & 0xFFFFFFFF))
    else:
        blocked = [0xFFFFFFFF] * 8
        blocked[ECHO_REPLY[family] >> 5] &= ~(1 << (ECHO_REPLY[family] & 31)) & 0xFFFFFFFF
        sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *blocked))


async def probe_icmp(
    check: HealthCheck, address: str, netns: Optional[NetnsSockets]
) -> Tuple[str, str, Optional[int]]:
    loop = asyncio.get_running_loop()
    family = family_of(address)
    target = ipaddress.ip_address(address)
    seq = next(_sequence) & 0xFFFF
    payload = b"maglev-" + os.urandom(8)
    sock: Optional[socket.socket] = None
    try:
        async with asyncio.timeout(check.timeout):
            try:
                sock, raw = await _open_icmp(family, netns)
            except PermissionError as exc:
                return codes.L3CON, f"no ICMP socket (CAP_NET_RAW or net.ipv4.ping_group_range): {exc}", None
            try:
                bind_source(sock, check.source_address)
            except OSError as exc:
                return codes.L3CON, f"cannot bind source address {check.source_address}: {exc.strerror}", None
            sock.connect((address, 0))  # immediate for datagram sockets: it only sets the peer
            ident = int.from_bytes(os.urandom(2), "big") if raw else sock.getsockname()[1]
            await loop.sock_sendall(sock, echo_request(family, ident, seq, payload))
            expected = Expected(target, None if not raw else ident, seq, payload)
            while True:
                packet, source = await _recvfrom(loop, sock, 4096)
                if is_our_reply(expected, family, packet, source[0], raw and family == socket.AF_INET):
                    return codes.L3OK, "echo reply", None
    except TimeoutError:
        return codes.L3TOUT, f"no echo reply within {check.timeout:g}s", None
    except OSError as exc:
        return codes.L3CON, describe_os_error(exc), None
    finally:
        if sock is not None:
            sock.close()


async def _recvfrom(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int) -> Tuple[bytes, Any]:
    """``sock.recvfrom`` on the non-blocking socket, waiting on the loop's reader watch:
    ``loop.sock_recvfrom`` is asyncio's own only (uvloop raises NotImplementedError)."""
    while True:
        try:
            return sock.recvfrom(size)
        except (BlockingIOError, InterruptedError):
            pass
        readable = loop.create_future()
        fd = sock.fileno()
        loop.add_reader(fd, _set_ready, readable)
        try:
            await readable
        finally:
            loop.remove_reader(fd)


def _set_ready(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
