"""The typed ``maglev_lb``: bounds and defaults, the keys each section takes, and the frozen values
``schema.parse_config`` builds (docs/config-reference.md documents them). Pure: stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from . import model

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
