"""Flush after a drain and targeted sync, end to end: config + health -> plan -> vppsim -> dump.

Sticky flows come from vppsim's ``sim traffic``; the client's dump reads their count per AS
(``AsState.flows``) from ``show lb vips verbose``, as it does on a real VPP.
"""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, livestate, planner, schema, weights
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import SET_WEIGHT, Op, VipKey

KEY = VipKey("192.0.2.1/32", 6, 80)
P1, P2, S1 = "198.51.100.11", "198.51.100.12", "198.51.100.100"
pytestmark = pytest.mark.simulator(reason="counts flows per AS from `sim traffic src` (random sources)")
TRAFFIC = "sim traffic 192.0.2.1/32 protocol tcp port 80 flows 300 src 198.18.0.0/15 seed {}"


@pytest.fixture
def lb_api() -> str:
    """VPP master only: a drained AS at weight 0 that is flushed later needs AS weights; on LB API
    1.1.0 a drain removes the AS and the flush cannot follow (planner.py "Flush rules",
    docs/vpp-versions.md)."""
    return "1.2.0"


def config(p2_enabled: bool = True) -> schema.LbConfig:
    return schema.parse_config({
        "healthchecks": {"h": {"type": "tcp", "port": 80}},
        "backends": {
            "p1": {"address": P1, "healthcheck": "h"},
            "p2": {"address": P2, "healthcheck": "h", "enabled": p2_enabled},
            "s1": {"address": S1, "healthcheck": "h"},
        },
        "frontends": {
            "web": {
                "prefix": "192.0.2.1/32",
                "protocol": "tcp",
                "port": 80,
                "src_ip_sticky": True,
                "pools": [
                    {"name": "primary", "backends": {"p1": {}, "p2": {}}},
                    {"name": "standby", "backends": {"s1": {}}},
                ],
            }
        },
    })


@pytest.fixture
def client(sim):
    with VppLbClient(sim.api_socket, timeout=5) as c:
        yield c


def converge(client, want) -> list:
    ops = planner.plan(want, client.dump())
    client.apply(ops)
    return ops


def test_disabling_a_drained_backend_flushes_its_sticky_flows(client):
    up = {"p1": "up", "p2": "up", "s1": "up"}
    converge(client, desired.desired_state(config(), up))
    client.cli(TRAFFIC.format(1))
    flows = {a: s.flows for a, s in client.dump().vips[KEY].ases.items()}
    assert flows[P1] > 0 and flows[P2] > 0 and flows[S1] == 0  # s1 is standby: weight 0

    # Pause p2: a drain keeps its sticky flows.
    paused = desired.desired_state(config(), dict(up, p2="paused"))
    assert [(op.address, op.weight, op.flush) for op in converge(client, paused)] == [(P2, 0, False)]
    live = client.dump().vips[KEY].ases[P2]
    assert (live.weight, live.flows) == (0, flows[P2])

    # Disable it: already at weight 0, but its flows must go now.
    disabled = desired.desired_state(config(p2_enabled=False), up)
    before = client.dump()
    ops = planner.plan(disabled, before)
    assert ops == [
        Op(SET_WEIGHT, vip=KEY, address=P2, weight=0, flush=True, reason=f"flush: weight 0, sticky flows {flows[P2]}")
    ]
    applied = client.apply(ops)
    after = client.dump()
    assert after.vips[KEY].ases[P2].flows == 0
    assert after.vips[KEY].ases[P1].flows == flows[P1]  # only p2's entries were evicted
    assert planner.plan(disabled, after) == []  # the rerun converges
    # The agent's cache, updated from the accepted ops, agrees with VPP and converges too.
    cached = livestate.apply_ops(before, applied)
    assert {a: (s.weight, s.flows) for a, s in cached.vips[KEY].ases.items()} == {
        a: (s.weight, s.flows) for a, s in after.vips[KEY].ases.items()
    }
    assert planner.plan(disabled, cached) == []


def test_targeted_failover_against_a_cached_state(client):
    cfg = config()
    frontend = cfg.frontends["web"]
    health = {"p1": "up", "p2": "up", "s1": "up"}
    converge(client, desired.desired_state(cfg, health))
    client.cli(TRAFFIC.format(2))
    cache = client.dump()

    # The primary pool goes down (flush_on_down defaults to true): one frontend is planned
    # against the cache; the standby is raised before the primaries drop.
    health = dict(health, p1="down", p2="down")
    want = desired.desired_vip(cfg, frontend, weights.backend_states(cfg.backends, health))
    ops = planner.plan_vip(want, cache.vips[KEY])
    assert [(op.address, op.weight, op.flush) for op in ops] == [(S1, 100, False), (P1, 0, True), (P2, 0, True)]
    cache = livestate.apply_ops(cache, client.apply(ops))
    live = client.dump()
    shape = {a: (s.weight, s.flows) for a, s in live.vips[KEY].ases.items()}
    assert shape[P1] == (0, 0) and shape[P2] == (0, 0) and shape[S1][0] == 100
    assert {a: s.weight for a, s in cache.vips[KEY].ases.items()} == {a: w for a, (w, _f) in shape.items()}
    assert planner.plan_vip(want, cache.vips[KEY]) == []
    assert planner.plan_vip(want, live.vips[KEY]) == []
    # New flows now reach the standby only.
    client.cli(TRAFFIC.format(3))
    flows = {a: s.flows for a, s in client.dump().vips[KEY].ases.items()}
    assert flows[S1] > 0 and flows[P1] == 0 and flows[P2] == 0
