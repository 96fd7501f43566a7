"""Plain data shared by the schema, planner, client, modules and agent.

Everything here is a value: no I/O, no VPP, no Ansible. Addresses are canonical strings
(``str(ipaddress.ip_address(x))``), prefixes are canonical network strings with host bits
masked (``str(ipaddress.ip_network(x, strict=False))``).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

ENCAPS = ("gre4", "gre6", "l3dsr", "nat4", "nat6")
# lb_encap_type values on the wire (lb_types.api)
ENCAP_API = {"gre4": 0, "gre6": 1, "l3dsr": 2, "nat4": 3, "nat6": 4}
ENCAP_FROM_API = {v: k for k, v in ENCAP_API.items()}
# Address family the application servers must have, per encap (vpp-facts: AS family follows encap).
ENCAP_AS_FAMILY = {"gre4": 4, "gre6": 6, "l3dsr": 4, "nat4": 4, "nat6": 6}
# VIP families VPP accepts per encap (ip4-gre4, ip4-gre6, ip4-l3dsr, ip4-nat4, ip6-gre4, ip6-gre6, ip6-nat6).
ENCAP_VIP_FAMILIES = {"gre4": (4, 6), "gre6": (4, 6), "l3dsr": (4,), "nat4": (4,), "nat6": (6,)}

PROTO_ANY = 255
PROTOCOLS = {"tcp": 6, "udp": 17}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}
SRV_TYPES = ("clusterip", "nodeport")

DEFAULT_IP4_SRC = "255.255.255.255"
DEFAULT_IP6_SRC = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
DEFAULT_STICKY_BUCKETS = 1024
DEFAULT_FLOW_TIMEOUT = 40
DEFAULT_TABLE_LENGTH = 1024
DEFAULT_WEIGHT = 100
MAX_WEIGHT = 100


@functools.lru_cache(maxsize=65536)
def address_sort_key(address: str) -> Tuple[int, int]:
    """Numeric order, IPv4 before IPv6; VPP sorts Maglev replicas the same way.

    Cached: sorting tens of thousands of AS addresses would otherwise parse each one many times.
    """
    ip = ipaddress.ip_address(address)
    return (ip.version, int(ip))


def address_version(address: str) -> int:
    """4 or 6 for a canonical address string (only IPv6 addresses contain ':')."""
    return 6 if ":" in address else 4


@dataclass(frozen=True, order=True)
class VipKey:
    """VPP's identity of a VIP: (prefix, protocol, port); all-port VIPs are (prefix, 255, 0)."""

    prefix: str
    protocol: int = PROTO_ANY
    port: int = 0

    # The hash, computed once: VIP keys are hashed tens of thousands of times per counters read
    # at 5,000 VIPs (series keys, totals, rates); the generated hash built a tuple every time.
    # Not a field (no compare, repr, asdict or replace) and not pickled: str hashes differ
    # between processes.
    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.prefix, self.protocol, self.port)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        return (VipKey, (self.prefix, self.protocol, self.port))

    @property
    def family(self) -> int:
        return ipaddress.ip_network(self.prefix).version

    @property
    def is_all_port(self) -> bool:
        return self.port == 0

    def sort_key(self) -> tuple:
        net = ipaddress.ip_network(self.prefix)
        return (net.version, int(net.network_address), net.prefixlen, self.protocol, self.port)

    def __str__(self) -> str:
        if self.is_all_port:
            return self.prefix
        proto = PROTOCOL_NAMES.get(self.protocol, str(self.protocol))
        return f"{self.prefix} {proto}/{self.port}"


@dataclass(frozen=True)
class LbConf:
    """The LB plugin's global settings (lb_conf).

    A number of None means: in VPP's state, VPP cannot report it (LB API 1.1.0); in a desired
    state, keep VPP's value (sent as 0xffffffff, which VPP ignores; the CLI leaves it out).
    """

    ip4_src_address: str = DEFAULT_IP4_SRC
    ip6_src_address: str = DEFAULT_IP6_SRC
    sticky_buckets_per_core: Optional[int] = DEFAULT_STICKY_BUCKETS
    flow_timeout: Optional[int] = DEFAULT_FLOW_TIMEOUT


@dataclass(frozen=True)
class VipSpec:
    """Settings fixed when a VIP is created: VPP cannot change any of them in place."""

    encap: str = "gre4"
    src_ip_sticky: bool = False
    new_flows_table_length: int = DEFAULT_TABLE_LENGTH
    dscp: int = 0  # l3dsr only
    srv_type: str = "clusterip"  # nat4/nat6 only
    target_port: int = 0  # nat4/nat6 only

    def differences(self, other: VipSpec) -> Tuple[str, ...]:
        """Names of the fields whose values differ, in declaration order."""
        return tuple(
            name for name in self.__dataclass_fields__ if getattr(self, name) != getattr(other, name)
        )


@dataclass(frozen=True)
class AsState:
    """One application server of a VIP.

    Desired state: ``weight`` is the effective weight to program and ``flush`` says whether
    sticky flows must be evicted when this AS is removed or drops to weight 0.
    Actual state: ``num_buckets`` is VPP's share of the new-flow table and ``flows`` the AS's
    sticky-entry count summed over threads (``show lb vips verbose``); None when unknown.
    """

    address: str
    weight: int = DEFAULT_WEIGHT
    flush: bool = False
    num_buckets: Optional[int] = None
    flows: Optional[int] = None


@dataclass(frozen=True)
class VipCounters:
    """The four LB per-VIP counters (summed over threads) plus the VIP's FIB route counter."""

    next_packets: int = 0  # "packet from existing sessions"
    first_packets: int = 0  # "first session packet"
    untracked_packets: int = 0  # "untracked packet"
    no_server_packets: int = 0  # "no server configured"
    route_packets: Optional[int] = None  # /net/route/to, None when the route index is unknown
    route_bytes: Optional[int] = None


@dataclass
class VipState:
    key: VipKey
    spec: VipSpec = field(default_factory=VipSpec)
    ases: Dict[str, AsState] = field(default_factory=dict)
    index: Optional[int] = None  # VPP pool index, actual state only
    name: Optional[str] = None  # frontend name, desired state only
    counters: Optional[VipCounters] = None  # actual state only, when counters were read


@dataclass
class LbState:
    """Whole LB plugin state. In a desired state, ``conf=None`` means "leave lb_conf alone"."""

    conf: Optional[LbConf] = None
    vips: Dict[VipKey, VipState] = field(default_factory=dict)


# Op actions, in the order the planner may emit them.
SET_CONF = "set_conf"
DEL_AS = "del_as"
DEL_VIP = "del_vip"
ADD_VIP = "add_vip"
ADD_AS = "add_as"
SET_WEIGHT = "set_weight"
OP_ACTIONS = (SET_CONF, DEL_AS, DEL_VIP, ADD_VIP, ADD_AS, SET_WEIGHT)


@dataclass(frozen=True)
class Op:
    """One VPP change, as plain data. The client executes it; check mode prints it."""

    action: str
    vip: Optional[VipKey] = None
    spec: Optional[VipSpec] = None  # add_vip
    address: Optional[str] = None  # add_as, del_as, set_weight
    weight: Optional[int] = None  # add_as, set_weight
    flush: bool = False  # del_as, set_weight
    conf: Optional[LbConf] = None  # set_conf
    reason: str = ""  # why, e.g. "recreate: src_ip_sticky changed"

    def describe(self, as_weights: bool = True) -> str:
        """The op as one line of VPP CLI, which an operator can paste into ``vppctl``.

        Used for ``commands``, ``rendered`` and logs; the reason is a separate field (``reason``).
        ``as_weights`` False writes ``lb as`` without ``weight``: LB API 1.1.0 (releases up to
        v26.06) has no weights and its CLI refuses the keyword.
        """
        vip = cli_vip(self.vip) if self.vip is not None else ""
        if self.action == SET_CONF:
            c = self.conf
            text = f"lb conf ip4-src-address {c.ip4_src_address} ip6-src-address {c.ip6_src_address}"
            if c.sticky_buckets_per_core is not None:  # None: kept (the CLI keeps what it is not given)
                text += f" buckets {c.sticky_buckets_per_core}"
            return text + (f" timeout {c.flow_timeout}" if c.flow_timeout is not None else "")
        if self.action == ADD_VIP:
            s = self.spec
            text = f"lb vip {vip} encap {s.encap}"
            if s.encap == "l3dsr":
                text += f" dscp {s.dscp}"
            if s.encap in ("nat4", "nat6"):
                text += f" type {s.srv_type} target_port {s.target_port}"
            text += f" new_len {s.new_flows_table_length}"
            return text + (" src_ip_sticky" if s.src_ip_sticky else "")
        if self.action == DEL_VIP:
            return f"lb vip {vip} del"
        if self.action == ADD_AS:
            return f"lb as {vip} {self.address}" + (f" weight {self.weight}" if as_weights else "")
        if self.action == DEL_AS:
            return f"lb as {vip} {self.address} del" + (" flush" if self.flush else "")
        if self.action == SET_WEIGHT:
            return f"lb as {vip} {self.address} weight {self.weight}" + (" flush" if self.flush else "")
        return f"{self.action} {self.vip}"


def cli_vip(key: VipKey) -> str:
    """A VIP as VPP's ``lb vip`` / ``lb as`` CLI names it: ``<prefix> [protocol tcp|udp port N]``."""
    if key.is_all_port:
        return key.prefix
    return f"{key.prefix} protocol {PROTOCOL_NAMES.get(key.protocol, key.protocol)} port {key.port}"
