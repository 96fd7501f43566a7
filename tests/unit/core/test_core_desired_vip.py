"""desired_vip: one frontend's desired VIP, as desired_state builds it (the agent's targeted sync)."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, model, schema, weights

CONFIG = {
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {
        "p1": {"address": "198.51.100.11", "healthcheck": "h"},
        "p2": {"address": "198.51.100.2", "healthcheck": "h"},
        "s1": {"address": "198.51.100.100", "healthcheck": "h"},
        "off": {"address": "198.51.100.50", "enabled": False},
    },
    "frontends": {
        "web": {
            "prefix": "192.0.2.10/32",
            "protocol": "tcp",
            "port": 443,
            "flush_on_down": True,
            "pools": [
                {"name": "primary", "backends": {"p1": {}, "p2": {"weight": 40}, "off": {}}},
                {"name": "standby", "backends": {"s1": {}}},
            ],
        },
        "dns": {"prefix": "192.0.2.53/32", "pools": [{"name": "main", "backends": {"s1": {}, "p1": {}}}]},
    },
}
WEB = model.VipKey("192.0.2.10/32", 6, 443)


def test_failover_of_one_frontend() -> None:
    config = schema.parse_config(CONFIG)
    states = weights.backend_states(config.backends, {"p1": "down", "p2": "paused", "s1": "up"})
    assert desired.desired_vip(config, config.frontends["web"], states) == model.VipState(
        key=WEB,
        spec=model.VipSpec(),
        name="web",
        ases={  # numeric order
            "198.51.100.2": model.AsState("198.51.100.2", 0, flush=False),  # paused: drain
            "198.51.100.11": model.AsState("198.51.100.11", 0, flush=True),  # down, flush_on_down
            "198.51.100.50": model.AsState("198.51.100.50", 0, flush=True),  # disabled
            "198.51.100.100": model.AsState("198.51.100.100", 100),  # standby takes over
        },
    )


@pytest.mark.parametrize(
    "health",
    [None, {}, {"p1": "up"}, {"p1": "down", "p2": "down", "s1": "up"}, {"p1": "paused", "s1": "unknown"}],
)
def test_same_as_desired_state(health) -> None:
    config = schema.parse_config(CONFIG)
    whole = desired.desired_state(config, health)
    states = weights.backend_states(config.backends, health)
    for frontend in config.frontends.values():
        assert desired.desired_vip(config, frontend, states) == whole.vips[frontend.key]
    assert list(whole.vips) == sorted(whole.vips, key=model.VipKey.sort_key)
