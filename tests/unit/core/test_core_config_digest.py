"""The config digest both the agent (in its state file) and the lb module compute, and the rule
that says which parts of a push the running agent would not keep."""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.config_digest import (
    ConfigDigest,
    config_digest,
    mismatches,
)

BASE: Dict[str, Any] = {
    "conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe"},
    "healthchecks": {"h": {"type": "http", "port": 80, "path": "/healthz", "interval": "2s"}},
    "backends": {
        "web1": {"address": "198.51.100.11", "healthcheck": "h"},
        "web2": {"address": "198.51.100.12", "healthcheck": "h"},
        "dr1": {"address": "198.51.100.21"},
    },
    "frontends": {
        "www": {
            "prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80,
            "pools": [{"name": "primary", "backends": {"web1": {"weight": 100}, "web2": {"weight": 50}}},
                      {"name": "standby", "backends": {"dr1": {}}}],
        },
        "dns": {"prefix": "192.0.2.53/32", "protocol": "udp", "port": 53,
                "pools": [{"name": "p", "backends": {"dr1": {}}}]},
    },
}


def digest_of(change: Callable[[dict], Any] = lambda c: None) -> ConfigDigest:
    config = copy.deepcopy(BASE)
    change(config)
    return config_digest(schema.parse_config(config))


WWW = BASE["frontends"]["www"]


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        *parents, last = path.split(".")
        target = config
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value

    return change


# Spellings of the same config: the digest must not move, or every push would be refused.
SAME = [
    pytest.param(_set("frontends.www.pools.0.backends", {"web2": {"weight": 50}, "web1": {}}),
                 id="member-order-default"),
    pytest.param(_set("healthchecks.h.interval", "2000ms"), id="duration-spelling"),
    pytest.param(_set("frontends.www.description", "the web"), id="description"),
    pytest.param(_set("backends.web1.description", "rack 4"), id="backend-description"),
    pytest.param(_set("agent", {"state_file": "/tmp/x.json"}), id="agent-section"),
    pytest.param(_set("frontends.www.encap", "gre4"), id="explicit-default-encap"),
]


@pytest.mark.parametrize("change", SAME)
def test_the_same_config_written_differently_has_the_same_digest(change) -> None:
    assert digest_of(change) == digest_of()


# Everything of a frontend that decides what the agent pushes: (change, frontends that move, conf moves)
DIFFERENT = [
    pytest.param(_set("frontends.www.pools.0.backends.web2", {"weight": 60}), {"www"}, False, id="member-weight"),
    pytest.param(_set("frontends.www.src_ip_sticky", True), {"www"}, False, id="spec"),
    pytest.param(_set("frontends.www.port", 8080), {"www"}, False, id="vip-port"),
    pytest.param(_set("frontends.www.flush_on_down", False), {"www"}, False, id="flush-on-down"),
    pytest.param(_set("frontends.www.slow_start", "20s"), {"www"}, False, id="slow-start"),
    pytest.param(_set("frontends.www.drain_timeout", "5s"), {"www"}, False, id="drain-timeout"),
    pytest.param(lambda c: c["frontends"]["www"]["pools"].reverse(), {"www"}, False, id="pool-order"),
    pytest.param(_set("frontends.www.pools.1.name", "fallback"), {"www"}, False, id="pool-name"),
    pytest.param(_set("backends.web1.address", "198.51.100.13"), {"www"}, False, id="backend-address"),
    pytest.param(_set("backends.web1.enabled", False), {"www"}, False, id="backend-enabled"),
    # a shared backend moves every frontend that uses it
    pytest.param(_set("backends.dr1.address", "198.51.100.22"), {"www", "dns"}, False, id="shared-backend"),
    pytest.param(_set("healthchecks.h.path", "/ready"), {"www"}, False, id="healthcheck-path"),
    pytest.param(_set("healthchecks.h.rise", 5), {"www"}, False, id="healthcheck-rise"),
    pytest.param(_set("healthchecks.h.headers", {"Authorization": "Bearer x"}), {"www"}, False,
                 id="healthcheck-header"),
    pytest.param(_set("backends.dr1.healthcheck", "h"), {"www", "dns"}, False, id="healthcheck-added"),
    pytest.param(_set("conf.flow_timeout", 20), set(), True, id="conf"),
]


@pytest.mark.parametrize("change, moved, conf_moved", DIFFERENT)
def test_what_decides_the_agents_pushes_moves_the_digests(change, moved, conf_moved) -> None:
    before, after = digest_of(), digest_of(change)
    assert after.whole != before.whole
    assert {name for name in before.frontends if before.frontends[name] != after.frontends.get(name)} == moved
    assert (after.conf != before.conf) is conf_moved


def test_digest_shape() -> None:
    digest = digest_of()
    assert set(digest.frontends) == {"www", "dns"}
    assert all(value.startswith("sha256:") and len(value) == 7 + 64
               for value in [digest.whole, digest.conf, *digest.frontends.values()])
    assert digest_of(_set("conf", None)).conf is None


RUNNING = ConfigDigest(whole="w", conf="c1", frontends={"www": "a", "dns": "b"})

MISMATCH_CASES = [
    pytest.param(ConfigDigest("w", "c1", {"www": "a"}), (), [], id="same-subset"),
    pytest.param(ConfigDigest("w2", None, {"www": "a"}), (), [], id="push-without-conf"),
    pytest.param(ConfigDigest("w2", "c2", {"www": "a"}), (), ["conf (lb_conf) differs from the agent's"],
                 id="conf-differs"),
    pytest.param(ConfigDigest("w2", "c1", {"www": "x", "dns": "b"}), (),
                 ["frontend www differs from the agent's config"], id="frontend-differs"),
    pytest.param(ConfigDigest("w2", "c1", {"new": "n"}), (),
                 ["frontend new is not in the agent's config (the agent would not follow its health)"],
                 id="frontend-unknown-to-agent"),
    pytest.param(ConfigDigest("w2", "c1", {"www": "a"}), ["dns", "foreign"],
                 ["frontend dns is deleted by this push, but the agent's config has it (it would add it back)"],
                 id="deletes-agent-frontend"),
]


@pytest.mark.parametrize("pushed, deleted, expected", MISMATCH_CASES)
def test_mismatches(pushed, deleted, expected) -> None:
    assert mismatches(pushed, RUNNING, deleted) == expected


def test_an_agent_without_conf_never_conflicts_on_conf() -> None:
    running = ConfigDigest("w", None, {"www": "a"})
    assert mismatches(ConfigDigest("w2", "c9", {"www": "a"}), running) == []
