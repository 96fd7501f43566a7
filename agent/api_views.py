"""The status API's JSON documents: pure functions of the published snapshot and the config.

No I/O and no agent internals: each view takes the immutable ``AgentSnapshot`` (and, for what
the snapshot does not carry, the running ``LbConfig``) and returns plain dicts and lists ready
for ``json.dumps``. docs/status-api.md describes every field.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..plugins.module_utils.vpp_lb import blast, model, redact, weights
from ..plugins.module_utils.vpp_lb.schema import HealthCheck, LbConfig
from .health import BackendHealthView, Transition
from .probes.result import ProbeResult
from .snapshot import AgentSnapshot, FrontendView, MemberView
from .vppsync import VppInfo


def protocol_name(protocol: int) -> str:
    return model.PROTOCOL_NAMES.get(protocol, "any" if protocol == model.PROTO_ANY else str(protocol))


def vip_fields(key: model.VipKey) -> Dict[str, Any]:
    return {"prefix": key.prefix, "protocol": protocol_name(key.protocol), "port": key.port, "vip": str(key)}


def spec_fields(spec: model.VipSpec) -> Dict[str, Any]:
    fields: Dict[str, Any] = {
        "encap": spec.encap,
        "src_ip_sticky": spec.src_ip_sticky,
        "new_flows_table_length": spec.new_flows_table_length,
    }
    if spec.encap == "l3dsr":
        fields["dscp"] = spec.dscp
    if spec.encap in ("nat4", "nat6"):
        fields["srv_type"] = spec.srv_type
        fields["target_port"] = spec.target_port
    return fields


# -- frontends ------------------------------------------------------------------------------------


def member(view: MemberView) -> Dict[str, Any]:
    return {
        "backend": view.backend,
        "address": view.address,
        "state": view.state,
        "configured_weight": view.configured_weight,
        "effective_weight": view.effective_weight,
        "flush": view.flush,
        "override": view.override,
        "ramp": view.ramp,
        "draining": view.draining,
        "buckets": view.buckets,
    }


def table_digest(snap: AgentSnapshot, vip: model.VipKey) -> Optional[str]:
    """The digest of the VIP's new-flow table as VPP holds it (the agent's live state: last dump plus
    the ops VPP accepted); None when not connected or the VIP is not in VPP."""
    live = snap.lb_state.vips.get(vip) if snap.lb_state is not None else None
    if live is None or not snap.vpp.connected or snap.vpp.lb_api_version is None:
        return None
    return blast.vip_digest(live, snap.vpp.lb_api_version)


def warm_table_digests(snap: AgentSnapshot) -> None:
    """Compute every live VIP's table digest into the core's cache. Called in a worker thread
    before a view or scrape that shows digests, so a table built after a change (milliseconds at
    1,024 buckets, seconds at 2^20) does not stall the event loop where the probes run."""
    if snap.lb_state is not None:
        for key in snap.lb_state.vips:
            table_digest(snap, key)


def pool_share(share: Optional[weights.PoolShare]) -> Dict[str, Any]:
    """A pool's part of new flows (weights.pool_shares, as the plan computed it): fractions 0..1."""
    if share is None:
        return {"healthy_fraction": None, "health": None, "share": None, "spilled": None}
    return {
        "healthy_fraction": _fraction(share.healthy_fraction),
        "health": None if share.health is None else _fraction(share.health),
        "share": _fraction(share.share),
        "spilled": _fraction(share.spilled),
    }


def _fraction(value: float) -> float:
    return round(value, 4)


def frontend(view: FrontendView, lb: LbConfig, snap: Optional[AgentSnapshot] = None) -> Dict[str, Any]:
    shares = {share.pool: share for share in view.pools}
    pools: List[Dict[str, Any]] = []
    for m in view.members:
        if not pools or pools[-1]["name"] != m.pool:
            pools.append({"name": m.pool, **pool_share(shares.get(m.pool)), "members": []})
        pools[-1]["members"].append(member(m))
    configured = lb.frontends.get(view.name)
    return {
        "name": view.name,
        **vip_fields(view.vip),
        **spec_fields(view.spec),
        "description": view.description,
        "state": view.state,
        "active_pool": view.active_pool,
        "spill": None if view.spill is None else {"overprovisioning": view.spill},
        "flush_on_down": view.flush_on_down,
        "slow_start": configured.slow_start if configured else 0.0,
        "drain_timeout": configured.drain_timeout if configured else 0.0,
        "released": view.released,
        "table_digest": table_digest(snap, view.vip) if snap is not None else None,
        "pools": pools,
    }


def frontends(snap: AgentSnapshot, lb: LbConfig) -> List[Dict[str, Any]]:
    return [frontend(view, lb, snap) for view in snap.frontends.values()]


# -- backends -------------------------------------------------------------------------------------


def probe_result(result: Optional[ProbeResult]) -> Optional[Dict[str, Any]]:
    if result is None:
        return None
    return {"ok": result.ok, "code": result.code, "detail": result.detail, "at": result.at,
            "duration": result.duration}


def transition(item: Transition) -> Dict[str, Any]:
    return {"from": item.from_state, "to": item.to_state, "at": item.at, "code": item.code, "detail": item.detail}


def backend(view: BackendHealthView, lb: LbConfig, snap: AgentSnapshot) -> Dict[str, Any]:
    configured = lb.backends.get(view.name)
    return {
        "name": view.name,
        "address": configured.address if configured else None,
        "description": configured.description if configured else "",
        "enabled": configured.enabled if configured else False,
        "healthcheck": configured.healthcheck if configured else None,
        "state": snap.state_of(view.name),  # enabled: false wins (snapshot.states)
        "health_state": view.state,
        "source": snap.sources.get(view.name, "probe"),
        "blind": _blind(snap.blind.get(view.name)),
        "since": view.since,
        "counter": view.counter,
        "rise": view.rise,
        "fall": view.fall,
        "last_result": probe_result(view.last_result),
        "history": [transition(t) for t in view.history],
        "rejected_results": view.rejected,
        "frontends": [f.name for f in lb.frontends.values() if view.name in f.backend_names()],
    }


def backends(snap: AgentSnapshot, lb: LbConfig) -> List[Dict[str, Any]]:
    return [backend(view, lb, snap) for view in snap.backends.values()]


def blindness(snap: AgentSnapshot) -> Optional[Dict[str, Any]]:
    """The agent's own blindness, or None: since when, why, how many backends it cannot probe."""
    if not snap.blind:
        return None
    first = min(snap.blind.values(), key=lambda b: b.since)
    return {"backends": sorted(snap.blind), "since": first.since, "code": first.code, "detail": first.detail}


def _blind(blindness) -> Optional[Dict[str, Any]]:
    if blindness is None:
        return None
    return {"code": blindness.code, "detail": blindness.detail, "since": blindness.since}


# -- health checks --------------------------------------------------------------------------------


def healthcheck(check: HealthCheck, lb: LbConfig) -> Dict[str, Any]:
    fields: Dict[str, Any] = {
        "name": check.name,
        "type": check.type,
        "port": check.port,
        "interval": check.interval,
        "fast_interval": check.fast_interval,
        "down_interval": check.down_interval,
        "timeout": check.timeout,
        "rise": check.rise,
        "fall": check.fall,
        "source_address": check.source_address,
    }
    if check.type in ("http", "https"):
        fields.update({
            "path": check.path,
            "host": check.host,
            "method": check.method or "GET",
            "expect_status": [list(r) for r in check.expect_status],
            "body_regex": check.body_regex,
            "headers": redact.masked_headers(check.headers),  # the status socket is no place for credentials
        })
    if check.type == "https":
        fields.update({
            "tls_server_name": check.tls_server_name,
            "tls_insecure": check.tls_insecure,
            "tls_ca_file": check.tls_ca_file,
            "tls_client_cert": check.tls_client_cert,
        })
    fields["backends"] = [b.name for b in lb.backends.values() if b.healthcheck == check.name]
    return fields


def healthchecks(lb: LbConfig) -> List[Dict[str, Any]]:
    return [healthcheck(check, lb) for check in lb.healthchecks.values()]


# -- VPP ------------------------------------------------------------------------------------------


def vpp_info(info: VppInfo, snap: AgentSnapshot, last_full_sync: Optional[float], sync_errors: int) -> Dict[str, Any]:
    mutations: Dict[str, Dict[str, int]] = {}
    for (scope, kind), count in sorted(snap.mutations.items()):
        mutations.setdefault(scope, {})[kind] = count
    return {
        "connected": info.connected,
        "api_socket": info.api_socket,
        "version": info.version,
        "pid": info.pid,
        "boottime": info.boottime,
        "connected_since": info.connected_since,
        "lb_api_version": info.lb_api_version,
        "last_error": info.last_error,
        "last_error_at": info.last_error_at,
        "stats_available": info.connected and info.stats_error is None,
        "stats_error": info.stats_error,
        "warmup": snap.warmup,
        "last_full_sync": last_full_sync,
        "sync_errors": sync_errors,
        "mutations": mutations,
    }


def _frontend_names(lb: LbConfig) -> Dict[model.VipKey, str]:
    return {fe.key: fe.name for fe in lb.frontends.values()}


def lb_state(state: model.LbState, lb: LbConfig) -> Dict[str, Any]:
    names = _frontend_names(lb)
    conf = state.conf
    vips = []
    for key in sorted(state.vips, key=model.VipKey.sort_key):
        vip = state.vips[key]
        ases = [
            {"address": a.address, "weight": a.weight, "buckets": a.num_buckets, "flows": a.flows}
            for a in sorted(vip.ases.values(), key=lambda a: model.address_sort_key(a.address))
        ]
        vips.append({**vip_fields(key), **spec_fields(vip.spec), "index": vip.index, "frontend": names.get(key),
                     "ases": ases})
    return {
        "conf": None if conf is None else {
            "ip4_src_address": conf.ip4_src_address,
            "ip6_src_address": conf.ip6_src_address,
            "sticky_buckets_per_core": conf.sticky_buckets_per_core,
            "flow_timeout": conf.flow_timeout,
        },
        "vips": vips,
    }


def counters(snap: AgentSnapshot, lb: LbConfig) -> Dict[str, Any]:
    taken = snap.counters
    if taken is None:
        return {"at": None, "boottime": None, "vips": []}
    names = _frontend_names(lb)
    vips = []
    for key in sorted(taken.vips, key=model.VipKey.sort_key):
        c = taken.vips[key]
        vips.append({
            **vip_fields(key),
            "frontend": names.get(key),
            "first_packets": c.first_packets,
            "next_packets": c.next_packets,
            "untracked_packets": c.untracked_packets,
            "no_server_packets": c.no_server_packets,
            "route_packets": c.route_packets,
            "route_bytes": c.route_bytes,
        })
    return {"at": taken.at, "boottime": taken.boottime, "vips": vips}


# -- events ---------------------------------------------------------------------------------------


def initial_events(snap: AgentSnapshot, lb: LbConfig, backend_events: bool, frontend_events: bool) -> List[dict]:
    """What a new event stream starts with: one from==to record per backend and frontend (as vpp-maglev)."""
    events: List[dict] = []
    if backend_events:
        for view in snap.backends.values():
            state = snap.state_of(view.name)
            events.append({"type": "backend", "backend": view.name, "from": state, "to": state, "at": view.since,
                           "code": "snapshot", "detail": "", "snapshot": True})
    if frontend_events:
        for view in snap.frontends.values():
            events.append({"type": "frontend", "frontend": view.name, "from": view.state, "to": view.state,
                           "at": snap.at, "snapshot": True})
    return events
