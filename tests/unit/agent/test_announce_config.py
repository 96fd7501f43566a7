"""Route-announcement keys: ``agent.announce`` (the default) and a frontend's ``announce``, read by
the core schema (the modules accept and ignore them) and by agent/config.py."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent import config as agent_config
from ansible_collections.maglev.vpp.agent.announce_runner import hook_of
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.schema import Announce, ConfigError


def document(frontend_announce=None, agent=None):
    www = {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "pools": [{"name": "p", "backends": {"web1": {}}}]}
    dns = {"prefix": "192.0.2.2/32", "pools": [{"name": "p", "backends": {"web1": {}}}]}
    if frontend_announce is not None:
        www["announce"] = frontend_announce
    doc = {"backends": {"web1": {"address": "198.51.100.11"}}, "frontends": {"www": www, "dns": dns}}
    if agent is not None:
        doc["agent"] = agent
    return doc


# (agent.announce, www's announce, www's hook, dns's hook)
HOOK_CASES = [
    (None, None, ((), 10.0), ((), 10.0)),
    ({"command": ["/bin/a", "x"]}, None, (("/bin/a", "x"), 10.0), (("/bin/a", "x"), 10.0)),
    ({"command": ["/bin/a"], "timeout": "3s"}, {"command": []}, ((), 3.0), (("/bin/a",), 3.0)),
    ({"command": ["/bin/a"]}, {"command": ["/bin/b"], "timeout": "1s"}, (("/bin/b",), 1.0), (("/bin/a",), 10.0)),
    (None, {"command": ["/bin/b"]}, (("/bin/b",), 10.0), ((), 10.0)),
]


@pytest.mark.parametrize("agent_announce, own, www, dns", HOOK_CASES)
def test_hook_of_each_frontend(agent_announce, own, www, dns):
    agent = {"announce": agent_announce} if agent_announce is not None else None
    config = agent_config.parse_agent_config(document(own, agent))
    assert hook_of(config, "www") == www
    assert hook_of(config, "dns") == dns


def test_retry_settings_are_read():
    config = agent_config.parse_agent_config(document(agent={
        "announce": {"command": ["/bin/a"], "retry_interval": "2s", "retry_max_interval": "30s"}}))
    assert (config.settings.announce_retry_interval, config.settings.announce_retry_max_interval) == (2.0, 30.0)


@pytest.mark.parametrize("own, agent, message", [
    ({"command": "/bin/a x"}, None, "frontends.www.announce.command: must be a list of strings"),
    ({"command": [""]}, None, "frontends.www.announce.command: the program (first item) must not be empty"),
    ({"command": ["/bin/a", 3]}, None, "frontends.www.announce.command: must be a list of strings"),
    ({"timeout": "20m"}, None, "frontends.www.announce.timeout: must be at most 600s"),
    ({"comand": ["/bin/a"]}, None, "frontends.www.announce.comand: unknown key, did you mean command"),
    ({"retry_interval": "1s"}, None, "frontends.www.announce.retry_interval: unknown key"),
    (None, {"announce": {"command": ["/bin/a"], "retry_interval": "1m", "retry_max_interval": "10s"}},
     "agent.announce.retry_max_interval: 10s must not be shorter than retry_interval 60s"),
    (None, {"announce": ["/bin/a"]}, "agent.announce: must be a mapping"),
])
def test_bad_announce_keys_are_reported_with_their_path(own, agent, message):
    with pytest.raises(ConfigError) as info:
        agent_config.parse_agent_config(document(own, agent))
    assert any(e.startswith(message) for e in info.value.errors), info.value.errors


def test_the_core_schema_accepts_a_frontends_announce():
    """What the modules parse: the key is valid and changes nothing VPP sees."""
    with_hook = schema.parse_config(document({"command": ["/bin/a"], "timeout": "2s"}))
    without = schema.parse_config(document())
    assert with_hook.frontends["www"].announce == Announce(("/bin/a",), 2.0)
    assert with_hook.frontends["www"].key == without.frontends["www"].key
    assert with_hook.frontends["www"].spec == without.frontends["www"].spec
