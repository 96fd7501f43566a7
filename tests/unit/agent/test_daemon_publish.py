"""The shell's publishing: a transition rebuilds the views of its backend and of the frontends
that contain it, and shares every other view with the previous snapshot (a full rebuild cost
~20-30 ms per transition at 1,000 backends: docs/performance.md, "Agent")."""

from __future__ import annotations

import asyncio

import pytest
from ansible_collections.maglev.vpp.agent import daemon
from ansible_collections.maglev.vpp.agent.config import parse_agent_config
from ansible_collections.maglev.vpp.agent.probes.result import ProbeResult
from ansible_collections.maglev.vpp.agent.snapshot import live_changed
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import model
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import VipKey
from scripted import run_script

DOC = {
    "healthchecks": {"h": {"type": "tcp", "port": 80, "interval": "100ms", "fast_interval": "100ms",
                           "down_interval": "100ms", "rise": 1, "fall": 1}},
    "backends": {f"b{i}": {"address": f"10.0.0.{i}", "healthcheck": "h"} for i in range(1, 5)},
    "frontends": {
        "one": {"prefix": "192.0.2.1/32", "pools": [{"name": "p", "backends": {"b1": {}, "b2": {}}}]},
        "two": {"prefix": "192.0.2.2/32", "pools": [{"name": "p", "backends": {"b3": {}, "b4": {}}}]},
    },
    "agent": {"metrics": {"listen": ""}, "warmup": {"min_delay": "0s", "max_delay": "0s"}},
}


def test_a_transition_rebuilds_only_its_backend_and_its_frontends():
    _before, up, down = run_script(DOC, {"b1": [True, False]}).seen["b1"]
    assert (up.state_of("b1"), down.state_of("b1")) == ("up", "down")
    assert down.backends["b1"].state == "down"
    assert [m.state for m in down.frontends["one"].members if m.backend == "b1"] == ["down"]
    assert down.frontends["one"] is not up.frontends["one"]
    # Everything else is the previous snapshot's very objects.
    assert down.frontends["two"] is up.frontends["two"]
    assert all(down.backends[n] is up.backends[n] for n in ("b2", "b3", "b4"))
    assert all(down.states[n] == up.states[n] for n in ("b2", "b3", "b4"))


def test_untouched_backends_keep_state_and_source_across_partial_publishes():
    seen = run_script(DOC, {"b1": [True, False], "b3": [True, False]}).seen
    last = max((seen["b1"][-1], seen["b3"][-1]), key=lambda snap: snap.at)
    assert dict(last.states) == {"b1": "down", "b2": "unknown", "b3": "down", "b4": "unknown"}
    assert {n: v.state for n, v in last.backends.items()} == dict(last.states)
    assert set(last.sources) == {"b1", "b2", "b3", "b4"}


def test_a_probe_without_a_transition_is_visible_in_the_snapshot():
    # rise 1: the first pass is a transition (unknown -> up), the second is not, yet its result shows
    second = ProbeResult(True, "L4OK", "the second pass", 0.002)
    seen = run_script(DOC, {"b1": [True, second]}).seen["b1"]
    assert seen[-1].backends["b1"].state == "up"
    assert seen[-1].backends["b1"].last_result.detail == "the second pass"
    assert seen[-1] is not seen[-2]  # a new snapshot object, swapped in whole
    assert seen[-2].backends["b1"].last_result.detail != "the second pass"  # the old one is unchanged


def test_probe_only_views_are_swapped_in_together_at_most_once_per_window():
    """Many probe results without a transition cost one copy of the backends map per window,
    not one per probe (O(backends) each: quadratic at 5,000 backends)."""
    agent = daemon.Agent(parse_agent_config(DOC))
    swaps = []

    async def scenario():
        agent._execute(agent.core.start(0.0))
        agent._publish()
        for task in agent._probe_tasks.values():
            task.cancel()
        first = agent.snapshot
        for name in ("b1", "b2", "b3", "b4"):
            agent._publish_backend(name)
            swaps.append(agent.snapshot)
        agent.publish_pending()  # a reader that must see everything now
        swaps.append(agent.snapshot)
        return first

    first = asyncio.run(scenario())
    # the first is swapped in at once (no probe-only swap for a window), the next three wait
    # for the window's end (or a reader's publish_pending) and go in together
    assert swaps[0] is not first
    assert swaps[1] is swaps[0] and swaps[2] is swaps[0] and swaps[3] is swaps[0]
    assert swaps[4] is not swaps[0] and swaps[4].backends.keys() == first.backends.keys()
    assert agent._views_handle is None and not agent._pending_views


# -- a dump (full sync, connect) rebuilds only the views whose part of VPP changed ----------------

ONE, TWO = (VipKey("192.0.2.1/32", 255, 0), VipKey("192.0.2.2/32", 255, 0))


def live(buckets_one, buckets_two=(512, 512), flows=0) -> model.LbState:
    """VPP's LB state as a dump gives it: new objects every time (``flows`` moves with traffic)."""
    def vip(key, addresses, buckets):
        pairs = zip(addresses[:len(buckets)], buckets, strict=True)
        ases = {a: model.AsState(a, 100, num_buckets=n, flows=flows) for a, n in pairs}
        return model.VipState(key=key, ases=ases, index=0)
    vips = {ONE: vip(ONE, ("10.0.0.1", "10.0.0.2"), buckets_one), TWO: vip(TWO, ("10.0.0.3", "10.0.0.4"), buckets_two)}
    return model.LbState(vips={k: v for k, v in vips.items() if v.ases})


def published(agent: daemon.Agent, lb_state=None):
    """Inside a loop: the agent's first snapshot over ``lb_state`` as VPP's, its probes cancelled
    (the test gives the inputs), the state file's write request cleared."""
    agent._execute(agent.core.start(0.0))
    for task in agent._probe_tasks.values():
        task.cancel()
    agent.vpp.lb_state = lb_state
    agent._publish()
    agent._state_dirty.clear()
    return agent.snapshot


SAME = live((512, 512))


@pytest.mark.parametrize("before, after, changed", [
    (None, None, []),
    (live((512, 512)), live((512, 512), flows=7), []),  # only what the views do not show moved
    (SAME, model.LbState(vips=dict(SAME.vips)), []),  # a new state sharing its VIPs
    (live((512, 512)), live((1024, 0)), ["one"]),
    (live((512, 512)), live((512, 512), (1024, 0)), ["two"]),
    (live((512, 512)), live(()), ["one"]),  # VIP one gone from VPP
    (None, live((512, 512)), ["one", "two"]),  # the first dump after a connect
    (live((512, 512)), None, ["one", "two"]),  # the connection lost
])
def test_live_changed_names_the_frontends_whose_buckets_differ(before, after, changed):
    assert live_changed([("one", ONE), ("two", TWO)], before, after) == changed


def test_a_dump_rebuilds_only_the_views_whose_buckets_changed_and_leaves_the_state_file():
    """A full sync's fresh dump: a view is rebuilt only if its VIP's bucket counts moved, and
    nothing the state file holds changed, so it is not rewritten for it (at 5,000 backends each
    rebuild of all views cost 40-280 ms and each rewrite 50-70 ms of the GIL)."""
    agent = daemon.Agent(parse_agent_config(DOC))

    async def scenario():
        first = published(agent, live((512, 512)))
        agent.vpp.lb_state = live((512, 512), flows=3)  # a dump that finds nothing new
        agent._changed()
        agent.publish_pending()
        same = agent.snapshot
        same_dirty = agent._state_dirty.is_set()
        agent.vpp.lb_state = live((1024, 0), flows=3)  # someone moved one's weights in VPP
        agent._changed()
        agent.publish_pending()
        return first, same, same_dirty, agent.snapshot, agent._state_dirty.is_set()

    first, same, same_dirty, moved, moved_dirty = asyncio.run(scenario())
    assert same is not first and same.lb_state is not first.lb_state  # the new dump is published
    assert same.frontends["one"] is first.frontends["one"] and same.frontends["two"] is first.frontends["two"]
    assert moved.frontends["two"] is first.frontends["two"]
    assert [m.buckets for m in moved.frontends["one"].members] == [1024, 0]
    assert [m.buckets for m in first.frontends["one"].members] == [512, 512]
    assert not same_dirty and not moved_dirty  # buckets are not in the state file


def test_a_transition_marks_the_state_file_and_a_counters_publish_does_not():
    agent = daemon.Agent(parse_agent_config(DOC))

    async def scenario():
        published(agent)
        agent._changed(())  # counters or VPP info only
        agent.publish_pending()
        counters = agent._state_dirty.is_set()
        agent._execute(agent.core.probe_result("b1", ProbeResult(True, "L4OK", "", 0.001), 1.0))
        agent.publish_pending()
        return counters, agent._state_dirty.is_set(), agent.snapshot.state_of("b1")

    assert asyncio.run(scenario()) == (False, True, "up")


def test_a_targeted_sync_rebuilds_its_frontends_and_leaves_the_state_file():
    """After a transition's sync VPP holds new weights: the frontend's view shows them, but the
    state file holds the agent's decisions, written for the transition itself, not again."""
    agent = daemon.Agent(parse_agent_config(DOC))

    async def scenario():
        first = published(agent, live((512, 512)))
        agent.vpp.lb_state = live((1024, 0))
        agent._changed(["one"])
        agent.publish_pending()
        return first, agent.snapshot, agent._state_dirty.is_set()

    first, synced, dirty = asyncio.run(scenario())
    assert [m.buckets for m in synced.frontends["one"].members] == [1024, 0]
    assert synced.frontends["two"] is first.frontends["two"]
    assert not dirty
