"""The simulated CLI's input side, as VPP's ``unformat``: a command line consumed word by word,
and the number and address parsers the commands share (:mod:`vppsim.cli`, :mod:`vppsim.cli_sim`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from vppsim.lb_model import RV_NO_SUCH_ENTRY, U32

if TYPE_CHECKING:
    from vppsim.lb import LbPlugin
    from vppsim.lb_model import Vip

T = TypeVar("T")

IP_PROTOCOL_TCP = 6
IP_PROTOCOL_UDP = 17
IP_PROTOCOL_ANY = 255  # (u8) ~0: an all-port VIP's protocol


class CliError(Exception):
    """A command failed; the message is VPP's error text without the command path."""


def format_unformat_error(rest: str) -> str:
    """format_unformat_error: at most 30 characters (then "..."), trailing space trimmed."""
    if len(rest) <= 30:
        text = rest.rstrip(" \t\r\n")
    else:
        text = rest[:30]
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return text + "..." if len(rest) > 30 else text


class CliInput:
    """The rest of one command line, consumed word by word like unformat."""

    def __init__(self, line: str, matches: list[re.Match[str]]) -> None:
        self.line = line
        self.toks = [m.group() for m in matches]
        self.starts = [m.start() for m in matches]
        self.i = 0

    def at_end(self) -> bool:
        return self.i >= len(self.toks)

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def rest(self) -> str:
        return self.line[self.starts[self.i]:] if self.i < len(self.toks) else ""

    def take(self, *words: str) -> bool:
        if all(self.peek(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def take_parsed(self, parse: Callable[[str | None], T | None], what: str) -> T:
        """The next word parsed and consumed (a leading ``%U``), else CliError ``<what>: '<rest>'``."""
        value = parse(self.peek())
        if value is None:
            raise CliError(f"{what}: '{format_unformat_error(self.rest())}'")
        self.i += 1
        return value

    def take_int(self, word: str, *, signed: bool = True) -> int | None:
        """``word %d`` (or ``%u``): the number, or None (nothing consumed)."""
        if self.peek() != word:
            return None
        value = parse_int(self.peek(1), signed)
        if value is None:
            return None
        self.i += 2
        return value

    def take_value(self, word: str, parse: Callable[[str], object | None]) -> object | None:
        if self.peek() != word or self.peek(1) is None:
            return None
        value = parse(self.peek(1))  # type: ignore[arg-type]
        if value is not None:
            self.i += 2
        return value


@dataclass
class ProtocolPortWords:
    """A VIP's ``protocol tcp|udp`` and ``port N`` words as one command line gives them (None:
    not given).  VPP's lb commands read ``port %d`` (``port -1`` is port 65535 once truncated);
    the simulator's own ``sim`` commands read ``%u`` (``signed_port=False``)."""

    signed_port: bool
    protocol: int | None = None
    port: int | None = None

    def take(self, inp: CliInput) -> bool:
        """Consume one ``protocol tcp``, ``protocol udp`` or ``port N``; False when none is next."""
        if inp.take("protocol", "tcp"):
            self.protocol = IP_PROTOCOL_TCP
        elif inp.take("protocol", "udp"):
            self.protocol = IP_PROTOCOL_UDP
        elif (n := inp.take_int("port", signed=self.signed_port)) is not None:
            self.port = n
        else:
            return False
        return True

    def vip_key(self, *, unset_protocol: int) -> tuple[int, int]:
        """(protocol, u16 port) as VPP's lb commands key the VIP (lb/cli.c): port 0 (checked
        before the u16 truncation, as VPP does) is the all-port VIP's protocol ~0; a port without
        a protocol gets ``unset_protocol``: 0 where VPP's variable starts at 0 (``lb as``,
        ``lb flush vip``), ~0 in ``lb vip``, where VPP leaves it uninitialised."""
        port = self.port or 0
        if port == 0:
            return IP_PROTOCOL_ANY, 0
        return (unset_protocol if self.protocol is None else self.protocol), port & 0xFFFF


def take_vip(p: LbPlugin, inp: CliInput, *, signed_port: bool) -> Vip:
    """``<prefix> [protocol tcp|udp] [port N]`` to the end of the line, and the VIP it names, as
    ``lb flush vip`` reads and finds it (an error for any other word, and for no such VIP)."""
    prefix, plen = inp.take_parsed(parse_ip46_prefix, "invalid vip prefix")
    words = ProtocolPortWords(signed_port=signed_port)
    while not inp.at_end():
        if not words.take(inp):
            # VPP's lb flush vip loops forever here (its parse loop has no else branch); fail instead.
            raise CliError(f"parse error: '{format_unformat_error(inp.rest())}'")
    vip = p.find_vip(prefix, plen, *words.vip_key(unset_protocol=0))
    if vip is None:
        raise CliError(f"lb_vip_find_index error {RV_NO_SUCH_ENTRY}")
    return vip


def parse_int(tok: str | None, signed: bool) -> int | None:
    if tok is None or not re.fullmatch(r"-?\d+" if signed else r"\d+", tok):
        return None
    return int(tok) & U32  # unformat stores into a u32


def parse_ip46_prefix(tok: str | None) -> tuple[int, int] | None:
    """unformat_ip46_prefix(IP46_TYPE_ANY): (ip46 address, ip46 plen) or None."""
    if tok is None or "/" not in tok:
        return None
    addr_s, _slash, len_s = tok.partition("/")
    if not len_s.isdigit():
        return None
    length = int(len_s)
    try:
        addr = ipaddress.ip_address(addr_s)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv4Address):
        return (int(addr), length + 96) if length <= 32 else None
    return (int(addr), length) if length <= 128 else None


def parse_ip46_address(tok: str | None) -> int | None:
    try:
        return int(ipaddress.ip_address(tok)) if tok is not None else None
    except ValueError:
        return None


def parse_ip4(tok: str) -> int | None:
    try:
        return int(ipaddress.IPv4Address(tok))
    except ValueError:
        return None


def parse_ip6(tok: str) -> int | None:
    try:
        return int(ipaddress.IPv6Address(tok))
    except ValueError:
        return None


def i32(v: int) -> int:
    v &= U32
    return v - (1 << 32) if v >= 1 << 31 else v


def parse_ip_interface(tok: str | None) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    """``<address>/<length>`` keeping the address (not VPP's ip46 encoding), or None."""
    if tok is None or "/" not in tok:
        return None
    try:
        return ipaddress.ip_interface(tok)
    except ValueError:
        return None


def parse_network(tok: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(tok, strict=False)
    except ValueError:
        return None
