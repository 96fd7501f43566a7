"""The planner: (desired, actual) -> ordered list of VPP operations. Pure.

Modules and the agent both plan with this, so they agree on what "in sync" means. ``plan``
plans a whole LB state; ``plan_vip`` plans one VIP with the same rules (the agent's targeted
sync after a health transition).

Order:
1. ``set_conf`` when a conf is desired and differs from VPP's (or VPP's is unknown).
2. Per desired VIP, in ``VipKey.sort_key`` order:
   * a VIP whose immutable settings (VipSpec) differ is recreated: ``del_as`` (flush) of every
     AS, ``del_vip``, ``add_vip``, ``add_as`` of every desired AS; all with the reason
     ``recreate: <fields> changed``;
   * otherwise make before break: first ``add_as`` of new ASes and ``set_weight`` raises,
     then ``set_weight`` drops (and flushes, below) and ``del_as`` of ASes no longer desired.
3. With ``prune_vips``, VIPs that are not desired: ``del_as`` (flush) of every AS, ``del_vip``.

Make before break: a failover from a primary pool to a standby (``p1 -> 0``, ``s1 -> 100``)
raises the standby first, so at no point between two API calls does the VIP have no weighted
AS and drop new flows (if it had one before and has one after). Weights only rise during the
first group and only fall during the second, so every prefix of the plan keeps a total weight
of at least min(start, end). Without AS weights the same holds for the number of ASes.

One exception to that order: VPP refuses to add a VIP next to certain VIPs on the same
prefix (all-port next to per-port, or per-port VIPs with different encaps). When such a VIP
is about to go anyway (pruned, or itself recreated), its removal is moved to just before the
add that it would block.

Inside each group AS operations are in numeric address order (``model.address_sort_key``), so
plans are deterministic: reruns and several load balancers fed the same config print the same
ops. VPP's table build itself does not depend on insertion order (master sorts the replicas by
(replica, address); vpp-facts Part 1 §2 "Weights").

LB API 1.1.0 (VPP releases up to 26.06) has no AS weights: with ``as_weights=False`` a desired
weight of 0 means "AS absent" (its removal flushes as the desired AS says: drain for paused or
unknown, flush for disabled, flush_on_down for down), any other weight means "AS present", and
no ``set_weight`` is ever planned. Adds still come before deletes. The same desired state then
converges on both API versions.

``conf`` fields that VPP cannot report (None in the actual conf, e.g. buckets and timeout on
LB API 1.1.0) are not compared, so reruns stay no-ops; an actual conf of None is pushed.

Flush rules:
* Removing an AS that is not desired at all (it left the frontend, or its VIP goes) always
  flushes. The backend is no longer part of the service, so its sticky flows should not keep
  reaching it; and VPP keeps a deleted AS that still has sticky entries as "removed"
  indefinitely (REL has no timer GC), to be revived with stale state if it comes back. To
  remove a backend gracefully, drain it first (weight 0 or pause), then remove it.
* ``set_weight`` flushes when the desired AS says so and its weight drops to 0.
* Flush after a drain: an AS already at weight 0 in VPP (drained: paused, unknown, or an up
  standby) that must now be flushed (desired weight 0 with flush: disabled, or down with
  flush_on_down) gets a ``set_weight`` to 0 with flush, unless VPP reports no sticky flows on
  it (``AsState.flows`` == 0). An unknown count (None) flushes too: the agent plans against a
  cached state in which the count of an AS that carried traffic since the last dump is unknown
  (``livestate.apply_ops``), and a missed flush keeps sending sticky flows to a backend that is
  down or taken out, while a needless one costs one API call. Reruns converge all the same:
  the client's dump always reports the count (0 after the flush: a weight-0 AS gets no new
  flows), and ``apply_ops`` records 0.
* Without AS weights a drained AS is deleted, not kept at 0: if it was deleted without flush
  and must now be flushed, VPP lists it as "removed" with its flows, and ``del_as`` with flush
  on it would evict them (lb_vip_del_ass finds removed ASes too and returns 0). The live state
  does not carry removed ASes (the client drops them), so this is not planned: on LB API 1.1.0
  the sticky flows of a drained-then-disabled backend stay until they are reused or the VIP is
  flushed. ``lb_flush_vip`` is no way out: it evicts every AS's flows of the VIP, and on REL
  it never finds IPv4 VIPs (vpp-facts Part 1 §2).
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Set

from . import model
from .model import AsState, LbState, Op, VipKey, VipSpec, VipState

_CONF_FIELDS = ("ip4_src_address", "ip6_src_address", "sticky_buckets_per_core", "flow_timeout")
_NAT_ENCAPS = ("nat4", "nat6")


def plan(desired: LbState, actual: LbState, *, prune_vips: bool = False, as_weights: bool = True,
         push_unreadable_conf: bool = False) -> List[Op]:
    """Ordered ops that turn ``actual`` into ``desired``; [] when in sync.

    ``actual`` holds only ASes in use (the client drops VPP's "removed" ones). VIPs in
    ``actual`` but not in ``desired`` are left alone unless ``prune_vips``. ``as_weights``
    False plans for LB API 1.1.0 (no weights; see the module docstring).
    ``push_unreadable_conf``: a desired conf number that VPP cannot report (None in ``actual``)
    is sent all the same (an operator's explicit value; it cannot be verified, so every run sends it).
    """
    return _Planner(desired, actual, prune_vips, as_weights, push_unreadable_conf).run()


def plan_vip(desired: VipState, actual: Optional[VipState], *, as_weights: bool = True) -> List[Op]:
    """Ordered ops that turn one VIP of VPP (``actual``, None when absent) into ``desired``.

    The same rules and order as ``plan`` for that VIP, without conf, pruning or conflict checks
    against other VIPs: for the agent, which plans one frontend after a health transition
    against its cached live state. A health transition only changes weights; a plan that adds
    the VIP may meet another VIP on its prefix, which only ``conflicts`` on the whole state sees.
    """
    if actual is None:
        return _add_vip(desired, _new_vip_reason(desired), as_weights)
    reason = _recreate_reason(desired, actual)
    if reason:
        return _tear_down(actual, reason) + _add_vip(desired, reason, as_weights)
    return _update_ases(desired, actual, as_weights)


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


def crash_triggers(desired: LbState, ops: Iterable[Op]) -> List[str]:
    """The ops that would crash a real VPP, each explained (vpp-facts Part 2 §5, crash triggers).

    ``desired`` holds the settings each VIP is sent with (declared merged with live): adding any
    AS to an all-port NAT VIP (nat4/nat6, no protocol/port) makes VPP SIGSEGV, and a VIP add with
    new_flows_table_length 0 makes it abort. Never execute a plan that has any.
    """
    found = []
    for op in ops:
        vip = desired.vips.get(op.vip) if op.vip is not None else None
        spec = op.spec if op.action == model.ADD_VIP else (vip.spec if vip is not None else None)
        if spec is None:
            continue
        if op.action == model.ADD_AS and op.vip.is_all_port and spec.encap in _NAT_ENCAPS:
            found.append(f"`{op.describe()}` adds an AS to the all-port {spec.encap} VIP {op.vip}, which"
                         " crashes VPP (SIGSEGV): give the VIP a protocol and port, or another encap")
        elif op.action == model.ADD_VIP and spec.new_flows_table_length < 1:
            found.append(f"`{op.describe()}` has new_flows_table_length 0, which crashes VPP (os_panic)")
    return found


def blocked_vips(
    desired: LbState, actual: LbState, *, prune_vips: bool = False, as_weights: bool = True
) -> Dict[VipKey, str]:
    """``conflicts`` per desired VIP: VIP key -> why VPP will refuse to add it (the first reason).

    For a caller that leaves those VIPs out and plans the rest (the agent's full sync).
    """
    planner = _Planner(desired, actual, prune_vips, as_weights)
    planner.run()
    return dict(planner.blocked_keys)


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


def _conf_changes(desired: model.LbConf, actual: model.LbConf, push_unreadable: bool = False) -> List[str]:
    """Fields that differ, ignoring desired ones that keep VPP's value (None) and those VPP could
    not report (None), unless ``push_unreadable``."""
    changes = []
    for name in _CONF_FIELDS:
        want, have = getattr(desired, name), getattr(actual, name)
        if want is None or want == have:
            continue
        if have is not None:
            changes.append(name)
        elif push_unreadable:
            changes.append(f"{name} (cannot be read back)")
    return changes


class _Planner:
    def __init__(self, desired: LbState, actual: LbState, prune_vips: bool, as_weights: bool,
                 push_unreadable_conf: bool = False) -> None:
        self.push_unreadable_conf = push_unreadable_conf
        self.desired = desired
        self.actual = actual
        self.as_weights = as_weights
        self.ops: List[Op] = []
        self.blocked: List[str] = []
        self.blocked_keys: Dict[VipKey, str] = {}  # the first reason per refused VIP
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
                reason = _recreate_reason(want, have)
                if reason:
                    self.leaving[key] = reason

    def run(self) -> List[Op]:
        conf = self.desired.conf
        if conf is not None:
            if self.actual.conf is None:
                self.ops.append(Op(model.SET_CONF, conf=conf, reason="conf: not known in VPP"))
            else:
                changed = _conf_changes(conf, self.actual.conf, self.push_unreadable_conf)
                if changed:
                    reason = "conf: " + ", ".join(changed) + " changed"
                    self.ops.append(Op(model.SET_CONF, conf=conf, reason=reason))
        for key in _sorted_keys(self.desired.vips):
            want = self.desired.vips[key]
            have = self.actual.vips.get(key)
            if have is None:
                self.add_vip(want, _new_vip_reason(want))
            elif key in self.leaving:
                if key not in self.torn_down:
                    self.tear_down(key)
                self.add_vip(want, self.leaving[key])
            else:
                self.ops += _update_ases(want, have, self.as_weights)
        for key in _sorted_keys(self.leaving):
            if key not in self.torn_down:
                self.tear_down(key)
        return self.ops

    def tear_down(self, key: VipKey, reason: Optional[str] = None) -> None:
        self.ops += _tear_down(self.actual.vips[key], reason or self.leaving[key])
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
                why = f"cannot add VIP {key}: VPP already has VIP {other} on that prefix"
                self.blocked.append(why)
                self.blocked_keys.setdefault(key, why)
        holder = self._nodeport_holder(key, spec)
        if holder is not None:
            what = "recreate" if holder == key else "add"
            why = (
                f"cannot {what} nodeport VIP {key}: VPP never forgets a nodeport's port and VIP {holder}"
                f" registered port {key.port} (VPP refuses the add with -81 after the teardown; only a"
                " VPP restart frees the port)"
            )
            self.blocked.append(why)
            self.blocked_keys.setdefault(key, why)
        on_prefix[key] = spec
        self.ops += _add_vip(want, reason, self.as_weights)

    def _nodeport_holder(self, key: VipKey, spec: VipSpec) -> Optional[VipKey]:
        """The live nodeport VIP (this plan may delete it: VPP still remembers its port) that
        holds ``key``'s port when ``spec`` is a nodeport, else None."""
        if spec.encap not in _NAT_ENCAPS or spec.srv_type != "nodeport":
            return None
        for other in _sorted_keys(self.actual.vips):
            have = self.actual.vips[other].spec
            if other.port == key.port and have.encap in _NAT_ENCAPS and have.srv_type == "nodeport":
                return other
        return None


# --------------------------------------------------------------------------------------------
# One VIP's ops: shared by plan() (through _Planner) and plan_vip().


def _new_vip_reason(want: VipState) -> str:
    return f"new VIP for {want.name}" if want.name else "new VIP"


def _recreate_reason(want: VipState, have: VipState) -> str:
    """"recreate: <fields> changed" when VPP must delete and re-add the VIP, else ""."""
    changed = want.spec.differences(have.spec)
    return "recreate: " + ", ".join(changed) + " changed" if changed else ""


def _tear_down(have: VipState, reason: str) -> List[Op]:
    key = have.key
    ops = [
        Op(model.DEL_AS, vip=key, address=address, flush=True, reason=reason)
        for address in _sorted_addresses(have.ases)
    ]
    ops.append(Op(model.DEL_VIP, vip=key, reason=reason))
    return ops


def _present(want: VipState, as_weights: bool) -> Dict[str, AsState]:
    """The desired ASes that must exist in VPP: all, or without weights only weight > 0."""
    if as_weights:
        return want.ases
    return {address: a for address, a in want.ases.items() if a.weight > 0}


def _add_vip(want: VipState, reason: str, as_weights: bool) -> List[Op]:
    key = want.key
    ops = [Op(model.ADD_VIP, vip=key, spec=want.spec, reason=reason)]
    wanted = _present(want, as_weights)
    for address in _sorted_addresses(wanted):
        weight = wanted[address].weight
        ops.append(Op(model.ADD_AS, vip=key, address=address, weight=weight, reason=reason))
    return ops


def _update_ases(want: VipState, have: VipState, as_weights: bool) -> List[Op]:
    """Make before break: adds and raises, then drops, flushes and deletes; each by address."""
    key = want.key
    wanted = _present(want, as_weights)
    make: Dict[str, Op] = {}
    brk: Dict[str, Op] = {}
    for address in set(wanted) - set(have.ases):
        weight = wanted[address].weight
        make[address] = Op(model.ADD_AS, vip=key, address=address, weight=weight, reason="new AS")
    for address in set(have.ases) - set(wanted):
        drained = want.ases.get(address)  # weight 0 without AS weights: health decides flush
        flush = drained.flush if drained is not None else True
        reason = "weight 0 (no AS weights in this VPP)" if drained is not None else "not desired"
        brk[address] = Op(model.DEL_AS, vip=key, address=address, flush=flush, reason=reason)
    if as_weights:
        for address in set(want.ases) & set(have.ases):
            new, old = want.ases[address], have.ases[address]
            if new.weight > old.weight:
                make[address] = _set_weight(key, address, old.weight, new)
            elif new.weight < old.weight:
                brk[address] = _set_weight(key, address, old.weight, new)
            elif new.weight == 0 and new.flush and old.flows != 0:
                # Drained earlier without flush (paused, unknown, standby); now it must be flushed.
                flows = "unknown" if old.flows is None else str(old.flows)
                brk[address] = Op(
                    model.SET_WEIGHT,
                    vip=key,
                    address=address,
                    weight=0,
                    flush=True,
                    reason=f"flush: weight 0, sticky flows {flows}",
                )
    return [make[a] for a in _sorted_addresses(make)] + [brk[a] for a in _sorted_addresses(brk)]


def _set_weight(key: VipKey, address: str, old_weight: int, new: AsState) -> Op:
    return Op(
        model.SET_WEIGHT,
        vip=key,
        address=address,
        weight=new.weight,
        flush=new.flush and new.weight == 0,
        reason=f"weight {old_weight} -> {new.weight}",
    )
