"""The status page's pool split and table-share bar in a real headless Chromium, on both LB API
generations: the agent process, vppsim, loopback backends. www spills (overprovisioning 1.4):
web1 and web2 are the primary pool, web3 the standby. As primaries fail, each pool's share of new
flows moves (the agent's weights.pool_shares, drawn as a row per pool) and the table-share bar
follows VPP's table: exact buckets by weight on 1.2.0, one equal share per AS on 1.1.0."""

from __future__ import annotations

import pytest
from agentproc import wait_for
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import blast
from test_agent_daemon import expect_weights
from test_agent_metrics import metrics_config

TABLE_LENGTH = 1024  # the frontend's default new-flow table length
POOL_BAR = 160  # charts.js POOL_SIZE.width

# What the page draws for www: the pool rows and the table-share bar, read back from the DOM.
SPILL_PROBE = """(() => {
  const card = document.querySelector('[data-frontend="www"]');
  const share = card && card.querySelector("svg.share");
  const split = card && card.querySelector(".pool-split");
  const rect = (row, cls) => { const r = row.querySelector("rect." + cls);
    return [Number(r.getAttribute("x")), Number(r.getAttribute("width"))]; };
  return {
    stream: document.querySelector("#stream") && document.querySelector("#stream").textContent,
    caption: split && split.querySelector(".caption").textContent,
    pools: split && [...split.querySelectorAll(".pool-row")].map((row) => ({
      pool: row.dataset.pool, share: Number(row.dataset.share), spilled: Number(row.dataset.spilled),
      text: row.querySelector(".pool-text").textContent,
      bar: rect(row, "pool-share"), spill: rect(row, "pool-spilled")})),
    current: share && [...share.querySelectorAll("rect.segment")].map((r) => [r.dataset.backend,
      Number(r.dataset.buckets)]),
    planned: share && [...share.querySelectorAll("rect.planned-segment")].length,
    legend: card ? [...card.querySelectorAll(".share-item")].map((i) => i.textContent) : [],
  };
})()"""


def table_of(client, backends, *weights: int) -> dict:
    """The new-flow table's buckets per backend for these agent weights, as VPP fills it: by weight
    with AS weights (1.2.0), one equal share per present AS without (1.1.0)."""
    weighted = client.capabilities.as_weights
    used = {b.address: (w if weighted else 1) for b, w in zip(backends, weights, strict=True) if w > 0}
    counts = blast.bucket_counts(TABLE_LENGTH, used)
    return {f"web{i + 1}": counts[b.address] for i, b in enumerate(backends) if counts.get(b.address)}


def rows(shown) -> list:
    return [(p["pool"], p["share"], p["spilled"]) for p in shown["pools"] or []]


def test_page_shows_the_pool_split_and_the_table_share_as_primaries_fail(sim, tmp_path, backends, client, agent,
                                                                         browser):
    config, base = metrics_config(sim, tmp_path, backends)
    config["frontends"]["www"]["spill"] = {"overprovisioning": 1.4}
    agent(config)
    expect_weights(client, backends, 100, 100, 0)
    page = browser(base + "/")

    def shown():
        return page.evaluate(SPILL_PROBE)

    def wait_showing(pools, table, what):
        def showing():
            v = shown()
            return v["stream"] == "events: live" and rows(v) == pools and dict(v["current"] or []) == table and v
        try:
            return wait_for(showing, 30, f"{what} (pools {pools}, table {table})")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the page shows {shown()}") from None

    # Both primaries up: the primary pool takes every new flow, nothing spills.
    table = table_of(client, backends, 100, 100, 0)
    v = wait_showing([("primary", 1, 0), ("standby", 0, 0)], table, "all new flows in the primary pool")
    assert v["caption"].startswith("new flows per pool (spill, overprovisioning 1.4)")
    assert ("LB API 1.1.0: an equal share per AS" in v["caption"]) == (not client.capabilities.as_weights)
    assert v["pools"][0]["text"] == "100% (healthy 100%, health 100%)"
    assert v["pools"][0]["bar"] == [0, POOL_BAR] and v["pools"][1]["bar"] == [POOL_BAR, 0]
    assert v["legend"] == ["web1 50.0%", "web2 50.0%", "web3 0%"] and v["planned"] == 0

    # web2 down: the primaries are half healthy, 0.5 x 1.4 = 70 % stays, 30 % spills to the standby.
    # On 1.2.0 the table follows the weights (100 and 43); on 1.1.0 web1 and web3 split it evenly.
    backends[1].stop()
    expect_weights(client, backends, 100, 0, 43)
    table = table_of(client, backends, 100, 0, 43)
    v = wait_showing([("primary", 0.7, 0.3), ("standby", 0.3, 0)], table, "the primary pool spilling 30%")
    assert v["pools"][0]["text"] == "70% (healthy 50%, health 70%), spills 30%"
    assert v["pools"][1]["text"] == "30% (healthy 100%, health 100%)"
    # The standby's bar starts where the primary's share ends, under the primary's spill.
    assert v["pools"][0]["bar"] == [0, pytest.approx(0.7 * POOL_BAR)]
    assert v["pools"][0]["spill"] == [pytest.approx(0.7 * POOL_BAR), pytest.approx(0.3 * POOL_BAR)]
    assert v["pools"][1]["bar"] == [pytest.approx(0.7 * POOL_BAR), pytest.approx(0.3 * POOL_BAR)]
    percent = {name: f"{100 * buckets / TABLE_LENGTH:.1f}%" for name, buckets in table.items()}
    assert v["legend"][0] == f"web1 {percent['web1']}" and v["legend"][2] == f"web3 {percent['web3']}"
    assert v["planned"] == 0  # VPP holds the plan (1.1.0: the plan is the equal split too)

    # web1 down as well: nothing healthy in the primary pool, the standby takes everything.
    backends[0].stop()
    expect_weights(client, backends, 0, 0, 100)
    v = wait_showing([("primary", 0, 1), ("standby", 1, 0)], {"web3": TABLE_LENGTH}, "all new flows in the standby")
    assert v["pools"][0]["text"] == "0% (healthy 0%, health 0%), spills 100%"
    assert v["legend"] == ["web1 0%", "web2 0%", "web3 100.0%"]


def test_page_shows_the_pool_split_during_a_fail_back_ramp(sim, tmp_path, backends, client, agent, browser):
    # No spill: all or nothing, so no pool rows while one pool carries everything. A primary coming
    # back with slow start (30 s steps) takes its ramp's part and the standby keeps the rest: rows.
    config, base = metrics_config(sim, tmp_path, backends, slow_start="120s")
    backends[0].stop()
    backends[1].stop()
    agent(config)
    expect_weights(client, backends, 0, 0, 100)
    page = browser(base + "/")

    def shown():
        return page.evaluate(SPILL_PROBE)

    def all_standby():
        v = shown()
        return v["stream"] == "events: live" and dict(v["current"] or []) == {"web3": TABLE_LENGTH} and v

    v = wait_for(all_standby, 30, "web3 alone in the table")
    assert v["pools"] is None  # all or nothing: nothing to split

    backends[0].start()
    ramps = (0.2, 0.4, 0.6, 0.8)

    def ramping():
        v = shown()
        pools = rows(v)
        return (len(pools) == 2 and pools[0][0] == "primary" and pools[0][1] in ramps
                and pools[1] == ("standby", pytest.approx(1 - pools[0][1]), 0) and v)

    try:
        v = wait_for(ramping, 30, f"the primary pool taking a step of web1's ramp {ramps}, the standby the rest")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the page shows {shown()}") from None
    assert v["caption"].startswith("new flows per pool (fail-back ramp)")
    share = v["pools"][0]["share"]
    assert v["pools"][0]["spill"] == [pytest.approx(share * POOL_BAR), pytest.approx((1 - share) * POOL_BAR)]
    assert v["pools"][1]["bar"] == [pytest.approx(share * POOL_BAR), pytest.approx((1 - share) * POOL_BAR)]
    assert ", health " not in v["pools"][0]["text"]  # no spill, no health factor
