"""Blast radius: VPP's exact bucket counts (checked against what real VPP printed) and the
shares that move when a VIP changes."""

from __future__ import annotations

import ipaddress
import json
from typing import Dict, Optional

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast, model
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import AsState, LbState, VipKey, VipSpec, VipState
from hypothesis import given, settings
from hypothesis import strategies as st

A, B, C = "198.51.100.11", "198.51.100.12", "198.51.100.13"


def replica_fill(table_length: int, weights: Dict[str, int]) -> Dict[str, int]:
    """A literal reading of VPP's table build, independent of blast.py: list every replica,
    sort by (replica number, 16-byte ip46 address by memcmp), then deal buckets round-robin."""

    def ip46(address: str) -> bytes:
        packed = ipaddress.ip_address(address).packed
        return packed if len(packed) == 16 else bytes(12) + packed

    replicas = sorted(
        ((replica, ip46(address), address) for address, w in weights.items() for replica in range(w)),
        key=lambda item: item[:2],
    )
    counts = {address: 0 for address in weights}
    for bucket in range(table_length if replicas else 0):
        counts[replicas[bucket % len(replicas)][2]] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# bucket_counts


@pytest.mark.parametrize(
    "table_length, weights, expected",
    [
        # Observed on real VPP master (vpp-facts Part 2 §2.2-2.4).
        pytest.param(1024, {B: 50, A: 100}, {A: 674, B: 350}, id="vpp-100-50"),
        pytest.param(1024, {A: 100, B: 200}, {A: 362, B: 662}, id="vpp-100-200-no-range-check"),
        pytest.param(1024, {A: 100, B: 100}, {A: 512, B: 512}, id="vpp-100-100"),
        pytest.param(512, {"2001:db8:1::1": 100}, {"2001:db8:1::1": 512}, id="vpp-single-v6"),
        # Observed on real VPP v26.06 (LB API 1.1.0, one replica per AS).
        pytest.param(
            1024, {"10.0.0.3": 1, "10.0.0.1": 1, "10.0.0.2": 1}, {"10.0.0.1": 342, "10.0.0.2": 341, "10.0.0.3": 341},
            id="vpp-rel-three-equal",
        ),
        # Equal weights give the same counts whatever the weight (1.1.0 and 1.2.0 agree).
        pytest.param(
            1024, {"10.0.0.3": 100, "10.0.0.1": 100, "10.0.0.2": 100},
            {"10.0.0.1": 342, "10.0.0.2": 341, "10.0.0.3": 341}, id="three-equal-weighted",
        ),
        # Numeric, not lexical, address order decides who gets the extra bucket.
        pytest.param(
            1024, {"10.0.0.10": 1, "10.0.0.9": 1, "10.0.0.100": 1},
            {"10.0.0.9": 342, "10.0.0.10": 341, "10.0.0.100": 341}, id="numeric-order-v4",
        ),
        pytest.param(
            8, {"2001:db8::10": 1, "2001:db8::2": 1, "2001:db8::9": 1},
            {"2001:db8::2": 3, "2001:db8::9": 3, "2001:db8::10": 2}, id="numeric-order-v6",
        ),
        pytest.param(1024, {A: 100, B: 0}, {A: 1024, B: 0}, id="weight-zero-gets-nothing"),
        pytest.param(1024, {A: 0, B: 0}, {A: 0, B: 0}, id="all-zero-drops"),
        pytest.param(1024, {}, {}, id="no-as"),
        pytest.param(4, {"10.0.0.5": 1, "10.0.0.4": 1, "10.0.0.3": 1, "10.0.0.2": 1, "10.0.0.1": 1},
                     {"10.0.0.1": 1, "10.0.0.2": 1, "10.0.0.3": 1, "10.0.0.4": 1, "10.0.0.5": 0},
                     id="more-replicas-than-buckets"),
        pytest.param(1, {A: 3, B: 5}, {A: 1, B: 0}, id="one-bucket"),
        # Extra buckets go replica by replica: B's higher replicas come after A's lower ones.
        pytest.param(7, {A: 1, B: 3}, {A: 2, B: 5}, id="round-robin-by-replica"),
    ],
)
def test_bucket_counts(table_length: int, weights: Dict[str, int], expected: Dict[str, int]) -> None:
    counts = blast.bucket_counts(table_length, weights)
    assert counts == expected
    assert list(counts) == sorted(expected, key=model.address_sort_key)  # numeric order
    assert counts == replica_fill(table_length, weights)


@pytest.mark.parametrize(
    "table_length, weights, message",
    [
        (0, {A: 1}, "table_length must be a positive integer, got 0"),
        (True, {A: 1}, "table_length must be a positive integer, got True"),
        (1024, {A: -1}, f"{A}: weight must be a non-negative integer, got -1"),
        (1024, {A: 1.5}, f"{A}: weight must be a non-negative integer, got 1.5"),
    ],
)
def test_bucket_counts_rejects(table_length, weights, message) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        blast.bucket_counts(table_length, weights)


def test_ipv4_sorts_before_ipv6_as_vpp_memcmp_does() -> None:
    # ip46: IPv4 in the last 4 bytes after 12 zero bytes, so every IPv4 address is smaller
    # than an IPv6 address outside ::/96.
    ordered = sorted(["2001:db8::1", "255.255.255.255", "::1:0:0:0", "0.0.0.1"], key=blast.ip46_sort_key)
    assert ordered == ["0.0.0.1", "255.255.255.255", "::1:0:0:0", "2001:db8::1"]


@settings(max_examples=150, deadline=None)
@given(
    table_length=st.sampled_from([1, 2, 8, 64, 1024, 4096]),
    weights=st.dictionaries(
        st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(1, 2**32 - 2)),
        st.integers(0, 120),
        max_size=6,
    ),
)
def test_bucket_counts_match_replica_fill(table_length: int, weights: Dict[str, int]) -> None:
    counts = blast.bucket_counts(table_length, weights)
    assert counts == replica_fill(table_length, weights)
    assert sum(counts.values()) == (table_length if any(weights.values()) else 0)


@settings(max_examples=100, deadline=None)
@given(
    table_length=st.sampled_from([16, 1024, 65536]),
    count=st.integers(1, 8),
    weight=st.integers(1, 255),
)
def test_equal_weights_count_like_one_replica_each(table_length: int, count: int, weight: int) -> None:
    addresses = [f"10.0.0.{n}" for n in range(1, count + 1)]
    weighted = blast.bucket_counts(table_length, {a: weight for a in addresses})
    assert weighted == blast.bucket_counts(table_length, {a: 1 for a in addresses})


# ---------------------------------------------------------------------------------------------
# vip_blast_radius

V4 = VipKey("192.0.2.1/32", 6, 80)


def vip(weights: Dict[str, int], key: VipKey = V4, **spec) -> VipState:
    return VipState(key=key, spec=VipSpec(**spec), ases={a: AsState(a, weight=w) for a, w in weights.items()})


def test_weight_change_moves_more_than_the_count_difference() -> None:
    # The counts change by 162 buckets (674 -> 512), but the exact table moves 220: a bucket
    # count lower bound would say 15.82%.
    radius = blast.vip_blast_radius(vip({A: 100, B: 50}), vip({A: 100, B: 100}))
    assert radius == {
        "vip": "192.0.2.1/32 tcp/80",
        "table_length": 1024,
        "before": {A: 0.6582, B: 0.3418},  # 674 and 350 of 1024
        "after": {A: 0.5, B: 0.5},
        "drop": {"before": 0.0, "after": 0.0},
        "moved_share": 0.2148,  # 220 / 1024
        "moved_buckets": 220,
        "digest": {"before": "ac383ce13835af51", "after": "5245d43492da3550"},
        "recreate": False,
        "changed_fields": [],
        "created": False,
        "deleted": False,
        "summary": "192.0.2.1/32 tcp/80: 21.48% of new flows move to another AS",
    }
    json.dumps(radius)  # plain data


# (before weights or None, after weights or None, spec changes after, moved_share, before, after, drop,
#  flags (recreate, created, deleted), summary)
RADIUS_CASES = [
    pytest.param(
        {A: 100, B: 100}, {A: 100}, {}, 0.5, {A: 0.5, B: 0.5}, {A: 1.0}, {"before": 0.0, "after": 0.0},
        (False, False, False), "192.0.2.1/32 tcp/80: 50% of new flows move to another AS",
        id="as-removed",
    ),
    pytest.param(
        {A: 100}, {A: 100, B: 100, C: 100}, {}, 0.666, {A: 1.0}, {A: 0.334, B: 0.333, C: 0.333},
        {"before": 0.0, "after": 0.0}, (False, False, False),
        "192.0.2.1/32 tcp/80: 66.6% of new flows move to another AS", id="ases-added",
    ),
    pytest.param(
        {A: 100, B: 50}, {A: 0, B: 0}, {}, 1.0, {A: 0.6582, B: 0.3418}, {A: 0.0, B: 0.0},
        {"before": 0.0, "after": 1.0}, (False, False, False),
        "192.0.2.1/32 tcp/80: 100% of new flows move to another AS;"
        " afterwards no AS has a nonzero weight: the VIP drops every new flow", id="all-drained",
    ),
    pytest.param(
        {}, {A: 100}, {}, 1.0, {}, {A: 1.0}, {"before": 1.0, "after": 0.0}, (False, False, False),
        "192.0.2.1/32 tcp/80: 100% of new flows move to another AS", id="first-as-of-empty-vip",
    ),
    pytest.param(
        {A: 100, B: 100}, {A: 100, B: 100}, {"src_ip_sticky": True}, 0.0, {A: 0.5, B: 0.5}, {A: 0.5, B: 0.5},
        {"before": 0.0, "after": 0.0}, (True, False, False),
        "192.0.2.1/32 tcp/80: recreated (src_ip_sticky changed), every sticky session of this VIP is flushed;"
        " new-flow shares stay the same", id="recreate-same-shares",
    ),
    pytest.param(
        # 2048 buckets: A 1349, B 699 (before A 674/1024 = 1348/2048, B 700/2048): the counts move
        # 1/2048, but the two tables differ in 24.85% of flow hashes (h mod 2048 vs h mod 1024).
        {A: 100, B: 50}, {A: 100, B: 50}, {"new_flows_table_length": 2048}, 0.2485, {A: 0.6582, B: 0.3418},
        {A: 0.6587, B: 0.3413}, {"before": 0.0, "after": 0.0}, (True, False, False),
        "192.0.2.1/32 tcp/80: recreated (new_flows_table_length changed), every sticky session of this VIP"
        " is flushed; 24.85% of new flows move to another AS", id="recreate-table-length",
    ),
    pytest.param(
        None, {A: 100, B: 50}, {}, 1.0, {}, {A: 0.6582, B: 0.3418}, {"before": None, "after": 0.0},
        (False, True, False), "192.0.2.1/32 tcp/80: new VIP, takes new flows for its prefix", id="created",
    ),
    pytest.param(
        None, {}, {}, 1.0, {}, {}, {"before": None, "after": 1.0}, (False, True, False),
        "192.0.2.1/32 tcp/80: new VIP, takes new flows for its prefix;"
        " afterwards no AS has a nonzero weight: the VIP drops every new flow", id="created-empty",
    ),
    pytest.param(
        {A: 100, B: 50}, None, {}, 1.0, {A: 0.6582, B: 0.3418}, {}, {"before": 0.0, "after": None},
        (False, False, True), "192.0.2.1/32 tcp/80: VIP removed, all its flows stop", id="deleted",
    ),
]


@pytest.mark.parametrize("old, new, spec_after, moved, before, after, drop, flags, summary", RADIUS_CASES)
def test_vip_blast_radius(
    old: Optional[Dict[str, int]],
    new: Optional[Dict[str, int]],
    spec_after: dict,
    moved: float,
    before: dict,
    after: dict,
    drop: dict,
    flags: tuple,
    summary: str,
) -> None:
    radius = blast.vip_blast_radius(
        vip(old) if old is not None else None, vip(new, **spec_after) if new is not None else None
    )
    assert radius["moved_share"] == moved
    assert radius["before"] == before
    assert radius["after"] == after
    assert radius["drop"] == drop
    assert (radius["recreate"], radius["created"], radius["deleted"]) == flags
    assert radius["changed_fields"] == list(spec_after)
    assert radius["summary"] == summary
    assert radius["table_length"] == spec_after.get("new_flows_table_length", 1024)


def test_vip_blast_radius_needs_one_side_and_one_vip() -> None:
    with pytest.raises(ValueError, match="before or after"):
        blast.vip_blast_radius(None, None)
    with pytest.raises(ValueError, match="different VIPs"):
        blast.vip_blast_radius(vip({A: 1}), vip({A: 1}, key=VipKey("192.0.2.2/32")))


# ---------------------------------------------------------------------------------------------
# plan_blast_radius


def state(*vips: VipState) -> LbState:
    return LbState(vips={v.key: v for v in vips})


NAMES = ["same", "weights", "gone", "new", "zero", "scaled", "spec"]
K = {name: VipKey(f"192.0.2.{n}/32") for n, name in enumerate(NAMES, start=1)}
K6 = VipKey("2001:db8::10/128")


def test_plan_blast_radius_reports_changed_vips_in_order() -> None:
    before = state(
        vip({A: 100, B: 100}, key=K["same"]),
        vip({A: 100, B: 50}, key=K["weights"]),
        vip({A: 100}, key=K["gone"]),
        vip({A: 100}, key=K["zero"]),
        vip({A: 100, B: 100}, key=K["scaled"]),
        vip({A: 100}, key=K["spec"]),
        vip({"2001:db8:1::1": 100}, key=K6, encap="gre6"),
    )
    after = state(
        vip({"2001:db8:1::1": 100, "2001:db8:1::2": 100}, key=K6, encap="gre6"),  # order of input is not used
        vip({A: 100, B: 100}, key=K["same"]),
        vip({A: 100, B: 100}, key=K["weights"]),
        vip({B: 100}, key=K["new"]),
        vip({A: 100, C: 0}, key=K["zero"]),  # an AS added at weight 0 moves no bucket
        vip({A: 50, B: 50}, key=K["scaled"]),  # same counts, other replicas: 28.52% move
        vip({A: 100}, key=K["spec"], src_ip_sticky=True),
    )
    report = blast.plan_blast_radius(before, after)
    assert [(r["vip"], r["created"], r["deleted"], r["recreate"], r["moved_share"]) for r in report] == [
        ("192.0.2.2/32", False, False, False, 0.2148),
        ("192.0.2.3/32", False, True, False, 1.0),
        ("192.0.2.4/32", True, False, False, 1.0),
        ("192.0.2.6/32", False, False, False, 0.2852),
        ("192.0.2.7/32", False, False, True, 0.0),
        ("2001:db8::10/128", False, False, False, 0.5),
    ]
    json.dumps(report)


def test_plan_blast_radius_of_no_change_is_empty() -> None:
    same = state(vip({A: 100, B: 50}), vip({A: 1}, key=K6))
    assert blast.plan_blast_radius(same, same) == []
    assert blast.plan_blast_radius(LbState(), LbState()) == []


def test_plan_blast_radius_uses_weights_not_reported_buckets() -> None:
    # The actual state carries VPP's bucket counts; the report computes both sides the same way.
    actual = state(
        VipState(V4, VipSpec(), {A: AsState(A, 100, num_buckets=674), B: AsState(B, 50, num_buckets=350)})
    )
    desired = state(vip({A: 100, B: 50}))
    assert blast.plan_blast_radius(actual, desired) == []


def test_plan_blast_radius_on_lb_api_1_1_0_ignores_nonzero_weight_changes() -> None:
    # 1.1.0 has no weights: every AS present counts once, so 100 -> 50 changes no bucket.
    before, after = state(vip({A: 100, B: 100})), state(vip({A: 100, B: 50}))
    assert blast.plan_blast_radius(before, after, "1.1.0") == []
    assert blast.plan_blast_radius(before, after, "1.2.0")[0]["moved_share"] > 0


@pytest.mark.parametrize("generation", ["1.2.0", "1.1.0"])
@pytest.mark.parametrize("old, new", [
    ({A: 100, B: 100, C: 100}, {A: 100, C: 100}),
    ({A: 100, B: 50}, {A: 100, B: 100}),
    ({A: 10, B: 20, C: 30}, {A: 10, B: 20, C: 30, "198.51.100.14": 40}),
])
def test_moved_share_is_the_buckets_that_change_and_at_least_the_count_shift(generation, old, new) -> None:
    radius = blast.vip_blast_radius(vip(old), vip(new), generation)
    before = blast.vip_table(vip(old), generation)
    after = blast.vip_table(vip(new), generation)
    changed = sum(1 for x, y in zip(before, after, strict=True) if x != y)
    assert radius["moved_buckets"] == changed
    assert radius["moved_share"] == round(changed / 1024, blast.SHARE_DECIMALS)
    shift = sum(max(0.0, radius["before"].get(a, 0.0) - radius["after"].get(a, 0.0)) for a in set(old) | set(new))
    assert radius["moved_share"] >= round(shift, blast.SHARE_DECIMALS) - 2 * 10 ** -blast.SHARE_DECIMALS
