"""desired_state: config + health -> the LbState to program."""

from __future__ import annotations

from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, model, schema

CONFIG = {
    "conf": {"ip4_src_address": "192.0.2.254", "ip6_src_address": "2001:db8::fe"},
    "healthchecks": {"h": {"type": "tcp", "port": 80}},
    "backends": {
        "web10": {"address": "198.51.100.10", "healthcheck": "h"},
        "web9": {"address": "198.51.100.9", "healthcheck": "h"},
        "spare": {"address": "198.51.100.200"},
        "off": {"address": "198.51.100.50", "healthcheck": "h", "enabled": False},
        "v6": {"address": "2001:DB8:0:0::1", "healthcheck": "h"},
    },
    "frontends": {
        "z-web": {
            "prefix": "192.0.2.10/32",
            "protocol": "tcp",
            "port": 80,
            "src_ip_sticky": True,
            "pools": [
                {"name": "main", "backends": {"web10": {"weight": 30}, "web9": {}, "off": {}}},
                {"name": "spare", "backends": {"spare": {}}},
            ],
        },
        "a-web": {
            "prefix": "192.0.2.9/32",
            "flush_on_down": False,
            "pools": [{"name": "main", "backends": {"web9": {"weight": 10}}}],
        },
        "v6": {
            "prefix": "2001:db8::10/128",
            "encap": "gre6",
            "pools": [{"name": "main", "backends": {"v6": {}}}],
        },
    },
}

CONF = model.LbConf(ip4_src_address="192.0.2.254", ip6_src_address="2001:db8::fe")
WEB = model.VipKey("192.0.2.10/32", 6, 80)
A_WEB = model.VipKey("192.0.2.9/32")
V6 = model.VipKey("2001:db8::10/128")


def vip(key, spec, name, *ases):
    return model.VipState(key=key, spec=spec, ases={a.address: a for a in ases}, name=name)


def test_without_agent_every_enabled_backend_is_up() -> None:
    state = desired.desired_state(schema.parse_config(CONFIG))
    assert state == model.LbState(
        conf=CONF,
        vips={
            A_WEB: vip(A_WEB, model.VipSpec(), "a-web", model.AsState("198.51.100.9", 10)),
            WEB: vip(
                WEB,
                model.VipSpec(src_ip_sticky=True),
                "z-web",
                model.AsState("198.51.100.9", 100),
                model.AsState("198.51.100.10", 30),
                model.AsState("198.51.100.50", 0, flush=True),
                model.AsState("198.51.100.200", 0),
            ),
            V6: vip(V6, model.VipSpec(encap="gre6"), "v6", model.AsState("2001:db8::1", 100)),
        },
    )
    # Numeric order everywhere: VIPs by VipKey.sort_key, ASes by address.
    assert list(state.vips) == [A_WEB, WEB, V6]
    assert list(state.vips[WEB].ases) == ["198.51.100.9", "198.51.100.10", "198.51.100.50", "198.51.100.200"]


def test_health_drives_weights_and_flush() -> None:
    health = {"web9": "down", "web10": "down", "v6": "up"}
    state = desired.desired_state(schema.parse_config(CONFIG), health)
    assert state.vips[WEB].ases == {
        "198.51.100.9": model.AsState("198.51.100.9", 0, flush=True),
        "198.51.100.10": model.AsState("198.51.100.10", 0, flush=True),
        "198.51.100.50": model.AsState("198.51.100.50", 0, flush=True),
        "198.51.100.200": model.AsState("198.51.100.200", 100),  # no healthcheck: up, standby takes over
    }
    # flush_on_down false on a-web: down drains instead.
    assert state.vips[A_WEB].ases == {"198.51.100.9": model.AsState("198.51.100.9", 0, flush=False)}
    assert state.vips[V6].ases == {"2001:db8::1": model.AsState("2001:db8::1", 100)}


def test_conf_absent_means_leave_alone_and_empty_config_is_empty_state() -> None:
    assert desired.desired_state(schema.parse_config({})) == model.LbState()
    config = dict(CONFIG)
    del config["conf"]
    assert desired.desired_state(schema.parse_config(config)).conf is None
