"""Graceful spill through the agent: the weights it pushes, each pool's share in the state file,
the status API and maglevctl (human and JSON), and on LB API 1.1.0 its warning that the split
becomes one equal share per AS. web1 and web2 are the primary pool, web3 the standby; web2 down
leaves the primaries half healthy: 0.5 x 1.4 = 70 % stays, 30 % spills to web3."""

from __future__ import annotations

import json

from agentproc import wait_for
from test_agent_daemon import config_for, expect_weights
from test_maglevctl import Ctl


def spill_config(sim, tmp_path, backends) -> dict:
    config = config_for(sim, tmp_path, backends, status_socket=str(tmp_path / "status.sock"))
    config["frontends"]["www"]["spill"] = {"overprovisioning": 1.4}
    return config


def pools_in_state_file(tmp_path):
    try:
        return json.loads((tmp_path / "state.json").read_text())["frontends"]["www"].get("pools")
    except (OSError, ValueError, KeyError):
        return None


SPILLED = {
    "primary": {"healthy_fraction": 0.5, "health": 0.7, "share": 0.7, "spilled": 0.3},
    "standby": {"healthy_fraction": 1.0, "health": 1.0, "share": 0.3, "spilled": 0.0},
}


def test_agent_shows_and_pushes_the_spilled_share(sim, tmp_path, backends, client, agent):
    backends[1].stop()  # web2 down from the start
    proc = agent(spill_config(sim, tmp_path, backends))
    # 100 for web1; web3 gets 0.3 of the flows: 100 x f / (100 + 100 x f) = 0.3 -> f = 0.43
    expect_weights(client, backends, 100, 0, 43)
    wait_for(lambda: pools_in_state_file(tmp_path) == SPILLED, 15,
             f"the state file's pool shares {SPILLED}, have {pools_in_state_file(tmp_path)}")

    ctl = Ctl(str(tmp_path / "status.sock"))
    doc = ctl.json("show", "frontend", "www")
    assert doc["spill"] == {"overprovisioning": 1.4}
    keys = ("healthy_fraction", "health", "share", "spilled")
    assert {p["name"]: {k: p[k] for k in keys} for p in doc["pools"]} == SPILLED
    text = ctl.ok("show", "frontend", "www")
    assert "spill:           overprovisioning 1.4" in text
    rows = [line.split() for line in text.splitlines()]
    assert ["primary", "50%", "70%", "70%", "30%"] in rows and ["standby", "100%", "100%", "30%", "0%"] in rows

    if client.capabilities.as_weights:
        assert proc.count("spill-unweighted") == 0
    else:
        event = proc.wait_event("spill-unweighted", frontend="www")
        assert "new flows split primary 50% / standby 50% (1 and 1 ASes)" in event["detail"], event
        assert "instead of the planned primary 70% / standby 30%" in event["detail"], event

    backends[1].start()  # web2 back: nothing spills, the standby is empty again
    expect_weights(client, backends, 100, 100, 0)
    wait_for(lambda: (pools_in_state_file(tmp_path) or {}).get("standby", {}).get("share") == 0.0, 15,
             "the standby's share back to 0")
    assert proc.count("spill-unweighted") == (0 if client.capabilities.as_weights else 1)
