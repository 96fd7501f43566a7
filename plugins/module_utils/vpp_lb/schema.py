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

import ipaddress
from collections import abc
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import model
from .schema_fields import (
    family_name,
    format_duration,
    parse_duration,
    reference_hint,
    without_nulls,
)
from .schema_frontend import FrontendSection
from .schema_healthcheck import HealthCheckSection
from .schema_types import (
    ANNOUNCE_KEYS,
    BACKEND_KEYS,
    CONF_KEYS,
    DEFAULT_DOWN_INTERVAL,
    DEFAULT_EXPECT_STATUS,
    DEFAULT_FALL,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_FLUSH_ON_DOWN,
    DEFAULT_INTERVAL,
    DEFAULT_OVERPROVISIONING,
    DEFAULT_PORTS,
    DEFAULT_RISE,
    DEFAULT_TIMEOUT,
    FRONTEND_KEYS,
    HEALTHCHECK_COMMON_KEYS,
    HEALTHCHECK_KEYS,
    HEALTHCHECK_TYPES,
    HTTP_KEYS,
    HTTP_METHODS,
    HTTP_TYPES,
    HTTPS_KEYS,
    MAX_ANNOUNCE_TIMEOUT,
    MAX_DSCP,
    MAX_DURATION,
    MAX_FLOW_TIMEOUT,
    MAX_OVERPROVISIONING,
    MAX_PORT,
    MAX_RISE_FALL,
    MAX_STICKY_BUCKETS,
    MAX_TABLE_LENGTH,
    MEMBER_KEYS,
    MIN_INTERVAL,
    MIN_PORT,
    MIN_TIMEOUT,
    NAME_RE,
    NAT_ENCAPS,
    POOL_KEYS,
    RESERVED_HEADERS,
    SPILL_KEYS,
    TOP_KEYS,
    Announce,
    Backend,
    ConfigError,
    Frontend,
    HealthCheck,
    LbConfig,
    Pool,
)

# The public interface: the entry points, plus what callers import from here though it is defined in
# schema_types (the typed values, bounds and keys) and schema_fields (durations, nulls).
__all__ = [
    "validate",
    "parse_config",
    "parse_config_with_warnings",
    "FieldParser",
    "format_duration",
    "parse_duration",
    "without_nulls",
    "ANNOUNCE_KEYS",
    "BACKEND_KEYS",
    "CONF_KEYS",
    "DEFAULT_DOWN_INTERVAL",
    "DEFAULT_EXPECT_STATUS",
    "DEFAULT_FALL",
    "DEFAULT_FAST_INTERVAL",
    "DEFAULT_FLUSH_ON_DOWN",
    "DEFAULT_INTERVAL",
    "DEFAULT_OVERPROVISIONING",
    "DEFAULT_PORTS",
    "DEFAULT_RISE",
    "DEFAULT_TIMEOUT",
    "FRONTEND_KEYS",
    "HEALTHCHECK_COMMON_KEYS",
    "HEALTHCHECK_KEYS",
    "HEALTHCHECK_TYPES",
    "HTTP_KEYS",
    "HTTP_METHODS",
    "HTTP_TYPES",
    "HTTPS_KEYS",
    "MAX_ANNOUNCE_TIMEOUT",
    "MAX_DSCP",
    "MAX_DURATION",
    "MAX_FLOW_TIMEOUT",
    "MAX_OVERPROVISIONING",
    "MAX_PORT",
    "MAX_RISE_FALL",
    "MAX_STICKY_BUCKETS",
    "MAX_TABLE_LENGTH",
    "MEMBER_KEYS",
    "MIN_INTERVAL",
    "MIN_PORT",
    "MIN_TIMEOUT",
    "NAME_RE",
    "NAT_ENCAPS",
    "POOL_KEYS",
    "RESERVED_HEADERS",
    "SPILL_KEYS",
    "TOP_KEYS",
    "Announce",
    "Backend",
    "ConfigError",
    "Frontend",
    "HealthCheck",
    "LbConfig",
    "Pool",
]

# ---------------------------------------------------------------------------------------------
# Public entry points


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


# ---------------------------------------------------------------------------------------------
# The parser: one walk that builds values and collects errors, so validate() and
# parse_config() can never disagree.


class _Parser(HealthCheckSection, FrontendSection):
    def __init__(self, require_conf_sources: bool = True) -> None:
        super().__init__()
        self.require_conf_sources = require_conf_sources

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
                hint = reference_hint(healthcheck, healthcheck_names, "healthcheck")
                self.error(f"{path}.healthcheck", f"no such healthcheck {healthcheck}{hint}")
            check = healthchecks.get(healthcheck) if healthcheck else None
            if ip is not None and check is not None and check.source_address is not None:
                source_version = ipaddress.ip_address(check.source_address).version
                if source_version != ip.version:
                    self.error(
                        f"{path}.healthcheck",
                        f"{healthcheck} probes from {check.source_address}"
                        f" ({family_name(source_version)}), {name} is {family_name(ip.version)}",
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
