"""Fleet consistency: do the routers that announce the same VIPs (ECMP) pick the same AS?

When ECMP rehashes a flow to another router, that router's Maglev table must send it to the
same AS, so every router must hold, per VIP, the same AS set, weights, table length and the
other settings that shape the table (and the same ``lb_conf``). This module compares what
``lb_facts`` gathered on each host; pure functions, no I/O.

A difference is **transient** when the agents explain it: the hosts' agents see a member of
the VIP's frontend in different states (a backend seen down by one router only), ramp it
differently (slow start), drain it, or one has not released the frontend yet (warm-up). It
resolves itself. Everything else (AS sets, settings, conf, and weights whose inputs are the
same on every host or that no agent explains) is **drift**: the configuration differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import schema

TRANSIENT = "transient"
DRIFT = "drift"

# VIP settings that shape the new-flow table or the hash (lb_facts' vips entries).
VIP_FIELDS = ("encap", "src_ip_sticky", "new_flows_table_length", "dscp", "srv_type", "target_port")
DIGEST = "table_digest"  # lb_facts' per-VIP table digest, when it reports one


@dataclass(frozen=True)
class HostView:
    """What one host reported: ``maglev_lb_state`` of lb_facts (``vips`` with ``ases``, ``conf``,
    ``agent``) and optionally its ``maglev_lb`` config (maps VIPs to frontends and ASes to
    backend names, so the agent's view can explain weight differences)."""

    state: Mapping[str, Any]
    config: Optional[Mapping[str, Any]] = None


@dataclass(frozen=True)
class Difference:
    vip: str  # VPP's VIP name, or "conf"
    kind: str  # transient | drift
    what: str  # "weight of 198.51.100.12", "AS set", "new_flows_table_length", ...
    detail: str  # how, naming the hosts

    def as_dict(self) -> Dict[str, str]:
        return {"vip": self.vip, "kind": self.kind, "what": self.what, "detail": self.detail}

    def line(self) -> str:
        return f"{self.vip}: {self.detail} ({self.kind})"


def _by_value(values: Mapping[str, Any]) -> str:
    """{"r1": 100, "r2": 50, "r3": 100} -> "50 on r2, 100 on r1, r3" (hosts grouped per value)."""
    groups: Dict[str, List[str]] = {}
    for host, value in values.items():
        groups.setdefault("absent" if value is None else str(value), []).append(host)
    # the odd hosts first; a tie in host order
    ordered = sorted(groups.items(), key=lambda item: (len(item[1]), min(item[1])))
    return ", ".join(f"{value} on {', '.join(sorted(hosts))}" for value, hosts in ordered)


def _differs(values: Mapping[str, Any]) -> bool:
    return len({repr(v) for v in values.values()}) > 1


def compare(hosts: Mapping[str, HostView]) -> List[Difference]:
    """Every difference between the hosts, conf first, then per VIP in name order."""
    found: List[Difference] = []
    confs = {host: dict(view.state.get("conf") or {}) for host, view in hosts.items()}
    if any(confs.values()):
        for name in sorted({key for conf in confs.values() for key in conf}):
            values = {host: conf.get(name) for host, conf in confs.items()}
            if _differs(values):
                found.append(Difference("conf", DRIFT, name, f"lb_conf {name}: {_by_value(values)}"))
    vips = {host: dict(view.state.get("vips") or {}) for host, view in hosts.items()}
    for vip in sorted({name for held in vips.values() for name in held}):
        found.extend(_compare_vip(vip, {host: held.get(vip) for host, held in vips.items()}, hosts))
    return found


def _compare_vip(vip: str, entries: Mapping[str, Optional[Mapping]], hosts: Mapping[str, HostView]) -> List[Difference]:
    missing = sorted(host for host, entry in entries.items() if entry is None)
    if missing:
        holders = sorted(host for host in entries if host not in missing)
        return [Difference(vip, DRIFT, "VIP", f"held by {', '.join(holders)}, missing on {', '.join(missing)}")]
    found: List[Difference] = []
    for name in VIP_FIELDS:
        values = {host: entry.get(name) for host, entry in entries.items()}
        if _differs(values):
            found.append(Difference(vip, DRIFT, name, f"{name} {_by_value(values)}"))
    ases = {host: dict(entry.get("ases") or {}) for host, entry in entries.items()}
    addresses = sorted({address for held in ases.values() for address in held})
    held_by = {host: set(held) for host, held in ases.items()}
    if len({frozenset(s) for s in held_by.values()}) > 1:
        for address in addresses:
            holders = {host: ("held" if address in held else None) for host, held in held_by.items()}
            if _differs(holders):
                found.append(Difference(vip, DRIFT, f"AS {address}", f"AS {address}: {_by_value(holders)}"))
    weight_diffs = []
    for address in addresses:
        weights = {host: held[address].get("weight") for host, held in ases.items() if address in held}
        if len(weights) > 1 and _differs(weights):
            weight_diffs.append((address, weights))
    if weight_diffs:
        kind, why = _explain(vip, entries, hosts, [address for address, _weights in weight_diffs])
        for address, weights in weight_diffs:
            detail = f"{address} at weight {_by_value(weights)}{why}"
            found.append(Difference(vip, kind, f"weight of {address}", detail))
    digests = {host: entry.get(DIGEST) for host, entry in entries.items()}
    if not found and any(d is not None for d in digests.values()) and _differs(digests):
        found.append(Difference(vip, DRIFT, DIGEST, f"table digest {_by_value(digests)} with equal ASes and weights"))
    return found


def _explain(
    vip: str, entries: Mapping[str, Mapping], hosts: Mapping[str, HostView], addresses: List[str]
) -> Tuple[str, str]:
    """(kind, " - reason") for weight differences of ``addresses`` at ``vip``."""
    inputs: Dict[str, Dict[str, Any]] = {}
    for host, view in hosts.items():
        frontend, names = _frontend_of(view.config, vip)
        agent = view.state.get("agent") or {}
        if frontend is None or not agent.get("used"):
            missing = "no config given" if frontend is None else "no agent view"
            return DRIFT, f" - cannot tell if transient ({host}: {missing})"
        health = agent.get("health") or {}
        adjustments = (agent.get("adjustments") or {}).get(frontend, {})
        per_member = {}
        for address in addresses:
            name = names.get(address)
            if name is not None:
                per_member[name] = (health.get(name, "unknown"), _adjustment_text(adjustments.get(name)))
        inputs[host] = {"members": per_member, "released": frontend not in (agent.get("unreleased") or [])}
    reasons = []
    member_names = sorted({name for value in inputs.values() for name in value["members"]})
    for name in member_names:
        states = {host: value["members"].get(name, ("unknown", ""))[0] for host, value in inputs.items()}
        if _differs(states):
            reasons.append(f"the agents see {name} {_by_value(states)}")
        ramps = {host: value["members"].get(name, ("", ""))[1] or "steady" for host, value in inputs.items()}
        if _differs(ramps):
            reasons.append(f"{name} is {_by_value(ramps)}")
    released = {host: ("released" if value["released"] else "not released (warm-up)") for host, value in inputs.items()}
    if _differs(released):
        reasons.append(f"the frontend is {_by_value(released)}")
    if reasons:
        return TRANSIENT, " - " + "; ".join(reasons)
    return DRIFT, " - the agents' views agree, so the configured weights differ"


def _adjustment_text(adjustment: Optional[Mapping[str, Any]]) -> str:
    if not adjustment:
        return ""
    parts = []
    if adjustment.get("ramp") is not None:
        parts.append(f"slow-starting ({adjustment['ramp'] * 100:.0f}%)")
    if adjustment.get("override") is not None:
        parts.append(f"overridden to {adjustment['override']}")
    if adjustment.get("draining"):
        parts.append("draining")
    return " ".join(parts)


def _frontend_of(
    config: Optional[Mapping[str, Any]], vip: str
) -> Tuple[Optional[str], Dict[str, str]]:
    """(frontend name, address -> backend name) of ``vip`` in a host's ``maglev_lb``; (None, {})
    without a valid config or a frontend for the VIP."""
    if not config:
        return None, {}
    try:
        parsed = schema.parse_config(config)
    except schema.ConfigError:
        return None, {}
    for frontend in parsed.frontends.values():
        if str(frontend.key) == vip:
            addresses = {parsed.backends[name].address: name for name in frontend.backend_names()}
            return frontend.name, addresses
    return None, {}
