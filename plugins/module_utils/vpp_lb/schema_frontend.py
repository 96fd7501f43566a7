"""The ``frontends`` section of the schema: the VIP, its encap and options, its pools of backends,
and the cross-frontend rules VPP enforces when adding VIPs. Pure: stdlib only.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import model
from .schema_fields import FieldReader, describe, family_name, format_duration, reference_hint
from .schema_types import (
    ANNOUNCE_KEYS,
    DEFAULT_FLUSH_ON_DOWN,
    DEFAULT_OVERPROVISIONING,
    FRONTEND_KEYS,
    MAX_ANNOUNCE_TIMEOUT,
    MAX_DSCP,
    MAX_OVERPROVISIONING,
    MAX_PORT,
    MAX_TABLE_LENGTH,
    MEMBER_KEYS,
    MIN_PORT,
    NAME_RE,
    NAT_ENCAPS,
    POOL_KEYS,
    SPILL_KEYS,
    Announce,
    Backend,
    Frontend,
    Pool,
)


class FrontendSection(FieldReader):
    """Reads one ``frontends`` entry into a ``Frontend``, and checks frontends against each other."""

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
            wanted = " or ".join(family_name(v) for v in model.ENCAP_VIP_FAMILIES[encap])
            self.error(
                f"{path}.encap", f"{encap} needs an {wanted} prefix, {net} is {family_name(net.version)}"
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
                            f"{encap} needs {family_name(wanted_version)} backends,"
                            f" {member} is {family_name(version)}",
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
            self.error(f"{path}.command", f"must be a list of strings (argv, no shell), got {describe(raw)}")
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
            self.error(where, f"must be a number, got {describe(factor)}")
            return None
        if not 1.0 <= factor <= MAX_OVERPROVISIONING:  # NaN fails too
            self.error(where, f"must be between 1 and {MAX_OVERPROVISIONING:g}, got {factor}")
            return None
        return float(factor)

    def pools(self, value: Any, path: str, backend_names: set) -> Tuple[Pool, ...]:
        if not isinstance(value, list):
            self.error(path, f"must be a list of pools, got {describe(value)}")
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
                self.error(member_path, "no such backend" + reference_hint(member, backend_names, "backend"))
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
