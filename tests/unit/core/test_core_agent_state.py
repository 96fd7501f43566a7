"""The agent's state file: the exact format written, atomic replacement, and every reason the
modules refuse to trust it (falling back to "every backend is up")."""

from __future__ import annotations

import copy
import json
import os
import stat
from typing import Any, Dict, Optional

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import agent_state, model, schema, weights
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.agent_state import (
    AgentView,
    read_agent_health,
    write_agent_state,
)
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.config_digest import ConfigDigest

NOW = 1_767_225_600.0
FALLBACK = "treating every backend as up"

VALID: Dict[str, Any] = {
    "format": "maglev-agent-state",
    "version": 1,
    "written_at": NOW - 2.5,
    "agent": {"pid": 4242, "started_at": NOW - 600},
    "backends": {
        "web1": {"state": "up", "since": NOW - 500},
        "web2": {"state": "down", "since": NOW - 10},
        "web3": {"state": "unknown", "since": NOW - 600},
    },
    "frontends": {"www-v4": {"state": "up"}},
}
VALID_HEALTH = {"web1": "up", "web2": "down", "web3": "unknown"}


def document(**changes: Any) -> Dict[str, Any]:
    """VALID with top-level or dotted-path changes; the value DELETE removes the key."""
    doc = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = doc
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return doc


DELETE = object()


def write_raw(tmp_path, content: Any) -> str:
    path = tmp_path / "state.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    return str(path)


# ---------------------------------------------------------------------------------------------
# Writing


def test_write_produces_the_documented_document(tmp_path) -> None:
    path = str(tmp_path / "state.json")
    write_agent_state(
        path,
        {"web2": "down", "web1": "up"},
        {"www-v4": "up"},
        now=NOW,
        since={"web1": NOW - 500},
        pid=4242,
        started_at=NOW - 600,
    )
    with open(path) as handle:
        text = handle.read()
    assert json.loads(text) == {
        "format": "maglev-agent-state",
        "version": 1,
        "written_at": NOW,
        "agent": {"pid": 4242, "started_at": NOW - 600},
        # a backend without a `since` entered its state "now"
        "backends": {"web1": {"state": "up", "since": NOW - 500}, "web2": {"state": "down", "since": NOW}},
        "frontends": {"www-v4": {"state": "up"}},
    }
    # names are sorted, so the same view always gives the same bytes
    assert list(json.loads(text)["backends"]) == ["web1", "web2"]
    assert text.endswith("}\n")


def test_write_carries_each_pools_share_under_spill_and_readers_ignore_it(tmp_path) -> None:
    """The pool shares written are weights.pool_shares of the frontend (10 primaries, 3 up, factor
    1.4: 42 % stays, 58 % spills); a frontend without shares gets no key, and the reader still
    reads the file (the numbers are informative)."""
    fe = schema.Frontend(
        name="www-v4", key=model.VipKey("192.0.2.1/32", 6, 80), spec=model.VipSpec(),
        pools=(schema.Pool("primary", {f"p{i}": 100 for i in range(10)}), schema.Pool("secondary", {"s": 100})),
        spill=1.4,
    )
    health = {f"p{i}": "up" if i < 3 else "down" for i in range(10)}
    health["s"] = "up"
    path = str(tmp_path / "state.json")
    write_agent_state(path, health, {"www-v4": "up", "other": "up"}, now=NOW,
                      pools={"www-v4": weights.pool_shares(fe, health)})
    with open(path) as handle:
        frontends = json.load(handle)["frontends"]
    assert frontends["www-v4"]["pools"] == {
        "primary": {"healthy_fraction": 0.3, "health": 0.42, "share": 0.42, "spilled": 0.58},
        "secondary": {"healthy_fraction": 1.0, "health": 1.0, "share": 0.58, "spilled": 0.0},
    }
    assert "pools" not in frontends["other"]
    assert read_agent_health(path, 30.0, now=NOW).health == health


def test_write_defaults_pid_time_and_frontends(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(agent_state.time, "time", lambda: 1234.5)
    path = str(tmp_path / "state.json")
    write_agent_state(path, {"web1": "paused"})
    doc = json.loads((tmp_path / "state.json").read_text())
    assert doc["written_at"] == 1234.5
    assert doc["agent"] == {"pid": os.getpid(), "started_at": 1234.5}
    assert doc["backends"] == {"web1": {"state": "paused", "since": 1234.5}}
    assert doc["frontends"] == {}


def test_write_creates_directory_with_readable_file_and_no_leftovers(tmp_path) -> None:
    path = tmp_path / "run" / "maglev-agent" / "state.json"
    write_agent_state(str(path), {"web1": "up"}, now=NOW)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(path.parent) == ["state.json"]


def test_rewrite_replaces_the_whole_file(tmp_path) -> None:
    path = str(tmp_path / "state.json")
    write_agent_state(path, {"web1": "up", "web2": "up", "web3": "up"}, now=NOW)
    write_agent_state(path, {"web1": "down"}, now=NOW + 1)
    view = read_agent_health(path, 30, now=NOW + 2)
    assert view.health == {"web1": "down"}
    assert view.written_at == NOW + 1
    assert os.listdir(tmp_path) == ["state.json"]


@pytest.mark.parametrize(
    "backends, frontends, message",
    [
        ({"web1": "sleeping"}, None, "backend web1: unknown state 'sleeping'"),
        ({"web1": "up"}, {"www": "paused"}, "frontend www: unknown state 'paused'"),
    ],
    ids=["backend-state", "frontend-state"],
)
def test_write_rejects_unknown_states_and_keeps_the_old_file(tmp_path, backends, frontends, message) -> None:
    path = str(tmp_path / "state.json")
    write_agent_state(path, {"web1": "up"}, now=NOW)
    before = (tmp_path / "state.json").read_bytes()
    with pytest.raises(ValueError, match=message):
        write_agent_state(path, backends, frontends, now=NOW + 1)
    assert (tmp_path / "state.json").read_bytes() == before
    assert os.listdir(tmp_path) == ["state.json"]


def test_failed_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "state.json")
    write_agent_state(path, {"web1": "up"}, now=NOW)
    before = (tmp_path / "state.json").read_bytes()

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(agent_state.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_agent_state(path, {"web1": "down"}, now=NOW + 1)
    assert (tmp_path / "state.json").read_bytes() == before
    assert os.listdir(tmp_path) == ["state.json"]


# ---------------------------------------------------------------------------------------------
# Reading: every case, with the exact health and the words of the reason


def reason_for(path: str, text: str) -> str:
    return text.replace("{path}", path)


# (content written to the file, max_age, expected health, expected reason with {path},
#  expected written_at)
READ_CASES = [
    pytest.param(
        VALID, 30, VALID_HEALTH,
        "using agent state {path} written 2.5 s ago (1 up, 1 down, 1 unknown)", NOW - 2.5, id="fresh",
    ),
    pytest.param(
        document(written_at=NOW - 95), 30, None,
        "agent state {path} is 95 s old (max_age 30 s): " + FALLBACK, NOW - 95, id="stale",
    ),
    pytest.param(
        document(written_at=NOW - 30), 30, VALID_HEALTH,
        "using agent state {path} written 30 s ago (1 up, 1 down, 1 unknown)", NOW - 30, id="exactly-max-age",
    ),
    pytest.param(
        document(written_at=NOW - 30.5), 30, None,
        "agent state {path} is 30 s old (max_age 30 s): " + FALLBACK, NOW - 30.5, id="just-over-max-age",
    ),
    pytest.param(
        document(written_at=NOW + 4), 30, VALID_HEALTH,
        "using agent state {path} written 0 s ago (1 up, 1 down, 1 unknown)", NOW + 4, id="small-clock-skew",
    ),
    pytest.param(
        document(written_at=NOW + 42), 30, None,
        "agent state {path} was written 42 s in the future (clock changed?): " + FALLBACK, NOW + 42,
        id="future",
    ),
    pytest.param(
        document(backends={"web1": {"state": "unknown", "since": NOW}, "web2": {"state": "unknown"}}), 30, None,
        "agent state {path} has no health results yet (all 2 backends unknown, agent starting?): " + FALLBACK,
        NOW - 2.5, id="all-unknown",
    ),
    pytest.param(
        document(backends={}), 30, None, "agent state {path} lists no backends: " + FALLBACK, NOW - 2.5,
        id="no-backends",
    ),
    pytest.param(
        document(backends={"web1": {"state": "paused"}, "web2": {"state": "unknown"}}), 30,
        {"web1": "paused", "web2": "unknown"},
        "using agent state {path} written 2.5 s ago (1 unknown, 1 paused)", NOW - 2.5,
        id="operator-state-is-a-result",
    ),
    pytest.param(
        document(frontends=DELETE, agent=DELETE, extra={"future": "key"}, backends__web1__note="x"), 30,
        VALID_HEALTH, "using agent state {path} written 2.5 s ago (1 up, 1 down, 1 unknown)", NOW - 2.5,
        id="unknown-keys-ignored-optional-sections",
    ),
    pytest.param(
        "{", 30, None,
        "agent state {path} is not valid JSON (Expecting property name enclosed in double quotes:"
        " line 1 column 2 (char 1)): " + FALLBACK, None, id="not-json",
    ),
    pytest.param(
        b"\xff\xfe{}", 30, None, None, None, id="not-utf8",
    ),
    pytest.param(
        [1, 2], 30, None, "{path} is not a maglev agent state file (no format marker): " + FALLBACK, None,
        id="json-list",
    ),
    pytest.param(
        document(format="maglev-agent-status"), 30, None,
        "{path} is not a maglev agent state file (format 'maglev-agent-status'): " + FALLBACK, None,
        id="other-format",
    ),
    pytest.param(
        document(version=2), 30, None,
        "agent state {path} has version 2, this collection reads version 1: " + FALLBACK, None, id="version-2",
    ),
    pytest.param(
        document(version=True), 30, None,
        "agent state {path} has version True, this collection reads version 1: " + FALLBACK, None,
        id="version-boolean",
    ),
    pytest.param(
        document(written_at=DELETE), 30, None,
        "agent state {path} is malformed (written_at must be a number, got None): " + FALLBACK, None,
        id="no-written-at",
    ),
    pytest.param(
        document(written_at="1767225600"), 30, None,
        "agent state {path} is malformed (written_at must be a number, got '1767225600'): " + FALLBACK, None,
        id="written-at-string",
    ),
    pytest.param(
        '{"format": "maglev-agent-state", "version": 1, "written_at": NaN, "backends": {}}', 30, None,
        "agent state {path} is malformed (written_at must be a number, got nan): " + FALLBACK, None,
        id="written-at-nan",
    ),
    pytest.param(
        document(backends=["web1"]), 30, None,
        "agent state {path} is malformed (backends must be a mapping, got list): " + FALLBACK, None,
        id="backends-list",
    ),
    pytest.param(
        document(backends__web1="up"), 30, None,
        "agent state {path} is malformed (backends.web1 must be a mapping): " + FALLBACK, None,
        id="backend-not-mapping",
    ),
    pytest.param(
        document(backends__web2__state="sleeping"), 30, None,
        "agent state {path} is malformed (backends.web2.state: unknown state 'sleeping'): " + FALLBACK, None,
        id="unknown-backend-state",
    ),
    pytest.param(
        document(backends__web2__state=DELETE), 30, None,
        "agent state {path} is malformed (backends.web2.state: unknown state None): " + FALLBACK, None,
        id="missing-backend-state",
    ),
    pytest.param(
        document(backends__web1__since="yesterday"), 30, None,
        "agent state {path} is malformed (backends.web1.since must be a number, got 'yesterday'): " + FALLBACK,
        None, id="since-not-number",
    ),
    pytest.param(
        document(frontends__www_v4={"state": "paused"}), 30, None,
        "agent state {path} is malformed (frontends.www_v4.state: unknown state 'paused'): " + FALLBACK, None,
        id="unknown-frontend-state",
    ),
    pytest.param(
        document(agent=4242), 30, None,
        "agent state {path} is malformed (agent must be a mapping, got int): " + FALLBACK, None,
        id="agent-not-mapping",
    ),
]


@pytest.mark.parametrize("content, max_age, health, reason, written_at", READ_CASES)
def test_read_agent_health(tmp_path, content, max_age, health, reason, written_at) -> None:
    path = write_raw(tmp_path, content)
    view = read_agent_health(path, max_age, now=NOW)
    assert view.health == health
    assert view.written_at == written_at
    if reason is None:
        assert view.reason.startswith(f"agent state {path} is not valid JSON (")
        assert view.reason.endswith(FALLBACK)
    else:
        assert view.reason == reason_for(path, reason)


def test_missing_file(tmp_path) -> None:
    path = str(tmp_path / "nowhere" / "state.json")
    assert read_agent_health(path, 30, now=NOW) == AgentView(
        None, f"no agent state at {path} (no agent running?): {FALLBACK}", None
    )


def test_unreadable_path(tmp_path) -> None:
    path = str(tmp_path)  # a directory: open() fails with an OSError other than "not found"
    view = read_agent_health(path, 30, now=NOW)
    assert view.health is None
    assert view.reason.startswith(f"cannot read agent state {path} (")
    assert view.reason.endswith(FALLBACK)


def test_negative_max_age_is_a_caller_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="max_age"):
        read_agent_health(str(tmp_path / "state.json"), -1, now=NOW)


def test_read_returns_a_fresh_mapping_per_call(tmp_path) -> None:
    path = write_raw(tmp_path, VALID)
    first = read_agent_health(path, 30, now=NOW)
    first.health["web1"] = "down"
    assert read_agent_health(path, 30, now=NOW).health["web1"] == "up"


# ---------------------------------------------------------------------------------------------
# What the modules do with the view


BACKENDS = {
    "web1": schema.Backend("web1", "198.51.100.11", healthcheck="http"),
    "web2": schema.Backend("web2", "198.51.100.12", healthcheck="http"),
    "static": schema.Backend("static", "198.51.100.13"),
}


@pytest.mark.parametrize(
    "written_at, expected",
    [
        (NOW - 1, {"web1": "up", "web2": "down", "static": "up"}),
        (NOW - 300, {"web1": "up", "web2": "up", "static": "up"}),  # stale: no agent
        (None, {"web1": "up", "web2": "up", "static": "up"}),  # no file: no agent
    ],
    ids=["fresh", "stale", "missing"],
)
def test_view_feeds_backend_states(tmp_path, written_at: Optional[float], expected: Dict[str, str]) -> None:
    path = str(tmp_path / "state.json")
    if written_at is not None:
        write_agent_state(path, {"web1": "up", "web2": "down"}, now=written_at)
    view = read_agent_health(path, 30, now=NOW)
    assert weights.backend_states(BACKENDS, view.health) == expected


def test_adjustments_round_trip_and_neutral_ones_are_not_written(tmp_path) -> None:
    path = str(tmp_path / "state.json")
    adjustments = {
        "www": {
            "web1": weights.MemberAdjustment(override=50, ramp=0.4),
            "web2": weights.MemberAdjustment(draining=True),
            "web3": weights.MemberAdjustment(),
        }
    }
    agent_state.write_agent_state(
        path, {"web1": "up", "web2": "disabled", "web3": "up"}, {"www": "up", "other": "down"}, adjustments=adjustments
    )
    with open(path) as handle:
        document = json.load(handle)
    assert document["frontends"]["www"]["members"] == {
        "web1": {"override": 50, "ramp": 0.4},
        "web2": {"draining": True},
    }
    assert "members" not in document["frontends"]["other"]
    view = agent_state.read_agent_health(path, 30)
    assert view.adjustments == {"www": {"web1": adjustments["www"]["web1"], "web2": adjustments["www"]["web2"]}}


@pytest.mark.parametrize(
    "member, message",
    [
        ({"override": 101}, "override must be an integer 0..100"),
        ({"override": True}, "override must be an integer 0..100"),
        ({"ramp": 0}, "ramp must be in (0, 1]"),
        ({"ramp": "half"}, "ramp must be a number"),
        ({"draining": "yes"}, "draining must be true or false"),
        ("fast", "must be a mapping"),
    ],
)
def test_malformed_adjustments_make_the_view_unusable(tmp_path, member, message) -> None:
    path = tmp_path / "state.json"
    agent_state.write_agent_state(str(path), {"web1": "up"}, {"www": "up"})
    document = json.loads(path.read_text())
    document["frontends"]["www"]["members"] = {"web1": member}
    path.write_text(json.dumps(document))
    view = agent_state.read_agent_health(str(path), 30)
    assert view.health is None
    assert message in view.reason


# ---------------------------------------------------------------------------------------------
# Warm-up status and config digests (the contract between the agent and the modules)

DIGEST = ConfigDigest(whole="sha256:w", conf=None, frontends={"www": "sha256:f", "dns": "sha256:g"})


def test_released_and_config_digest_round_trip(tmp_path) -> None:
    path = str(tmp_path / "state.json")
    write_agent_state(path, {"web1": "unknown", "s1": "up"}, {"www": "up", "dns": "up", "old": "up"}, now=NOW,
                      released={"www": False, "dns": True}, digest=DIGEST)
    with open(path) as handle:
        document = json.load(handle)
    assert document["frontends"] == {
        "www": {"state": "up", "released": False},
        "dns": {"state": "up", "released": True},
        "old": {"state": "up"},  # not named: no key (readers take it as released)
    }
    assert document["config"] == {"digest": "sha256:w", "conf": None,
                                  "frontends": {"dns": "sha256:g", "www": "sha256:f"}}
    view = read_agent_health(path, 30, now=NOW + 1)
    assert view.fresh and view.unreleased == frozenset({"www"}) and view.config == DIGEST


def test_an_older_writer_means_released_and_no_digest(tmp_path) -> None:
    view = read_agent_health(write_raw(tmp_path, VALID), 30, now=NOW)
    assert view.fresh and view.unreleased == frozenset() and view.config is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"frontends__www-v4__released": "no"}, "frontends.www-v4.released must be true or false, got 'no'"),
        ({"config": "sha256:w"}, "config must be a mapping, got str"),
        ({"config": {"conf": None}}, "config.digest must be a string, got None"),
        ({"config": {"digest": "d", "conf": 3}}, "config.conf must be a string or null, got 3"),
        ({"config": {"digest": "d", "frontends": {"www": 1}}}, "config.frontends must map frontend names to digests"),
    ],
    ids=["released", "config-not-mapping", "no-digest", "conf-digest", "frontend-digest"],
)
def test_malformed_warmup_or_digest_makes_the_file_unusable(tmp_path, changes, message) -> None:
    view = read_agent_health(write_raw(tmp_path, document(**changes)), 30, now=NOW)
    assert view.health is None and not view.fresh
    assert message in view.reason


@pytest.mark.parametrize("written_at, fresh", [(NOW - 1, True), (NOW - 300, False)], ids=["fresh", "stale"])
def test_only_a_fresh_file_says_an_agent_runs(tmp_path, written_at, fresh) -> None:
    path = str(tmp_path / "state.json")
    write_agent_state(path, {"web1": "unknown"}, {"www": "unknown"}, now=written_at, released={"www": False},
                      digest=DIGEST)
    view = read_agent_health(path, 30, now=NOW)
    assert view.health is None  # all unknown, or stale: not used either way
    assert view.fresh is fresh
    assert view.unreleased == (frozenset({"www"}) if fresh else frozenset())
    assert view.config == (DIGEST if fresh else None)


# The distrust rule is computed over the reader's config: its enabled backends with a health check.
CONFIG_BACKENDS = {
    "web1": schema.Backend("web1", "198.51.100.11", healthcheck="h"),
    "web2": schema.Backend("web2", "198.51.100.12", healthcheck="h"),
    "s1": schema.Backend("s1", "198.51.100.21", healthcheck="h"),
    "static": schema.Backend("static", "198.51.100.30"),
    "off": schema.Backend("off", "198.51.100.31", healthcheck="h", enabled=False),
}
NO_CHECKS = {"static": CONFIG_BACKENDS["static"]}

DISTRUST_CASES = [
    pytest.param(
        {"old-web1": "up", "old-web2": "up"}, CONFIG_BACKENDS, None,
        "names none of the 3 configured backends with a health check (s1, web1, web2; it lists old-web1, old-web2:"
        " does the agent run another config?)",
        id="renamed-backends",
    ),
    pytest.param(
        {"web1": "unknown", "other": "up", "off": "down"}, CONFIG_BACKENDS, None,
        "has no health results yet (all 3 configured backends with a health check unknown, agent starting?)",
        id="no-result-for-any-configured",
    ),
    pytest.param(
        {"web1": "up"}, CONFIG_BACKENDS,
        {"web1": "up", "web2": "unknown", "s1": "unknown", "static": "up", "off": "disabled"}, None,
        id="missing-configured-backends-are-unknown",
    ),
    pytest.param(
        {"web1": "unknown", "web2": "unknown", "s1": "up"}, CONFIG_BACKENDS,
        {"web1": "unknown", "web2": "unknown", "s1": "up", "static": "up", "off": "disabled"}, None,
        id="issue-15-warmup-state",
    ),
    pytest.param(
        {"static": "paused"}, NO_CHECKS, {"static": "paused"}, None, id="no-health-checks-operator-state-used",
    ),
    pytest.param(
        {}, NO_CHECKS, {"static": "up"}, None, id="no-health-checks-empty-view",
    ),
]


@pytest.mark.parametrize("health, backends, states, reason", DISTRUST_CASES)
def test_distrust_rule_over_the_configured_backends(tmp_path, health, backends, states, reason) -> None:
    path = str(tmp_path / "state.json")
    write_agent_state(path, health, now=NOW)
    view = read_agent_health(path, 30, now=NOW, backends=backends)
    assert view.fresh
    if reason is None:
        assert view.health is not None, view.reason
        assert weights.backend_states(backends, view.health) == states
    else:
        assert view.health is None
        assert view.reason == f"agent state {path} {reason}: {FALLBACK}"
        assert weights.backend_states(backends, view.health) == {  # no view: every enabled backend up
            name: "disabled" if not backend.enabled else "up" for name, backend in backends.items()}
