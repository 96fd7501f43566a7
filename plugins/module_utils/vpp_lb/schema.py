"""The one schema and validator for ``maglev_lb``.

``validate(maglev_lb)`` returns every problem, each prefixed with its path
(``frontends.www-v4.encap: gre6 needs IPv6 backends, web1 is IPv4``); ``parse_config`` returns
typed frozen values or raises ``ConfigError`` carrying the same list; ``parse_config_with_warnings``
also returns what is valid but probably not meant. Modules, the agent and
the role's config check all go through here, so there is exactly one reading of the schema.

The checks follow what VPP's lb plugin accepts (docs/config-reference.md lists them) and add a
few that VPP would accept but that are always mistakes (host bits in a VIP prefix, a table
length of 0, ...). Pure: no I/O, stdlib only.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections import abc
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import model, redact

# ---------------------------------------------------------------------------------------------
# Bounds and defaults (documented in docs/config-reference.md)

# Maglev's new-flow table: VPP needs a power of two and crashes on 0. 2^20 buckets is already
# far beyond what a few hundred backends need (Maglev wants roughly 100 buckets per backend).
MAX_TABLE_LENGTH = 1 << 20
# Sticky flow table per worker thread; VPP needs a power of two (0 passes VPP's check but is
# useless). 2^24 buckets is a generous ceiling for one worker's memory.
MAX_STICKY_BUCKETS = 1 << 24
# Idle timeout of sticky flows, seconds. A day is far past any sensible idle timeout.
MAX_FLOW_TIMEOUT = 86400
MAX_DSCP = 63
MIN_PORT, MAX_PORT = 1, 65535
MAX_RISE_FALL = 100
MIN_INTERVAL = 0.1  # seconds; faster probing only loads the backends
MIN_TIMEOUT = 0.01
MAX_DURATION = 3600.0

DEFAULT_INTERVAL = 2.0
DEFAULT_FAST_INTERVAL = 0.5  # capped at interval
DEFAULT_DOWN_INTERVAL = 10.0  # raised to interval
DEFAULT_TIMEOUT = 1.0  # capped at interval / 2
DEFAULT_RISE = 2
DEFAULT_FALL = 3
DEFAULT_EXPECT_STATUS = ((200, 299),)
DEFAULT_FLUSH_ON_DOWN = True  # as vpp-maglev

HEALTHCHECK_TYPES = ("http", "https", "tcp", "icmp")
HTTP_TYPES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
NAT_ENCAPS = ("nat4", "nat6")

# Names become metric labels, CLI words and file names: keep them plain.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_STATUS_RANGE_RE = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$")

# `agent` is the agent's own section (agent_config.py validates it); the modules ignore it.
TOP_KEYS = ("conf", "healthchecks", "backends", "frontends", "agent")
CONF_KEYS = ("ip4_src_address", "ip6_src_address", "sticky_buckets_per_core", "flow_timeout")
HEALTHCHECK_COMMON_KEYS = (
    "type",
    "port",
    "interval",
    "fast_interval",
    "down_interval",
    "timeout",
    "rise",
    "fall",
    "source_address",
)
HTTP_KEYS = ("path", "host", "expect_status", "body_regex", "method", "headers")
HTTPS_KEYS = ("tls_server_name", "tls_insecure", "tls_ca_file", "tls_client_cert", "tls_client_key")
HTTP_METHODS = ("GET", "HEAD")
# Headers the probe writes itself: framing and connection handling are the probe's, and the Host
# header has its own option.
RESERVED_HEADERS = ("host", "content-length", "transfer-encoding", "connection")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_HEADER_VALUE_BAD_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls except HTAB (CR, LF included)
HEALTHCHECK_KEYS = HEALTHCHECK_COMMON_KEYS + HTTP_KEYS + HTTPS_KEYS
BACKEND_KEYS = ("address", "healthcheck", "enabled", "description")
FRONTEND_KEYS = (
    "description",
    "prefix",
    "protocol",
    "port",
    "encap",
    "src_ip_sticky",
    "flush_on_down",
    "new_flows_table_length",
    "dscp",
    "srv_type",
    "target_port",
    "slow_start",
    "drain_timeout",
    "announce",
    "spill",
    "pools",
)
ANNOUNCE_KEYS = ("command", "timeout")
MAX_ANNOUNCE_TIMEOUT = 600.0
SPILL_KEYS = ("overprovisioning",)
DEFAULT_OVERPROVISIONING = 1.4  # Envoy's default
MAX_OVERPROVISIONING = 100.0
POOL_KEYS = ("name", "backends")
MEMBER_KEYS = ("weight",)


# ---------------------------------------------------------------------------------------------
# Parsed configuration


class ConfigError(ValueError):
    """``maglev_lb`` is invalid; ``errors`` lists every problem with its path."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors: List[str] = list(errors)
        super().__init__("invalid maglev_lb:\n  " + "\n  ".join(self.errors))


@dataclass(frozen=True)
class HealthCheck:
    """One probe definition; durations are seconds. HTTP fields are None/() for tcp and icmp."""

    name: str
    type: str
    port: Optional[int] = None  # None for icmp
    interval: float = DEFAULT_INTERVAL
    fast_interval: float = DEFAULT_FAST_INTERVAL  # while a transition is pending
    down_interval: float = DEFAULT_DOWN_INTERVAL  # while down
    timeout: float = DEFAULT_TIMEOUT
    rise: int = DEFAULT_RISE
    fall: int = DEFAULT_FALL
    source_address: Optional[str] = None
    path: Optional[str] = None  # http/https
    host: Optional[str] = None  # http/https: Host header (and default SNI)
    expect_status: Tuple[Tuple[int, int], ...] = ()  # http/https: inclusive ranges
    body_regex: Optional[str] = None  # http/https
    method: Optional[str] = None  # http/https: GET or HEAD; None means GET
    headers: Tuple[Tuple[str, str], ...] = ()  # http/https: extra request headers, in order
    tls_server_name: Optional[str] = None  # https
    tls_insecure: bool = False  # https: skip certificate verification
    tls_ca_file: Optional[str] = None  # https: CA bundle to verify against instead of the system's
    tls_client_cert: Optional[str] = None  # https: client certificate (PEM), with tls_client_key
    tls_client_key: Optional[str] = None  # https: its private key (PEM)

    def status_ok(self, status: int) -> bool:
        """Whether an HTTP status code counts as a pass."""
        return any(low <= status <= high for low, high in self.expect_status)


@dataclass(frozen=True)
class Backend:
    """A real server; it becomes one AS in every VIP whose pools list it."""

    name: str
    address: str  # canonical
    healthcheck: Optional[str] = None  # None: never probed, counts as up
    enabled: bool = True  # False: weight 0 with flush everywhere (operator state "disabled")
    description: str = ""


@dataclass(frozen=True)
class Pool:
    """A priority tier of a frontend: ordered backend name -> configured weight (0..100)."""

    name: str
    members: Dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Announce:
    """The agent's route-announcement hook of a frontend: an argv (no shell) run on state changes.

    An empty ``command`` turns off a default the ``agent:`` section gives."""

    command: Tuple[str, ...] = ()
    timeout: Optional[float] = None  # None: the agent's default


@dataclass(frozen=True)
class Frontend:
    """One VPP VIP and how its backends are weighted."""

    name: str
    key: model.VipKey
    spec: model.VipSpec
    pools: Tuple[Pool, ...] = ()
    flush_on_down: bool = DEFAULT_FLUSH_ON_DOWN
    description: str = ""
    slow_start: float = 0.0  # agent: seconds a recovered backend's weight ramps up (0 = off)
    drain_timeout: float = 0.0  # agent: seconds a disabled backend drains before its flush (0 = off)
    announce: Optional[Announce] = None  # agent: route-announcement hook (None: the agent's default)
    spill: Optional[float] = None  # overprovisioning factor of graceful spill between pools (None = off)

    def backend_names(self) -> List[str]:
        """Every backend of every pool, in pool order (each backend appears once)."""
        return [name for pool in self.pools for name in pool.members]


@dataclass(frozen=True)
class LbConfig:
    """A valid ``maglev_lb``. ``conf`` None means "leave lb_conf as it is"."""

    conf: Optional[model.LbConf] = None
    healthchecks: Dict[str, HealthCheck] = field(default_factory=dict)
    backends: Dict[str, Backend] = field(default_factory=dict)
    frontends: Dict[str, Frontend] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Public entry points


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


def validate(maglev_lb: Any) -> List[str]:
    """Every problem in ``maglev_lb``, each as ``path: message``; [] when valid."""
    return _Parser().parse(maglev_lb)[1]


def parse_config(maglev_lb: Any) -> LbConfig:
    """Typed configuration, or ConfigError listing every problem."""
    return parse_config_with_warnings(maglev_lb)[0]


def parse_config_with_warnings(maglev_lb: Any, *, partial_conf: bool = False) -> Tuple[LbConfig, List[str]]:
    """Typed configuration and its warnings (valid, but probably not meant), or ConfigError.

    Warnings have the form of errors (``backends.web3: defined but used by no frontend``).
    ``partial_conf``: conf keys left out keep VPP's live values (the lb module's merged), so a
    GRE frontend does not require its source address here; the module checks the merged conf.
    """
    parser = _Parser(require_conf_sources=not partial_conf)
    config, errors = parser.parse(maglev_lb)
    if errors:
        raise ConfigError(errors)
    return config, parser.warnings


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
        raise ValueError(f"{_describe(value)} is not a duration")
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a duration")
    return seconds


def format_duration(seconds: float) -> str:
    """Short text for a duration, the inverse of parse_duration for messages."""
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    return f"{seconds:g}s"


# ---------------------------------------------------------------------------------------------
# The parser: one walk that builds values and collects errors, so validate() and
# parse_config() can never disagree.


def _describe(value: Any) -> str:
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


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _family_name(version: int) -> str:
    return f"IPv{version}"


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# Values from `-e`, templating and many inventory plugins arrive as strings: exact integers and
# the boolean words Ansible's own argument spec accepts are taken for what they mean.
_INTEGER_TEXT_RE = re.compile(r"^[+-]?[0-9]+$")
_TRUE_WORDS = ("true", "yes", "on", "y", "t", "1")
_FALSE_WORDS = ("false", "no", "off", "n", "f", "0")


def _reference_hint(name: str, defined: Iterable[str], kind: str) -> str:
    """What to say about an undefined ``name``: the closest defined one, or all of them."""
    names = sorted(defined)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f", did you mean {close[0]}"
    if not names:
        return f" (no {kind} is defined)"
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f" (defined: {shown})"


class _Parser:
    def __init__(self, require_conf_sources: bool = True) -> None:
        self.require_conf_sources = require_conf_sources
        self.errors: List[str] = []
        self.warnings: List[str] = []

    # -- generic helpers -----------------------------------------------------------------------

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def mapping(self, value: Any, path: str) -> Optional[Mapping]:
        if isinstance(value, abc.Mapping):
            return value
        self.error(path, f"must be a mapping, got {_describe(value)}")
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
                self.error(_join(path, key), f"unknown key{hint}")
        for key in required:
            if key not in data:
                self.error(_join(path, key), "required")
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
            self.error(path, f"must be a string, got {_describe(value)}")
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
        self.error(path, f"must be true or false, got {_describe(value)}")
        return None

    def integer(self, value: Any, path: str, low: int, high: int) -> Optional[int]:
        if isinstance(value, str) and _INTEGER_TEXT_RE.match(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be an integer, got {_describe(value)}")
            return None
        if not low <= value <= high:
            self.error(path, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def choice(self, value: Any, path: str, choices: Sequence[str]) -> Optional[str]:
        if isinstance(value, str) and value in choices:
            return value
        self.error(path, f"must be one of {', '.join(choices)}, got {_describe(value)}")
        return None

    def power_of_two(self, value: Any, path: str, high: int) -> Optional[int]:
        number = self.integer(value, path, 1, high)
        if number is not None and not _is_power_of_two(number):
            self.error(path, f"{number} is not a power of two")
            return None
        return number

    def address(
        self, value: Any, path: str, version: Optional[int] = None, unicast: bool = False, ip46: bool = False
    ) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
        """An address; ``ip46``: one VPP's lb plugin stores as ip46 (AS addresses), so not in ::/96."""
        if not isinstance(value, str):
            self.error(path, f"must be an IP address string, got {_describe(value)}")
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
            wanted = _family_name(version)
            self.error(path, f"{ip} is {_family_name(ip.version)}, expected an {wanted} address")
            return None
        if unicast and (ip.is_unspecified or ip.is_multicast):
            kind = "the unspecified" if ip.is_unspecified else "a multicast"
            self.error(path, f"{ip} is {kind} address")
            return None
        return ip

    def prefix(self, value: Any, path: str) -> Optional[Union[ipaddress.IPv4Network, ipaddress.IPv6Network]]:
        if not isinstance(value, str):
            self.error(path, f"must be an IP prefix string, got {_describe(value)}")
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

    # -- sections ------------------------------------------------------------------------------

    def parse(self, maglev_lb: Any) -> Tuple[LbConfig, List[str]]:
        top = self.fields(maglev_lb, "", TOP_KEYS)
        if top is None:
            return LbConfig(), self.errors
        conf, conf_given = self.conf(top.get("conf"))
        healthchecks_raw = self.named_entries(top.get("healthchecks"), "healthchecks")
        backends_raw = self.named_entries(top.get("backends"), "backends")
        frontends_raw = self.named_entries(top.get("frontends"), "frontends")

        healthchecks: Dict[str, HealthCheck] = {}
        for name, body in healthchecks_raw:
            check = self.healthcheck(name, body)
            if check is not None:
                healthchecks[name] = check

        # References are checked against the names present, so a broken body of a
        # healthcheck or backend is reported once, not again at every reference.
        healthcheck_names = {name for name, _value in healthchecks_raw}
        backends: Dict[str, Backend] = {}
        for name, body in backends_raw:
            backend = self.backend(name, body, healthcheck_names, healthchecks)
            if backend is not None:
                backends[name] = backend
        self.check_unique_addresses(backends)

        backend_names = {name for name, _value in backends_raw}
        frontends: Dict[str, Frontend] = {}
        for name, body in frontends_raw:
            frontend = self.frontend(name, body, backend_names, backends)
            if frontend is not None:
                frontends[name] = frontend
        self.check_vip_conflicts(frontends)
        self.check_unused_backends(backends_raw, frontends_raw, frontends)
        if conf_given:
            if self.require_conf_sources:
                self.check_conf_sources(without_nulls(top.get("conf")), frontends)

        config = LbConfig(conf=conf, healthchecks=healthchecks, backends=backends, frontends=frontends)
        return config, self.errors

    def conf(self, value: Any) -> Tuple[Optional[model.LbConf], bool]:
        if value is None:
            return None, False
        data = self.fields(value, "conf", CONF_KEYS)
        if data is None:
            return None, True
        ok = True
        values: Dict[str, Any] = {}
        for key, version in (("ip4_src_address", 4), ("ip6_src_address", 6)):
            if key in data:
                ip = self.address(data[key], f"conf.{key}", version=version)
                ok &= ip is not None
                if ip is not None:
                    values[key] = str(ip)
        if "sticky_buckets_per_core" in data:
            buckets = self.power_of_two(
                data["sticky_buckets_per_core"], "conf.sticky_buckets_per_core", MAX_STICKY_BUCKETS
            )
            ok &= buckets is not None
            values["sticky_buckets_per_core"] = buckets
        if "flow_timeout" in data:
            timeout = self.integer(data["flow_timeout"], "conf.flow_timeout", 1, MAX_FLOW_TIMEOUT)
            ok &= timeout is not None
            values["flow_timeout"] = timeout
        return (model.LbConf(**values) if ok else None), True

    def healthcheck(self, name: str, value: Any) -> Optional[HealthCheck]:
        path = f"healthchecks.{name}"
        data = self.fields(value, path, HEALTHCHECK_KEYS, required=("type",))
        if data is None or "type" not in data:
            return None
        kind = self.choice(data["type"], f"{path}.type", HEALTHCHECK_TYPES)
        if kind is None:
            return None
        before = len(self.errors)

        # Options that exist but mean nothing for this type are errors, not silently ignored.
        allowed = set(HEALTHCHECK_COMMON_KEYS)
        if kind in HTTP_TYPES:
            allowed.update(HTTP_KEYS)
        if kind == "https":
            allowed.update(HTTPS_KEYS)
        if kind == "icmp":
            allowed.discard("port")
        for key in data:
            if key in HEALTHCHECK_KEYS and key not in allowed:
                self.error(f"{path}.{key}", f"not used by type {kind}")

        port: Optional[int] = DEFAULT_PORTS.get(kind)
        if "port" in data and kind != "icmp":
            port = self.integer(data["port"], f"{path}.port", MIN_PORT, MAX_PORT)
        elif kind == "tcp":
            self.error(f"{path}.port", "required for type tcp")

        interval = DEFAULT_INTERVAL
        if "interval" in data:
            interval = self.duration(data["interval"], f"{path}.interval", MIN_INTERVAL)
        # Derived defaults always satisfy the ordering rules below.
        base = interval if interval is not None else DEFAULT_INTERVAL
        fast_interval: Optional[float] = min(DEFAULT_FAST_INTERVAL, base)
        down_interval: Optional[float] = max(DEFAULT_DOWN_INTERVAL, base)
        timeout: Optional[float] = min(DEFAULT_TIMEOUT, base / 2)
        if "fast_interval" in data:
            fast_interval = self.duration(data["fast_interval"], f"{path}.fast_interval", MIN_INTERVAL)
        if "down_interval" in data:
            down_interval = self.duration(data["down_interval"], f"{path}.down_interval", MIN_INTERVAL)
        if "timeout" in data:
            timeout = self.duration(data["timeout"], f"{path}.timeout", MIN_TIMEOUT)
        if interval is not None:
            # A probe must finish before the next one is due at the normal pace.
            if timeout is not None and timeout >= interval:
                self.error(
                    f"{path}.timeout",
                    f"{format_duration(timeout)} must be shorter than interval {format_duration(interval)}",
                )
            if fast_interval is not None and fast_interval > interval:
                self.error(
                    f"{path}.fast_interval",
                    f"{format_duration(fast_interval)} must not be longer than interval"
                    f" {format_duration(interval)}",
                )
            if down_interval is not None and down_interval < interval:
                self.error(
                    f"{path}.down_interval",
                    f"{format_duration(down_interval)} must not be shorter than interval"
                    f" {format_duration(interval)}",
                )

        rise = DEFAULT_RISE
        fall = DEFAULT_FALL
        if "rise" in data:
            rise = self.integer(data["rise"], f"{path}.rise", 1, MAX_RISE_FALL)
        if "fall" in data:
            fall = self.integer(data["fall"], f"{path}.fall", 1, MAX_RISE_FALL)

        source_address = None
        if data.get("source_address") is not None:
            ip = self.address(data["source_address"], f"{path}.source_address", unicast=True)
            source_address = str(ip) if ip is not None else None

        http: Dict[str, Any] = {}
        if kind in HTTP_TYPES:
            http = self.http_options(data, path, kind)

        if len(self.errors) != before:
            return None
        return HealthCheck(
            name=name,
            type=kind,
            port=port,
            interval=interval,
            fast_interval=fast_interval,
            down_interval=down_interval,
            timeout=timeout,
            rise=rise,
            fall=fall,
            source_address=source_address,
            **http,
        )

    def http_options(self, data: Mapping, path: str, kind: str) -> Dict[str, Any]:
        options: Dict[str, Any] = {"path": "/", "expect_status": DEFAULT_EXPECT_STATUS}
        if "path" in data:
            value = self.string(data["path"], f"{path}.path")
            if value is not None and not value.startswith("/"):
                self.error(f"{path}.path", f'"{value}" must start with /')
            elif value is not None and re.search(r"\s", value):
                self.error(f"{path}.path", f'"{value}" must not contain whitespace')
            options["path"] = value
        if "host" in data:
            value = self.string(data["host"], f"{path}.host")
            if value is not None and re.search(r"\s", value):
                self.error(f"{path}.host", f'"{value}" must not contain whitespace')
            options["host"] = value
        if "expect_status" in data:
            options["expect_status"] = self.status_ranges(data["expect_status"], f"{path}.expect_status")
        if "body_regex" in data:
            value = self.string(data["body_regex"], f"{path}.body_regex")
            if value is not None:
                try:
                    re.compile(value)
                except re.error as exc:
                    self.error(f"{path}.body_regex", f"not a valid regular expression: {exc}")
            options["body_regex"] = value
        if "method" in data:
            method = data["method"]
            if isinstance(method, str) and method.upper() in HTTP_METHODS:
                method = method.upper()
            options["method"] = self.choice(method, f"{path}.method", HTTP_METHODS)
            if options["method"] == "HEAD" and "body_regex" in data:
                self.error(f"{path}.body_regex", "a HEAD response has no body to match")
        if "headers" in data:
            options["headers"] = self.http_headers(data["headers"], f"{path}.headers")
        if kind == "https":
            if "tls_server_name" in data:
                options["tls_server_name"] = self.string(data["tls_server_name"], f"{path}.tls_server_name")
            if "tls_insecure" in data:
                options["tls_insecure"] = self.boolean(data["tls_insecure"], f"{path}.tls_insecure")
            options.update(self.tls_files(data, path, bool(options.get("tls_insecure"))))
        return options

    def http_headers(self, value: Any, path: str) -> Tuple[Tuple[str, str], ...]:
        """Extra request headers: names are tokens, values single-line strings (no CR/LF)."""
        data = self.mapping(value, path)
        if data is None:
            return ()
        headers: List[Tuple[str, str]] = []
        seen: Dict[str, str] = {}
        for name, raw in data.items():
            if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
                self.error(path, f"{name!r} is not a valid header name")
                continue
            item_path = f"{path}.{name}"
            lower = name.lower()
            if lower in RESERVED_HEADERS:
                hint = ", use the host option" if lower == "host" else ", the probe sets it"
                self.error(item_path, f"cannot be set{hint}")
                continue
            if lower in seen:
                self.error(item_path, f"repeats header {seen[lower]}")
                continue
            seen[lower] = name
            if redact.is_secret_header(name) and not isinstance(raw, str):
                # A credential written unquoted (a numeric API key): name its kind, never its value.
                self.error(item_path, f"must be a string (quote it), got {type(raw).__name__}")
                continue
            text = self.string(raw, item_path, allow_empty=True)
            if text is None:
                continue
            if _HEADER_VALUE_BAD_RE.search(text):
                self.error(item_path, "must not contain control characters (CR, LF, ...)")
                continue
            headers.append((name, text.strip(" \t")))
        return tuple(headers)

    def tls_files(self, data: Mapping, path: str, insecure: bool) -> Dict[str, Any]:
        """tls_ca_file and the client certificate pair: absolute paths (read by the agent, not here)."""
        options: Dict[str, Any] = {}
        for key in ("tls_ca_file", "tls_client_cert", "tls_client_key"):
            if key in data:
                value = self.string(data[key], f"{path}.{key}")
                # The agent runs as a service: a relative path would depend on its working directory.
                if value is not None and not value.startswith("/"):
                    self.error(f"{path}.{key}", f'"{value}" must be an absolute path')
                options[key] = value
        if insecure and "tls_ca_file" in data:
            self.error(f"{path}.tls_ca_file", "not used with tls_insecure: true (nothing is verified)")
        for key, other in (("tls_client_cert", "tls_client_key"), ("tls_client_key", "tls_client_cert")):
            if key in data and other not in data:
                self.error(f"{path}.{other}", f"required with {key}")
        return options

    def status_ranges(self, value: Any, path: str) -> Tuple[Tuple[int, int], ...]:
        items = value if isinstance(value, list) else [value]
        if not items:
            self.error(path, "must list at least one status code")
        ranges: List[Tuple[int, int]] = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]" if isinstance(value, list) else path
            if isinstance(item, int) and not isinstance(item, bool):
                low = high = item
            elif isinstance(item, str) and _STATUS_RANGE_RE.match(item):
                match = _STATUS_RANGE_RE.match(item)
                low = int(match.group(1))
                high = int(match.group(2) or low)
            else:
                self.error(
                    item_path, f'must be a status code or a range like "200-299", got {_describe(item)}'
                )
                continue
            if not (100 <= low <= 599 and 100 <= high <= 599) or low > high:
                self.error(item_path, f"{item} is not a status code or range within 100-599")
                continue
            ranges.append((low, high))
        return tuple(ranges)

    def backend(
        self, name: str, value: Any, healthcheck_names: set, healthchecks: Mapping[str, HealthCheck]
    ) -> Optional[Backend]:
        path = f"backends.{name}"
        data = self.fields(value, path, BACKEND_KEYS, required=("address",))
        if data is None:
            return None
        before = len(self.errors)
        ip = None
        if "address" in data:
            ip = self.address(data["address"], f"{path}.address", unicast=True, ip46=True)
        healthcheck = None
        if data.get("healthcheck") is not None:
            healthcheck = self.string(data["healthcheck"], f"{path}.healthcheck")
            if healthcheck is not None and healthcheck not in healthcheck_names:
                hint = _reference_hint(healthcheck, healthcheck_names, "healthcheck")
                self.error(f"{path}.healthcheck", f"no such healthcheck {healthcheck}{hint}")
            check = healthchecks.get(healthcheck) if healthcheck else None
            if ip is not None and check is not None and check.source_address is not None:
                source_version = ipaddress.ip_address(check.source_address).version
                if source_version != ip.version:
                    self.error(
                        f"{path}.healthcheck",
                        f"{healthcheck} probes from {check.source_address}"
                        f" ({_family_name(source_version)}), {name} is {_family_name(ip.version)}",
                    )
        enabled = True
        if "enabled" in data:
            enabled = self.boolean(data["enabled"], f"{path}.enabled")
        description = ""
        if data.get("description") is not None:
            description = self.string(data["description"], f"{path}.description", allow_empty=True)
        if len(self.errors) != before or ip is None:
            return None
        return Backend(
            name=name, address=str(ip), healthcheck=healthcheck, enabled=enabled, description=description
        )

    def check_unique_addresses(self, backends: Mapping[str, Backend]) -> None:
        # One address is one AS in VPP: two names for it would fight over its weight.
        owner: Dict[str, str] = {}
        for name, backend in backends.items():
            if backend.address in owner:
                self.error(
                    f"backends.{name}.address",
                    f"{backend.address} is also the address of {owner[backend.address]}",
                )
            else:
                owner[backend.address] = name

    def frontend(
        self, name: str, value: Any, backend_names: set, backends: Mapping[str, Backend]
    ) -> Optional[Frontend]:
        path = f"frontends.{name}"
        data = self.fields(value, path, FRONTEND_KEYS, required=("prefix", "pools"))
        if data is None:
            return None
        before = len(self.errors)

        net = self.prefix(data["prefix"], f"{path}.prefix") if "prefix" in data else None
        encap = "gre4"
        if "encap" in data:
            encap = self.choice(data["encap"], f"{path}.encap", model.ENCAPS)

        protocol: Optional[int] = model.PROTO_ANY
        port: Optional[int] = 0
        has_protocol = data.get("protocol") is not None
        has_port = data.get("port") is not None
        if has_protocol:
            text = self.choice(data["protocol"], f"{path}.protocol", tuple(model.PROTOCOLS))
            protocol = model.PROTOCOLS[text] if text is not None else None
        if has_port:
            port = self.integer(data["port"], f"{path}.port", MIN_PORT, MAX_PORT)
        both_or_neither = "set both for a per-port VIP, neither for an all-port VIP"
        if has_protocol and not has_port:
            self.error(f"{path}.protocol", f"given without port: {both_or_neither}")
        if has_port and not has_protocol:
            self.error(f"{path}.port", f"given without protocol: {both_or_neither}")
        per_port = has_protocol and has_port

        if net is not None and encap is not None and net.version not in model.ENCAP_VIP_FAMILIES[encap]:
            # VPP would silently turn an IPv6 l3dsr/nat4 VIP into ip6-gre6.
            wanted = " or ".join(_family_name(v) for v in model.ENCAP_VIP_FAMILIES[encap])
            self.error(
                f"{path}.encap", f"{encap} needs an {wanted} prefix, {net} is {_family_name(net.version)}"
            )
        if encap in NAT_ENCAPS and not per_port:
            self.error(
                f"{path}.encap", f"{encap} needs a per-port VIP (protocol and port); VPP has no all-port NAT"
            )

        table_length = model.DEFAULT_TABLE_LENGTH
        if "new_flows_table_length" in data:
            table_length = self.power_of_two(
                data["new_flows_table_length"], f"{path}.new_flows_table_length", MAX_TABLE_LENGTH
            )
        src_ip_sticky = False
        if "src_ip_sticky" in data:
            src_ip_sticky = self.boolean(data["src_ip_sticky"], f"{path}.src_ip_sticky")
        flush_on_down = DEFAULT_FLUSH_ON_DOWN
        if "flush_on_down" in data:
            flush_on_down = self.boolean(data["flush_on_down"], f"{path}.flush_on_down")
        description = ""
        if data.get("description") is not None:
            description = self.string(data["description"], f"{path}.description", allow_empty=True)
        # Agent-only behaviour: the modules apply the agent's published ramp and drain instead.
        slow_start = drain_timeout = 0.0
        if "slow_start" in data:
            slow_start = self.duration(data["slow_start"], f"{path}.slow_start", 0.0)
        if "drain_timeout" in data:
            drain_timeout = self.duration(data["drain_timeout"], f"{path}.drain_timeout", 0.0)
        announce = self.announce(data["announce"], f"{path}.announce") if "announce" in data else None

        spill = self.spill(data["spill"], f"{path}.spill") if "spill" in data else None

        dscp = 0
        if "dscp" in data:
            if encap != "l3dsr":
                self.error(f"{path}.dscp", "only for encap l3dsr")
            else:
                dscp = self.integer(data["dscp"], f"{path}.dscp", 0, MAX_DSCP)
        srv_type = "clusterip"
        target_port: Optional[int] = port if encap in NAT_ENCAPS else 0
        for key in ("srv_type", "target_port"):
            if key in data and encap not in NAT_ENCAPS:
                self.error(f"{path}.{key}", "only for encaps nat4 and nat6")
        if encap in NAT_ENCAPS:
            if "srv_type" in data:
                srv_type = self.choice(data["srv_type"], f"{path}.srv_type", model.SRV_TYPES)
            if "target_port" in data:
                target_port = self.integer(data["target_port"], f"{path}.target_port", MIN_PORT, MAX_PORT)

        pools = self.pools(data.get("pools"), f"{path}.pools", backend_names) if "pools" in data else ()

        if encap is not None:
            wanted_version = model.ENCAP_AS_FAMILY[encap]
            for pool in pools:
                for member in pool.members:
                    backend = backends.get(member)
                    if backend is None:
                        continue
                    version = model.address_version(backend.address)
                    if version != wanted_version:
                        self.error(
                            f"{path}.encap",
                            f"{encap} needs {_family_name(wanted_version)} backends,"
                            f" {member} is {_family_name(version)}",
                        )

        if len(self.errors) != before or net is None:
            return None
        key = model.VipKey(
            prefix=str(net),
            protocol=protocol if per_port else model.PROTO_ANY,
            port=port if per_port else 0,
        )
        spec = model.VipSpec(
            encap=encap,
            src_ip_sticky=src_ip_sticky,
            new_flows_table_length=table_length,
            dscp=dscp,
            srv_type=srv_type,
            target_port=target_port,
        )
        return Frontend(
            name=name,
            key=key,
            spec=spec,
            pools=tuple(pools),
            flush_on_down=flush_on_down,
            description=description,
            slow_start=slow_start,
            drain_timeout=drain_timeout,
            announce=announce,
            spill=spill,
        )

    def announce(self, value: Any, path: str, extra: Sequence[str] = ()) -> Optional[Announce]:
        """An ``announce`` mapping: ``command`` (argv list, [] for none) and ``timeout``.

        ``extra`` keys are allowed too (the ``agent:`` section's retry settings, read by the agent)."""
        data = self.fields(value, path, ANNOUNCE_KEYS + tuple(extra))
        if data is None:
            return None
        command: Tuple[str, ...] = ()
        raw = data.get("command", [])
        if not isinstance(raw, list) or any(not isinstance(arg, str) for arg in raw):
            self.error(f"{path}.command", f"must be a list of strings (argv, no shell), got {_describe(raw)}")
        elif raw and not raw[0].strip():
            self.error(f"{path}.command", "the program (first item) must not be empty")
        else:
            command = tuple(raw)
        timeout = None
        if "timeout" in data:
            timeout = self.duration(data["timeout"], f"{path}.timeout", 0.1)
            if timeout is not None and timeout > MAX_ANNOUNCE_TIMEOUT:
                self.error(f"{path}.timeout", f"must be at most {format_duration(MAX_ANNOUNCE_TIMEOUT)}")
                timeout = None
        return Announce(command=command, timeout=timeout)

    def spill(self, value: Any, path: str) -> Optional[float]:
        """``spill: {overprovisioning: 1.4}``: the factor (>= 1) of Envoy's priority load."""
        data = self.fields(value, path, SPILL_KEYS, required=())
        if data is None:
            return None
        if "overprovisioning" not in data:
            return DEFAULT_OVERPROVISIONING
        factor = data["overprovisioning"]
        where = f"{path}.overprovisioning"
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            self.error(where, f"must be a number, got {_describe(factor)}")
            return None
        if not 1.0 <= factor <= MAX_OVERPROVISIONING:  # NaN fails too
            self.error(where, f"must be between 1 and {MAX_OVERPROVISIONING:g}, got {factor}")
            return None
        return float(factor)

    def pools(self, value: Any, path: str, backend_names: set) -> Tuple[Pool, ...]:
        if not isinstance(value, list):
            self.error(path, f"must be a list of pools, got {_describe(value)}")
            return ()
        if not value:
            # An explicit empty list is a VIP with no ASes (it drops new flows): VPP can hold one,
            # lb_facts must be able to describe it. A missing or null `pools` is still an error.
            return ()
        pools: List[Pool] = []
        pool_index: Dict[str, int] = {}
        member_pool: Dict[str, int] = {}
        for index, item in enumerate(value):
            pool_path = f"{path}[{index}]"
            data = self.fields(item, pool_path, POOL_KEYS, required=("name", "backends"))
            if data is None:
                continue
            name = None
            if "name" in data:
                name = self.string(data["name"], f"{pool_path}.name")
                if name is not None and not NAME_RE.match(name):
                    self.error(
                        f"{pool_path}.name", f"{name!r} is not a valid name (letters, digits, '_', '.', '-')"
                    )
                    name = None
                elif name is not None and name in pool_index:
                    self.error(
                        f"{pool_path}.name", f"{name} is already the name of {path}[{pool_index[name]}]"
                    )
                elif name is not None:
                    pool_index[name] = index
            members: Dict[str, int] = {}
            if "backends" in data:
                members = self.members(data["backends"], f"{pool_path}.backends", backend_names)
            for member in list(members):
                if member in member_pool:
                    # One backend is one AS of the VIP: it cannot sit in two tiers.
                    self.error(
                        f"{pool_path}.backends.{member}",
                        f"already listed in {path}[{member_pool[member]}];"
                        " a backend may appear once per frontend",
                    )
                    del members[member]
                else:
                    member_pool[member] = index
            if name is not None:
                pools.append(Pool(name=name, members=members))
        return tuple(pools)

    def members(self, value: Any, path: str, backend_names: set) -> Dict[str, int]:
        data = self.mapping(value, path)
        if data is None:
            return {}
        if not data:
            self.error(path, "must list at least one backend")
            return {}
        members: Dict[str, int] = {}
        for member, body in data.items():
            if not isinstance(member, str):
                self.error(path, f"key {member!r} must be a backend name")
                continue
            member_path = f"{path}.{member}"
            if member not in backend_names:
                self.error(member_path, "no such backend" + _reference_hint(member, backend_names, "backend"))
            weight: Optional[int] = model.DEFAULT_WEIGHT
            if body is not None:
                options = self.fields(body, member_path, MEMBER_KEYS)
                if options is not None and "weight" in options:
                    weight = self.integer(options["weight"], f"{member_path}.weight", 0, model.MAX_WEIGHT)
            if weight is not None and member in backend_names:
                members[member] = weight
        return members

    def check_vip_conflicts(self, frontends: Mapping[str, Frontend]) -> None:
        """Cross-frontend rules VPP enforces when adding VIPs (vpp-facts §2 "Adding a VIP")."""
        by_key: Dict[model.VipKey, str] = {}
        by_prefix: Dict[str, List[Frontend]] = {}
        nodeports: Dict[int, str] = {}
        for name, frontend in frontends.items():
            key = frontend.key
            path = f"frontends.{name}"
            if key in by_key:
                self.error(path, f"same VIP ({key}) as frontend {by_key[key]}")
                continue
            by_key[key] = name
            earlier = by_prefix.setdefault(key.prefix, [])
            for other in earlier:
                if other.key.is_all_port != key.is_all_port:
                    all_port = other if other.key.is_all_port else frontend
                    self.error(
                        path,
                        f"{key.prefix} is an all-port VIP in frontend {all_port.name} and a per-port VIP"
                        f" in frontend {(frontend if all_port is other else other).name};"
                        " VPP cannot mix both on one prefix",
                    )
                    break
                if not key.is_all_port and other.spec.encap != frontend.spec.encap:
                    self.error(
                        f"{path}.encap",
                        f"{frontend.spec.encap} differs from {other.spec.encap} of frontend {other.name}"
                        f" on the same prefix {key.prefix}; VPP needs one encap per prefix",
                    )
                    break
            earlier.append(frontend)
            if frontend.spec.encap in NAT_ENCAPS and frontend.spec.srv_type == "nodeport":
                # VPP registers nodeports by port number alone, across all prefixes.
                if key.port in nodeports:
                    owner = nodeports[key.port]
                    self.error(f"{path}.port", f"nodeport {key.port} is already used by frontend {owner}")
                else:
                    nodeports[key.port] = name

    def check_unused_backends(
        self, backends_raw: List[Tuple[str, Any]], frontends_raw: List[Tuple[str, Any]],
        frontends: Mapping[str, Frontend],
    ) -> None:
        # Only when every frontend parsed: a broken frontend's members are unknown.
        if self.errors or len(frontends) != len(frontends_raw):
            return
        used = {name for frontend in frontends.values() for name in frontend.backend_names()}
        for name, _body in backends_raw:
            if name not in used:
                self.warnings.append(f"backends.{name}: defined but used by no frontend")

    def check_conf_sources(self, conf_value: Any, frontends: Mapping[str, Frontend]) -> None:
        # lb_conf always overwrites both source addresses, so a GRE frontend would otherwise
        # tunnel from VPP's placeholder 255.255.255.255 / ffff:...:ffff.
        if not isinstance(conf_value, abc.Mapping):
            return
        for key, encap in (("ip4_src_address", "gre4"), ("ip6_src_address", "gre6")):
            if key in conf_value:
                continue
            users = [name for name, frontend in frontends.items() if frontend.spec.encap == encap]
            if users:
                self.error(f"conf.{key}", f"required because frontend {users[0]} uses {encap}")


# The field readers, for the agent's own settings section (agent/config.py): one reading of
# types, durations, addresses and paths, one error format.
FieldParser = _Parser
