"""Fleet consistency: differences between routers' lb_facts, transient or drift."""

from __future__ import annotations

import copy
from typing import Any, Dict, List

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import fleet

VIP = "192.0.2.1/32 tcp/80"
CONFIG: Dict[str, Any] = {
    "backends": {"web1": {"address": "198.51.100.11"}, "web2": {"address": "198.51.100.12"}},
    "frontends": {
        "www-v4": {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80,
                   "pools": [{"name": "primary", "backends": {"web1": {}, "web2": {}}}]},
    },
}


def state(**changes: Any) -> Dict[str, Any]:
    """One host's maglev_lb_state: both ASes at 100, agent sees both up; dotted-path changes."""
    value: Dict[str, Any] = {
        "conf": {"sticky_buckets_per_core": 1024, "flow_timeout": 40},
        "vips": {VIP: {"encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 1024,
                       "ases": {"198.51.100.11": {"weight": 100}, "198.51.100.12": {"weight": 100}}}},
        "agent": {"used": True, "health": {"web1": "up", "web2": "up"}, "unreleased": [], "adjustments": {}},
    }
    for path, new in changes.items():
        node = value
        parts = path.split("__")
        for part in parts[:-1]:
            node = node[part]
        if new is None:
            del node[parts[-1]]
        else:
            node[parts[-1]] = new
    return value


def views(r2: Dict[str, Any], config2: Any = None) -> Dict[str, fleet.HostView]:
    config2 = CONFIG if config2 is None else config2
    return {"router1": fleet.HostView(state(), copy.deepcopy(CONFIG)), "router2": fleet.HostView(r2, config2)}


W12 = f"vips__{VIP}__ases__198.51.100.12"
# (router2's state, router2's config, expected difference lines)
CASES = [
    (state(), CONFIG, [], "identical"),
    (state(**{f"vips__{VIP}__new_flows_table_length": 2048}), CONFIG,
     [f"{VIP}: new_flows_table_length 1024 on router1, 2048 on router2 (drift)"], "table-length-drift"),
    (state(**{"conf__flow_timeout": 60}), CONFIG, ["conf: lb_conf flow_timeout: 40 on router1, 60 on router2 (drift)"],
     "conf-drift"),
    (state(**{W12: None}), CONFIG, [f"{VIP}: AS 198.51.100.12: held on router1, absent on router2 (drift)"],
     "as-set-drift"),
    (state(**{"vips": {}}), CONFIG, [f"{VIP}: held by router1, missing on router2 (drift)"], "vip-missing"),
    (state(**{W12: {"weight": 50}, "agent__adjustments": {"www-v4": {"web2": {"ramp": 0.4}}}}), CONFIG,
     [f"{VIP}: 198.51.100.12 at weight 100 on router1, 50 on router2 - web2 is steady on router1,"
      " slow-starting (40%) on router2 (transient)"], "slow-start-transient"),
    (state(**{W12: {"weight": 0}, "agent__health": {"web1": "up", "web2": "down"}}), CONFIG,
     [f"{VIP}: 198.51.100.12 at weight 100 on router1, 0 on router2 - the agents see web2 up on router1,"
      " down on router2 (transient)"], "down-on-one-router-transient"),
    (state(**{W12: {"weight": 0}, "agent__unreleased": ["www-v4"]}), CONFIG,
     [f"{VIP}: 198.51.100.12 at weight 100 on router1, 0 on router2 - the frontend is released on router1,"
      " not released (warm-up) on router2 (transient)"], "warm-up-transient"),
    (state(**{W12: {"weight": 50}}), CONFIG,
     [f"{VIP}: 198.51.100.12 at weight 100 on router1, 50 on router2 - the agents' views agree, so the"
      " configured weights differ (drift)"], "weight-drift"),
    (state(**{W12: {"weight": 50}, "agent__used": False}), CONFIG,
     [f"{VIP}: 198.51.100.12 at weight 100 on router1, 50 on router2 - cannot tell if transient"
      " (router2: no agent view) (drift)"], "no-agent-view-is-drift"),
    (state(**{f"vips__{VIP}__table_digest": "b"}), CONFIG,
     [f"{VIP}: table digest absent on router1, b on router2 with equal ASes and weights (drift)"],
     "table-digest-compared-when-present"),
]


@pytest.mark.parametrize("r2, config2, expected", [pytest.param(*case[:3], id=case[3]) for case in CASES])
def test_compare(r2: Dict[str, Any], config2: Any, expected: List[str]) -> None:
    assert [d.line() for d in fleet.compare(views(r2, config2))] == expected


def test_three_routers_name_the_odd_one() -> None:
    hosts = {name: fleet.HostView(state(), CONFIG) for name in ("router1", "router3")}
    hosts["router2"] = fleet.HostView(state(**{f"vips__{VIP}__src_ip_sticky": True}), CONFIG)
    assert [d.line() for d in fleet.compare(hosts)] == [
        f"{VIP}: src_ip_sticky True on router2, False on router1, router3 (drift)"
    ]
