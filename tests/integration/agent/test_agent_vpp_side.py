"""The agent's VPP side as a real process against vppsim (both LB API generations): conf first,
conflicts, route counters, a VPP it cannot reach, bucket counts after writes.

The order of the agent's VPP writes comes from its vpp-lbsync log records (one per op VPP
accepted, in order); what VPP holds is read back through the core client.
"""

from __future__ import annotations

from typing import List

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import LbConf
from test_agent_daemon import config_for, expect_weights
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
    proc = agent(config_for(sim, tmp_path, backends, warmup={"min_delay": "0s", "max_delay": "120s"}))
    proc.wait_event("warmup", frontend="www", action="released")
    expect_weights(client, backends, 100, 100, 0)
    proc.wait_event("vpp-lbsync-done", scope="vip")
    order = kinds(proc)
    assert "conf_set" in order, order
    assert order.index("conf_set") < order.index("vip_added"), order
    assert conf_in_vpp(client).ip4_src_address == CONF_SRC
    assert proc.events("warmup", action="done") == []  # the VIP came from the release, not a full sync
