"""The status page end to end: the agent process, vppsim, loopback backends, and the page in a
real headless Chromium driven over its DevTools protocol; plus /state.json and /events over HTTP."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from agentproc import wait_for
from test_agent_daemon import expect_weights
from test_agent_metrics import get, metrics_config


# The agent's interfaces read its own snapshot, the same on both LB API generations; the daemon,
# netns and playbook tests cover both generations (see tests/integration/conftest.py).
@pytest.fixture(params=["1.2.0"], ids=["lb-api-1.2.0"])
def lb_api(request) -> str:
    return request.param


PAGE_PROBE = """(() => {
  const text = (selector) => { const node = document.querySelector(selector); return node ? node.textContent : null; };
  return {
    stream: text("#stream"),
    vpp: text("#vpp"),
    backend: text('#backends tr[data-backend="web1"] .state-cell'),
    member: text('[data-frontend="www"] tr[data-backend="web1"] .state-cell'),
    effective: text('[data-frontend="www"] tr[data-backend="web1"] .effective'),
    standby: text('[data-frontend="www"] tr[data-backend="web3"] .effective'),
    events: [...document.querySelectorAll("#events li")].map((li) => li.textContent),
  };
})()"""


def test_page_follows_a_backend_going_down_through_the_event_stream(sim, tmp_path, backends, client, agent, browser):
    config, base = metrics_config(sim, tmp_path, backends)
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    page = browser(base + "/")

    def shown():
        return page.evaluate(PAGE_PROBE)

    before = wait_for(lambda: (v := shown()) and v["stream"] == "events: live" and v["backend"] == "up" and v, 30,
                      "the page showing web1 up with a live event stream")
    assert before["member"] == "up" and before["effective"] == "100" and before["standby"] == "0"
    # What molecule's verify reads of the page (chromium.py as a command) agrees.
    assert page.frontends_shown()["frontends"] == {
        "www": {"state": "up", "members": {"web1": "100", "web2": "100", "web3": "0"}}}
    assert before["vpp"].startswith("VPP 26.") and "LB API 1.2.0" in before["vpp"]
    assert not any("web1: up -> down" in e for e in before["events"])

    backends[0].stop()
    proc.wait_event("backend-transition", backend="web1", to="down")
    after = wait_for(lambda: (v := shown()) and v["backend"] == "down" and v["effective"] == "0" and v, 15,
                     f"the page showing web1 down with weight 0, shows {shown()}")
    assert after["member"] == "down"
    # The page learns of changes only from the stream (it never polls): the transition is in its log,
    # and so is the agent's write of weight 0 to VPP, which follows it.
    assert any("backend web1: up -> down (" in e for e in after["events"]), after["events"]
    wait_for(lambda: any("vpp-lbsync" in e and "weight=0" in e for e in shown()["events"]), 15,
             "the page's event log showing the VPP write of weight 0")


def web1_down_on_stream(stream, timeout: float = 30) -> list:
    """The backend events read from an SSE stream up to and including web1's transition to down
    (other backends' events may come first); bounded by a deadline and the socket's timeout."""
    deadline = time.monotonic() + timeout
    seen: list = []
    while time.monotonic() < deadline:
        line = stream.readline().decode()
        if not line:
            break  # the stream ended
        if line.startswith("data: ") and '"type":"backend"' in line:
            seen.append(json.loads(line[len("data: "):]))
            if (seen[-1]["backend"], seen[-1]["to"]) == ("web1", "down"):
                return seen
    raise AssertionError(f"no web1 -> down on the event stream; backend events seen: {seen}")


def test_state_json_and_event_stream_over_http(sim, tmp_path, backends, client, agent):
    config, base = metrics_config(sim, tmp_path, backends)
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    state = json.loads(get(base + "/state.json"))
    assert state["vpp"]["connected"] is True
    assert state["backends"]["web1"]["state"] == "up"
    pools = {p["name"]: p["members"] for p in state["frontends"][0]["pools"]}
    assert [(m["backend"], m["effective_weight"]) for m in pools["primary"]] == [("web1", 100), ("web2", 100)]
    assert [(m["backend"], m["effective_weight"]) for m in pools["standby"]] == [("web3", 0)]
    page = get(base + "/")
    assert '<script src="/app.js">' in page and '<link rel="stylesheet" href="/style.css">' in page
    assert '<script src="/charts.js">' in page
    for asset in (page, get(base + "/app.js"), get(base + "/charts.js"), get(base + "/style.css")):
        # No external assets (SVG's namespace name is an identifier, never fetched).
        assert "://" not in asset.replace('"http://www.w3.org/2000/svg"', ""), asset

    # web3 (standby, weight 0 either way) may still be unknown: expect_weights cannot see it.
    proc.wait_event("backend-transition", backend="web3", to="up")
    with urllib.request.urlopen(base + "/events", timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.readline() == b"retry: 1000\n"  # the stream is open: events from now on reach it
        backends[0].stop()
        seen = web1_down_on_stream(stream)
        assert seen[-1]["from"] == "up", seen
        assert all(e["backend"] != "web1" for e in seen[:-1]), seen  # web1's first transition is this one
        # The agent stops promptly even with a stream open.
        assert proc.stop(timeout=10) == 0
