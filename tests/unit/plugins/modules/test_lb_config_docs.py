"""lb's documented O(config) suboptions against the one validator, so the two cannot drift:
the same keys at every level, the same choices, and defaults the validator really applies."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.maglev.vpp.plugins.module_utils import lb_module
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import model, schema
from ansible_collections.maglev.vpp.plugins.modules import lb

CONFIG_DOC = yaml.safe_load(lb.DOCUMENTATION)["options"]["config"]["suboptions"]
FRONTEND_DOC = CONFIG_DOC["frontends"]["suboptions"]
POOL_DOC = FRONTEND_DOC["pools"]["suboptions"]


@pytest.mark.parametrize(
    "documented, keys",
    [
        (CONFIG_DOC, schema.TOP_KEYS),
        (CONFIG_DOC["conf"]["suboptions"], schema.CONF_KEYS),
        (CONFIG_DOC["healthchecks"]["suboptions"], schema.HEALTHCHECK_KEYS),
        (CONFIG_DOC["backends"]["suboptions"], schema.BACKEND_KEYS),
        (FRONTEND_DOC, schema.FRONTEND_KEYS),
        (POOL_DOC, schema.POOL_KEYS),
        (POOL_DOC["backends"]["suboptions"], schema.MEMBER_KEYS),
    ],
    ids=["top", "conf", "healthchecks", "backends", "frontends", "pools", "members"],
)
def test_documented_keys_are_the_validators(documented, keys):
    assert sorted(documented) == sorted(keys)


@pytest.mark.parametrize(
    "documented, choices",
    [
        (FRONTEND_DOC["encap"], model.ENCAPS),
        (FRONTEND_DOC["protocol"], tuple(model.PROTOCOLS)),
        (FRONTEND_DOC["srv_type"], model.SRV_TYPES),
        (CONFIG_DOC["healthchecks"]["suboptions"]["type"], schema.HEALTHCHECK_TYPES),
    ],
    ids=["encap", "protocol", "srv_type", "healthcheck-type"],
)
def test_documented_choices_are_the_validators(documented, choices):
    assert list(documented["choices"]) == list(choices)


def _required(section):
    return sorted(name for name, option in section.items() if option.get("required"))


def test_documented_required_keys_are_the_validators():
    # Each key documented as required, when removed from a valid object, is reported as required.
    assert _required(CONFIG_DOC["backends"]["suboptions"]) == ["address"]
    assert _required(FRONTEND_DOC) == ["pools", "prefix"]
    assert _required(POOL_DOC) == ["backends", "name"]
    base = {"backends": {"b": {"address": "198.51.100.1"}},
            "frontends": {"f": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"b": {}}}]}}}
    assert "backends.b.address: required" in schema.validate({"backends": {"b": {}}})
    for key in ("prefix", "pools"):
        broken = {"backends": base["backends"], "frontends": {"f": dict(base["frontends"]["f"])}}
        del broken["frontends"]["f"][key]
        assert f"frontends.f.{key}: required" in schema.validate(broken)
    for key in ("name", "backends"):
        pool = {"name": "p", "backends": {"b": {}}}
        del pool[key]
        broken = {"backends": base["backends"], "frontends": {"f": {"prefix": "192.0.2.1/32", "pools": [pool]}}}
        assert f"frontends.f.pools[0].{key}: required" in schema.validate(broken)


def test_documented_defaults_are_what_the_validator_applies():
    defaults = schema.parse_config({"conf": {}}).conf
    config = schema.parse_config({
        "healthchecks": {"h": {"type": "https"}},
        "backends": {"b": {"address": "198.51.100.1", "healthcheck": "h"}},
        "frontends": {"f": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"b": {}}}]}},
    })
    conf = CONFIG_DOC["conf"]["suboptions"]
    for key in schema.CONF_KEYS:
        assert str(conf[key]["default"]) == str(getattr(defaults, key)), key
    frontend, spec = config.frontends["f"], config.frontends["f"].spec
    for key in ("encap", "src_ip_sticky", "new_flows_table_length", "dscp", "srv_type"):
        assert FRONTEND_DOC[key]["default"] == getattr(spec, key), key
    assert FRONTEND_DOC["flush_on_down"]["default"] == frontend.flush_on_down
    assert POOL_DOC["backends"]["suboptions"]["weight"]["default"] == frontend.pools[0].members["b"]
    assert CONFIG_DOC["backends"]["suboptions"]["enabled"]["default"] == config.backends["b"].enabled
    check, documented = config.healthchecks["h"], CONFIG_DOC["healthchecks"]["suboptions"]
    for key in ("interval", "fast_interval", "down_interval", "timeout"):
        assert schema.parse_duration(documented[key]["default"]) == getattr(check, key), key
    for key in ("rise", "fall", "path", "tls_insecure"):
        assert documented[key]["default"] == getattr(check, key), key
    low, high = documented["expect_status"]["default"].split("-")
    assert check.expect_status == ((int(low), int(high)),)


def test_connection_options_are_documented_where_they_act():
    # stats_socket only where counters are read, agent_state only where health decides weights.
    from ansible_collections.maglev.vpp.plugins.modules import lb_as, lb_conf, lb_facts, lb_vip

    for module, fragments in ((lb, ["maglev.vpp.connection", "maglev.vpp.connection.agent"]),
                              (lb_facts, ["maglev.vpp.connection", "maglev.vpp.connection.stats",
                                          "maglev.vpp.connection.agent"]),
                              (lb_conf, ["maglev.vpp.connection"]), (lb_vip, ["maglev.vpp.connection"]),
                              (lb_as, ["maglev.vpp.connection"])):
        doc = yaml.safe_load(module.DOCUMENTATION)
        used = [f for f in doc["extends_documentation_fragment"] if f.startswith("maglev.")]
        assert used == fragments, module.__name__
    assert set(lb_module.STATS_ARGUMENT_SPEC) == {"stats_socket"}
    assert set(lb_module.AGENT_ARGUMENT_SPEC) == {"agent_state", "agent_state_max_age"}
