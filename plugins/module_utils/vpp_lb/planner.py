"""The planner: (desired, actual) -> ordered list of VPP operations. Pure.

Modules and the agent both plan with this, so they agree on what "in sync" means.

Order:
1. ``set_conf`` when a conf is desired and differs from VPP's (or VPP's is unknown).
2. Per desired VIP, in ``VipKey.sort_key`` order:
   * a VIP whose immutable settings (VipSpec) differ is recreated: ``del_as`` (flush) of every
     AS, ``del_vip``, ``add_vip``, ``add_as`` of every desired AS; all with the reason
     ``recreate: <fields> changed``;
   * otherwise: ``del_as`` of ASes no longer desired, ``add_as`` of new ones, ``set_weight``
     where the effective weight differs.
3. With ``prune_vips``, VIPs that are not desired: ``del_as`` (flush) of every AS, ``del_vip``.

One exception to that order: VPP refuses to add a VIP next to certain VIPs on the same
prefix (all-port next to per-port, or per-port VIPs with different encaps). When such a VIP
is about to go anyway (pruned, or itself recreated), its removal is moved to just before the
add that it would block.

AS operations are always in numeric address order (``model.address_sort_key``): VPP breaks
Maglev ties by insertion order, so several load balancers fed the same plan build identical
tables.

LB API 1.1.0 (VPP releases up to 26.06) has no AS weights: with ``as_weights=False`` a desired
weight of 0 means "AS absent" (its removal flushes as the desired AS says: drain for paused or
unknown, flush for disabled, flush_on_down for down), any other weight means "AS present", and
no ``set_weight`` is ever planned. The same desired state then converges on both API versions.

``conf`` fields that VPP cannot report (None in the actual conf, e.g. buckets and timeout on
LB API 1.1.0) are not compared, so reruns stay no-ops; an actual conf of None is pushed.

Flush rules:
* Removing an AS that is not desired at all (it left the frontend, or its VIP goes) always
  flushes. The backend is no
  longer part of the service, so its sticky flows should not keep reaching it; and VPP keeps a
  deleted AS that still has sticky entries as "removed" indefinitely (REL has no timer GC), to
  be revived with stale state if it comes back. To remove a backend gracefully, drain it first
  (weight 0 or pause), then remove it.
* ``set_weight`` flushes only when the desired AS says so and its weight drops to 0.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Set

from . import model
from .model import AsState, LbState, Op, VipKey, VipSpec, VipState

_CONF_FIELDS = ("ip4_src_address", "ip6_src_address", "sticky_buckets_per_core", "flow_timeout")


def plan(desired: LbState, actual: LbState, *, prune_vips: bool = False, as_weights: bool = True) -> List[Op]:
    """Ordered ops that turn ``actual`` into ``desired``; [] when in sync.

    ``actual`` holds only ASes in use (the client drops VPP's "removed" ones). VIPs in
    ``actual`` but not in ``desired`` are left alone unless ``prune_vips``. ``as_weights``
    False plans for LB API 1.1.0 (no weights; see the module docstring).
    """
    return _Planner(desired, actual, prune_vips, as_weights).run()


def conflicts(
    desired: LbState, actual: LbState, *, prune_vips: bool = False, as_weights: bool = True
) -> List[str]:
    """VIP adds of ``plan`` that VPP will refuse because a VIP that stays blocks them.

    The validator rules these out inside one config; this catches foreign VIPs (left alone
    without ``prune_vips``). Do not execute a plan with conflicts: a recreate would delete
    the VIP and then fail to add it back.
    """
    planner = _Planner(desired, actual, prune_vips, as_weights)
    planner.run()
    return planner.blocked


def _sorted_keys(keys: Iterable[VipKey]) -> List[VipKey]:
    return sorted(keys, key=VipKey.sort_key)


def _sorted_addresses(addresses: Iterable[str]) -> List[str]:
    return sorted(addresses, key=model.address_sort_key)


def _blocks(other: VipKey, other_spec: VipSpec, key: VipKey, spec: VipSpec) -> bool:
    """Whether VPP refuses to add (key, spec) while ``other`` exists (vpp-facts §2)."""
    if other.prefix != key.prefix:
        return False
    if other == key or other.is_all_port != key.is_all_port:
        return True
    return not key.is_all_port and other_spec.encap != spec.encap


def _conf_changes(desired: model.LbConf, actual: model.LbConf) -> List[str]:
    """Fields that differ, ignoring those VPP could not report (None)."""
    return [
        name
        for name in _CONF_FIELDS
        if getattr(actual, name) is not None and getattr(desired, name) != getattr(actual, name)
    ]


class _Planner:
    def __init__(self, desired: LbState, actual: LbState, prune_vips: bool, as_weights: bool) -> None:
        self.desired = desired
        self.actual = actual
        self.as_weights = as_weights
        self.ops: List[Op] = []
        self.blocked: List[str] = []
        # VIPs in VPP at the current point of the plan, by prefix (only a VIP on the same prefix
        # can block an add), to see which adds would be refused.
        self.live: Dict[str, Dict[VipKey, VipSpec]] = {}
        for key, vip in actual.vips.items():
            self.live.setdefault(key.prefix, {})[key] = vip.spec
        # VIPs of VPP that this plan deletes (pruned or recreated), with the reason.
        self.leaving: Dict[VipKey, str] = {}
        self.torn_down: Set[VipKey] = set()
        for key, have in actual.vips.items():
            want = desired.vips.get(key)
            if want is None:
                if prune_vips:
                    self.leaving[key] = "not desired"
            else:
                changed = want.spec.differences(have.spec)
                if changed:
                    self.leaving[key] = "recreate: " + ", ".join(changed) + " changed"

    def run(self) -> List[Op]:
        conf = self.desired.conf
        if conf is not None:
            if self.actual.conf is None:
                self.ops.append(Op(model.SET_CONF, conf=conf, reason="conf: not known in VPP"))
            else:
                changed = _conf_changes(conf, self.actual.conf)
                if changed:
                    reason = "conf: " + ", ".join(changed) + " changed"
                    self.ops.append(Op(model.SET_CONF, conf=conf, reason=reason))
        for key in _sorted_keys(self.desired.vips):
            want = self.desired.vips[key]
            have = self.actual.vips.get(key)
            if have is None:
                label = f"new VIP for {want.name}" if want.name else "new VIP"
                self.add_vip(want, label)
            elif key in self.leaving:
                if key not in self.torn_down:
                    self.tear_down(key)
                self.add_vip(want, self.leaving[key])
            else:
                self.update_ases(want, have)
        for key in _sorted_keys(self.leaving):
            if key not in self.torn_down:
                self.tear_down(key)
        return self.ops

    def tear_down(self, key: VipKey, reason: Optional[str] = None) -> None:
        reason = reason or self.leaving[key]
        for address in _sorted_addresses(self.actual.vips[key].ases):
            self.ops.append(Op(model.DEL_AS, vip=key, address=address, flush=True, reason=reason))
        self.ops.append(Op(model.DEL_VIP, vip=key, reason=reason))
        self.live.get(key.prefix, {}).pop(key, None)
        self.torn_down.add(key)

    def add_vip(self, want: VipState, reason: str) -> None:
        key, spec = want.key, want.spec
        on_prefix = self.live.setdefault(key.prefix, {})
        for other in _sorted_keys([k for k, s in on_prefix.items() if _blocks(k, s, key, spec)]):
            if other in self.leaving and other not in self.torn_down:
                # It goes anyway; it must go first or VPP refuses this add.
                early = self.leaving[other]
                if other not in self.desired.vips:
                    early = f"{early}; removed before adding {key}"
                self.tear_down(other, early)
            else:
                self.blocked.append(f"cannot add VIP {key}: VPP already has VIP {other} on that prefix")
        self.ops.append(Op(model.ADD_VIP, vip=key, spec=spec, reason=reason))
        on_prefix[key] = spec
        wanted = self.present(want)
        for address in _sorted_addresses(wanted):
            weight = wanted[address].weight
            self.ops.append(Op(model.ADD_AS, vip=key, address=address, weight=weight, reason=reason))

    def present(self, want: VipState) -> Dict[str, AsState]:
        """The desired ASes that must exist in VPP: all, or without weights only weight > 0."""
        if self.as_weights:
            return want.ases
        return {address: a for address, a in want.ases.items() if a.weight > 0}

    def update_ases(self, want: VipState, have: VipState) -> None:
        key = want.key
        wanted = self.present(want)
        for address in _sorted_addresses(set(have.ases) - set(wanted)):
            drained = want.ases.get(address)  # weight 0 without AS weights: health decides flush
            flush = drained.flush if drained is not None else True
            reason = "weight 0 (no AS weights in this VPP)" if drained is not None else "not desired"
            self.ops.append(Op(model.DEL_AS, vip=key, address=address, flush=flush, reason=reason))
        for address in _sorted_addresses(set(wanted) - set(have.ases)):
            weight = wanted[address].weight
            self.ops.append(Op(model.ADD_AS, vip=key, address=address, weight=weight, reason="new AS"))
        if not self.as_weights:
            return
        for address in _sorted_addresses(set(want.ases) & set(have.ases)):
            new, old = want.ases[address], have.ases[address]
            if new.weight == old.weight:
                continue
            flush = new.flush and new.weight == 0
            self.ops.append(
                Op(
                    model.SET_WEIGHT,
                    vip=key,
                    address=address,
                    weight=new.weight,
                    flush=flush,
                    reason=f"weight {old.weight} -> {new.weight}",
                )
            )
