"""The VIP counters' observer (agent/vipobserver.py): reads are observed in the order they came,
each once, and a waiter sees the newest read it sent. (That the loop runs meanwhile:
test_web_scrape.py.)"""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import List

from ansible_collections.maglev.vpp.agent.snapshot import AgentSnapshot, FrontendView
from ansible_collections.maglev.vpp.agent.vipobserver import Observation, VipObserver
from ansible_collections.maglev.vpp.agent.vppsync import CountersSnapshot, VppInfo
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import VipCounters, VipKey, VipSpec

WWW = VipKey("192.0.2.1/32", 6, 80)
WWW_FRONTEND = FrontendView(name="www", vip=WWW, spec=VipSpec(), state="up", active_pool="p", flush_on_down=True,
                            released=True, members=())
VPP = VppInfo(connected=True, version="26.06", pid=1, boottime=100.0, connected_since=100.0,
              lb_api_version="1.2.0", api_socket="/run/vpp/api.sock")


def snapshot_with(at: float, next_packets: int) -> AgentSnapshot:
    read = CountersSnapshot(at=at, boottime=100.0, vips=MappingProxyType({WWW: VipCounters(next_packets=next_packets)}),
                            sources=MappingProxyType({WWW: (0, None)}))
    return AgentSnapshot(at=at, started_at=0.0, warmup="done", backends=MappingProxyType({}),
                         frontends=MappingProxyType({"www": WWW_FRONTEND}), vpp=VPP, lb_state=None, counters=read,
                         mutations=MappingProxyType({}), config_loaded_at=0.0)


def test_reads_are_observed_once_each_and_in_order():
    seen: List[Observation] = []

    async def scenario():
        observer = VipObserver(points=10, on_observed=seen.append)
        first, second = snapshot_with(10.0, 100), snapshot_with(15.0, 150)
        try:
            # Both reads sent before either is observed: the second waiter must see the second read.
            await asyncio.gather(observer.observe(first), observer.observe(second))
            await observer.observe(second)  # the same read again: nothing new
            await observer.observe(None)  # no snapshot yet: nothing
            copy = await observer.rates_copy()
            return observer.totals, copy, first, second
        finally:
            await observer.close()

    totals, copy, first, second = asyncio.run(scenario())
    assert [o.counters for o in seen] == [first.counters, second.counters]
    assert totals[(WWW, "next")] == 150 and totals is seen[-1].totals
    assert seen[-1].latest == {"at": 15.0, "vips": {str(WWW): [10.0, 0.0, 0.0]}}
    assert copy.times == (10.0, 15.0)
