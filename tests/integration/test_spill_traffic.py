"""Graceful spill on the data plane: the share of new flows each pool and AS gets in VPP.

Ten primaries with three up and two secondaries, overprovisioning 1.4: the primary pool keeps
0.3 x 1.4 = 42 % and 58 % spills to the secondary (weights.pool_shares). The weights the core
computes are pushed through the real client, and VPP's Maglev table (vppsim: ``sim traffic``
hashes each flow with VPP's CRC32C into it) decides where each new flow goes. The core's own
table (maglev_table) predicts each AS's share of buckets; the flows landed per AS must match it
within a binomial tolerance (flows are random sources, so each lands in a uniform bucket).

On LB API 1.1.0 (no AS weights) the same push leaves every AS of weight > 0 present with an
equal share: the primaries get 3 of 5 ASes, 60 %, not 42 %. The test shows that split in the
traffic, and that the lb module warns with exactly those numbers (compose.spill_without_weights).
"""

from __future__ import annotations

import math
import re
from typing import Dict

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import (
    agent_state,
    compose,
    desired,
    maglev_table,
    planner,
    schema,
    weights,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_runner_helpers import lb_task
from vpp_under_test import send_flows

PRIMARIES = {f"p{i}": f"198.51.100.{i + 1}" for i in range(10)}
SECONDARIES = {"s0": "198.51.100.101", "s1": "198.51.100.102"}
UP = 3  # primaries up: p0, p1, p2
TABLE_LENGTH = 16384
FLOWS = 20000
SIGMAS = 5  # deterministic flows (fixed seed): a generous bound that a wrong table still breaks


def maglev_lb() -> dict:
    backends = {name: {"address": address, "healthcheck": "tcp-80"}
                for name, address in {**PRIMARIES, **SECONDARIES}.items()}
    return {
        "conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe"},
        "healthchecks": {"tcp-80": {"type": "tcp", "port": 80}},
        "backends": backends,
        "frontends": {"www": {
            "prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "new_flows_table_length": TABLE_LENGTH,
            "spill": {"overprovisioning": 1.4},
            "pools": [{"name": "primary", "backends": {name: {} for name in PRIMARIES}},
                      {"name": "secondary", "backends": {name: {} for name in SECONDARIES}}],
        }},
    }


def health() -> Dict[str, str]:
    states = {name: ("up" if i < UP else "down") for i, name in enumerate(PRIMARIES)}
    return {**states, **{name: "up" for name in SECONDARIES}}


def flows_per_as(reply: str) -> Dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+) flows:(\d+)$", reply, re.M)}


def within_binomial(observed: int, flows: int, share: float) -> bool:
    return abs(observed - flows * share) <= SIGMAS * math.sqrt(flows * share * (1 - share)) + 1


SPREAD_SOURCES = ("needs 20,000 flows with sources spread over the whole table (`sim traffic src`);"
                  " the packet generator's incrementing sources cover about half of it")


@pytest.mark.simulator(reason=SPREAD_SOURCES)
def test_spilled_share_of_new_flows_matches_the_exact_table(vppsim_lb):
    config = schema.parse_config(maglev_lb())
    frontend = config.frontends["www"]
    shares = {s.pool: s for s in weights.pool_shares(frontend, health())}
    assert (shares["primary"].share, shares["primary"].spilled) == (pytest.approx(0.42), pytest.approx(0.58))
    want = desired.desired_state(config, health())
    with VppLbClient(vppsim_lb.api_socket, timeout=30) as client:
        generation = client.capabilities.lb_api_version
        client.apply(planner.plan(want, client.dump(), as_weights=client.capabilities.as_weights))
        live = client.dump().vips[frontend.key]
        # What VPP holds: on 1.1.0 the down primaries (weight 0) are removed, the rest present.
        pushed = {address: a.weight for address, a in want.vips[frontend.key].ases.items() if a.weight > 0}
        assert {address for address, a in live.ases.items() if a.weight > 0} == set(pushed)
        table = maglev_table.new_flow_table(pushed, TABLE_LENGTH, generation)
        buckets = maglev_table.bucket_counts_of(table)
        assert {address: live.ases[address].num_buckets for address in pushed} == buckets  # VPP's own count
        reply = send_flows(vppsim_lb, client, "192.0.2.1/32", "tcp", 80, flows=FLOWS, seed=20)
    landed = flows_per_as(reply)
    assert sum(landed.values()) == FLOWS and landed.get("drop", 0) == 0, reply
    for address, count in buckets.items():
        assert within_binomial(landed[address], FLOWS, count / TABLE_LENGTH), (address, landed[address], count)
    primaries = set(PRIMARIES.values())
    table_share = sum(count for address, count in buckets.items() if address in primaries) / TABLE_LENGTH
    flow_share = sum(n for address, n in landed.items() if address in primaries) / FLOWS
    assert within_binomial(round(flow_share * FLOWS), FLOWS, table_share)
    if generation == "1.2.0":
        # The weights carry the planned split (rounded weights, Maglev's near-even buckets).
        assert table_share == pytest.approx(0.42, abs=0.01)
    else:
        # No AS weights: 3 of 5 present ASes are primaries, whatever the planned 42 %.
        assert table_share == pytest.approx(0.6, abs=0.01)
        warnings = list(compose.spill_without_weights(config, want.vips.values()).values())
        assert len(warnings) == 1, warnings
        warning = warnings[0]
        assert "new flows split primary 60% / secondary 40% (3 and 2 ASes)" in warning
        assert "instead of the planned primary 42% / secondary 58%" in warning


def test_lb_module_says_what_spill_becomes_on_each_generation(vppsim_lb, runner, tmp_path):
    """With the agent's view (3 of 10 primaries up), the module pushes the spilled weights; on
    LB API 1.1.0 it warns that the split becomes one equal share per AS, on 1.2.0 it does not."""
    state_file = tmp_path / "state.json"
    agent_state.write_agent_state(str(state_file), health(), {"www": "up"})
    run = runner.playbook([lb_task(vppsim_lb, maglev_lb(), agent_state=state_file)])
    assert run.ok, run.explain()
    spill_warnings = [w for w in run.only().warnings if "spills between pools" in w]
    with VppLbClient(vppsim_lb.api_socket, timeout=30) as client:
        generation = client.capabilities.lb_api_version
        live = client.dump().vips[schema.parse_config(maglev_lb()).frontends["www"].key]
    present = {address for address, a in live.ases.items() if a.weight > 0}
    assert present == {PRIMARIES["p0"], PRIMARIES["p1"], PRIMARIES["p2"], *SECONDARIES.values()}
    if generation == "1.2.0":
        assert spill_warnings == []
        assert {live.ases[a].weight for a in SECONDARIES.values()} == {100}
        assert {live.ases[PRIMARIES[p]].weight for p in ("p0", "p1", "p2")} == {48}
    else:
        [warning] = spill_warnings
        assert warning.startswith("frontend www (VIP 192.0.2.1/32 tcp/80) spills between pools, but this VPP"
                                  " (LB API 1.1.0) has no AS weights"), warning
        assert "primary 60% / secondary 40%" in warning and "planned primary 42% / secondary 58%" in warning
