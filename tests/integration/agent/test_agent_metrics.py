"""The agent's Prometheus exporter end to end: a real agent process, vppsim, loopback backends,
promtool's linter and a real Prometheus server scraping the agent."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import urllib.parse
import urllib.request
from typing import Dict, List, Optional, Tuple

import pytest
from agentproc import REPO_ROOT, wait_for
from httpbackends import free_port
from test_agent_daemon import config_for, expect_weights
from vpp_under_test import restart_vpp, send_flows, table_digest, table_owners


# The agent's interfaces read its own snapshot, the same on both LB API generations; the daemon,
# netns and playbook tests cover both generations (see tests/integration/conftest.py).
@pytest.fixture(params=["1.2.0"], ids=["lb-api-1.2.0"])
def lb_api(request) -> str:
    return request.param


def send_traffic(sim, client) -> None:
    """100 new flows of one 100-byte packet to the test VIP (vppsim or a real VPP's packet generator)."""
    send_flows(sim, client, "192.0.2.1/32", "tcp", 80, flows=100)


VIP_LABELS = 'prefix="192.0.2.1/32",protocol="tcp",port="80"'
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics_config(sim, tmp_path, backends, **kwargs) -> Tuple[dict, str]:
    port = free_port("127.0.0.1")
    config = config_for(sim, tmp_path, backends, metrics={"listen": f"127.0.0.1:{port}"}, **kwargs)
    return config, f"http://127.0.0.1:{port}"


def get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return reply.read().decode()


def scrape(base: str) -> str:
    return get(base + "/metrics")


def try_scrape(base: str) -> Optional[str]:
    try:
        return scrape(base)
    except OSError:
        return None


def sorted_labels(labels: str) -> str:
    """'{b="2",a="1"}' or 'b="2",a="1"' -> '{a="1",b="2"}' (the exporter keeps each family's label order)."""
    pairs = LABEL.findall(labels)
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(pairs)) + "}" if pairs else ""


def samples(text: str) -> Dict[str, float]:
    """{'name{labels sorted by name}': value} of every sample line."""
    found = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            found[match.group(1) + sorted_labels(match.group(2) or "")] = float(match.group(3))
    return found


def sample(text: str, name: str, labels: str = "") -> Optional[float]:
    return samples(text).get(name + sorted_labels(labels))


def vip_packets(text: str, kind: str) -> Optional[float]:
    return sample(text, "maglev_vip_packets_total", f'kind="{kind}",{VIP_LABELS}')


def families(text: str) -> List[str]:
    return sorted(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))


def documented_families() -> List[str]:
    with open(os.path.join(REPO_ROOT, "docs", "metrics.md")) as handle:
        return sorted(re.findall(r"^\| `([a-z_]+)` \|", handle.read(), re.MULTILINE))


def test_live_metrics_pass_promtool_and_match_the_docs(sim, tmp_path, backends, client, agent):
    config, base = metrics_config(sim, tmp_path, backends)
    agent(config)
    expect_weights(client, backends, 100, 100, 0)
    send_traffic(sim, client)
    text = wait_for(lambda: (t := try_scrape(base)) and vip_packets(t, "first") and t, 15, "VIP counters exported")

    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30,
                          check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert families(text) == documented_families()

    assert vip_packets(text, "first") == 100  # one first packet per new flow
    assert sample(text, "maglev_backend_state", 'backend="web1",state="up"') == 1
    assert sample(text, "maglev_backend_state", 'backend="web1",state="down"') == 0
    assert sample(text, "maglev_frontend_pool_backend_weight",
                  'backend="web3",frontend="www",kind="configured",pool="standby"') == 100
    assert sample(text, "maglev_frontend_pool_backend_weight",
                  'backend="web3",frontend="www",kind="effective",pool="standby"') == 0
    assert sample(text, "maglev_vpp_connected") == 1
    # The VIP is created by the full sync or by the sync that releases it, whichever comes first.
    added = [sample(text, "maglev_vpp_lbsync_total", f'kind="as_added",scope="{scope}"') for scope in ("all", "vip")]
    assert sum(n or 0 for n in added) == 3
    assert sample(text, "maglev_vpp_api_total", 'msg="lb_add_del_vip_v2",result="ok"') == 1
    assert sample(text, "maglev_probe_total", 'backend="web1",code="L7OK",result="success",type="http"') >= 1
    # The table digest is the digest of the simulator's own table for the VIP, bucket by bucket
    # (a real VPP has no bucket dump: there, one digest is exported for the VIP).
    owners = table_owners(sim, client.cli, "192.0.2.1/32 protocol tcp port 80")
    if owners is not None:
        labels = f'{VIP_LABELS},frontend="www",digest="{table_digest(owners)}"'
        assert sample(text, "maglev_vip_table_info", labels) == 1
    else:
        assert len(re.findall(r'^maglev_vip_table_info\{[^}]*frontend="www"', text, re.M)) == 1


def test_backend_down_shows_in_state_weights_and_transitions(sim, tmp_path, backends, client, agent):
    config, base = metrics_config(sim, tmp_path, backends)
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    backends[0].stop()
    proc.wait_event("backend-transition", backend="web1", to="down")
    expect_weights(client, backends, 0, 100, 0)
    text = scrape(base)
    assert sample(text, "maglev_backend_state", 'backend="web1",state="down"') == 1
    assert sample(text, "maglev_backend_state", 'backend="web1",state="up"') == 0
    assert sample(text, "maglev_backend_transitions_total", 'backend="web1",from="up",to="down"') == 1
    assert sample(text, "maglev_frontend_pool_backend_weight",
                  'backend="web1",frontend="www",kind="effective",pool="primary"') == 0
    refused = 'backend="web1",code="L4CON",result="failure",type="http"'
    text = wait_for(lambda: (t := scrape(base)) and (sample(t, "maglev_probe_total", refused) or 0) >= 2 and t, 15,
                    "two refused probes of web1 counted")
    probes = sum(v for k, v in samples(text).items() if k.startswith('maglev_probe_total{backend="web1",'))
    assert sample(text, "maglev_probe_duration_seconds_count", 'backend="web1",type="http"') == probes
    assert sample(text, "maglev_probe_duration_seconds_bucket", 'backend="web1",le="+Inf",type="http"') == probes


def test_vip_counters_stay_monotonic_across_a_vpp_restart(sim, tmp_path, backends, client, agent):
    config, base = metrics_config(sim, tmp_path, backends)
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    send_traffic(sim, client)
    wait_for(lambda: (t := try_scrape(base)) and vip_packets(t, "first") == 100, 15, "100 first packets")
    boot_before = sample(scrape(base), "maglev_vpp_uptime_seconds")
    assert boot_before is not None

    restart_vpp(sim, client)
    client.reconnect()
    proc.wait_event("vpp-connect", after=1, timeout=20)
    expect_weights(client, backends, 100, 100, 0)  # the agent re-created the VIP in the new VPP
    assert vip_packets(scrape(base), "first") == 100  # kept while VPP's own counters start again

    send_traffic(sim, client)  # VPP's own counter is 100 again: the exporter must show 200
    wait_for(lambda: vip_packets(scrape(base), "first") == 200, 15, "200 first packets after the restart")
    text = wait_for(lambda: (t := scrape(base)) and sample(t, "maglev_vip_route_packets_total", VIP_LABELS) == 200
                    and t, 15, "200 routed packets after the restart")
    assert sample(text, "maglev_vip_route_bytes_total", VIP_LABELS) == 200 * 100  # vppsim: 100-byte packets
    assert vip_packets(text, "next") == 0


def test_prometheus_scrapes_vip_counters_and_backend_state(sim, tmp_path, backends, client, agent, prometheus):
    config, base = metrics_config(sim, tmp_path, backends)
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    server = prometheus(base.removeprefix("http://"))
    send_traffic(sim, client)
    first = 'maglev_vip_packets_total{prefix="192.0.2.1/32",protocol="tcp",port="80",kind="first"}'
    wait_for(lambda: server.value(first) == 100, 60, "Prometheus has the VIP's 100 first packets")
    up = server.query('maglev_backend_state{state="up"} == 1')
    assert sorted(r["metric"]["backend"] for r in up) == ["web1", "web2", "web3"]
    assert server.value('up{job="maglev-agent"}') == 1

    backends[0].stop()
    proc.wait_event("backend-transition", backend="web1", to="down")
    wait_for(lambda: server.value('maglev_backend_state{backend="web1",state="down"}') == 1, 30,
             "Prometheus sees web1 down")
    effective = 'maglev_frontend_pool_backend_weight{frontend="www",backend="web1",kind="effective"}'
    wait_for(lambda: server.value(effective) == 0, 30, "Prometheus sees web1's effective weight 0")

    restart_vpp(sim, client)  # VPP's counters start again at 0
    client.reconnect()
    proc.wait_event("vpp-connect", after=1, timeout=20)
    expect_weights(client, backends, 0, 100, 0)
    send_traffic(sim, client)
    wait_for(lambda: server.value(first) == 200, 60, "Prometheus has 200 first packets after the VPP restart")
    assert server.value(f"resets({first}[5m])") == 0  # never went down, so no counter reset


def test_a_busy_metrics_port_is_logged_and_the_agent_keeps_working(sim, tmp_path, backends, client, agent):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = agent(config_for(sim, tmp_path, backends, metrics={"listen": f"127.0.0.1:{port}"}))
        failed = proc.wait_event("metrics-listen-failed")
        assert failed["port"] == port
        expect_weights(client, backends, 100, 100, 0)
        backends[0].stop()
        expect_weights(client, backends, 0, 100, 0)
