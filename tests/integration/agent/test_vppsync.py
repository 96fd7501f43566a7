"""VppSync in-process against vppsim: the agent's VPP side without the daemon around it.

The desired state comes from ``FixedSource``, a plain implementation of the DesiredSource
protocol the daemon implements; VPP is a real vppsim reached through the real client. Each test
runs its scenario on a fresh event loop (``asyncio.run``) and waits on real conditions with a
deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Dict, Optional

import pytest
from ansible_collections.maglev.vpp.agent.config import AgentSettings, VppSettings
from ansible_collections.maglev.vpp.agent.vppsync import DesiredSource, VppSync
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import model
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import PROTOCOLS, VipKey
from polling import until

WWW = VipKey("192.0.2.1/32", PROTOCOLS["tcp"], 80)
CONF = model.LbConf(ip4_src_address="10.255.0.1", ip6_src_address="2001:db8:ff::1")
ASES = ("198.51.100.11", "198.51.100.12", "198.51.100.13")


def vip(key: VipKey, name: str, weights: Dict[str, int], **spec) -> model.VipState:
    ases = {a: model.AsState(a, w, flush=False) for a, w in weights.items()}
    return model.VipState(key=key, spec=model.VipSpec(**spec), ases=ases, name=name)


class FixedSource(DesiredSource):
    """The desired state a test sets; every frontend is released."""

    def __init__(self, state: model.LbState):
        self.state = state

    def desired_conf(self) -> Optional[model.LbConf]:
        return self.state.conf

    def desired_full(self) -> Optional[model.LbState]:
        return self.state

    def desired_frontend(self, name: str) -> Optional[model.VipState]:
        return next((v for v in self.state.vips.values() if v.name == name), None)


def settings_for(sim, **changes) -> AgentSettings:
    vpp = VppSettings(api_socket=sim.api_socket, stats_socket=sim.stats_socket)
    # No periodic syncs or counter reads unless a test asks: they would share the VPP thread.
    base = AgentSettings(vpp=vpp, sync_interval=3600.0, stats_interval=3600.0)
    return dataclasses.replace(base, **changes)


async def in_thread(fn, *args):
    """A blocking call (the test's own VPP client) off the loop, so VppSync keeps running."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def synced(sync: VppSync, timeout: float = 20) -> None:
    await until(lambda: sync.info.connected, timeout, "VppSync connected")
    await asyncio.wait_for(sync.wait_idle(), timeout)


# -- Defect 5: a transition during a liveness ping -------------------------------------------------

PING_EVERY = 6.0  # long next to the stall, as the default 10 s is next to a VPP round trip
STALL_MS = 500


@pytest.mark.simulator
@pytest.mark.parametrize("lb_api", ["1.2.0"])  # the connection's life is the same on both
def test_a_transition_during_a_ping_waits_only_for_the_ping(sim, client):
    async def scenario() -> float:
        source = FixedSource(model.LbState(conf=CONF, vips={WWW: vip(WWW, "www", {ASES[0]: 100, ASES[1]: 0})}))
        sync = VppSync(settings_for(sim), source, lambda *names: None, ping_interval=PING_EVERY)
        sync.start()
        try:
            await synced(sync)
            await in_thread(client.cli, f"sim fault stall {STALL_MS}")  # every later reply is slow
            await until(lambda: sync.activity == "ping", 3 * PING_EVERY, "a liveness ping in flight")
            # A failover arrives while the ping waits for its reply.
            source.state = model.LbState(conf=CONF, vips={WWW: vip(WWW, "www", {ASES[0]: 0, ASES[1]: 100})})
            loop = asyncio.get_running_loop()
            asked = loop.time()
            sync.request_frontends(["www"])
            await asyncio.wait_for(sync.wait_idle(), 3 * PING_EVERY)
            return loop.time() - asked
        finally:
            await sync.stop()

    elapsed = asyncio.run(scenario())
    client.cli("sim fault stall 0")
    vip_now = client.dump().vips[WWW]
    assert {a: s.weight for a, s in vip_now.ases.items()} == {ASES[0]: 0, ASES[1]: 100}
    # The rest of the ping plus one set_weight, each one stall long; nowhere near the next ping.
    assert elapsed < PING_EVERY / 2, f"the failover's sync waited {elapsed:.2f}s behind a ping"
