"""Composing LB states: what VPP must hold for each module state, and what it holds after a plan.

Pure functions over model.LbState, used by the modules (merged/deleted semantics, the predicted
`after`) and available to the agent.
"""

from __future__ import annotations

import dataclasses
from typing import Collection, Dict, Iterable, List, Mapping, Optional

from . import model
from .schema import LbConfig


def merge_kept_ases(want: model.LbState, actual: model.LbState) -> model.LbState:
    """``want`` where each declared VIP also keeps the ASes VPP has on it that it does not declare.

    Those ASes keep their live weight. This is what `merged` means for ASes; the planner then
    never deletes an AS of a declared VIP (a recreate re-adds them with their weight). A kept AS
    whose address family does not fit the VIP's encap (a recreate that changes the family) is
    dropped instead: VPP refuses it (-97) after the VIP was torn down (see ``dropped_ases``).
    """
    kept = kept_ases(want, actual)
    vips = {}
    for key, vip in want.vips.items():
        have = actual.vips.get(key)
        if have is None:
            vips[key] = vip
            continue
        ases = {address: model.AsState(address=address, weight=have.ases[address].weight)
                for address in kept.get(key, ())}
        ases.update(vip.ases)
        ordered = {address: ases[address] for address in sorted(ases, key=model.address_sort_key)}
        vips[key] = dataclasses.replace(vip, ases=ordered)
    return model.LbState(conf=want.conf, vips=vips)


def dropped_ases(want: model.LbState, actual: model.LbState) -> Dict[model.VipKey, List[str]]:
    """Per declared VIP that VPP has, the live ASes ``want`` does not list whose address family
    does not fit the declared encap: a recreate cannot keep them (VPP holds no IPv4 AS on a gre6
    VIP, and so on), so `merged` drops them. Address order; VIPs without any are left out."""
    return _undeclared_ases(want, actual, family_fits=False)


def without_vips(actual: model.LbState, keys) -> model.LbState:
    """``actual`` minus the VIPs ``keys`` (what `deleted` leaves); conf untouched."""
    keys = set(keys)
    return model.LbState(conf=None, vips={k: v for k, v in actual.vips.items() if k not in keys})


def predict_after(want: model.LbState, actual: model.LbState, *, prune_vips: bool, as_weights: bool) -> model.LbState:
    """The LB state VPP holds once the plan for (want, actual) is applied.

    VIPs that are not desired stay unless pruned; without AS weights (LB API 1.1.0) an AS of
    weight 0 is absent and the others read back with VPP's reported weight 100.
    """
    conf = want.conf if want.conf is not None else actual.conf
    if conf is not None and actual.conf is not None:
        # Fields VPP cannot report (None, LB API 1.1.0) read back as None after the push too.
        unknown = {name: None for name in CONF_FIELDS if getattr(actual.conf, name) is None}
        conf = dataclasses.replace(conf, **unknown)
    vips: Dict[model.VipKey, model.VipState] = {}
    if not prune_vips:
        for key, vip in actual.vips.items():
            if key not in want.vips:
                vips[key] = _structure_only(vip)
    for key, vip in want.vips.items():
        ases = {}
        for address, a in vip.ases.items():
            if as_weights:
                ases[address] = model.AsState(address=address, weight=a.weight)
            elif a.weight > 0:
                ases[address] = model.AsState(address=address, weight=model.DEFAULT_WEIGHT)
        vips[key] = model.VipState(key=key, spec=vip.spec, ases=ases, name=vip.name)
    ordered = {key: vips[key] for key in sorted(vips, key=model.VipKey.sort_key)}
    return model.LbState(conf=conf, vips=ordered)


def unhonoured_weights(want: model.LbState) -> List[str]:
    """Without AS weights (LB API 1.1.0): one warning per VIP whose present ASes (weight > 0)
    have unequal weights, which VPP cannot honour: it gives every AS the same share."""
    warnings = []
    for key in sorted(want.vips, key=model.VipKey.sort_key):
        vip = want.vips[key]
        weights = {address: a.weight for address, a in vip.ases.items() if a.weight > 0}
        if len(set(weights.values())) < 2:
            continue
        label = f"VIP {key}" + (f" (frontend {vip.name})" if vip.name else "")
        shown = ", ".join(f"{address} {weight}" for address, weight in
                          sorted(weights.items(), key=lambda item: model.address_sort_key(item[0])))
        warnings.append(
            f"{label} asks for unequal AS weights ({shown}), which this VPP (LB API 1.1.0, no AS"
            " weights) cannot honour: every AS with a weight above 0 gets an equal share of new flows,"
            " and an AS of weight 0 is removed"
        )
    return warnings


def unweighted_pool_shares(config: LbConfig, vip: model.VipState) -> Dict[str, Dict[str, float]]:
    """Per pool of the VIP's frontend, its share of new flows from the weights VPP is sent:
    ``weighted`` as LB API 1.2.0 gives it (a pool's weight over the total) and ``unweighted`` as
    1.1.0 gives it (every AS of weight > 0 counts once). Empty for a VIP of no known frontend."""
    frontend = config.frontends.get(vip.name or "")
    if frontend is None:
        return {}
    result = {}
    for pool in frontend.pools:
        ases = [vip.ases.get(config.backends[name].address) for name in pool.members]
        weights = [a.weight for a in ases if a is not None and a.weight > 0]
        result[pool.name] = {"weight": float(sum(weights)), "ases": float(len(weights))}
    total_weight = sum(p["weight"] for p in result.values())
    total_ases = sum(p["ases"] for p in result.values())
    return {
        name: {"weighted": p["weight"] / total_weight if total_weight else 0.0,
               "unweighted": p["ases"] / total_ases if total_ases else 0.0,
               "ases": p["ases"]}
        for name, p in result.items()
    }


def spill_without_weights(config: LbConfig, vips: Iterable[model.VipState]) -> Dict[str, str]:
    """Without AS weights (LB API 1.1.0): per frontend with ``spill`` whose new flows go to more
    than one pool, what that VPP does instead of the planned split. Spill still decides which
    pools take new flows there (an AS of weight 0 is removed), but not the proportions: every
    present AS gets an equal share, so each pool's share is its number of ASes."""
    warnings = {}
    for vip in vips:
        frontend = config.frontends.get(vip.name or "")
        if frontend is None or frontend.spill is None:
            continue
        shares = unweighted_pool_shares(config, vip)
        loaded = [name for name, share in shares.items() if share["ases"] > 0]
        if len(loaded) < 2:
            continue
        now = " / ".join(f"{name} {_percent(shares[name]['unweighted'])}" for name in loaded)
        planned = " / ".join(f"{name} {_percent(shares[name]['weighted'])}" for name in loaded)
        counts = " and ".join(str(int(shares[name]["ases"])) for name in loaded)
        warnings[frontend.name] = (
            f"frontend {frontend.name} (VIP {vip.key}) spills between pools, but this VPP (LB API 1.1.0) has"
            f" no AS weights: every AS with a weight above 0 gets an equal share, so new flows split {now}"
            f" ({counts} ASes) instead of the planned {planned}. Spill still decides which pools take new"
            " flows; the proportions need LB API 1.2.0 (VPP master after v26.06)"
        )
    return warnings


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _structure_only(vip: model.VipState) -> model.VipState:
    """A VIP without runtime data (bucket counts, pool index, counters)."""
    ases = {address: model.AsState(address=address, weight=a.weight) for address, a in vip.ases.items()}
    return model.VipState(key=vip.key, spec=vip.spec, ases=ases, name=vip.name)


def named_like(state: model.LbState, want: model.LbState) -> model.LbState:
    """``state`` with the frontend names of ``want`` on the VIPs both have (VPP has no names)."""
    vips = {}
    for key, vip in state.vips.items():
        declared = want.vips.get(key)
        vips[key] = dataclasses.replace(vip, name=declared.name) if declared is not None else vip
    return model.LbState(conf=state.conf, vips=vips)


# ---------------------------------------------------------------------------------------------
# `merged`: what a declaration leaves out keeps its live value (network resource module meaning)

CONF_FIELDS = ("ip4_src_address", "ip6_src_address", "sticky_buckets_per_core", "flow_timeout")
SPEC_FIELDS = ("encap", "src_ip_sticky", "new_flows_table_length", "dscp", "srv_type", "target_port")
_NAT_ENCAPS = ("nat4", "nat6")


def merge_live_conf(declared: model.LbConf, given: Collection[str], live: Optional[model.LbConf],
                    keep_live: bool = True) -> model.LbConf:
    """``declared`` where each conf key that was not ``given`` takes VPP's live value
    (``keep_live``, state merged) or keeps the declared default (replaced, overridden).

    VPP's lb_conf sets all four fields at once, so without this a partial ``conf`` would reset
    the other fields to VPP's defaults (and a GRE source address to the placeholder). A number
    that is not given and that VPP cannot report (None, LB API 1.1.0) becomes None: VPP keeps
    it (the client sends 0xffffffff), since its value is unknown.
    """
    if live is None:
        return declared
    values = {}
    for name in CONF_FIELDS:
        live_value = getattr(live, name)
        if name in given:
            values[name] = getattr(declared, name)
        elif live_value is None:
            values[name] = None
        else:
            values[name] = live_value if keep_live else getattr(declared, name)
    return model.LbConf(**values)


def unreadable_conf(want: Optional[model.LbConf], live: Optional[model.LbConf]) -> List[str]:
    """Conf numbers ``want`` sets that VPP cannot report (LB API 1.1.0): sent, never verified."""
    if want is None or live is None:
        return []
    return [name for name in CONF_FIELDS if getattr(want, name) is not None and getattr(live, name) is None]


def merged_spec(declared: model.VipSpec, given: Collection[str], live: model.VipSpec,
                as_families: Collection[int]) -> model.VipSpec:
    """The settings a `merged` frontend means for a live VIP: each setting it does not give
    (``given`` holds the frontend's keys) keeps the live value, so leaving a key out never
    recreates the VIP.

    An omitted encap keeps the live one only if the declared ASes (``as_families``) fit it;
    otherwise the default stands and the VIP is recreated (VPP would refuse those ASes).
    dscp follows l3dsr and srv_type/target_port follow nat4/nat6: they keep live values only
    while the encap stays of that kind.
    """
    encap = declared.encap
    if "encap" not in given and all(family == model.ENCAP_AS_FAMILY[live.encap] for family in as_families):
        encap = live.encap
    values: Dict[str, object] = {"encap": encap}
    for name in ("src_ip_sticky", "new_flows_table_length"):
        values[name] = getattr(declared if name in given else live, name)
    same_dsr = encap == "l3dsr" and live.encap == "l3dsr"
    values["dscp"] = live.dscp if same_dsr and "dscp" not in given else (declared.dscp if encap == "l3dsr" else 0)
    same_nat = encap in _NAT_ENCAPS and live.encap in _NAT_ENCAPS
    for name, plain in (("srv_type", "clusterip"), ("target_port", 0)):
        if same_nat and name not in given:
            values[name] = getattr(live, name)
        else:
            values[name] = getattr(declared, name) if encap in _NAT_ENCAPS else plain
    return model.VipSpec(**values)


def merge_live_settings(want: model.LbState, actual: model.LbState,
                        given: Mapping[model.VipKey, Collection[str]]) -> model.LbState:
    """``want`` where each VIP that VPP has takes its live settings for the keys its frontend
    left out (``given``: VIP -> the frontend's keys); see merged_spec."""
    vips = {}
    for key, vip in want.vips.items():
        have = actual.vips.get(key)
        if have is None or key not in given:
            vips[key] = vip
            continue
        families = {model.address_version(address) for address in vip.ases}
        vips[key] = dataclasses.replace(vip, spec=merged_spec(vip.spec, given[key], have.spec, families))
    return model.LbState(conf=want.conf, vips=vips)


def kept_ases(want: model.LbState, actual: model.LbState) -> Dict[model.VipKey, List[str]]:
    """Per declared VIP that VPP has, the ASes VPP has on it that ``want`` does not list and
    whose address family fits the declared encap (what `merged` keeps), in address order; VIPs
    without any are left out."""
    return _undeclared_ases(want, actual, family_fits=True)


def _undeclared_ases(want: model.LbState, actual: model.LbState, family_fits: bool) -> Dict[model.VipKey, List[str]]:
    """Per declared VIP that VPP has, the ASes VPP has on it that ``want`` does not list and whose
    address family fits the declared encap (or, ``family_fits=False``, does not), in address order."""
    found = {}
    for key, vip in want.vips.items():
        have = actual.vips.get(key)
        if have is None:
            continue
        family = model.ENCAP_AS_FAMILY[vip.spec.encap]
        undeclared = [address for address in have.ases
                      if address not in vip.ases and (model.address_version(address) == family) is family_fits]
        if undeclared:
            found[key] = sorted(undeclared, key=model.address_sort_key)
    return found


# ---------------------------------------------------------------------------------------------
# GRE source addresses against the VIPs that exist after the run

_SOURCE_FIELDS = {"gre4": ("ip4_src_address", model.DEFAULT_IP4_SRC, "IPv4"),
                  "gre6": ("ip6_src_address", model.DEFAULT_IP6_SRC, "IPv6")}


def source_address_problems(after: model.LbState) -> List[str]:
    """GRE VIPs of ``after`` whose tunnel source in ``after.conf`` is VPP's placeholder.

    VPP sends gre4 (gre6) traffic from lb_conf's ip4 (ip6) source address; left at
    255.255.255.255 (ffff:...:ffff) the servers never answer. One line per encap, naming VIPs.
    """
    conf = after.conf
    if conf is None:
        return []
    problems = []
    for encap, (name, placeholder, family) in _SOURCE_FIELDS.items():
        if getattr(conf, name) != placeholder:
            continue
        users = [vip for vip in after.vips.values() if vip.spec.encap == encap]
        if not users:
            continue
        shown = ", ".join(str(vip.key) + (f" (frontend {vip.name})" if vip.name else "") for vip in users[:3])
        more = f" and {len(users) - 3} more" if len(users) > 3 else ""
        problems.append(
            f"{encap} needs an {family} source address, but lb_conf's {name} would be {placeholder}"
            f" (VPP's placeholder) while VIP {shown}{more} uses {encap}: set conf.{name}"
        )
    return problems
