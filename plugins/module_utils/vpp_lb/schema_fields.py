"""The field readers of the schema: one reading of types, durations, addresses and names, one error
format (``path: message``). ``FieldReader`` collects errors instead of raising, so a whole
document is checked in one walk; the sections (schema, schema_healthcheck, schema_frontend) and
the agent's own settings section build on it. Pure: stdlib only.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections import abc
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .schema_types import MAX_DURATION, NAME_RE

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def without_nulls(options: Any) -> Any:
    """An options mapping without its null (None) values; anything else as it is.

    The one rule for null: an option set to null is not set, exactly as if the key were absent,
    so ``{{ x | default(None) }}`` templating works for every option. (A pool member written as
    ``web1: null`` is a member: names are not options.)
    """
    if isinstance(options, abc.Mapping):
        return {key: value for key, value in options.items() if value is not None}
    return options


_IP4_COMPATIBLE = 1 << 32  # VPP's ip46 addresses: an IPv6 address below this (::/96) is IPv4


def _ip4_compatible(ip: ipaddress.IPv6Address) -> str:
    """The problem with an IPv4-compatible IPv6 address for VPP's lb plugin."""
    return (f"{ip} is an IPv4-compatible IPv6 address (inside ::/96), which VPP's lb plugin takes for the"
            f" IPv4 address {ipaddress.IPv4Address(int(ip))}")


def parse_duration(value: Any) -> float:
    """Seconds from "2s", "500ms", "1m", "1h" or a plain number of seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match:
            raise ValueError(f'"{value}" is not a duration (use e.g. 2s, 500ms, 1m)')
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"{describe(value)} is not a duration")
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a duration")
    return seconds


def format_duration(seconds: float) -> str:
    """Short text for a duration, the inverse of parse_duration for messages."""
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    return f"{seconds:g}s"


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean " + ("true" if value else "false")
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value:g}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'string "{shown}"'
    if isinstance(value, abc.Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def family_name(version: int) -> str:
    return f"IPv{version}"


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# Values from `-e`, templating and many inventory plugins arrive as strings: exact integers and
# the boolean words Ansible's own argument spec accepts are taken for what they mean.
_INTEGER_TEXT_RE = re.compile(r"^[+-]?[0-9]+$")
_TRUE_WORDS = ("true", "yes", "on", "y", "t", "1")
_FALSE_WORDS = ("false", "no", "off", "n", "f", "0")


def reference_hint(name: str, defined: Iterable[str], kind: str) -> str:
    """What to say about an undefined ``name``: the closest defined one, or all of them."""
    names = sorted(defined)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f", did you mean {close[0]}"
    if not names:
        return f" (no {kind} is defined)"
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f" (defined: {shown})"


class FieldReader:
    """Reads fields of a mapping, collecting every problem in ``errors`` (and notes in ``warnings``)."""

    def __init__(self) -> None:
        self.errors: List[str] = []
        self.warnings: List[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str) -> Optional[Mapping]:
        if isinstance(value, abc.Mapping):
            return value
        self.error(path, f"must be a mapping, got {describe(value)}")
        return None

    def fields(
        self, value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> Optional[Mapping]:
        """The mapping at ``path`` after reporting unknown and missing keys ("" is the top)."""
        data = self.mapping(value, path or "maglev_lb")
        if data is None:
            return None
        data = without_nulls(data)
        allowed = tuple(allowed)
        for key in data:
            if not isinstance(key, str):
                self.error(path or "maglev_lb", f"key {key!r} must be a string")
            elif key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f", did you mean {close[0]}" if close else ""
                self.error(join_path(path, key), f"unknown key{hint}")
        for key in required:
            if key not in data:
                self.error(join_path(path, key), "required")
        return data

    def named_entries(self, value: Any, path: str) -> List[Tuple[str, Any]]:
        """(name, body) pairs of a name-keyed section, skipping (and reporting) bad names."""
        if value is None:
            return []
        data = self.mapping(value, path)
        if data is None:
            return []
        entries = []
        for name, body in data.items():
            if not isinstance(name, str) or not NAME_RE.match(name):
                self.error(
                    path,
                    f"{name!r} is not a valid name (letters, digits, '_', '.', '-'; starting with"
                    " a letter or digit; at most 64 characters)",
                )
                continue
            entries.append((name, body))
        return entries

    def string(self, value: Any, path: str, allow_empty: bool = False) -> Optional[str]:
        if not isinstance(value, str):
            self.error(path, f"must be a string, got {describe(value)}")
            return None
        if not allow_empty and not value.strip():
            self.error(path, "must not be empty")
            return None
        return value

    def boolean(self, value: Any, path: str) -> Optional[bool]:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS + _FALSE_WORDS:
            return value.strip().lower() in _TRUE_WORDS
        self.error(path, f"must be true or false, got {describe(value)}")
        return None

    def integer(self, value: Any, path: str, low: int, high: int) -> Optional[int]:
        if isinstance(value, str) and _INTEGER_TEXT_RE.match(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be an integer, got {describe(value)}")
            return None
        if not low <= value <= high:
            self.error(path, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def choice(self, value: Any, path: str, choices: Sequence[str]) -> Optional[str]:
        if isinstance(value, str) and value in choices:
            return value
        self.error(path, f"must be one of {', '.join(choices)}, got {describe(value)}")
        return None

    def power_of_two(self, value: Any, path: str, high: int) -> Optional[int]:
        number = self.integer(value, path, 1, high)
        if number is not None and not is_power_of_two(number):
            self.error(path, f"{number} is not a power of two")
            return None
        return number

    def address(
        self, value: Any, path: str, version: Optional[int] = None, unicast: bool = False, ip46: bool = False
    ) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
        """An address; ``ip46``: one VPP's lb plugin stores as ip46 (AS addresses), so not in ::/96."""
        if not isinstance(value, str):
            self.error(path, f"must be an IP address string, got {describe(value)}")
            return None
        if "/" in value:
            self.error(path, f"{value} is a prefix, expected a single address")
            return None
        try:
            ip = ipaddress.ip_address(value.strip())
        except ValueError:
            self.error(path, f'"{value}" is not an IP address')
            return None
        if ip.version == 6 and ip.ipv4_mapped is not None:
            # VPP would treat it as IPv6; it is almost certainly meant as IPv4.
            self.error(path, f"{value.strip()} is an IPv4-mapped IPv6 address, write {ip.ipv4_mapped}")
            return None
        if ip46 and ip.version == 6 and 0 < int(ip) < _IP4_COMPATIBLE:
            self.error(path, _ip4_compatible(ip) + f", not {ip}")
            return None
        if version is not None and ip.version != version:
            wanted = family_name(version)
            self.error(path, f"{ip} is {family_name(ip.version)}, expected an {wanted} address")
            return None
        if unicast and (ip.is_unspecified or ip.is_multicast):
            kind = "the unspecified" if ip.is_unspecified else "a multicast"
            self.error(path, f"{ip} is {kind} address")
            return None
        return ip

    def prefix(self, value: Any, path: str) -> Optional[Union[ipaddress.IPv4Network, ipaddress.IPv6Network]]:
        if not isinstance(value, str):
            self.error(path, f"must be an IP prefix string, got {describe(value)}")
            return None
        text = value.strip()
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                self.error(path, f'"{value}" is not an IP prefix')
                return None
            # VPP would silently mask the host bits: say so instead.
            self.error(path, f"{text} has host bits set, did you mean {loose}")
            return None
        address = net.network_address
        if net.version == 6 and address.ipv4_mapped is not None:
            self.error(path, f"{text} is an IPv4-mapped IPv6 prefix, use the IPv4 prefix")
            return None
        if net.version == 6 and net.prefixlen >= 96 and int(address) < _IP4_COMPATIBLE:
            # VPP takes a VIP for IPv4 when its length is >= 96 and its first 96 bits are zero.
            self.error(path, _ip4_compatible(address) + f", so {text} would become an IPv4 VIP")
            return None
        if address.is_multicast or (address.is_unspecified and net.prefixlen == net.max_prefixlen):
            kind = "a multicast prefix" if address.is_multicast else "the unspecified address"
            self.error(path, f"{net} is {kind}")
            return None
        return net

    def duration(self, value: Any, path: str, low: float) -> Optional[float]:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return None
        if not low <= seconds <= MAX_DURATION:
            self.error(
                path,
                f"must be between {format_duration(low)} and {format_duration(MAX_DURATION)},"
                f" got {format_duration(seconds)}",
            )
            return None
        return seconds
