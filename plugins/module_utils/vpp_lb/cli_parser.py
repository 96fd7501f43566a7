"""Parsers for the LB plugin's CLI text (`show lb`, `show lb vips verbose`).

The binary API hides a VIP's src_ip_sticky flag and pool index, so they come from
`show lb vips verbose` (vpp-facts.md §3). Both AS-line formats are understood: LB API 1.2.0
(`<addr> weight:W buckets:B flows:F dpo:D used`) and 1.1.0 (`<addr> B buckets   F flows  dpo:D used`).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import List, Optional

from .model import PROTO_ANY, VipSpec

# VIP type names: VIP family, then encap family (lb_vip_type).
VIP_TYPES = ("ip6-gre6", "ip6-gre4", "ip4-gre6", "ip4-gre4", "ip4-l3dsr", "ip4-nat4", "ip6-nat6")

_HEADER = re.compile(r"^(\S+) \[(\d+)\] (\S+)( src_ip_sticky)?( removed)?$")
_AS_V2 = re.compile(r"^(\S+) weight:(\d+) buckets:(\d+) flows:(\d+) dpo:(\d+)( used|  removed)$")
_AS_V1 = re.compile(r"^(\S+) (\d+) buckets +(\d+) flows +dpo:(\d+)( used|  removed)$")
_NAT_LINE = re.compile(r"^type:(\S+) port:(\d+) target_port:(\d+)(?:\s*counters:)?$")
_COUNTER = re.compile(r"^(packet from existing sessions|first session packet|untracked packet|"
                      r"no server configured): (\d+)$")
_COUNTER_FIELDS = {
    "packet from existing sessions": "next_packets",
    "first session packet": "first_packets",
    "untracked packet": "untracked_packets",
    "no server configured": "no_server_packets",
}


class CliParseError(ValueError):
    """The text is not what VPP prints; the message names the offending line."""


@dataclass
class ParsedAs:
    address: str
    buckets: int
    flows: int
    used: bool
    weight: Optional[int] = None  # None on LB API 1.1.0, which has no weights


@dataclass
class ParsedVip:
    index: int
    vip_type: str
    prefix: str
    src_ip_sticky: bool
    removed: bool
    new_size: Optional[int] = None
    protocol: int = PROTO_ANY
    port: int = 0
    dscp: Optional[int] = None
    srv_type: Optional[str] = None
    target_port: Optional[int] = None
    counters: dict = field(default_factory=dict)
    ases: List[ParsedAs] = field(default_factory=list)

    @property
    def encap(self) -> str:
        """The encap keyword (gre4, gre6, l3dsr, nat4, nat6) from the VIP type."""
        return self.vip_type.split("-", 1)[1]


_NAT = ("nat4", "nat6")


def vip_spec(parsed: ParsedVip) -> VipSpec:
    """The VipSpec `show lb vips verbose` printed for a VIP (0 table length if it printed none)."""
    encap = parsed.encap
    return VipSpec(
        encap=encap,
        src_ip_sticky=parsed.src_ip_sticky,
        new_flows_table_length=parsed.new_size or 0,
        dscp=(parsed.dscp or 0) if encap == "l3dsr" else 0,
        srv_type=(parsed.srv_type or "clusterip") if encap in _NAT else "clusterip",
        target_port=(parsed.target_port or 0) if encap in _NAT else 0,
    )


@dataclass
class ParsedLbConf:
    ip4_src_address: str
    ip6_src_address: str
    vips: int  # as printed: includes VPP's hidden placeholder VIP and removed VIPs
    ases: int


def _canonical_prefix(text: str) -> str:
    return str(ipaddress.ip_network(text, strict=False))


def parse_vips_verbose(text: str) -> List[ParsedVip]:
    """Parse `show lb vips verbose` into one ParsedVip per VIP, removed ones included."""
    vips: List[ParsedVip] = []
    current: Optional[ParsedVip] = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            # AS lines are most of a large output, so they are tried first. Indentation is not
            # relied on (YAML block scalars strip the header's one-space indent).
            if current is not None and (_parse_as_line(current, line) or _parse_vip_line(current, line)):
                continue
            if _looks_like_header(line):
                current = _parse_header(line, lineno)
                vips.append(current)
                continue
        except ValueError as exc:  # a malformed number or address inside a known line
            raise CliParseError(f"line {lineno}: {exc}: {raw!r}") from None
        if current is None:
            raise CliParseError(f"line {lineno}: text before the first VIP header: {raw!r}")
        raise CliParseError(f"line {lineno}: unexpected line in VIP [{current.index}]: {raw!r}")
    return vips


_HEADER_START = re.compile(r"^\S+ \[\d+\] ")


def _looks_like_header(line: str) -> bool:
    """A VIP header starts with a word and the VIP's index (``ip4-gre4 [1] ...``)."""
    return _HEADER_START.match(line) is not None


def _parse_header(raw: str, lineno: int) -> ParsedVip:
    header = _HEADER.match(raw.rstrip())
    if not header:
        raise CliParseError(f"line {lineno}: not a VIP header: {raw!r}")
    vip_type = header.group(1)
    if vip_type not in VIP_TYPES:
        raise CliParseError(f"line {lineno}: unknown VIP type {vip_type!r}: {raw!r}")
    return ParsedVip(
        index=int(header.group(2)),
        vip_type=vip_type,
        prefix=_canonical_prefix(header.group(3)),
        src_ip_sticky=bool(header.group(4)),
        removed=bool(header.group(5)),
    )


def _parse_vip_line(vip: ParsedVip, line: str) -> bool:
    if line.startswith("new_size:"):
        vip.new_size = int(line.split(":", 1)[1])
    elif line.startswith("protocol:"):
        words = line.split()
        if len(words) != 2 or not words[1].startswith("port:"):
            raise ValueError("expected `protocol:<n> port:<n>`")
        proto, port = words
        vip.protocol = int(proto.split(":", 1)[1])
        vip.port = int(port.split(":", 1)[1])
    elif line.startswith("dscp:"):
        vip.dscp = int(line.split(":", 1)[1])
    elif line.startswith("type:"):
        # VPP prints this line without a newline, so "counters:" is glued to it, and it shows the
        # VIP port byte-swapped; the real port comes from the protocol line.
        nat = _NAT_LINE.match(line)
        if not nat:
            return False
        vip.srv_type, vip.target_port = nat.group(1), int(nat.group(3))
    elif line == "counters:" or line.startswith("#as:"):
        pass
    else:
        counter = _COUNTER.match(line)
        if not counter:
            return False
        vip.counters[_COUNTER_FIELDS[counter.group(1)]] = int(counter.group(2))
    return True


def _parse_as_line(vip: ParsedVip, line: str) -> bool:
    m = _AS_V2.match(line)
    if m:
        vip.ases.append(ParsedAs(
            address=canonical_address(m.group(1)), weight=int(m.group(2)),
            buckets=int(m.group(3)), flows=int(m.group(4)), used=m.group(6) == " used",
        ))
        return True
    m = _AS_V1.match(line)
    if m:
        vip.ases.append(ParsedAs(
            address=canonical_address(m.group(1)), buckets=int(m.group(2)),
            flows=int(m.group(3)), used=m.group(5) == " used",
        ))
        return True
    return False


@functools.lru_cache(maxsize=1 << 16)
def canonical_address(text: str) -> str:
    """An IP address in Python's canonical form (IPv6 compressed); ValueError if it is none.

    Cached: a large state names the same few thousand addresses many times per run. VPP prints
    IPv4 addresses as plain dotted quads, which are canonical already: they skip the parse.
    """
    if _CANONICAL_IPV4.fullmatch(text):
        return text
    return str(ipaddress.ip_address(text))


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # 0-255 without leading zeros
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


_SHOW_LB = re.compile(
    r"lb_main ip4-src-address: (\S+)\s*\n\s*ip6-src-address: (\S+)\s*\n\s*#vips: (\d+)\s*\n\s*#ass: (\d+)"
)


def parse_show_lb(text: str) -> ParsedLbConf:
    """Parse the first lines of `show lb` (the `core N` blocks are ignored)."""
    m = _SHOW_LB.search(text)
    if not m:
        raise CliParseError(f"not `show lb` output: {text[:200]!r}")
    return ParsedLbConf(
        ip4_src_address=str(ipaddress.ip_address(m.group(1))),
        ip6_src_address=str(ipaddress.ip_address(m.group(2))),
        vips=int(m.group(3)),
        ases=int(m.group(4)),
    )
