"""The status page's pictures in a real headless Chromium: the agent process, vppsim, loopback
backends. Each picture is drawn from real agent data and follows it: the rate chart from the
counters scrape (traffic driven into vppsim), the table share bar from VPP's weights (exact bucket
counts, a planned bar during slow start) and the transition timeline from backend events."""

from __future__ import annotations

import pytest
from agentproc import wait_for
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast
from test_agent_daemon import expect_weights
from test_agent_metrics import metrics_config
from vpp_under_test import send_flows


# The pictures read the agent's own snapshot, the same on both LB API generations. This test's slow
# start needs AS weights (1.2.0); test_agent_page_spill.py runs the table-share bar and the pool
# split on both (1.1.0: one equal share per AS).
@pytest.fixture(params=["1.2.0"], ids=["lb-api-1.2.0"])
def lb_api(request) -> str:
    return request.param


TABLE_LENGTH = 1024  # the frontend's default new-flow table length

# What the page draws, read back from its SVG elements.
PICTURES_PROBE = """(() => {
  const box = (node) => { const r = node.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  const card = document.querySelector('[data-frontend="www"]');
  const rates = card && card.querySelector("svg.rates");
  const share = card && card.querySelector("svg.share");
  const timeline = document.querySelector("#timeline svg.timeline");
  const segments = (cls) => share ? [...share.querySelectorAll("rect." + cls)].map((r) =>
    [r.dataset.backend, Number(r.dataset.buckets), Number(r.getAttribute("width"))]) : null;
  return {
    stream: document.querySelector("#stream") && document.querySelector("#stream").textContent,
    reloaded: !window.beforeReload,
    rates: rates && {
      size: box(rates),
      series: [...rates.querySelectorAll("polyline.series")].map((p) =>
        [p.dataset.kind, Number(p.dataset.points), p.dataset.peak === "" ? null : Number(p.dataset.peak)]),
      labels: [...rates.querySelectorAll("text")].map((t) => t.textContent),
    },
    share: share && {size: box(share), current: segments("segment"), planned: segments("planned-segment")},
    legend: card ? [...card.querySelectorAll(".share-item")].map((i) => i.textContent) : [],
    split: card ? card.querySelector(".pool-split") !== null : null,
    timeline: timeline && {
      size: box(timeline),
      lanes: Object.fromEntries([...timeline.querySelectorAll("g.lane")].map((g) => [g.dataset.backend, {
        points: [...g.querySelectorAll("circle.transition")].map((c) => c.dataset.to),
        periods: [...g.querySelectorAll("rect.period")].map((r) => r.dataset.state),
      }])),
    },
  };
})()"""


def owners(segments) -> dict:
    return {backend: buckets for backend, buckets, _width in segments or []}


def first_rate_peak(shown) -> float:
    series = {kind: peak for kind, _points, peak in (shown["rates"] or {}).get("series", [])}
    return series.get("first") or 0


def test_page_pictures_follow_traffic_a_failure_and_slow_start(sim, tmp_path, backends, client, agent, browser):
    # A scrape a second: the agent's rate history spans 2 minutes, more than a busy machine needs to
    # reload the page. Slow start in 30 s steps: the test sees a ramp, whichever step it catches.
    config, base = metrics_config(sim, tmp_path, backends, slow_start="120s", stats_interval="1s")
    proc = agent(config)
    expect_weights(client, backends, 100, 100, 0)
    page = browser(base + "/")
    web1, web2 = backends[0].address, backends[1].address
    exact = blast.bucket_counts(TABLE_LENGTH, {web1: 100, web2: 100})  # the core's closed form of VPP's fill

    def shown():
        return page.evaluate(PICTURES_PROBE)

    def settled(v):
        return (v["stream"] == "events: live" and v["share"] and owners(v["share"]["current"]) ==
                {"web1": exact[web1], "web2": exact[web2]} and v["rates"] and v["rates"]["series"][0][1] >= 2
                and v["timeline"] and all(lane["points"][-1:] == ["up"] for lane in v["timeline"]["lanes"].values()))

    before = wait_for(lambda: (v := shown()) and settled(v) and v, 30,
                      f"the pictures of www with both primaries up, shows {shown()}")
    # Rates: one line per kind, a small chart with its span and peak labelled.
    assert [kind for kind, _points, _peak in before["rates"]["series"]] == ["next", "first", "no-server"]
    assert before["rates"]["size"] == [260, 64]
    assert "now" in before["rates"]["labels"] and any(t.startswith("peak ") for t in before["rates"]["labels"])
    # Share: the two primaries' exact buckets, widths in proportion, no planned bar while nothing ramps.
    assert before["share"]["planned"] == []
    assert sum(width for _name, _buckets, width in before["share"]["current"]) == pytest.approx(260, abs=0.1)
    assert before["legend"] == ["web1 50.0%", "web2 50.0%", "web3 0%"]
    assert before["split"] is False  # no spill, one pool carries every flow: no pool rows
    # Timeline: a lane per backend, each with its start-up transition to up.
    assert set(before["timeline"]["lanes"]) == {"web1", "web2", "web3"}
    assert before["timeline"]["size"][0] == 640 and before["timeline"]["size"][1] >= 3 * 14

    # Counters: traffic into vppsim reaches the chart through the agent's scrape and the stream.
    send_flows(sim, client, "192.0.2.1/32", "tcp", 80, flows=100)
    wait_for(lambda: first_rate_peak(shown()) > 0, 30, f"the rate chart showing new flows, shows {shown()['rates']}")
    # A fresh page shows the last minutes at once: the agent keeps the history (/rates.json).
    page.evaluate("window.beforeReload = true; location.reload(); true")
    wait_for(lambda: (v := shown()) and v["reloaded"] and first_rate_peak(v) > 0, 30,
             "the reloaded page showing the new flows from the agent's history")

    # A failure: the timeline gains web1's transition to down, web2 takes the whole table.
    points = len(shown()["timeline"]["lanes"]["web1"]["points"])
    backends[0].stop()
    proc.wait_event("backend-transition", backend="web1", to="down")
    after = wait_for(lambda: (v := shown()) and owners(v["share"]["current"]) == {"web2": TABLE_LENGTH} and v, 30,
                     f"the share bar with web2 alone, shows {shown()['share']}")
    wait_for(lambda: shown()["timeline"]["lanes"]["web1"]["points"][points:] == ["down"], 15,
             f"the timeline gaining web1's transition to down, shows {shown()['timeline']}")
    assert after["legend"][:2] == ["web1 0%", "web2 100.0%"] and after["split"] is False

    # Recovery with slow start: the current bar holds web1 at a step of its ramp, the thin bar the plan.
    backends[0].start()
    steps = [blast.bucket_counts(TABLE_LENGTH, {web1: w, web2: 100}) for w in (20, 40, 60, 80)]
    ramps = [{"web1": c[web1], "web2": c[web2]} for c in steps]
    ramp = wait_for(lambda: (v := shown()) and owners(v["share"]["current"]) in ramps and v, 30,
                    f"the share bar with web1 slow-starting, shows {shown()['share']}")
    assert owners(ramp["share"]["planned"]) == {"web1": exact[web1], "web2": exact[web2]}
    assert all(width > 0 for _name, _buckets, width in ramp["share"]["planned"])
    assert ramp["timeline"]["lanes"]["web1"]["points"][-1] == "up"
