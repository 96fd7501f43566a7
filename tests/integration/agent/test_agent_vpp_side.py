"""The agent's VPP side as a real process against vppsim (both LB API generations): conf first,
conflicts, route counters, a VPP it cannot reach, bucket counts after writes.

The order of the agent's VPP writes comes from its vpp-lbsync log records (one per op VPP
accepted, in order); what VPP holds is read back through the core client.
"""

from __future__ import annotations

import signal
import urllib.request
from typing import Dict, List, Optional

import pytest
from agentproc import agent_config, wait_for
from ansible_collections.maglev.vpp.agent.ctl_client import StatusClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    ADD_AS,
    ADD_VIP,
    DEL_AS,
    DEL_VIP,
    PROTOCOLS,
    SET_CONF,
    LbConf,
    Op,
    VipKey,
    VipSpec,
)
from httpbackends import free_port
from test_agent_daemon import FAST_CHECK, config_for, expect_weights
from test_agent_metrics import metrics_config, sample, samples, scrape
from vpp_under_test import restart_vpp

HOLD = {"min_delay": "60s", "max_delay": "120s"}  # the warm-up outlasts the test
CONF_SRC = "10.255.0.1"  # agentproc.agent_config's conf


def writes(proc) -> List[dict]:
    return proc.events("vpp-lbsync")


def kinds(proc) -> List[str]:
    return [r["kind"] for r in writes(proc)]


def conf_in_vpp(client) -> LbConf:
    return client.dump_conf()


# -- Defect 3: lb_conf is the first write after every connect ---------------------------------------


def test_conf_is_pushed_at_every_connect_during_the_warmup(sim, tmp_path, backends, client, agent):
    proc = agent(config_for(sim, tmp_path, backends, warmup=HOLD))
    proc.wait_event("vpp-lbsync", kind="conf_set")
    assert conf_in_vpp(client).ip4_src_address == CONF_SRC
    restart_vpp(sim, client)  # a VPP restart: a fresh VPP with its default conf
    proc.wait_event("vpp-connect", after=1, timeout=30)
    proc.wait_event("vpp-lbsync", kind="conf_set", after=1, timeout=30)
    client.reconnect()
    assert conf_in_vpp(client).ip4_src_address == CONF_SRC
    assert client.dump().vips == {}  # the warm-up holds every VIP write
    assert kinds(proc) == ["conf_set", "conf_set"]
    assert proc.events("warmup", action="done") == []


@pytest.mark.simulator
def test_no_vip_is_created_before_the_conf(sim, tmp_path, backends, client, agent):
    # VPP refuses the conf once: the VIP that a warm-up release creates must still come after it.
    client.cli("sim fault error lb_conf -1 count 1")
    # The connect's full sync normally runs while min_delay still holds every VIP; should a slow
    # connect come after the release, that full sync fails at the conf and the periodic one (a
    # short sync_interval) retries it: conf first on every path.
    proc = agent(config_for(sim, tmp_path, backends, warmup={"min_delay": "1s", "max_delay": "120s"},
                            sync_interval="2s"))
    proc.wait_event("warmup", frontend="www", action="released")
    expect_weights(client, backends, 100, 100, 0)
    order = wait_for(lambda: "vip_added" in kinds(proc) and kinds(proc), 15, "the VIP add in the log")
    assert "conf_set" in order, order
    assert order.index("conf_set") < order.index("vip_added"), order
    assert conf_in_vpp(client).ip4_src_address == CONF_SRC


# -- Defect 4: a frontend VPP would refuse to re-create is left alone, the rest syncs -------------

WWW = VipKey("192.0.2.1/32", PROTOCOLS["tcp"], 80)
FOREIGN = VipKey("192.0.2.1/32", PROTOCOLS["udp"], 53)  # another tool's VIP on the same prefix
API = VipKey("192.0.2.2/32", PROTOCOLS["tcp"], 443)


def two_frontends(www_encap: str) -> dict:
    return {
        "www": {
            "prefix": WWW.prefix, "protocol": "tcp", "port": 80, "encap": www_encap,
            "pools": [{"name": "primary", "backends": {"web1": {}, "web2": {}}},
                      {"name": "standby", "backends": {"web3": {}}}],
        },
        "api": {"prefix": API.prefix, "protocol": "tcp", "port": 443, "encap": "gre4",
                "pools": [{"name": "main", "backends": {"web3": {}}}]},
    }


def agent_config_with(sim, tmp_path, backends, frontends: dict, **settings) -> dict:
    check = dict(FAST_CHECK, port=backends[0].port)
    names = {f"web{i + 1}": {"address": b.address, "healthcheck": "h"} for i, b in enumerate(backends)}
    return agent_config(sim, str(tmp_path / "state.json"), frontends, names, {"h": check}, **settings)


def ases_of(client, key: VipKey) -> Optional[Dict[str, int]]:
    vip = client.dump().vips.get(key)
    return None if vip is None else {a: s.weight for a, s in vip.ases.items()}


def test_a_frontend_vpp_would_refuse_to_recreate_is_left_alone(sim, tmp_path, backends, client, agent):
    # VPP as an earlier config left it (www as gre4), plus another tool's VIP on www's prefix.
    web1, web2 = backends[0].address, backends[1].address
    client.apply([
        Op(SET_CONF, conf=LbConf(CONF_SRC, "2001:db8:ff::1")),
        Op(ADD_VIP, vip=WWW, spec=VipSpec(encap="gre4")),
        Op(ADD_AS, vip=WWW, address=web1, weight=100),
        Op(ADD_AS, vip=WWW, address=web2, weight=100),
        Op(ADD_VIP, vip=FOREIGN, spec=VipSpec(encap="gre4")),
    ])
    before = ases_of(client, WWW)
    port = free_port("127.0.0.1")
    # The config now wants www as l3dsr: a recreate, which the foreign udp/53 gre4 VIP blocks.
    proc = agent(agent_config_with(sim, tmp_path, backends, two_frontends("l3dsr"),
                                   metrics={"listen": f"127.0.0.1:{port}"}))
    # The rest of the config still syncs: api is created and follows its backend's health.
    wait_for(lambda: ases_of(client, API) == {backends[2].address: 100}, 15, "api's VIP with web3 up")
    state = client.dump()
    assert WWW in state.vips and state.vips[WWW].spec.encap == "gre4", writes(proc)  # never deleted
    assert ases_of(client, WWW) == before
    assert FOREIGN in state.vips
    assert not [r for r in writes(proc) if r.get("vip") == str(WWW)], writes(proc)
    blocked = proc.wait_event("vpp-frontend-blocked", frontend="www")
    assert "192.0.2.1/32 udp/53" in blocked["reason"], blocked
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'maglev_frontend_sync_blocked{frontend="www"} 1' in text
    assert 'maglev_frontend_sync_blocked{frontend="api"} 0' in text
    # Once the other tool's VIP is gone, the next full sync converges www (SIGHUP: reload + full sync).
    client.apply([Op(DEL_VIP, vip=FOREIGN)])
    proc.signal(signal.SIGHUP)
    proc.wait_event("vpp-frontend-unblocked", frontend="www")
    wait_for(lambda: client.dump().vips.get(WWW) is not None and client.dump().vips[WWW].spec.encap == "l3dsr",
             15, "www re-created as l3dsr")


# -- The BUCKETS column after the agent's own writes ----------------------------------------------


def buckets_exported(base: str) -> Dict[str, float]:
    """{backend: buckets} of frontend www from the agent's /metrics."""
    found = {}
    for key, value in samples(scrape(base)).items():
        if key.startswith("maglev_frontend_pool_backend_buckets{") and 'frontend="www"' in key:
            found[key.split('backend="')[1].split('"')[0]] = value
    return found


def buckets_in_vpp(client, backends) -> Dict[str, int]:
    names = {b.address: f"web{i + 1}" for i, b in enumerate(backends)}
    return {names[a]: s.num_buckets for a, s in client.dump().vips[WWW].ases.items()}


def test_bucket_counts_stay_current_after_the_agents_writes(sim, tmp_path, backends, client, agent):
    config, base = metrics_config(sim, tmp_path, backends)
    agent(config)
    expect_weights(client, backends, 100, 100, 0)
    wait_for(lambda: buckets_exported(base) == buckets_in_vpp(client, backends), 15, "buckets after start")
    backends[0].stop()  # failover inside the primary pool: one targeted write, no dump after it
    expect_weights(client, backends, 0, 100, 0)
    in_vpp = buckets_in_vpp(client, backends)
    assert in_vpp["web2"] == 1024  # all of www's table
    wait_for(lambda: buckets_exported(base) == in_vpp, 5,
             f"the agent's bucket counts {in_vpp}, have {buckets_exported(base)}")


# -- Defect 8: route counters follow the right VIP after it is re-created --------------------------

SITE_A = VipKey("192.0.2.1/32", PROTOCOLS["tcp"], 80)
SITE_B = VipKey("192.0.2.2/32", PROTOCOLS["tcp"], 80)


def two_sites() -> dict:
    pools = [{"name": "main", "backends": {"web1": {}, "web2": {}}}]
    return {name: {"prefix": key.prefix, "protocol": "tcp", "port": 80, "encap": "gre4", "pools": pools}
            for name, key in (("a", SITE_A), ("b", SITE_B))}


def send(client, key: VipKey, flows: int) -> None:
    client.cli(f"sim traffic {key.prefix} protocol tcp port {key.port} flows {flows} packets 1")


def routed(base: str) -> Dict[str, Optional[float]]:
    text = scrape(base)
    return {name: sample(text, "maglev_vip_route_packets_total", f'prefix="{key.prefix}",protocol="tcp",port="80"')
            for name, key in (("a", SITE_A), ("b", SITE_B))}


def first_packets(base: str) -> Dict[str, Optional[float]]:
    text = scrape(base)
    return {name: sample(text, "maglev_vip_packets_total",
                         f'kind="first",prefix="{key.prefix}",protocol="tcp",port="80"')
            for name, key in (("a", SITE_A), ("b", SITE_B))}


@pytest.mark.simulator
def test_route_counters_follow_a_vip_recreated_by_another_tool(sim, tmp_path, backends, client, agent):
    port = free_port("127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    # No periodic full sync during the test: the reload below is the one that must notice.
    proc = agent(agent_config_with(sim, tmp_path, backends, two_sites(), sync_interval="1h",
                                   metrics={"listen": f"127.0.0.1:{port}"}))
    up = {b.address: 100 for b in backends[:2]}  # both generations read a present AS as 100
    wait_for(lambda: all(ases_of(client, k) == up for k in (SITE_A, SITE_B)), 15, "both VIPs with web1 and web2 up")
    send(client, SITE_A, 10)
    send(client, SITE_B, 20)
    wait_for(lambda: routed(base) == {"a": 10, "b": 20}, 15, f"10 and 20 routed packets, have {routed(base)}")

    # Another tool deletes both VIPs and re-creates them in the other order: VPP hands each
    # one the route (FIB entry, stats index) the other had.
    state = client.dump()
    ops = []
    for key in (SITE_A, SITE_B):
        ops += [Op(DEL_AS, vip=key, address=a, flush=True) for a in state.vips[key].ases]
        ops.append(Op(DEL_VIP, vip=key))
    for key in (SITE_A, SITE_B):
        ops.append(Op(ADD_VIP, vip=key, spec=state.vips[key].spec))
        ops += [Op(ADD_AS, vip=key, address=a, weight=s.weight) for a, s in state.vips[key].ases.items()]
    client.apply(ops)
    assert client.route_stats_index(SITE_A.prefix) != client.route_stats_index(SITE_B.prefix)

    syncs = proc.count("vpp-lbsync-done", scope="all")
    proc.signal(signal.SIGHUP)  # a reload: a full sync, which finds VPP as the config wants it
    done = proc.wait_event("vpp-lbsync-done", scope="all", after=syncs)
    assert done["ops"] == 0, writes(proc)
    send(client, SITE_A, 5)
    send(client, SITE_B, 30)
    wait_for(lambda: routed(base) == {"a": 15, "b": 50}, 15, f"15 and 50 routed packets, have {routed(base)}")
    wait_for(lambda: first_packets(base) == {"a": 15, "b": 50}, 15,
             f"15 and 50 first packets, have {first_packets(base)}")


# -- A wrong VPP socket is not silent ------------------------------------------------------------


@pytest.mark.parametrize("lb_api", ["1.2.0"])  # no VPP is reached: the generation does not matter
def test_an_unreachable_vpp_is_a_warning_with_the_reason_in_the_status_api(sim, tmp_path, backends, agent):
    wrong = str(tmp_path / "no-vpp-here.sock")
    status = str(tmp_path / "status.sock")
    config = config_for(sim, tmp_path, backends, status_socket=status, log_level="info",
                        vpp={"api_socket": wrong, "stats_socket": sim.stats_socket})
    proc = agent(config)
    failed = proc.wait_event("vpp-connect-failed")
    assert failed["level"] == "warning" and failed["api_socket"] == wrong, failed
    assert failed["reason"], failed
    proc.wait_event("status-api")
    info = wait_for(lambda: (v := StatusClient(status, timeout=10).get("vpp")) and v.get("last_error") and v, 15,
                    "the last error in the status API")
    assert info["connected"] is False
    assert info["last_error"].startswith("connect failed: ") and info["last_error_at"] > 0, info
    # The agent retries every 5 s: a retry renews the error's time, but no new warning within the minute.
    first_at = info["last_error_at"]
    wait_for(lambda: StatusClient(status, timeout=10).get("vpp")["last_error_at"] > first_at, 20, "a retry")
    assert proc.count("vpp-connect-failed") == 1, proc.events("vpp-connect-failed")
