"""maglevctl's human output: prefixes, durations, tables, colour, and the documents it draws."""

from __future__ import annotations

import pytest
from ansible_collections.maglev.vpp.agent import ctl_render as r

NOW = 1_800_000_000.0


@pytest.mark.parametrize("prefix, shown", [
    ("192.0.2.1/32", "192.0.2.1"),
    ("2001:db8::1/128", "2001:db8::1"),
    ("192.0.2.0/24", "192.0.2.0/24"),
    ("2001:db8::/64", "2001:db8::/64"),
    ("10.0.0.0/8", "10.0.0.0/8"),
])
def test_host_prefix(prefix, shown):
    assert r.host_prefix(prefix) == shown


@pytest.mark.parametrize("item, shown", [
    ({"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80}, "192.0.2.1 tcp/80"),
    ({"prefix": "2001:db8::1/128", "protocol": "udp", "port": 53}, "2001:db8::1 udp/53"),
    ({"prefix": "192.0.2.0/24", "protocol": "any", "port": 0}, "192.0.2.0/24"),
])
def test_vip_text(item, shown):
    assert r.vip_text(item) == shown


@pytest.mark.parametrize("seconds, shown", [
    (None, "-"),
    (-3, "0s"),
    (0.25, "0.25s"),
    (0.0123, "0.012s"),
    (3.14159, "3.1s"),
    (12.7, "12s"),
    (59.9, "59s"),
    (60, "1m00s"),
    (303, "5m03s"),
    (3600, "1h00m"),
    (7500, "2h05m"),
    (86400 * 3 + 3600 * 4 + 5, "3d04h"),
])
def test_duration(seconds, shown):
    assert r.duration(seconds) == shown


def test_timestamp_is_utc_with_milliseconds():
    assert r.timestamp(1_800_000_000.25) == "2027-01-15T08:00:00.250Z"
    assert r.timestamp(None) == "-"


def test_table_aligns_on_visible_width_even_with_colour():
    style = r.Style(colour=True)
    lines = r.table(["A", "STATE", "C"], [["x", style.state("up"), 1], ["longer", style.state("disabled"), None]])
    plain = [line.replace("\x1b[32m", "").replace("\x1b[33m", "").replace("\x1b[0m", "") for line in lines]
    assert plain == [
        "A       STATE     C",
        "x       up        1",
        "longer  disabled  -",
    ]
    assert "\x1b[32mup\x1b[0m" in lines[1]


def test_plain_style_has_no_escapes():
    assert r.PLAIN.state("down") == "down" and r.PLAIN.error("bad") == "bad"
    assert r.Style(colour=True).state("down") == "\x1b[31mdown\x1b[0m"
    assert r.Style(colour=True).state("strange") == "strange"


def member(name, address, pool_state="up", weight=100, effective=100, **extra):
    return {"backend": name, "address": address, "state": pool_state, "configured_weight": weight,
            "effective_weight": effective, "flush": False, "override": None, "ramp": None, "draining": False,
            "buckets": 512, **extra}


FRONTEND = {
    "name": "www", "prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "vip": "192.0.2.1/32 tcp/80",
    "encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 1024, "description": "",
    "state": "up", "active_pool": "primary", "flush_on_down": True, "slow_start": 0.0, "drain_timeout": 0.0,
    "released": True, "table_digest": "5d1f0c2a9e3b4471",
    "pools": [
        {"name": "primary", "members": [member("web1", "10.0.0.1", effective=40, override=40),
                                        member("web2", "10.0.0.2", "down", effective=0, flush=True)]},
        {"name": "standby", "members": [member("web3", "10.0.0.3", effective=0, buckets=None, ramp=0.5)]},
    ],
}


def test_frontends_table():
    assert r.frontends([FRONTEND]) == [
        "FRONTEND  VIP               ENCAP  STATE  ACTIVE POOL  SERVING  DESCRIPTION",
        "www       192.0.2.1 tcp/80  gre4   up     primary      1/3",
    ]


def test_frontends_table_without_vpp_says_so_instead_of_serving_counts():
    vpp = {"connected": False, "api_socket": "/run/vpp/api.sock"}
    lines = r.frontends([FRONTEND], vpp=vpp)
    assert lines[0].startswith("VPP is not connected (/run/vpp/api.sock)")
    assert lines[2].split()[-1] == "VPP"  # SERVING reads "no VPP", not 1/3
    assert "1/3" not in "\n".join(lines)
    assert r.frontends([FRONTEND], vpp=dict(vpp, connected=True)) == r.frontends([FRONTEND])


def test_frontend_detail():
    lines = r.frontend(FRONTEND)
    assert lines[:2] == ["frontend:        www", "vip:             192.0.2.1 tcp/80"]
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["POOL", "BACKEND", "ADDRESS", "STATE", "WEIGHT", "EFFECTIVE", "BUCKETS", "NOTES"]
    assert table[1].split() == ["primary", "web1", "10.0.0.1", "up", "100", "40", "512", "override", "40"]
    assert table[2].split() == ["primary", "web2", "10.0.0.2", "down", "100", "0", "512", "flush"]
    assert table[3].split() == ["standby", "web3", "10.0.0.3", "up", "100", "0", "-", "slow", "start", "50%"]
    assert lines[-1].startswith("buckets -: not in VPP's last dump")
    assert "table digest:    5d1f0c2a9e3b4471" in lines
    assert "table digest:    -" in r.frontend(dict(FRONTEND, table_digest=None))  # VPP not connected


def spill_pools(primary, standby):
    """FRONTEND's pools with (healthy_fraction, health, share, spilled) each, as the API gives them."""
    keys = ("healthy_fraction", "health", "share", "spilled")
    return [dict(FRONTEND["pools"][0], **dict(zip(keys, primary, strict=True))),
            dict(FRONTEND["pools"][1], **dict(zip(keys, standby, strict=True)))]


# (spill, primary shares, standby shares, expected "spill:" line, expected pool table or None)
POOL_SHARE_RENDERING = [
    ({"overprovisioning": 1.4}, (0.6, 0.84, 0.84, 0.16), (1.0, 1.0, 0.16, 0.0), "overprovisioning 1.4",
     [["POOL", "HEALTHY", "HEALTH", "SHARE", "SPILLED", "ON"],
      ["primary", "60%", "84%", "84%", "16%"], ["standby", "100%", "100%", "16%", "0%"]]),
    ({"overprovisioning": 1.4}, (0.2, 0.28, 0.2857, 0.7143), (0.5, 0.7, 0.7143, 0.0), "overprovisioning 1.4",
     [["POOL", "HEALTHY", "HEALTH", "SHARE", "SPILLED", "ON"],
      ["primary", "20%", "28%", "28.6%", "71.4%"], ["standby", "50%", "70%", "71.4%", "0%"]]),
    ({"overprovisioning": 1.0}, (1.0, 1.0, 1.0, 0.0), (1.0, 1.0, 0.0, 0.0), "overprovisioning 1",
     [["POOL", "HEALTHY", "HEALTH", "SHARE", "SPILLED", "ON"],
      ["primary", "100%", "100%", "100%", "0%"], ["standby", "100%", "100%", "0%", "0%"]]),
    # Spill off: all or nothing, no pool table unless a fail-back ramp splits the flows.
    (None, (0.5, None, 1.0, 0.0), (1.0, None, 0.0, 0.0), "off (all or nothing)", None),
    (None, (1.0, None, 0.4, 0.6), (1.0, None, 0.6, 0.0), "off (all or nothing)",
     [["POOL", "HEALTHY", "HEALTH", "SHARE", "SPILLED", "ON"],
      ["primary", "100%", "-", "40%", "60%"], ["standby", "100%", "-", "60%", "0%"]]),
]


@pytest.mark.parametrize("spill, primary, standby, spill_line, pool_table", POOL_SHARE_RENDERING)
def test_frontend_detail_shows_pool_shares(spill, primary, standby, spill_line, pool_table):
    lines = r.frontend(dict(FRONTEND, spill=spill, pools=spill_pools(primary, standby)))
    assert f"spill:           {spill_line}" in lines
    blocks = "\n".join(lines).split("\n\n")
    members = [block for block in blocks if block.startswith("POOL  ") and "BACKEND" in block]
    assert len(members) == 1  # the member table is still there
    shares = [block for block in blocks if block.startswith("POOL ") and "SHARE" in block]
    if pool_table is None:
        assert shares == []
    else:
        assert [line.split() for line in shares[0].split("\n")] == pool_table


@pytest.mark.parametrize("value, text", [(None, "-"), (0.0, "0%"), (0.16, "16%"), (0.28 / 0.98, "28.6%"),
                                         (1.0, "100%"), (0.99999, "100%"), (0.0004, "0%")])
def test_percent(value, text):
    assert r.percent(value) == text


BACKEND = {
    "name": "web1", "address": "10.0.0.1", "description": "", "enabled": True, "healthcheck": "h",
    "state": "paused", "health_state": "paused", "since": NOW - 90, "counter": 3, "rise": 2, "fall": 2,
    "last_result": {"ok": True, "code": "L7OK", "detail": "HTTP 200 OK", "at": NOW - 91, "duration": 0.002},
    "history": [
        {"from": "unknown", "to": "up", "at": NOW - 600, "code": "L7OK", "detail": "HTTP 200 OK"},
        {"from": "up", "to": "paused", "at": NOW - 90, "code": "paused", "detail": "operator"},
    ],
    "rejected_results": 0, "frontends": ["www", "api"],
}


def test_backends_table():
    assert r.backends([BACKEND], NOW) == [
        "BACKEND  ADDRESS   STATE   SINCE      CHECK  LAST RESULT          FRONTENDS",
        "web1     10.0.0.1  paused  1m30s ago  h      ok L7OK HTTP 200 OK  www,api",
    ]


def test_backend_detail_newest_history_first():
    lines = r.backend(BACKEND, NOW)
    assert "state:       paused" in lines
    assert "counter:     3 (rise 2, fall 2)" in lines
    history = lines[lines.index("history (newest first):") + 1:]
    assert history[1].split()[1:4] == ["up", "paused", "paused"]
    assert history[2].split()[1:4] == ["unknown", "up", "L7OK"]


def test_backend_without_healthcheck():
    lines = r.backend({**BACKEND, "healthcheck": None, "last_result": None, "state": "up"}, NOW)
    assert "healthcheck: none (always up)" in lines
    assert not any(line.startswith("counter") for line in lines)


def test_lb_state_and_unknown_buckets_note():
    state = {
        "conf": {"ip4_src_address": "10.255.0.1", "ip6_src_address": "2001:db8::1", "sticky_buckets_per_core": 1024,
                 "flow_timeout": 40},
        "vips": [{"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "encap": "gre4", "src_ip_sticky": True,
                  "new_flows_table_length": 1024, "index": 3, "frontend": None,
                  "ases": [{"address": "10.0.0.1", "weight": 100, "buckets": None, "flows": None}]}],
    }
    lines = r.lb_state(state)
    assert "vip 192.0.2.1 tcp/80  encap gre4, src-ip-sticky  index 3  table 1024  (not in the agent's config)" in lines
    assert lines[-1].startswith("-: not in VPP's last dump")
    assert r.lb_state({"conf": None, "vips": []}) == ["", "no VIPs"]


def test_counters_table():
    data = {"at": NOW, "boottime": NOW - 100, "vips": [
        {"prefix": "192.0.2.1/32", "protocol": "tcp", "port": 80, "frontend": "www", "first_packets": 100,
         "next_packets": 5, "untracked_packets": 0, "no_server_packets": 1, "route_packets": None,
         "route_bytes": None}]}
    assert r.counters(data) == [
        "VIP               FRONTEND  FIRST  NEXT  UNTRACKED  NO-SERVER  FIB-PACKETS  FIB-BYTES",
        "192.0.2.1 tcp/80  www       100    5     0          1          -            -",
    ]
    assert r.counters({"at": None, "boottime": None, "vips": []}) == ["no counters read yet"]


@pytest.mark.parametrize("event, shown", [
    ({"type": "backend", "backend": "web1", "from": "up", "to": "up", "at": NOW, "code": "snapshot", "detail": "",
      "snapshot": True}, "2027-01-15T08:00:00.000Z backend web1 state up"),
    ({"type": "backend", "backend": "web1", "from": "up", "to": "down", "at": NOW, "code": "L4CON",
      "detail": "connection refused"}, "2027-01-15T08:00:00.000Z backend web1 up -> down (L4CON: connection refused)"),
    ({"type": "backend", "backend": "web1", "from": "down", "to": "paused", "at": NOW, "code": "paused",
      "detail": ""}, "2027-01-15T08:00:00.000Z backend web1 down -> paused (paused)"),
    ({"type": "frontend", "frontend": "www", "from": "up", "to": "down", "at": NOW},
     "2027-01-15T08:00:00.000Z frontend www up -> down"),
    ({"type": "log", "time": "2027-01-15T08:00:00.000Z", "level": "info", "event": "config-reload", "kept": 3},
     "2027-01-15T08:00:00.000Z log info config-reload kept=3"),
    ({"type": "overflow", "dropped": 7}, "... 7 events dropped (this client did not keep up)"),
])
def test_event_lines(event, shown):
    assert r.event(event) == shown


@pytest.mark.parametrize("answer, shown", [
    ({"backend": "web1", "transition": {"from": "up", "to": "paused"}, "vpp_synced": True},
     "backend web1: up -> paused"),
    ({"backend": "web1", "transition": {"from": "up", "to": "paused"}, "vpp_synced": False},
     "backend web1: up -> paused (VPP not updated yet: not connected or still syncing)"),
])
def test_backend_action_line(answer, shown):
    assert r.backend_action(answer) == [shown]


def test_version_block():
    agent = {"version": "0.1.0", "pid": 42, "started_at": NOW - 3700, "uptime": 3700.0, "config_path": "/etc/a.yaml",
             "config_loaded_at": NOW - 60, "warmup": "done", "frontends": 1, "backends": 3, "vpp_connected": True,
             "event_streams": 0}
    lines = r.version(agent, "0.1.0", NOW)
    assert lines[0] == "maglev-agent:  0.1.0"
    assert "started:       2027-01-15T06:58:20.000Z (up 1h01m)" in lines
    assert "config loaded: 2027-01-15T07:59:00.000Z (1m00s ago)" in lines
