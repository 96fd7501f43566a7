"""maglev.vpp.lb_facts end to end: ad-hoc ``ansible`` and ``ansible-playbook`` against vppsim."""

from __future__ import annotations

from ansible_runner_helpers import (
    LB,
    LB_FACTS,
    adhoc_screen_result,
    lb_api_of,
    normalize_config,
    seen_on,
    snapshot,
    vpp_args,
    vpp_cli,
    vpp_client,
)
from vpp_under_test import send_flows, table_digest, table_owners

V4 = "192.0.2.1/32 tcp/80"
WEB1, WEB2, WEB3, DR1 = "198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.21"
WEB6 = "2001:db8:1::11"

# A varied live state written with VPP's own CLI: per-port and all-port VIPs, both families,
# sticky and not, non-default table lengths, a weight-0 AS, an l3dsr VIP, a NAT VIP, an IPv6 VIP
# with IPv4 backends (gre4) and a VIP without any AS.
SEED_CLI = (
    "lb conf ip4-src-address 192.0.2.254 ip6-src-address 2001:db8::fe buckets 2048 timeout 30",
    "lb vip 192.0.2.1/32 protocol tcp port 80 encap gre4 new_len 1024 src_ip_sticky",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB1} weight 100",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {WEB2} weight 50",
    f"lb as 192.0.2.1/32 protocol tcp port 80 {DR1} weight 0",
    "lb vip 2001:db8::10/128 encap gre6 new_len 512",
    f"lb as 2001:db8::10/128 {WEB6} weight 100",
    "lb vip 192.0.2.16/28 encap l3dsr dscp 10 new_len 256",
    f"lb as 192.0.2.16/28 {WEB1} weight 20",
    "lb vip 192.0.2.40/32 protocol udp port 53 encap nat4 type clusterip target_port 5353 new_len 128",
    f"lb as 192.0.2.40/32 protocol udp port 53 {WEB2} weight 100",
    "lb vip 2001:db8::20/128 encap gre4 new_len 64",
    f"lb as 2001:db8::20/128 {WEB3} weight 100",
    "lb vip 192.0.2.64/32 encap gre4 new_len 32",  # a VIP without ASes (drops new flows)
)
SEED_VIPS = {
    "192.0.2.1/32 tcp/80": {
        "encap": "gre4",
        "src_ip_sticky": True,
        "new_flows_table_length": 1024,
        "ases": {WEB1: 100, WEB2: 50, DR1: 0},
    },
    "2001:db8::10/128": {"encap": "gre6", "src_ip_sticky": False, "new_flows_table_length": 512, "ases": {WEB6: 100}},
    "192.0.2.16/28": {"encap": "l3dsr", "src_ip_sticky": False, "new_flows_table_length": 256, "ases": {WEB1: 20}},
    "192.0.2.40/32 udp/53": {
        "encap": "nat4",
        "src_ip_sticky": False,
        "new_flows_table_length": 128,
        "ases": {WEB2: 100},
    },
    "2001:db8::20/128": {"encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 64, "ases": {WEB3: 100}},
    "192.0.2.64/32": {"encap": "gre4", "src_ip_sticky": False, "new_flows_table_length": 32, "ases": {}},
}
SEED_CONF = {
    "ip4_src_address": "192.0.2.254",
    "ip6_src_address": "2001:db8::fe",
    "sticky_buckets_per_core": 2048,
    "flow_timeout": 30,
}


def _frontend(facts, prefix):
    matches = [f for f in facts["frontends"].values() if f["prefix"] in (prefix, prefix.split("/")[0])]
    assert len(matches) == 1, (prefix, facts["frontends"])
    return matches[0]


def test_adhoc_lb_facts_returns_the_live_state(sim, runner, tmp_path):
    vpp_cli(sim, *SEED_CLI)
    with vpp_client(sim) as client:
        send_flows(sim, client, "192.0.2.1/32", "tcp", 80, flows=50, packets=3, seed=7)
    live = snapshot(sim)
    assert live.summary["vips"] == seen_on(sim, SEED_VIPS)
    legacy = lb_api_of(sim) == "1.1.0"
    counters = live.state.vips[next(k for k in live.state.vips if str(k) == V4)].counters
    assert counters.first_packets > 0 and counters.next_packets > 0

    agent = tmp_path / "no-agent.json"
    run = runner.adhoc(
        LB_FACTS, f"api_socket={sim.api_socket} stats_socket={sim.stats_socket} agent_state={agent}"
    )
    assert run.returncode == 0, run.explain()
    screen = adhoc_screen_result(run.stdout)
    assert screen["_screen_status"] == "SUCCESS"
    assert screen["changed"] is False
    facts = screen["ansible_facts"]["maglev_lb_live"]
    assert normalize_config(facts) == seen_on(sim, SEED_VIPS)
    # LB API 1.1.0 cannot read back the bucket count and timeout: the facts leave conf out.
    assert facts.get("conf") == (None if legacy else SEED_CONF)
    assert _frontend(facts, "192.0.2.16/28")["dscp"] == 10
    nat = _frontend(facts, "192.0.2.40/32")
    assert (nat["protocol"], nat["port"], nat.get("target_port")) == ("udp", 53, 5353)
    # The callback saw the same result as the screen.
    assert run.only()["ansible_facts"]["maglev_lb_live"] == facts

    runtime = screen["ansible_facts"]["maglev_lb_state"]
    assert runtime["counters_source"] == "stats"
    assert runtime["vpp"]["lb_api_version"] == lb_api_of(sim)
    v4 = runtime["vips"][V4]
    assert v4["index"] == live.index_of(V4)
    buckets = {WEB1: 512, WEB2: 512} if legacy else {WEB1: 674, WEB2: 350, DR1: 0}  # 1.1.0: equal shares
    assert {a: body["buckets"] for a, body in v4["ases"].items()} == buckets
    # The table digest is the simulator's own table (``sim buckets``), bucket by bucket, hashed
    # (a real VPP has no bucket dump: there the bucket counts above are what is checked).
    owners = table_owners(sim, lambda command: vpp_cli(sim, command)[0], "192.0.2.1/32 protocol tcp port 80")
    if owners is not None:
        assert v4["table_digest"] == table_digest(owners)
    assert all(len(entry["table_digest"]) == 16 for entry in runtime["vips"].values())
    got = v4["counters"]
    assert (got["first_packets"], got["next_packets"]) == (counters.first_packets, counters.next_packets)
    assert got["first_packets"] + got["next_packets"] + got["untracked_packets"] == 150  # 50 flows x 3
    assert got["route_packets"] == 150
    assert runtime["agent"]["used"] is False and str(agent) in runtime["agent"]["reason"]
    assert run.only().warnings == [], run.only().result


def test_adhoc_lb_facts_fails_clearly_without_vpp(runner, tmp_path):
    missing = str(tmp_path / "no-vpp" / "api.sock")
    run = runner.adhoc(LB_FACTS, f"api_socket={missing}")
    assert run.returncode != 0
    assert missing in run.only().msg, run.explain()


def test_facts_fed_back_into_replaced_change_nothing(sim, runner):
    vpp_cli(sim, *SEED_CLI)
    before = snapshot(sim)
    tasks = [
        {"name": "facts", LB_FACTS: vpp_args(sim, module=LB_FACTS)},
        {
            "name": "replaced",
            LB: dict(vpp_args(sim), state="replaced", config="{{ ansible_facts.maglev_lb_live }}"),
        },
        {
            "name": "overridden",
            LB: dict(vpp_args(sim), state="overridden", config="{{ ansible_facts.maglev_lb_live }}"),
        },
    ]
    run = runner.playbook(tasks)
    assert run.ok, run.explain()
    assert normalize_config(run.task("facts")["ansible_facts"]["maglev_lb_live"]) == seen_on(sim, SEED_VIPS)
    for name in ("replaced", "overridden"):
        result = run.task(name)
        assert not result.changed, (name, result.result)
        assert result["commands"] == [], (name, result["commands"])
    assert run.recap_for()["changed"] == 0
    after = snapshot(sim)
    assert after.verbose == before.verbose
    assert after.summary == before.summary
