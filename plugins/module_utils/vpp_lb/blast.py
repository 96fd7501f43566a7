"""Blast radius of a change: how much of each VIP's new-flow table changes owner.

The shares come from the tables themselves (``maglev_table``). ``bucket_counts`` is the closed
form of the per-AS counts (used where only counts are needed, e.g. livestate): VPP's Maglev table
gives every AS an exact number of buckets that depends only on the weights and the table length
(vpp-facts.md Part 1 §3 "Bucket counts can be computed exactly"):

* Every USED AS with weight ``w`` contributes ``w`` replicas (weight 0: none).
* The replicas are sorted by (replica number, address). VPP compares addresses with
  ``memcmp`` over the 16-byte ``ip46_address_t``; an IPv4 address sits in the last 4 bytes
  with the first 12 zero, so the order is numeric and every IPv4 address sorts before every
  IPv6 address outside ``::/96``. All ASes of one VIP have the same family (it follows the
  encap), so within a VIP this is plain numeric order, the same as ``model.address_sort_key``.
* With table length N and R replicas, the Maglev fill hands out buckets round-robin in that
  order until the table is full: every replica gets ``N // R`` buckets and the first
  ``N % R`` replicas one more. An AS owns the sum over its replicas.
* With no replica (no AS, or every weight 0) all N buckets point at VPP's drop AS.

LB API 1.1.0 gives each AS one replica; with equal weights the formula yields the same counts
(``w * (N // wk) + (N % wk) // k`` equals ``N // k``), so pass any equal weight there.

``moved_share`` is exact: the share of new flows whose AS changes, from the two new-flow tables
built bucket by bucket (``maglev_table``, VPP's own fill). It is not the share the owners' counts
change by: the fill is not minimal-disruption, so removing one AS moves other buckets too (one
case on real VPP: 300 buckets removed, 338 moved), and a weight change that keeps every count
(100/100 -> 50/50) still moves buckets. When the table length changes, a flow hash h picks
bucket ``h mod N`` in each table, so the tables are compared over the larger length. A recreate
(``recreate: true``) also flushes every sticky session of the VIP, so existing flows are
re-balanced too, whatever ``moved_share`` says.
"""

from __future__ import annotations

import ipaddress
from fractions import Fraction
from typing import Dict, List, Mapping, Optional, Tuple

from . import maglev_table, model

DROP = "drop"  # the owner of buckets no AS takes
SHARE_DECIMALS = 4


def ip46_sort_key(address: str) -> tuple:
    """VPP's replica order for addresses: memcmp of the 16-byte ip46 form (IPv4 in the low 4 bytes).

    The version breaks the tie VPP never sees (0.0.0.1 and ::1 are the same ip46 bytes, but
    one VIP never holds both families).
    """
    ip = ipaddress.ip_address(address)
    return (int(ip), ip.version)


def bucket_counts(table_length: int, weights: Mapping[str, int]) -> Dict[str, int]:
    """Buckets per AS address in a new-flow table of ``table_length``, exactly as VPP fills it.

    ``weights`` maps the VIP's USED ASes to their weights (removed ASes must not be passed).
    Every address is in the result, weight-0 ASes with 0, in numeric order. When no AS has a
    nonzero weight every count is 0: all buckets belong to the drop AS
    (``table_length - sum(result.values())`` is the drop AS's share in every case).
    """
    if isinstance(table_length, bool) or not isinstance(table_length, int) or table_length < 1:
        raise ValueError(f"table_length must be a positive integer, got {table_length!r}")
    for address, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ValueError(f"{address}: weight must be a non-negative integer, got {weight!r}")
    ordered = sorted(weights, key=ip46_sort_key)
    counts = {address: 0 for address in ordered}
    replicas = sum(weights.values())
    if replicas == 0:
        return counts
    per_replica, extra = divmod(table_length, replicas)
    for address in ordered:
        counts[address] = weights[address] * per_replica
    # The first `extra` replicas in (replica number, address) order get one bucket more.
    replica = 0
    while extra > 0:
        round_members = [address for address in ordered if weights[address] > replica]
        for address in round_members[:extra]:
            counts[address] += 1
        extra -= min(extra, len(round_members))
        replica += 1
    return counts


def _table_shares(vip: model.VipState, table: Tuple[str, ...]) -> Dict[str, Fraction]:
    """Exact share per AS of ``vip`` (numeric order, 0 for an AS without buckets) and of DROP."""
    counts = maglev_table.bucket_counts_of(table)
    ordered = sorted(vip.ases, key=ip46_sort_key)
    shares = {address: Fraction(counts.get(address, 0), len(table)) for address in ordered}
    shares[DROP] = Fraction(counts.get(maglev_table.DROP, 0), len(table))
    return shares


def _effective_weights(vip: model.VipState, generation: str) -> Dict[str, int]:
    """The weights that shape the table: nonzero ones, and on LB API 1.1.0 every AS counts once."""
    return {a.address: (a.weight if generation == "1.2.0" else 1) for a in vip.ases.values() if a.weight}


def vip_table(vip: model.VipState, generation: str = "1.2.0") -> Tuple[str, ...]:
    """The new-flow table VPP builds for ``vip`` on LB API ``generation`` (one owner per bucket)."""
    return maglev_table.new_flow_table(_effective_weights(vip, generation), vip.spec.new_flows_table_length,
                                       generation)


def vip_digest(vip: model.VipState, generation: str = "1.2.0") -> Optional[str]:
    """``maglev_table.table_digest`` of ``vip``'s table; None when VPP holds no usable table (length 0)."""
    length = vip.spec.new_flows_table_length
    if not length or length < 1 or length & (length - 1):
        return None
    return maglev_table.vip_table_digest(_effective_weights(vip, generation), length, generation)


def moved_flow_share(before: Tuple[str, ...], after: Tuple[str, ...]) -> Fraction:
    """Exact share of flow hashes whose owner differs between two tables (any power-of-two lengths)."""
    if len(before) == len(after):
        return Fraction(maglev_table.moved_buckets(before, after), len(after))
    longer, shorter = (before, after) if len(before) > len(after) else (after, before)
    mask = len(shorter) - 1
    moved = sum(1 for i, owner in enumerate(longer) if shorter[i & mask] != owner)
    return Fraction(moved, len(longer))


def _rounded(share: Fraction) -> float:
    return round(float(share), SHARE_DECIMALS)


def _percent(share: Fraction) -> str:
    return f"{float(share) * 100:.2f}".rstrip("0").rstrip(".") + "%"


def vip_blast_radius(before: Optional[model.VipState], after: Optional[model.VipState],
                     generation: str = "1.2.0") -> Dict:
    """The blast radius of changing one VIP from ``before`` to ``after`` (None: absent).

    ``generation`` is the LB API version of the VPP ("1.2.0" or "1.1.0"): it shapes the table.

    A plain JSON-able dict::

        {"vip": "192.0.2.1/32 tcp/80", "table_length": 1024,
         "before": {"198.51.100.11": 0.6582, "198.51.100.12": 0.3418},   # share of buckets
         "after":  {"198.51.100.11": 1.0, "198.51.100.12": 0.0},
         "drop": {"before": 0.0, "after": 0.0},      # share no AS takes (VIP drops new flows)
         "moved_share": 0.3418,  # exactly this share of new flows goes to another AS
         "moved_buckets": 350,   # buckets whose AS changes (over the longer table)
         "digest": {"before": "3f0c...", "after": "9a41..."},  # maglev_table.table_digest
         "recreate": false, "changed_fields": [],    # spec fields whose change recreates the VIP
         "created": false, "deleted": false,
         "summary": "192.0.2.1/32 tcp/80: 34.18% of new flows move to another AS"}

    Shares are rounded to 4 decimals, ASes in numeric order. ``table_length`` is the length
    after the change (before it, for a deleted VIP). A created or deleted VIP moves every
    bucket (``moved_share`` 1.0); its missing side is ``{}``.
    """
    if before is None and after is None:
        raise ValueError("vip_blast_radius needs a VIP before or after the change")
    if before is not None and after is not None and before.key != after.key:
        raise ValueError(f"different VIPs: {before.key} and {after.key}")
    key = (after if after is not None else before).key
    label = str(key)

    changed_fields = list(after.spec.differences(before.spec)) if before is not None and after is not None else []
    recreate = bool(changed_fields)

    old_table = vip_table(before, generation) if before is not None else None
    new_table = vip_table(after, generation) if after is not None else None
    old = _table_shares(before, old_table) if before is not None else {}
    new = _table_shares(after, new_table) if after is not None else {}
    if old_table is None or new_table is None:
        moved = Fraction(1)
        moved_buckets = len(old_table or new_table or ())
    else:
        moved = moved_flow_share(old_table, new_table)
        moved_buckets = int(moved * max(len(old_table), len(new_table)))

    result = {
        "vip": label,
        "table_length": (after if after is not None else before).spec.new_flows_table_length,
        "before": {address: _rounded(share) for address, share in old.items() if address != DROP},
        "after": {address: _rounded(share) for address, share in new.items() if address != DROP},
        "drop": {
            "before": _rounded(old[DROP]) if old else None,
            "after": _rounded(new[DROP]) if new else None,
        },
        "moved_share": _rounded(moved),
        "moved_buckets": moved_buckets,
        "digest": {
            "before": maglev_table.table_digest(old_table) if old_table is not None else None,
            "after": maglev_table.table_digest(new_table) if new_table is not None else None,
        },
        "recreate": recreate,
        "changed_fields": changed_fields,
        "created": before is None,
        "deleted": after is None,
    }
    result["summary"] = _summary(label, result, moved, new)
    return result


def _summary(label: str, result: Dict, moved: Fraction, new: Mapping[str, Fraction]) -> str:
    if result["created"]:
        text = f"{label}: new VIP, takes new flows for its prefix"
    elif result["deleted"]:
        text = f"{label}: VIP removed, all its flows stop"
    else:
        moves = "new-flow shares stay the same"
        if moved:
            moves = f"{_percent(moved)} of new flows move to another AS"
        text = f"{label}: {moves}"
        if result["recreate"]:
            fields = ", ".join(result["changed_fields"])
            text = f"{label}: recreated ({fields} changed), every sticky session of this VIP is flushed; {moves}"
    if new and new[DROP] == 1:
        text += "; afterwards no AS has a nonzero weight: the VIP drops every new flow"
    return text


def plan_blast_radius(before: model.LbState, after: model.LbState, generation: str = "1.2.0") -> List[Dict]:
    """``vip_blast_radius`` of every VIP whose bucket shares or spec change, in VipKey order.

    ``after`` is what VPP will hold once the change is applied (not merely the desired
    subset): a VIP present in ``before`` and absent from ``after`` is reported as deleted.
    Unchanged VIPs, and AS changes that cannot change the table (adding an AS at weight 0, any
    weight change between nonzero weights on LB API 1.1.0), give nothing.
    """
    report: List[Dict] = []
    for key in sorted(set(before.vips) | set(after.vips), key=model.VipKey.sort_key):
        old, new = before.vips.get(key), after.vips.get(key)
        if old is not None and new is not None and not new.spec.differences(old.spec):
            if _effective_weights(old, generation) == _effective_weights(new, generation):
                continue
        report.append(vip_blast_radius(old, new, generation))
    return report
