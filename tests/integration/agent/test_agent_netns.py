"""The agent against backends in a network namespace the test makes (veth to the root namespace).

Every check type (http, https with a CA made in the test, tcp, icmp) and every way a backend
fails (port closed, server gone, link black-holed, server too slow), seen as weights in vppsim;
and probes run inside ``probe_netns``.
"""

from __future__ import annotations

import subprocess
from typing import Dict

from agentproc import agent_config, wait_for
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import PROTOCOLS, VipKey

# Timeouts generous enough for a loaded CI machine (TLS handshakes in Python take a while there).
# A timeout that a TLS handshake on a loaded machine meets (an L4/L6 timeout would mask the failure
# a test means); the slow server below answers well after it.
CHECK_TIMING = {"interval": "2s", "fast_interval": "200ms", "down_interval": "2s", "timeout": "1500ms",
                "rise": 1, "fall": 1}
KINDS = ("http", "https", "tcp", "icmp")


def vip_of(kind: str) -> VipKey:
    return VipKey(f"192.0.2.{10 + KINDS.index(kind)}/32", PROTOCOLS["tcp"], 80)


def one_backend_frontend(kind: str) -> dict:
    key = vip_of(kind)
    return {"prefix": key.prefix, "protocol": "tcp", "port": 80, "pools": [{"name": "p", "backends": {kind: {}}}]}


def weights(client) -> Dict[str, int]:
    """Frontend kind -> the weight of its one AS."""
    state = client.dump()
    result = {}
    for kind in KINDS:
        vip = state.vips.get(vip_of(kind))
        if vip is not None and vip.ases:
            result[kind] = next(iter(vip.ases.values())).weight
    return result


def expect(client, timeout: float = 15, **want: int) -> None:
    if not client.capabilities.as_weights:  # LB API 1.1.0: weight 0 is no AS, the others read 100
        want = {kind: (100 if weight else None) for kind, weight in want.items()}
    wait_for(lambda: all(weights(client).get(k) == w for k, w in want.items()), timeout,
             f"weights {want}, have {weights(client)}")


def mixed_config(sim, tmp_path, net, **agent) -> tuple:
    servers = {
        "http": net.add_backend(http=8080, routes={"/healthz": (200, "ok\n")}),
        "https": net.add_backend(https=8443, routes={"/healthz": (200, "ok\n")}),
        "tcp": net.add_backend(tcp=5432),
        "icmp": net.add_backend(),
    }
    checks = {
        "http": dict(CHECK_TIMING, type="http", port=8080, path="/healthz"),
        "https": dict(CHECK_TIMING, type="https", port=8443, path="/healthz", tls_ca_file=net.ca_file),
        "tcp": dict(CHECK_TIMING, type="tcp", port=5432),
        "icmp": dict(CHECK_TIMING, type="icmp"),
    }
    backends = {kind: {"address": servers[kind].ip4, "healthcheck": kind} for kind in KINDS}
    frontends = {kind: one_backend_frontend(kind) for kind in KINDS}
    return servers, agent_config(sim, str(tmp_path / "state.json"), frontends, backends, checks, **agent)


def test_every_check_type_follows_every_failure_mode(sim, tmp_path, backend_net, client, agent):
    servers, config = mixed_config(sim, tmp_path, backend_net)
    proc = agent(config)
    expect(client, http=100, https=100, tcp=100, icmp=100)

    servers["http"].blackhole()  # connects hang: the probe's timeout decides
    servers["https"].make_slow(4.0)  # TLS and request fine, the answer comes too late
    servers["tcp"].close_port()  # refused
    servers["icmp"].blackhole()  # echo requests dropped
    expect(client, http=0, https=0, tcp=0, icmp=0)
    downs = [proc.wait_event("backend-transition", backend=kind, to="down") for kind in KINDS]
    codes = {r["backend"]: r["code"] for r in downs}
    assert codes == {"http": "L4TOUT", "https": "L7TOUT", "tcp": "L4CON", "icmp": "L3TOUT"}, codes

    for server in servers.values():
        server.restore()
    expect(client, http=100, https=100, tcp=100, icmp=100)
    servers["http"].stop_server()  # the process is gone: refused
    expect(client, http=0, https=100, tcp=100, icmp=100)
    assert proc.wait_event("backend-transition", backend="http", to="down", after=1)["code"] == "L4CON"


def test_https_with_an_untrusted_certificate_is_down(sim, tmp_path, backend_net, client, agent):
    servers, config = mixed_config(sim, tmp_path, backend_net)
    del config["healthchecks"]["https"]["tls_ca_file"]  # the system store does not know the test CA
    proc = agent(config)
    down = proc.wait_event("backend-transition", backend="https", to="down")
    assert down["code"] == "L6RSP", down
    assert "certificate" in down["detail"], down
    expect(client, http=100, https=0, tcp=100)


def test_probes_run_inside_probe_netns(sim, tmp_path, backend_net, client, agent):
    servers, config = mixed_config(sim, tmp_path, backend_net, probe_netns=backend_net.name)
    # Cut the root side of the link: the backends stay reachable only from inside the namespace.
    subprocess.run(["ip", "link", "set", "dev", backend_net.root_if, "down"], check=True)
    agent(config)
    expect(client, http=100, https=100, tcp=100, icmp=100)


def test_a_missing_probe_netns_blinds_the_agent_and_marks_nothing_down(sim, tmp_path, backend_net, client, agent):
    """The agent's own blindness is not a backend failure (it was, as in vpp-maglev: every
    backend went down and VPP got weight 0 flush for a VIP that was serving)."""
    servers, config = mixed_config(sim, tmp_path, backend_net, probe_netns="mgl-no-such-namespace")
    proc = agent(config)
    proc.wait_event("netns-failed", netns="mgl-no-such-namespace")
    proc.wait_event("agent-blind", code="NETNS")
    for kind in KINDS:  # every kind of probe is blind, several times over
        proc.wait_event("probe", backend=kind, code="NETNS", after=2)
    proc.wait_event("warmup-overdue", timeout=30)
    assert proc.events("backend-transition") == []
    assert proc.events("vpp-lbsync", kind="as_added") == []  # held: nothing written for the frontends
