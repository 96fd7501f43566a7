"""The event bus (agent/events.py): bounded subscribers, bounded work per event on the agent's
loop, and what an anonymous reader of the metrics listener gets of the log."""

from __future__ import annotations

import io

import pytest
from ansible_collections.maglev.vpp.agent import events, logs
from ansible_collections.maglev.vpp.agent.events import EventBus, TooManySubscribers


@pytest.fixture
def quiet_logs():
    logs.setup("info", stream=io.StringIO())
    yield
    logs.setup("info", stream=io.StringIO())


def test_subscribers_beyond_the_cap_are_refused_and_change_nothing():
    bus = EventBus()
    page = [bus.subscribe(kind="page", limit=3) for _page in range(3)]
    api = bus.subscribe(kind="api", limit=3)  # the caps are per kind
    with pytest.raises(TooManySubscribers, match="3 page event streams"):
        bus.subscribe(kind="page", limit=3)
    assert bus.count("page") == 3 and bus.count() == 4
    bus.publish({"type": "backend"})
    assert [s.queue.qsize() for s in page + [api]] == [1, 1, 1, 1]
    page[0].close()
    bus.subscribe(kind="page", limit=3)  # a closed stream frees its place
    assert bus.count("page") == 3


def test_a_stalled_subscriber_never_holds_up_the_publisher():
    bus = EventBus()
    stalled = bus.subscribe(maxsize=10)
    for n in range(50):
        bus.publish({"type": "backend", "n": n})  # synchronous: returns without anyone reading
    assert stalled.queue.qsize() == 10 and stalled.dropped == 40
    assert stalled.queue.get_nowait()["n"] == 40  # the oldest went first


def test_log_calls_reach_only_the_subscribers_that_asked_for_logs(quiet_logs):
    bus = EventBus()
    plain = bus.subscribe()
    assert bus._log_record not in logs._listeners  # no log subscriber: a log call does no fan-out
    logs.emit("info", "warmup", action="done")
    assert plain.queue.empty()
    warnings = bus.subscribe(log_level="warning")
    assert logs._listeners.count(bus._log_record) == 1
    logs.emit("info", "warmup", action="done")
    logs.emit("warning", "agent-blind", code="NETNS")
    assert plain.queue.empty()
    assert [e["event"] for e in (warnings.queue.get_nowait(),)] == ["agent-blind"] and warnings.queue.empty()
    warnings.close()
    assert bus._log_record not in logs._listeners


# (record, what an anonymous reader gets or None)
PUBLIC = [
    ({"level": "info", "event": "vpp-lbsync", "command": "lb as 192.0.2.1/32 ... weight 0", "reason": "down"},
     {"level": "info", "event": "vpp-lbsync", "command": "lb as 192.0.2.1/32 ... weight 0"}),
    ({"level": "info", "event": "backend-transition", "backend": "web1", "from": "up", "to": "down"},
     {"level": "info", "event": "backend-transition", "backend": "web1", "from": "up", "to": "down"}),
    ({"level": "error", "event": "config-reload-failed", "path": "/etc/maglev-agent/config.yaml", "errors": ["x"]},
     None),
    ({"level": "error", "event": "status-api-error", "method": "GET", "path": "/x", "exception": "Traceback"}, None),
    ({"level": "error", "event": "state-file-failed", "path": "/run/x", "reason": "ENOSPC"}, None),
    ({"level": "error", "event": "netns-failed", "netns": "probes", "reason": "gone"}, None),
    ({"level": "warning", "event": "vpp-disconnect", "reason": "[Errno 2] /run/vpp/api.sock"},
     {"level": "warning", "event": "vpp-disconnect"}),
]


@pytest.mark.parametrize("record, shown", PUBLIC, ids=[r["event"] for r, _shown in PUBLIC])
def test_public_log_record(record, shown):
    assert events.public_log_record(record) == shown


def test_a_filtered_subscription_gets_only_public_records(quiet_logs):
    bus = EventBus()
    page = bus.subscribe(log_level="info", kind="page", log_filter=events.public_log_record)
    full = bus.subscribe(log_level="info")
    logs.emit("error", "config-reload-failed", path="/etc/secret.yaml", errors=["line 3"])
    logs.emit("info", "vpp-lbsync", command="lb as ...", reason="backend down")
    shown = page.queue.get_nowait()
    assert shown.pop("time")
    assert shown == {"type": "log", "level": "info", "event": "vpp-lbsync", "command": "lb as ..."}
    assert page.queue.empty()
    assert [full.queue.get_nowait()["event"] for _record in range(2)] == ["config-reload-failed", "vpp-lbsync"]
