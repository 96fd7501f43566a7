"""The maglev_lb validator: each bad input gives exactly the expected messages with paths."""

from __future__ import annotations

import copy
import os
import re
from typing import Any, Dict

import pytest
import yaml
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import model, schema

BASE_YAML = """
conf: {ip4_src_address: 192.0.2.254, ip6_src_address: "2001:db8::fe", sticky_buckets_per_core: 1024,
       flow_timeout: 40}
healthchecks:
  http-80: {type: http, port: 80, path: /healthz, host: www.example.com, expect_status: [200, "301-302"],
            interval: 2s, fast_interval: 500ms, down_interval: 10s, timeout: 1s, rise: 2, fall: 3}
  tls:     {type: https, tls_server_name: www.example.com, tls_insecure: true, body_regex: "ok|OK"}
  ssh:     {type: tcp, port: 22, interval: 5}
  ping:    {type: icmp, source_address: 198.51.100.1}
backends:
  web1:    {address: 198.51.100.11, healthcheck: http-80}
  web2:    {address: 198.51.100.12, healthcheck: http-80}
  dr1:     {address: 198.51.100.21, healthcheck: ping, enabled: false}
  web6:    {address: "2001:DB8:1::11", healthcheck: tls}
  static:  {address: 198.51.100.31, description: no probe}
frontends:
  www-v4:
    description: main site
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 80
    encap: gre4
    src_ip_sticky: true
    flush_on_down: true
    new_flows_table_length: 1024
    pools:
      - {name: primary, backends: {web1: {weight: 100}, web2: {weight: 50}}}
      - {name: fallback, backends: {dr1: {}}}
  www-v4-tls:
    prefix: 192.0.2.1/32
    protocol: tcp
    port: 443
    pools: [{name: main, backends: {web1: null, web2: null}}]
  www-v6:
    prefix: "2001:db8::1"
    encap: gre6
    flush_on_down: false
    pools: [{name: main, backends: {web6: {weight: 0}}}]
  dsr:
    prefix: 192.0.2.16/28
    encap: l3dsr
    dscp: 10
    new_flows_table_length: 65536
    pools: [{name: main, backends: {static: {}}}]
  nat:
    prefix: 192.0.2.2/32
    protocol: udp
    port: 53
    encap: nat4
    target_port: 5353
    pools: [{name: main, backends: {web2: {}}}]
"""
BASE: Dict[str, Any] = yaml.safe_load(BASE_YAML)

DELETE = object()


class Raw:
    """A whole maglev_lb value given as is, instead of changes to BASE."""

    def __init__(self, value: Any) -> None:
        self.value = value


def changed(changes: Dict[str, Any]) -> Dict[str, Any]:
    """BASE with dotted-path changes applied (digits index lists; DELETE removes the key)."""
    config = copy.deepcopy(BASE)
    for path, value in changes.items():
        parts = [int(part) if part.isdigit() else part for part in path.split(".")]
        node = config
        for part in parts[:-1]:
            node = node[part]
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = value
    return config


def test_base_example_is_valid_and_parses_to_typed_values() -> None:
    assert schema.validate(BASE) == []
    config = schema.parse_config(BASE)
    assert config == schema.LbConfig(
        conf=model.LbConf("192.0.2.254", "2001:db8::fe", 1024, 40),
        healthchecks={
            "http-80": schema.HealthCheck(
                name="http-80",
                type="http",
                port=80,
                interval=2.0,
                fast_interval=0.5,
                down_interval=10.0,
                timeout=1.0,
                rise=2,
                fall=3,
                path="/healthz",
                host="www.example.com",
                expect_status=((200, 200), (301, 302)),
            ),
            "tls": schema.HealthCheck(
                name="tls",
                type="https",
                port=443,
                path="/",
                expect_status=((200, 299),),
                body_regex="ok|OK",
                tls_server_name="www.example.com",
                tls_insecure=True,
            ),
            "ssh": schema.HealthCheck(
                name="ssh", type="tcp", port=22, interval=5.0, fast_interval=0.5, down_interval=10.0
            ),
            "ping": schema.HealthCheck(name="ping", type="icmp", port=None, source_address="198.51.100.1"),
        },
        backends={
            "web1": schema.Backend("web1", "198.51.100.11", "http-80"),
            "web2": schema.Backend("web2", "198.51.100.12", "http-80"),
            "dr1": schema.Backend("dr1", "198.51.100.21", "ping", enabled=False),
            "web6": schema.Backend("web6", "2001:db8:1::11", "tls"),
            "static": schema.Backend("static", "198.51.100.31", None, description="no probe"),
        },
        frontends={
            "www-v4": schema.Frontend(
                name="www-v4",
                key=model.VipKey("192.0.2.1/32", 6, 80),
                spec=model.VipSpec(encap="gre4", src_ip_sticky=True, new_flows_table_length=1024),
                pools=(
                    schema.Pool("primary", {"web1": 100, "web2": 50}),
                    schema.Pool("fallback", {"dr1": 100}),
                ),
                flush_on_down=True,
                description="main site",
            ),
            "www-v4-tls": schema.Frontend(
                name="www-v4-tls",
                key=model.VipKey("192.0.2.1/32", 6, 443),
                spec=model.VipSpec(),
                pools=(schema.Pool("main", {"web1": 100, "web2": 100}),),
            ),
            "www-v6": schema.Frontend(
                name="www-v6",
                key=model.VipKey("2001:db8::1/128"),
                spec=model.VipSpec(encap="gre6"),
                pools=(schema.Pool("main", {"web6": 0}),),
                flush_on_down=False,
            ),
            "dsr": schema.Frontend(
                name="dsr",
                key=model.VipKey("192.0.2.16/28"),
                spec=model.VipSpec(encap="l3dsr", dscp=10, new_flows_table_length=65536),
                pools=(schema.Pool("main", {"static": 100}),),
            ),
            "nat": schema.Frontend(
                name="nat",
                key=model.VipKey("192.0.2.2/32", 17, 53),
                spec=model.VipSpec(encap="nat4", target_port=5353),
                pools=(schema.Pool("main", {"web2": 100}),),
            ),
        },
    )
    # Keys keep the operator's order; members keep pool order.
    assert list(config.frontends) == ["www-v4", "www-v4-tls", "www-v6", "dsr", "nat"]
    assert config.frontends["www-v4"].backend_names() == ["web1", "web2", "dr1"]


def test_empty_config_is_valid_and_leaves_conf_alone() -> None:
    assert schema.parse_config({}) == schema.LbConfig()
    assert schema.parse_config({"conf": None, "frontends": None}) == schema.LbConfig()


def test_defaults() -> None:
    config = schema.parse_config(
        {
            "conf": {"ip4_src_address": "192.0.2.254"},
            "healthchecks": {"h": {"type": "http"}, "slow": {"type": "tcp", "port": 1, "interval": "30s"}},
            "backends": {"b": {"address": "198.51.100.1", "healthcheck": "h"}},
            "frontends": {"f": {"prefix": "192.0.2.9/32", "pools": [{"name": "p", "backends": {"b": None}}]}},
        }
    )
    assert config.conf == model.LbConf(ip4_src_address="192.0.2.254")
    assert config.healthchecks["h"] == schema.HealthCheck(
        name="h",
        type="http",
        port=80,
        interval=2.0,
        fast_interval=0.5,
        down_interval=10.0,
        timeout=1.0,
        rise=2,
        fall=3,
        path="/",
        expect_status=((200, 299),),
    )
    slow = config.healthchecks["slow"]
    assert (slow.interval, slow.fast_interval, slow.down_interval, slow.timeout) == (30.0, 0.5, 30.0, 1.0)
    frontend = config.frontends["f"]
    assert frontend.key == model.VipKey("192.0.2.9/32", model.PROTO_ANY, 0)
    assert frontend.spec == model.VipSpec(encap="gre4", src_ip_sticky=False, new_flows_table_length=1024)
    assert frontend.flush_on_down is True
    assert frontend.pools == (schema.Pool("p", {"b": 100}),)
    assert config.backends["b"].enabled is True


def test_short_interval_derives_consistent_defaults() -> None:
    config = schema.parse_config({"healthchecks": {"h": {"type": "icmp", "interval": "200ms"}}})
    check = config.healthchecks["h"]
    assert (check.interval, check.fast_interval, check.down_interval, check.timeout) == (0.2, 0.2, 10.0, 0.1)


def test_nat_target_port_defaults_to_port() -> None:
    config = schema.parse_config(changed({"frontends.nat.target_port": DELETE}))
    assert config.frontends["nat"].spec == model.VipSpec(encap="nat4", target_port=53)


BAD_CASES = [
    # top level
    pytest.param(Raw([]), ["maglev_lb: must be a mapping, got a list"], id="top-not-mapping"),
    pytest.param(Raw(None), ["maglev_lb: must be a mapping, got null"], id="top-null"),
    pytest.param({"frontend": {}}, ["frontend: unknown key, did you mean frontends"], id="top-unknown-key"),
    pytest.param(Raw({"backends": []}), ["backends: must be a mapping, got a list"], id="section-type"),
    pytest.param(Raw({1: {}}), ["maglev_lb: key 1 must be a string"], id="top-key-type"),
    # conf
    pytest.param(
        {"conf.timeout": 5}, ["conf.timeout: unknown key, did you mean flow_timeout"], id="conf-unknown-key"
    ),
    pytest.param(
        {"conf.ip4_src_address": "2001:db8::fe"},
        ["conf.ip4_src_address: 2001:db8::fe is IPv6, expected an IPv4 address"],
        id="conf-ip4-family",
    ),
    pytest.param(
        {"conf.ip6_src_address": "192.0.2.254"},
        ["conf.ip6_src_address: 192.0.2.254 is IPv4, expected an IPv6 address"],
        id="conf-ip6-family",
    ),
    pytest.param(
        {"conf.ip4_src_address": "192.0.2.300"},
        ['conf.ip4_src_address: "192.0.2.300" is not an IP address'],
        id="conf-bad-address",
    ),
    pytest.param(
        {"conf.sticky_buckets_per_core": 1000},
        ["conf.sticky_buckets_per_core: 1000 is not a power of two"],
        id="sticky-not-pow2",
    ),
    pytest.param(
        {"conf.sticky_buckets_per_core": 0},
        ["conf.sticky_buckets_per_core: must be between 1 and 16777216, got 0"],
        id="sticky-zero",
    ),
    pytest.param(
        {"conf.flow_timeout": 0}, ["conf.flow_timeout: must be between 1 and 86400, got 0"], id="timeout-zero"
    ),
    pytest.param(
        {"conf.flow_timeout": "40s"},
        ['conf.flow_timeout: must be an integer, got string "40s"'],
        id="timeout-type",
    ),
    pytest.param(
        {"conf.flow_timeout": True},
        ["conf.flow_timeout: must be an integer, got boolean true"],
        id="timeout-bool",
    ),
    pytest.param(
        {"conf.ip6_src_address": DELETE},
        ["conf.ip6_src_address: required because frontend www-v6 uses gre6"],
        id="conf-gre6-needs-src",
    ),
    pytest.param({"conf": "yes"}, ['conf: must be a mapping, got string "yes"'], id="conf-type"),
    # healthchecks
    pytest.param(
        {"healthchecks.ssh.type": DELETE}, ["healthchecks.ssh.type: required"], id="hc-type-missing"
    ),
    pytest.param(
        {"healthchecks.ssh.type": "udp"},
        ['healthchecks.ssh.type: must be one of http, https, tcp, icmp, got string "udp"'],
        id="hc-type-bad",
    ),
    pytest.param(
        {"healthchecks.ssh.port": DELETE}, ["healthchecks.ssh.port: required for type tcp"], id="tcp-port"
    ),
    pytest.param(
        {"healthchecks.ping.port": 7}, ["healthchecks.ping.port: not used by type icmp"], id="icmp-port"
    ),
    pytest.param(
        {"healthchecks.ssh.path": "/"}, ["healthchecks.ssh.path: not used by type tcp"], id="tcp-path"
    ),
    pytest.param(
        {"healthchecks.http-80.tls_insecure": True},
        ["healthchecks.http-80.tls_insecure: not used by type http"],
        id="http-tls-option",
    ),
    pytest.param(
        {"healthchecks.http-80.expect": [200]},
        ["healthchecks.http-80.expect: unknown key, did you mean expect_status"],
        id="hc-unknown-key",
    ),
    pytest.param(
        {"healthchecks.http-80.port": 70000},
        ["healthchecks.http-80.port: must be between 1 and 65535, got 70000"],
        id="hc-port-range",
    ),
    pytest.param(
        {"healthchecks.http-80.interval": "2x"},
        ['healthchecks.http-80.interval: "2x" is not a duration (use e.g. 2s, 500ms, 1m)'],
        id="duration-syntax",
    ),
    pytest.param(
        {"healthchecks.http-80.interval": "50ms", "healthchecks.http-80.fast_interval": "50ms"},
        [
            "healthchecks.http-80.interval: must be between 100ms and 3600s, got 50ms",
            "healthchecks.http-80.fast_interval: must be between 100ms and 3600s, got 50ms",
        ],
        id="duration-too-short",
    ),
    pytest.param(
        {"healthchecks.http-80.down_interval": "2h"},
        ["healthchecks.http-80.down_interval: must be between 100ms and 3600s, got 7200s"],
        id="duration-too-long",
    ),
    pytest.param(
        {"healthchecks.http-80.timeout": "2s"},
        ["healthchecks.http-80.timeout: 2s must be shorter than interval 2s"],
        id="timeout-vs-interval",
    ),
    pytest.param(
        {"healthchecks.http-80.fast_interval": "3s"},
        ["healthchecks.http-80.fast_interval: 3s must not be longer than interval 2s"],
        id="fast-vs-interval",
    ),
    pytest.param(
        {"healthchecks.http-80.down_interval": "1500ms"},
        ["healthchecks.http-80.down_interval: 1.5s must not be shorter than interval 2s"],
        id="down-vs-interval",
    ),
    pytest.param(
        {"healthchecks.http-80.rise": 0, "healthchecks.http-80.fall": "3.0"},
        [
            "healthchecks.http-80.rise: must be between 1 and 100, got 0",
            'healthchecks.http-80.fall: must be an integer, got string "3.0"',
        ],
        id="rise-fall",
    ),
    pytest.param(
        {"healthchecks.http-80.expect_status": [200, "2xx"]},
        [
            "healthchecks.http-80.expect_status[1]:"
            ' must be a status code or a range like "200-299", got string "2xx"'
        ],
        id="status-syntax",
    ),
    pytest.param(
        {"healthchecks.http-80.expect_status": "300-200"},
        ["healthchecks.http-80.expect_status: 300-200 is not a status code or range within 100-599"],
        id="status-range",
    ),
    pytest.param(
        {"healthchecks.http-80.expect_status": []},
        ["healthchecks.http-80.expect_status: must list at least one status code"],
        id="status-empty",
    ),
    pytest.param(
        {"healthchecks.http-80.path": "healthz"},
        ['healthchecks.http-80.path: "healthz" must start with /'],
        id="http-path",
    ),
    pytest.param(
        {"healthchecks.tls.body_regex": "("},
        [
            "healthchecks.tls.body_regex: not a valid regular expression:"
            " missing ), unterminated subpattern at position 0"
        ],
        id="body-regex",
    ),
    pytest.param(
        {"healthchecks.ping.source_address": "224.0.0.1"},
        ["healthchecks.ping.source_address: 224.0.0.1 is a multicast address"],
        id="source-multicast",
    ),
    pytest.param(
        {"healthchecks.bad name": {"type": "icmp"}},
        [
            "healthchecks: 'bad name' is not a valid name (letters, digits, '_', '.', '-';"
            " starting with a letter or digit; at most 64 characters)"
        ],
        id="bad-name",
    ),
    # backends
    pytest.param(
        {"backends.web1.address": DELETE}, ["backends.web1.address: required"], id="address-missing"
    ),
    pytest.param(
        {"backends.web1.address": "198.51.100.11/32"},
        ["backends.web1.address: 198.51.100.11/32 is a prefix, expected a single address"],
        id="address-prefix",
    ),
    pytest.param(
        {"backends.web1.address": "::ffff:198.51.100.11"},
        ["backends.web1.address: ::ffff:198.51.100.11 is an IPv4-mapped IPv6 address, write 198.51.100.11"],
        id="address-mapped",
    ),
    pytest.param(
        {"backends.web1.address": "0.0.0.0"},
        ["backends.web1.address: 0.0.0.0 is the unspecified address"],
        id="address-unspecified",
    ),
    pytest.param(
        {"backends.web1.address": 19851},
        ["backends.web1.address: must be an IP address string, got integer 19851"],
        id="address-type",
    ),
    pytest.param(
        {"backends.web1.healthcheck": "http-81"},
        ["backends.web1.healthcheck: no such healthcheck http-81, did you mean http-80"],
        id="unknown-healthcheck",
    ),
    pytest.param(
        {"backends.web2.address": "198.51.100.11"},
        ["backends.web2.address: 198.51.100.11 is also the address of web1"],
        id="duplicate-address",
    ),
    pytest.param(
        {"backends.static.address": "198.51.100.011"},
        ['backends.static.address: "198.51.100.011" is not an IP address'],
        id="address-leading-zero",
    ),
    pytest.param(
        {"backends.dr1.enabled": "sure"},
        ['backends.dr1.enabled: must be true or false, got string "sure"'],
        id="enabled-type",
    ),
    pytest.param(
        {"backends.web6.healthcheck": "ping"},
        ["backends.web6.healthcheck: ping probes from 198.51.100.1 (IPv4), web6 is IPv6"],
        id="probe-source-family",
    ),
    pytest.param(
        {"backends.web1.weight": 10},
        ["backends.web1.weight: unknown key"],
        id="backend-weight-lives-on-pools",
    ),
    # frontends: VIP identity and families
    pytest.param(
        {"frontends.www-v4.encap": "gre6"},
        [
            "frontends.www-v4.encap: gre6 needs IPv6 backends, web1 is IPv4",
            "frontends.www-v4.encap: gre6 needs IPv6 backends, web2 is IPv4",
            "frontends.www-v4.encap: gre6 needs IPv6 backends, dr1 is IPv4",
        ],
        id="as-family-vs-encap",
    ),
    pytest.param(
        {"frontends.www-v6.encap": "gre4"},
        ["frontends.www-v6.encap: gre4 needs IPv4 backends, web6 is IPv6"],
        id="as-family-gre4",
    ),
    pytest.param(
        {"frontends.www-v4.encap": "vxlan"},
        ['frontends.www-v4.encap: must be one of gre4, gre6, l3dsr, nat4, nat6, got string "vxlan"'],
        id="encap-bad",
    ),
    pytest.param(
        {"frontends.dsr.prefix": "2001:db8::/64"},
        ["frontends.dsr.encap: l3dsr needs an IPv4 prefix, 2001:db8::/64 is IPv6"],
        id="l3dsr-ipv6-vip",
    ),
    pytest.param(
        {"frontends.nat.encap": "nat6"},
        [
            "frontends.nat.encap: nat6 needs an IPv6 prefix, 192.0.2.2/32 is IPv4",
            "frontends.nat.encap: nat6 needs IPv6 backends, web2 is IPv4",
        ],
        id="nat6-ipv4-vip",
    ),
    pytest.param(
        {"frontends.nat.protocol": DELETE, "frontends.nat.port": DELETE},
        ["frontends.nat.encap: nat4 needs a per-port VIP (protocol and port); VPP has no all-port NAT"],
        id="nat-all-port",
    ),
    pytest.param(
        {"frontends.dsr.prefix": "192.0.2.17/28"},
        ["frontends.dsr.prefix: 192.0.2.17/28 has host bits set, did you mean 192.0.2.16/28"],
        id="host-bits",
    ),
    pytest.param(
        {"frontends.dsr.prefix": "www"}, ['frontends.dsr.prefix: "www" is not an IP prefix'], id="prefix-bad"
    ),
    pytest.param(
        {"frontends.www-v6.prefix": "ff02::1"},
        ["frontends.www-v6.prefix: ff02::1/128 is a multicast prefix"],
        id="prefix-multicast",
    ),
    pytest.param(
        {"frontends.www-v6.prefix": DELETE}, ["frontends.www-v6.prefix: required"], id="prefix-missing"
    ),
    # frontends: per-port rules
    pytest.param(
        {"frontends.www-v6.protocol": "tcp"},
        [
            "frontends.www-v6.protocol: given without port:"
            " set both for a per-port VIP, neither for an all-port VIP"
        ],
        id="protocol-without-port",
    ),
    pytest.param(
        {"frontends.www-v4.protocol": DELETE},
        [
            "frontends.www-v4.port: given without protocol:"
            " set both for a per-port VIP, neither for an all-port VIP"
        ],
        id="port-without-protocol",
    ),
    pytest.param(
        {"frontends.www-v4.port": 0},
        ["frontends.www-v4.port: must be between 1 and 65535, got 0"],
        id="port-zero",
    ),
    pytest.param(
        {"frontends.www-v4.protocol": "sctp"},
        ['frontends.www-v4.protocol: must be one of tcp, udp, got string "sctp"'],
        id="protocol-bad",
    ),
    # frontends: table and options
    pytest.param(
        {"frontends.www-v4.new_flows_table_length": 1000},
        ["frontends.www-v4.new_flows_table_length: 1000 is not a power of two"],
        id="table-not-pow2",
    ),
    pytest.param(
        {"frontends.www-v4.new_flows_table_length": 0},
        ["frontends.www-v4.new_flows_table_length: must be between 1 and 1048576, got 0"],
        id="table-zero",
    ),
    pytest.param(
        {"frontends.www-v4.new_flows_table_length": 1 << 21},
        ["frontends.www-v4.new_flows_table_length: must be between 1 and 1048576, got 2097152"],
        id="table-too-big",
    ),
    pytest.param(
        {"frontends.www-v4.src_ip_sticky": "truthy"},
        ['frontends.www-v4.src_ip_sticky: must be true or false, got string "truthy"'],
        id="sticky-type",
    ),
    pytest.param(
        {"frontends.www-v4.dscp": 10}, ["frontends.www-v4.dscp: only for encap l3dsr"], id="dscp-not-l3dsr"
    ),
    pytest.param(
        {"frontends.dsr.dscp": 64}, ["frontends.dsr.dscp: must be between 0 and 63, got 64"], id="dscp-range"
    ),
    pytest.param(
        {"frontends.www-v4.target_port": 8080, "frontends.www-v4.srv_type": "nodeport"},
        [
            "frontends.www-v4.srv_type: only for encaps nat4 and nat6",
            "frontends.www-v4.target_port: only for encaps nat4 and nat6",
        ],
        id="nat-options-not-nat",
    ),
    pytest.param(
        {"frontends.nat.srv_type": "loadbalancer"},
        ['frontends.nat.srv_type: must be one of clusterip, nodeport, got string "loadbalancer"'],
        id="srv-type-bad",
    ),
    pytest.param(
        {"frontends.www-v4.flush-on-down": True},
        ["frontends.www-v4.flush-on-down: unknown key, did you mean flush_on_down"],
        id="frontend-unknown-key",
    ),
    # frontends: pools
    pytest.param({"frontends.www-v4.pools": None}, ["frontends.www-v4.pools: required"],  # null is absent
                 id="pools-null"),
    pytest.param(
        {"frontends.www-v4.pools": {"primary": {}}},
        ["frontends.www-v4.pools: must be a list of pools, got a mapping"],
        id="pools-type",
    ),
    pytest.param(
        {"frontends.www-v4.pools.0.backends": {}},
        ["frontends.www-v4.pools[0].backends: must list at least one backend"],
        id="empty-pool",
    ),
    pytest.param(
        {"frontends.www-v4.pools.1.name": "primary"},
        ["frontends.www-v4.pools[1].name: primary is already the name of frontends.www-v4.pools[0]"],
        id="pool-name-duplicate",
    ),
    pytest.param(
        {"frontends.www-v4.pools.1.name": DELETE},
        ["frontends.www-v4.pools[1].name: required"],
        id="pool-name-missing",
    ),
    pytest.param(
        {"frontends.www-v4.pools.0.backends.web9": {}},
        ["frontends.www-v4.pools[0].backends.web9: no such backend, did you mean web6"],
        id="unknown-backend",
    ),
    pytest.param(
        {"frontends.www-v4.pools.1.backends.web1": {"weight": 10}},
        [
            "frontends.www-v4.pools[1].backends.web1: already listed in frontends.www-v4.pools[0];"
            " a backend may appear once per frontend"
        ],
        id="backend-twice",
    ),
    pytest.param(
        {"frontends.www-v4.pools.0.backends.web1.weight": 101},
        ["frontends.www-v4.pools[0].backends.web1.weight: must be between 0 and 100, got 101"],
        id="weight-range",
    ),
    pytest.param(
        {"frontends.www-v4.pools.0.backends.web1.weight": 50.5},
        ["frontends.www-v4.pools[0].backends.web1.weight: must be an integer, got number 50.5"],
        id="weight-type",
    ),
    pytest.param(
        {"frontends.www-v4.pools.0.backends.web1": {"weigth": 1}},
        ["frontends.www-v4.pools[0].backends.web1.weigth: unknown key, did you mean weight"],
        id="member-unknown-key",
    ),
    # frontends: cross-frontend VPP rules
    pytest.param(
        {"frontends.www-v4-tls.port": 80},
        ["frontends.www-v4-tls: same VIP (192.0.2.1/32 tcp/80) as frontend www-v4"],
        id="duplicate-vip",
    ),
    pytest.param(
        {"frontends.www-v4-tls.protocol": DELETE, "frontends.www-v4-tls.port": DELETE},
        [
            "frontends.www-v4-tls: 192.0.2.1/32 is an all-port VIP in frontend www-v4-tls and a per-port VIP"
            " in frontend www-v4; VPP cannot mix both on one prefix"
        ],
        id="all-port-and-per-port",
    ),
    pytest.param(
        {"frontends.www-v4-tls.encap": "l3dsr"},
        [
            "frontends.www-v4-tls.encap: l3dsr differs from gre4 of frontend www-v4 on the same prefix"
            " 192.0.2.1/32; VPP needs one encap per prefix"
        ],
        id="per-port-encap-mismatch",
    ),
    pytest.param(
        {
            "frontends.nat.srv_type": "nodeport",
            "frontends.nat2": {
                "prefix": "192.0.2.3/32",
                "protocol": "tcp",
                "port": 53,
                "encap": "nat4",
                "srv_type": "nodeport",
                "pools": [{"name": "main", "backends": {"web1": {}}}],
            },
        },
        ["frontends.nat2.port: nodeport 53 is already used by frontend nat"],
        id="nodeport-duplicate",
    ),
    # graceful spill
    pytest.param({"frontends.www-v4.spill": 1.4}, ["frontends.www-v4.spill: must be a mapping, got number 1.4"],
                 id="spill-not-mapping"),
    pytest.param({"frontends.www-v4.spill": {"overprovisioning": 0.5}},
                 ["frontends.www-v4.spill.overprovisioning: must be between 1 and 100, got 0.5"], id="spill-below-1"),
    pytest.param({"frontends.www-v4.spill": {"overprovisioning": "lots"}},
                 ['frontends.www-v4.spill.overprovisioning: must be a number, got string "lots"'],
                 id="spill-not-number"),
    pytest.param({"frontends.www-v4.spill": {"factor": 2}},
                 ["frontends.www-v4.spill.factor: unknown key"], id="spill-unknown-key"),
]


@pytest.mark.parametrize(
    "spill, expected",
    [(DELETE, None), (None, None), ({}, 1.4), ({"overprovisioning": 2}, 2.0), ({"overprovisioning": 1.0}, 1.0)],
)
def test_spill_parses_to_overprovisioning_factor(spill: Any, expected: Any) -> None:
    config = schema.parse_config(changed({} if spill is DELETE else {"frontends.www-v4.spill": spill}))
    assert config.frontends["www-v4"].spill == expected


@pytest.mark.parametrize("changes, expected", BAD_CASES)
def test_bad_input_reports_exact_messages(changes: Any, expected: list) -> None:
    config = changes.value if isinstance(changes, Raw) else changed(changes)
    assert schema.validate(config) == expected
    with pytest.raises(schema.ConfigError) as info:
        schema.parse_config(config)
    assert info.value.errors == expected


def test_every_problem_is_reported_at_once() -> None:
    config = changed(
        {
            "conf.flow_timeout": 0,
            "healthchecks.ssh.port": DELETE,
            "backends.web1.address": "bogus",
            "frontends.www-v4.new_flows_table_length": 1000,
            "frontends.dsr.prefix": "192.0.2.17/28",
        }
    )
    assert schema.validate(config) == [
        "conf.flow_timeout: must be between 1 and 86400, got 0",
        "healthchecks.ssh.port: required for type tcp",
        'backends.web1.address: "bogus" is not an IP address',
        "frontends.www-v4.new_flows_table_length: 1000 is not a power of two",
        "frontends.dsr.prefix: 192.0.2.17/28 has host bits set, did you mean 192.0.2.16/28",
    ]


def test_config_error_message_lists_problems() -> None:
    with pytest.raises(schema.ConfigError) as info:
        schema.parse_config({"conf": {"flow_timeout": 0}})
    assert str(info.value) == "invalid maglev_lb:\n  conf.flow_timeout: must be between 1 and 86400, got 0"
    assert isinstance(info.value, ValueError)


def test_explicit_empty_pools_is_a_vip_without_ases() -> None:
    # VPP can hold a VIP with no AS (it drops new flows); lb_facts renders it as `pools: []`.
    config = schema.parse_config(changed({"frontends.www-v4.pools": []}))
    assert config.frontends["www-v4"].pools == ()
    assert config.frontends["www-v4"].backend_names() == []


def test_per_port_vips_on_one_prefix_with_other_protocol_are_fine() -> None:
    config = changed({"frontends.www-v4-tls.protocol": "udp", "frontends.www-v4-tls.port": 80})
    assert schema.validate(config) == []


def test_same_address_different_prefix_length_is_a_different_vip() -> None:
    config = changed(
        {
            "frontends.www-v4-tls.prefix": "192.0.2.0/24",
            "frontends.www-v4-tls.protocol": DELETE,
            "frontends.www-v4-tls.port": DELETE,
        }
    )
    assert schema.validate(config) == []


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("2s", 2.0),
        ("500ms", 0.5),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (3, 3.0),
        (0.25, 0.25),
        ("7", 7.0),
    ],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert schema.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2x", "", "-1s", "s", True, None, "1 m s"])
def test_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(ValueError):
        schema.parse_duration(text)


def test_status_ok() -> None:
    check = schema.parse_config(BASE).healthchecks["http-80"]
    assert [check.status_ok(code) for code in (200, 201, 301, 302, 303, 500)] == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]


def test_config_reference_example_is_valid() -> None:
    """The example in docs/config-reference.md must stay valid."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "config-reference.md")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    example = re.search(r"## Example\s+```yaml\n(.*?)```", text, re.S).group(1)
    config = yaml.safe_load(example)["maglev_lb"]
    assert schema.validate(config) == []
    assert set(schema.parse_config(config).frontends) == {"www-v4", "www-v6"}


# -- Ansible habits: strings from -e / templating ---------------------------------------------


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"frontends.www-v4.port": "8080"}, ("frontends", "www-v4", "key", "port", 8080)),
        ({"frontends.www-v4.new_flows_table_length": "2048"},
         ("frontends", "www-v4", "spec", "new_flows_table_length", 2048)),
        ({"frontends.www-v4.pools.0.backends.web2.weight": "7"}, ("pool", "www-v4", 0, "web2", 7)),
        ({"conf.flow_timeout": " 30 "}, ("conf", "flow_timeout", 30)),
        ({"conf.sticky_buckets_per_core": "512"}, ("conf", "sticky_buckets_per_core", 512)),
        ({"healthchecks.http-80.rise": "4"}, ("healthcheck", "http-80", "rise", 4)),
        ({"frontends.www-v4.src_ip_sticky": "false"}, ("frontends", "www-v4", "spec", "src_ip_sticky", False)),
        ({"frontends.www-v4.src_ip_sticky": "True"}, ("frontends", "www-v4", "spec", "src_ip_sticky", True)),
        ({"backends.static.enabled": "no"}, ("backend", "static", "enabled", False)),
        ({"healthchecks.tls.tls_insecure": "off"}, ("healthcheck", "tls", "tls_insecure", False)),
    ],
)
def test_strings_that_are_exact_integers_or_booleans_are_accepted(changes: Dict[str, Any], expected: tuple) -> None:
    config = schema.parse_config(changed(changes))
    kind = expected[0]
    if kind == "frontends":
        name, part, field, value = expected[1:]
        assert getattr(getattr(config.frontends[name], part), field) == value
    elif kind == "pool":
        name, index, member, value = expected[1:]
        assert config.frontends[name].pools[index].members[member] == value
    elif kind == "conf":
        assert getattr(config.conf, expected[1]) == expected[2]
    elif kind == "healthcheck":
        assert getattr(config.healthchecks[expected[1]], expected[2]) == expected[3]
    else:
        assert getattr(config.backends[expected[1]], expected[2]) == expected[3]


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"frontends.www-v4.port": "80.0"}, 'frontends.www-v4.port: must be an integer, got string "80.0"'),
        ({"frontends.www-v4.port": "0x50"}, 'frontends.www-v4.port: must be an integer, got string "0x50"'),
        ({"frontends.www-v4.port": ""}, 'frontends.www-v4.port: must be an integer, got string ""'),
        ({"frontends.www-v4.port": "70000"}, "frontends.www-v4.port: must be between 1 and 65535, got 70000"),
        ({"frontends.www-v4.new_flows_table_length": "1000"},
         "frontends.www-v4.new_flows_table_length: 1000 is not a power of two"),
        ({"frontends.www-v4.src_ip_sticky": "maybe"},
         'frontends.www-v4.src_ip_sticky: must be true or false, got string "maybe"'),
        ({"frontends.www-v4.src_ip_sticky": 1}, "frontends.www-v4.src_ip_sticky: must be true or false, got integer 1"),
    ],
)
def test_other_strings_are_still_refused(changes: Dict[str, Any], expected: str) -> None:
    assert schema.validate(changed(changes)) == [expected]


# -- references: did you mean ------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"frontends.www-v4.pools.0.backends": {"web01": {}}},
         "frontends.www-v4.pools[0].backends.web01: no such backend, did you mean web1"),
        ({"frontends.www-v4.pools.0.backends": {"zzz": {}}},
         "frontends.www-v4.pools[0].backends.zzz: no such backend (defined: dr1, static, web1, web2, web6)"),
        ({"backends.web1.healthcheck": "htp-80"},
         "backends.web1.healthcheck: no such healthcheck htp-80, did you mean http-80"),
        ({"backends.web1.healthcheck": "qqqq"},
         "backends.web1.healthcheck: no such healthcheck qqqq (defined: http-80, ping, ssh, tls)"),
    ],
)
def test_misspelled_references_get_a_hint(changes: Dict[str, Any], expected: str) -> None:
    assert schema.validate(changed(changes)) == [expected]


def test_reference_without_any_definitions_says_so() -> None:
    config = {"frontends": {"f": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"web1": {}}}]}}}
    assert schema.validate(config) == ["frontends.f.pools[0].backends.web1: no such backend (no backend is defined)"]


# -- warnings ----------------------------------------------------------------------------------


def test_base_example_has_no_warnings() -> None:
    assert schema.parse_config_with_warnings(BASE)[1] == []


def test_backend_used_by_no_frontend_is_a_warning_not_an_error() -> None:
    config = changed({"backends.spare": {"address": "198.51.100.99"}, "backends.old": {"address": "198.51.100.98"}})
    parsed, warnings = schema.parse_config_with_warnings(config)
    assert "spare" in parsed.backends
    assert warnings == [
        "backends.spare: defined but used by no frontend",
        "backends.old: defined but used by no frontend",
    ]
    assert schema.validate(config) == []


def test_invalid_config_raises_from_parse_config_with_warnings() -> None:
    with pytest.raises(schema.ConfigError):
        schema.parse_config_with_warnings(changed({"frontends.www-v4.port": "http"}))
