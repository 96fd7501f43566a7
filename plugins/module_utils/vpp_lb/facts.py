"""Live LB state in the shapes the modules return: ``maglev_lb`` facts, parsed CLI text, diffs.

* ``render_maglev_lb`` writes VPP's state in the schema the modules accept, so gathered facts
  can be fed back as desired state: ``desired.desired_state(schema.parse_config(facts))`` has
  the same VIPs, specs and AS weights, and planning it against the same VPP state gives no op.
* ``state_from_parsed`` builds an LbState from ``show lb vips verbose`` (and ``show lb``) text,
  for the aggregate module's ``parsed`` state.
* ``state_to_dict`` is the plain before/after representation for results and ``--diff``.

Names. VPP has no names, so facts name things after what they are, deterministically:

* a backend after its address, ':' written as '-' (``198.51.100.11``, ``2001-db8-1--11``;
  an IPv6 address starting with "::" gets a leading "0", ``::1`` -> ``0--1``); one backend
  per distinct AS address over all VIPs. Turning '-' back into ':' gives the address again.
* a frontend after its VIP: ``<address>_<prefix length>``, plus ``-<protocol>-<port>`` for a
  per-port VIP (``192.0.2.1_32-tcp-80``, ``2001-db8--10_128``). The longest possible name
  (a full IPv6 address, /128, udp, port 65535) has 53 characters, within NAME_RE's 64.
* every frontend has one pool, ``default``, holding VPP's current weights. A VIP without ASes
  renders ``pools: []``, which the schema accepts as "a VIP with no ASes".

What VPP can hold but ``maglev_lb`` cannot express (a weight above 100, which the API does not
range-check; a protocol other than tcp/udp; an all-port NAT VIP; a sticky bucket count of 0;
a multicast VIP ...) is rendered faithfully, not clamped: ``schema.validate`` on the result
then names the problem with its path, and the modules pass it on as a warning.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any, Dict, Iterable, List, Optional

from . import cli_parser, model
from .schema import NAT_ENCAPS

DEFAULT_POOL = "default"


# ---------------------------------------------------------------------------------------------
# Names


def backend_name(address: str) -> str:
    """The facts' name for the backend at ``address`` (a valid schema name)."""
    text = cli_parser.canonical_address(address).replace(":", "-")
    # A name must start with a letter or digit; "0::1" is the same address as "::1".
    return "0" + text if text.startswith("-") else text


def address_of_backend_name(name: str) -> str:
    """The address a ``backend_name`` was made from (canonical form); ValueError otherwise."""
    return str(ipaddress.ip_address(name.replace("-", ":")))


def frontend_name(key: model.VipKey) -> str:
    """The facts' name for the frontend of VIP ``key`` (a valid schema name)."""
    network = ipaddress.ip_network(key.prefix)
    name = f"{backend_name(str(network.network_address))}_{network.prefixlen}"
    if not key.is_all_port:
        protocol = model.PROTOCOL_NAMES.get(key.protocol, str(key.protocol))
        name += f"-{protocol}-{key.port}"
    return name


# ---------------------------------------------------------------------------------------------
# Facts: LbState -> maglev_lb


def _conf_complete(conf: Optional[model.LbConf]) -> bool:
    return conf is not None and None not in dataclasses.astuple(conf)


def _sorted_vips(vips: Iterable[model.VipState]) -> List[model.VipState]:
    return sorted(vips, key=lambda vip: vip.key.sort_key())


def _sorted_ases(vip: model.VipState) -> List[model.AsState]:
    return sorted(vip.ases.values(), key=lambda a: model.address_sort_key(a.address))


def render_maglev_lb(state: model.LbState) -> Dict:
    """``maglev_lb`` describing ``state``; ``schema.parse_config`` accepts it (see module doc).

    ``conf`` is given only when VPP reported all four fields (LB API 1.1.0 cannot read the
    bucket count and timeout back; leaving ``conf`` out means "leave lb_conf alone", which is
    what feeding the facts back should do). No health checks: every backend counts as up.
    """
    result: Dict = {}
    if _conf_complete(state.conf):
        result["conf"] = {
            "ip4_src_address": state.conf.ip4_src_address,
            "ip6_src_address": state.conf.ip6_src_address,
            "sticky_buckets_per_core": state.conf.sticky_buckets_per_core,
            "flow_timeout": state.conf.flow_timeout,
        }
    addresses = {a.address for vip in state.vips.values() for a in vip.ases.values()}
    result["backends"] = {
        backend_name(address): {"address": address} for address in sorted(addresses, key=model.address_sort_key)
    }
    result["frontends"] = {frontend_name(vip.key): _frontend(vip) for vip in _sorted_vips(state.vips.values())}
    return result


def _frontend(vip: model.VipState) -> Dict:
    body = _vip_fields(vip)
    members = {backend_name(a.address): {"weight": a.weight} for a in _sorted_ases(vip)}
    body["pools"] = [{"name": DEFAULT_POOL, "backends": members}] if members else []
    return body


def _vip_fields(vip: model.VipState) -> Dict:
    """The schema's frontend fields of ``vip``, without its pools."""
    key, spec = vip.key, vip.spec
    body: Dict = {"prefix": key.prefix}
    if not key.is_all_port:
        body["protocol"] = model.PROTOCOL_NAMES.get(key.protocol, key.protocol)
        body["port"] = key.port
    body["encap"] = spec.encap
    body["src_ip_sticky"] = spec.src_ip_sticky
    body["new_flows_table_length"] = spec.new_flows_table_length
    if spec.encap == "l3dsr":
        body["dscp"] = spec.dscp
    if spec.encap in NAT_ENCAPS:
        body["srv_type"] = spec.srv_type
        body["target_port"] = spec.target_port
    return body


# ---------------------------------------------------------------------------------------------
# Parsed CLI text -> LbState


def state_from_parsed(
    vips: List[cli_parser.ParsedVip], conf: Optional[cli_parser.ParsedLbConf] = None
) -> model.LbState:
    """LbState from ``parse_vips_verbose`` output (and optionally ``parse_show_lb``).

    Removed VIPs and removed ASes (waiting for VPP's GC) are left out. An AS line without a
    weight (LB API 1.1.0) means weight 100, as every AS there counts the same; ``num_buckets``
    is what VPP printed. ``conf`` None gives ``LbState.conf`` None ("unknown"); ``show lb``
    prints only the source addresses, so the bucket count and timeout stay None (the planner
    does not compare unknown fields). CliParseError when a VIP has no ``new_size`` line.
    """
    states: Dict[model.VipKey, model.VipState] = {}
    for parsed in vips:
        if parsed.removed:
            continue
        key = model.VipKey(parsed.prefix, parsed.protocol, parsed.port)
        if parsed.new_size is None:
            raise cli_parser.CliParseError(f"VIP [{parsed.index}] {key}: no new_size line")
        if key in states:
            raise cli_parser.CliParseError(f"VIP [{parsed.index}] {key} is listed twice")
        spec = cli_parser.vip_spec(parsed)
        used = sorted((a for a in parsed.ases if a.used), key=lambda a: model.address_sort_key(a.address))
        ases = {
            a.address: model.AsState(
                address=a.address,
                weight=model.DEFAULT_WEIGHT if a.weight is None else a.weight,
                num_buckets=a.buckets,
            )
            for a in used
        }
        states[key] = model.VipState(
            key=key,
            spec=spec,
            ases=ases,
            index=parsed.index,
            counters=model.VipCounters(**parsed.counters) if parsed.counters else None,
        )
    lb_conf = None
    if conf is not None:
        lb_conf = model.LbConf(conf.ip4_src_address, conf.ip6_src_address, None, None)
    return model.LbState(conf=lb_conf, vips={key: states[key] for key in sorted(states, key=model.VipKey.sort_key)})


# ---------------------------------------------------------------------------------------------
# LbState -> plain data for results and --diff


def state_to_dict(state: model.LbState, *, runtime: bool = True) -> Dict:
    """Plain JSON-able form of ``state``, in a stable order (VIPs by VipKey, ASes numerically).

    ``{"conf": {...} | None, "vips": {"192.0.2.1/32 tcp/80": {"prefix": ..., "protocol": "tcp",
    "port": 80, "encap": ..., "src_ip_sticky": ..., "new_flows_table_length": ..., ["dscp"],
    ["srv_type", "target_port"], ["name"], ["index"], "ases": {address: {"weight": w,
    ["buckets": n]}}, ["counters": {...}]}}}``. Bracketed keys appear when they apply or are
    known. ``runtime=False`` is the configuration alone, for before/after and --diff: no pool
    index or counters, and each AS maps to its weight (``"ases": {address: w}``); that flat form
    also keeps a large state's result small (Ansible walks every node of a module result).
    """
    conf = dataclasses.asdict(state.conf) if state.conf is not None else None
    vips: Dict[str, Dict] = {}
    for vip in _sorted_vips(state.vips.values()):
        entry = _vip_fields(vip)
        if vip.name is not None:
            entry["name"] = vip.name
        if runtime and vip.index is not None:
            entry["index"] = vip.index
        if runtime:
            ases: Dict[str, Any] = {}
            for a in _sorted_ases(vip):
                ases[a.address] = {"weight": a.weight}
                if a.num_buckets is not None:
                    ases[a.address]["buckets"] = a.num_buckets
            entry["ases"] = ases
        else:
            entry["ases"] = {a.address: a.weight for a in _sorted_ases(vip)}
        if runtime and vip.counters is not None:
            entry["counters"] = dataclasses.asdict(vip.counters)
        vips[str(vip.key)] = entry
    return {"conf": conf, "vips": vips}
