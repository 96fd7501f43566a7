"""The agent's published health view: a small JSON file the modules read.

The agent owns health (design.md "Who owns what"). It publishes its view by rewriting one file
atomically, by default ``/run/maglev-agent/state.json``; the modules read it to push the same
effective weights the agent would. docs/agent-state.md describes the format for operators.

Format (version 1)::

    {
      "format": "maglev-agent-state",
      "version": 1,
      "written_at": 1767225600.25,                  # unix seconds (float) of this write
      "agent": {"pid": 4242, "started_at": 1767225000.0},
      "backends": {                                  # backend name -> health
        "web1": {"state": "up", "since": 1767225010.5},
        "web2": {"state": "down", "since": 1767225590.0}
      },
      "frontends": {                                 # frontend name -> state
        "www-v4": {"state": "up",
                   "released": true,                 # warm-up over: the agent sets its weights
                   "members": {                      # only members with a runtime input
                     "web1": {"override": 50, "ramp": 0.4, "draining": false}},
                   "pools": {                        # only frontends with spill: each pool's share
                     "primary": {"healthy_fraction": 0.6, "health": 0.84, "share": 0.84, "spilled": 0.16},
                     "fallback": {"healthy_fraction": 1.0, "health": 1.0, "share": 0.16, "spilled": 0.0}}}
      },
      "config": {                                    # config_digest.config_digest of the agent's config
        "digest": "sha256:...", "conf": "sha256:..." or null,
        "frontends": {"www-v4": "sha256:..."}
      }
    }

* Backend states are weights.BACKEND_STATES (``unknown``, ``up``, ``down``, ``paused``,
  ``disabled``); ``since`` is when the backend entered that state. Frontend states are ``up``,
  ``down`` and ``unknown``.
* ``members`` carries the agent's runtime inputs of a pool member's weight that the inventory
  lacks (weights.MemberAdjustment): a runtime ``override`` weight, the slow-start ``ramp``
  fraction in effect, and ``draining`` (a disabled backend still draining). Readers apply them
  as the agent does, so a playbook computes exactly the agent's weights.
* The agent rewrites the file on every change and at least every ``REFRESH_INTERVAL`` seconds
  (DEFAULT_MAX_AGE / 3), so an idle healthy agent never looks stale to a reader using the
  default max_age.
* ``released`` false: the agent does not set this frontend's weights yet (warm-up, or it cannot
  see): readers keep VPP's live weights for it. Absent (older writers) means true.
* ``pools`` (frontends with ``spill`` only): each pool's part of new flows as the agent's
  weights.pool_shares computed it (healthy fraction, health = fraction x overprovisioning capped
  at 1, share, and what spilled on to the later pools), rounded to 4 decimals. Informative:
  readers recompute the weights from the inputs above, never from these numbers.
* ``config`` (absent from older writers): the digests of the config the agent runs, so a reader
  can tell whether a push matches it (config_digest.mismatches).
* Readers ignore keys they do not know, so version 1 may grow new keys; a change that an
  existing reader would misread bumps ``version``, and readers reject versions they do not know.

Reading never raises: when the view cannot be trusted, ``read_agent_health`` returns
``health=None`` ("no agent": weights.backend_states then counts every backend as up) and a
reason an operator understands. That is the safe side: a missing, stale or broken file must
not push weight 0 everywhere and take the service down. The distrust rule is computed over the
reader's config: a configured backend with a health check that the view does not list is
``unknown``, and a view that knows none of them (or has no result for any) is not used.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence

from .config_digest import ConfigDigest
from .schema import Backend
from .weights import BACKEND_STATES, DISABLED, DOWN, PAUSED, UNKNOWN, UP, MemberAdjustment, PoolShare

DEFAULT_PATH = "/run/maglev-agent/state.json"
# Readers (the modules' agent_state_max_age) distrust an older file; the agent rewrites it
# three times as often, so one missed write does not make it look stale.
DEFAULT_MAX_AGE = 30.0
REFRESH_INTERVAL = DEFAULT_MAX_AGE / 3
FORMAT = "maglev-agent-state"
VERSION = 1
FRONTEND_STATES = (UP, DOWN, UNKNOWN)
# The writer and the reader share one host clock, but NTP may step it a little; a file written
# further in the future than this is not believed.
CLOCK_SKEW_ALLOWANCE = 5.0
_REPORT_ORDER = (UP, DOWN, UNKNOWN, PAUSED, DISABLED)  # for "3 up, 1 down" in reasons
FILE_MODE = 0o644
DIR_MODE = 0o755


@dataclass(frozen=True)
class AgentView:
    """What the modules make of the agent's file.

    ``health`` maps backend name -> state, or is None: no usable agent view, count every
    backend as up. ``reason`` says why in plain words; ``written_at`` is the file's timestamp
    when one could be read.
    """

    health: Optional[Dict[str, str]]
    reason: str
    written_at: Optional[float] = None
    # frontend -> backend -> runtime inputs; {} when the file has none or is not used
    adjustments: Dict[str, Dict[str, MemberAdjustment]] = field(default_factory=dict)
    # True: a valid file written within max_age, so an agent runs (even when ``health`` is None)
    fresh: bool = False
    # frontends whose weights the agent does not set yet (warm-up): keep VPP's live weights
    unreleased: FrozenSet[str] = frozenset()
    # the digests of the agent's config; None when not fresh or the writer publishes none
    config: Optional[ConfigDigest] = None


class _Malformed(ValueError):
    """The file is JSON of our format but its content is not what version 1 promises."""


# ---------------------------------------------------------------------------------------------
# Writing


def write_agent_state(
    path: str,
    backends: Mapping[str, str],
    frontends: Optional[Mapping[str, str]] = None,
    *,
    now: Optional[float] = None,
    since: Optional[Mapping[str, float]] = None,
    pid: Optional[int] = None,
    started_at: Optional[float] = None,
    adjustments: Optional[Mapping[str, Mapping[str, MemberAdjustment]]] = None,
    released: Optional[Mapping[str, bool]] = None,
    digest: Optional[ConfigDigest] = None,
    pools: Optional[Mapping[str, Sequence[PoolShare]]] = None,
) -> None:
    """Atomically replace ``path`` with the view ``backends`` (name -> state) and ``frontends``.

    ``now`` defaults to the current time, ``pid`` to this process, ``started_at`` and any
    backend missing from ``since`` to ``now``. ``released`` maps frontend name -> whether the
    agent sets its weights (warm-up over); a frontend it does not name is written without the
    key (readers take it as released). ``digest`` is config_digest.config_digest of the config
    the agent runs. ``pools`` maps frontend name -> its weights.pool_shares (pass only frontends
    with spill; the others are written without the key). The file appears complete or not at all: it is
    written to a temporary file in the same directory, fsynced, then renamed over ``path``.
    The directory is created when missing. Unknown states raise ValueError before anything
    is written.
    """
    written_at = time.time() if now is None else float(now)
    since = since or {}
    document = {
        "format": FORMAT,
        "version": VERSION,
        "written_at": written_at,
        "agent": {
            "pid": os.getpid() if pid is None else int(pid),
            "started_at": written_at if started_at is None else float(started_at),
        },
        "backends": {
            name: {
                "state": _checked(name, state, BACKEND_STATES, "backend"),
                "since": float(since.get(name, written_at)),
            }
            for name, state in sorted(backends.items())
        },
        "frontends": {
            name: _frontend_entry(name, state, (adjustments or {}).get(name), (released or {}).get(name),
                                  (pools or {}).get(name))
            for name, state in sorted((frontends or {}).items())
        },
    }
    if digest is not None:
        frontend_digests = dict(sorted(digest.frontends.items()))
        document["config"] = {"digest": digest.whole, "conf": digest.conf, "frontends": frontend_digests}
    # Compact: json's C encoder (indented text takes its pure-Python one, ~4x the time holding the
    # GIL beside the agent's probes: 5,000 backends). `jq . FILE` shows it indented.
    text = json.dumps(document, separators=(",", ":")) + "\n"
    _replace_atomically(path, text.encode("utf-8"))


def _frontend_entry(
    name: str, state: str, members: Optional[Mapping[str, MemberAdjustment]], released: Optional[bool],
    pools: Optional[Sequence[PoolShare]] = None,
) -> dict:
    entry: Dict[str, Any] = {"state": _checked(name, state, FRONTEND_STATES, "frontend")}
    if released is not None:
        entry["released"] = bool(released)
    written = {}
    for backend, adjust in sorted((members or {}).items()):
        if adjust.is_neutral():
            continue
        item: Dict[str, Any] = {}
        if adjust.override is not None:
            item["override"] = int(adjust.override)
        if adjust.ramp is not None:
            item["ramp"] = float(adjust.ramp)
        if adjust.draining:
            item["draining"] = True
        written[backend] = item
    if written:
        entry["members"] = written
    if pools:
        entry["pools"] = {share.pool: _share_entry(share) for share in pools}
    return entry


def _share_entry(share: PoolShare) -> Dict[str, Any]:
    return {
        "healthy_fraction": round(share.healthy_fraction, 4),
        "health": None if share.health is None else round(share.health, 4),
        "share": round(share.share, 4),
        "spilled": round(share.spilled, 4),
    }


def _checked(name: str, state: str, allowed: tuple, kind: str) -> str:
    if state not in allowed:
        raise ValueError(f"{kind} {name}: unknown state {state!r} (expected one of {', '.join(allowed)})")
    return state


def _replace_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
    # Same directory as the target, so os.replace is a rename within one filesystem: readers
    # see either the old file or the new one, never a partial write.
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)  # mkstemp creates 0600; the modules may run as another user
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


# The agent writes its operator-state file the same way.
replace_atomically = _replace_atomically


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; best effort (some filesystems refuse fsync on a directory).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Reading


def read_agent_health(
    path: str, max_age: float, *, now: Optional[float] = None, backends: Optional[Mapping[str, Backend]] = None
) -> AgentView:
    """The agent's backend health from ``path``, or None with the reason it is not used.

    ``health`` is None (every backend counts as up) when the file is missing, unreadable,
    malformed, of another format or version, older than ``max_age`` seconds, written more than
    CLOCK_SKEW_ALLOWANCE seconds in the future, or when the view cannot decide (``distrust``):
    it knows none of the watched backends, or has no result for any of them (the agent has just
    started; trusting it would set every weight to 0). The watched backends are the enabled ones
    of ``backends`` (the reader's config) with a health check, or every backend the file lists
    when ``backends`` is None. ``fresh``, ``unreleased`` and ``config`` describe a valid file
    written within ``max_age`` even when its health is not used. ``max_age`` must not be negative.
    """
    if max_age < 0:
        raise ValueError(f"max_age must not be negative, got {max_age}")
    now = time.time() if now is None else float(now)
    fallback = "treating every backend as up"
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return AgentView(None, f"no agent state at {path} (no agent running?): {fallback}")
    except OSError as exc:
        return AgentView(None, f"cannot read agent state {path} ({exc.strerror or exc}): {fallback}")

    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return AgentView(None, f"agent state {path} is not valid JSON ({exc}): {fallback}")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        what = f"format {found!r}" if found is not None else "no format marker"
        return AgentView(None, f"{path} is not a maglev agent state file ({what}): {fallback}")
    version = document.get("version")
    if version != VERSION or isinstance(version, bool):
        return AgentView(
            None, f"agent state {path} has version {version!r}, this collection reads version {VERSION}: {fallback}"
        )

    try:
        written_at = _number(document.get("written_at"), "written_at")
        health = _backend_health(document.get("backends"))
        adjustments = _frontend_adjustments(document.get("frontends"))
        unreleased = _unreleased(document.get("frontends"))
        digest = _config_digest(document.get("config"))
        _check_agent(document.get("agent"))
    except _Malformed as exc:
        return AgentView(None, f"agent state {path} is malformed ({exc}): {fallback}")

    age = now - written_at
    if age > max_age:
        return AgentView(
            None,
            f"agent state {path} is {_seconds(age)} old (max_age {_seconds(max_age)}): {fallback}",
            written_at,
        )
    if -age > CLOCK_SKEW_ALLOWANCE:
        return AgentView(
            None,
            f"agent state {path} was written {_seconds(-age)} in the future (clock changed?): {fallback}",
            written_at,
        )
    fresh = dict(written_at=written_at, fresh=True, unreleased=unreleased, config=digest)
    distrusted = distrust(health, backends)
    if distrusted is not None:
        return AgentView(None, f"agent state {path} {distrusted}: {fallback}", **fresh)
    counts = ", ".join(
        f"{sum(1 for s in health.values() if s == state)} {state}"
        for state in _REPORT_ORDER
        if state in health.values()
    )
    return AgentView(
        health, f"using agent state {path} written {_seconds(max(age, 0.0))} ago ({counts})", adjustments=adjustments,
        **fresh,
    )


def distrust(health: Mapping[str, str], backends: Optional[Mapping[str, Backend]] = None) -> Optional[str]:
    """Why a fresh view must not decide weights (the rest of a sentence), or None to use it.

    Computed over the watched backends: the enabled backends of ``backends`` that have a health
    check (every backend of ``health`` when ``backends`` is None). A watched backend the view
    does not list is ``unknown``. A view that knows none of them runs another config (renamed
    backends would otherwise all get weight 0); one with no result for any has just started.
    """
    if backends is None:
        watched = sorted(health)
        if not watched:
            return "lists no backends"
    else:
        watched = sorted(name for name, backend in backends.items() if backend.enabled and backend.healthcheck)
        if not watched:
            return None  # no health check configured: only operator states matter, use them
        if not any(name in health for name in watched):
            listed = f"it lists {_names(sorted(health))}" if health else "it lists no backends"
            return (
                f"names none of the {len(watched)} configured backends with a health check ({_names(watched)};"
                f" {listed}: does the agent run another config?)"
            )
    if all(health.get(name, UNKNOWN) == UNKNOWN for name in watched):
        what = "backends" if backends is None else "configured backends with a health check"
        return f"has no health results yet (all {len(watched)} {what} unknown, agent starting?)"
    return None


def _names(names: List[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Malformed(f"{what} must be a number, got {value!r}")
    return float(value)


def _backend_health(section: Any) -> Dict[str, str]:
    if not isinstance(section, dict):
        raise _Malformed(f"backends must be a mapping, got {type(section).__name__}")
    health: Dict[str, str] = {}
    for name, entry in section.items():
        if not isinstance(entry, dict):
            raise _Malformed(f"backends.{name} must be a mapping")
        state = entry.get("state")
        if state not in BACKEND_STATES:
            raise _Malformed(f"backends.{name}.state: unknown state {state!r}")
        if "since" in entry:
            _number(entry["since"], f"backends.{name}.since")
        health[name] = state
    return health


def _frontend_adjustments(section: Any) -> Dict[str, Dict[str, MemberAdjustment]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise _Malformed(f"frontends must be a mapping, got {type(section).__name__}")
    result: Dict[str, Dict[str, MemberAdjustment]] = {}
    for name, entry in section.items():
        if not isinstance(entry, dict) or entry.get("state") not in FRONTEND_STATES:
            state = entry.get("state") if isinstance(entry, dict) else entry
            raise _Malformed(f"frontends.{name}.state: unknown state {state!r}")
        members = entry.get("members", {})
        if not isinstance(members, dict):
            raise _Malformed(f"frontends.{name}.members must be a mapping")
        for backend, item in members.items():
            result.setdefault(name, {})[backend] = _adjustment(item, f"frontends.{name}.members.{backend}")
    return result


def _adjustment(item: Any, path: str) -> MemberAdjustment:
    if not isinstance(item, dict):
        raise _Malformed(f"{path} must be a mapping")
    override = item.get("override")
    bad_type = isinstance(override, bool) or not isinstance(override, int)
    if override is not None and (bad_type or not 0 <= override <= 100):
        raise _Malformed(f"{path}.override must be an integer 0..100, got {override!r}")
    ramp = item.get("ramp")
    if ramp is not None:
        ramp = _number(ramp, f"{path}.ramp")
        if not 0 < ramp <= 1:
            raise _Malformed(f"{path}.ramp must be in (0, 1], got {ramp!r}")
    draining = item.get("draining", False)
    if not isinstance(draining, bool):
        raise _Malformed(f"{path}.draining must be true or false, got {draining!r}")
    return MemberAdjustment(override=override, ramp=ramp, draining=draining)


def _unreleased(section: Any) -> FrozenSet[str]:
    """Frontends whose ``released`` is false (section already checked by _frontend_adjustments)."""
    names = set()
    for name, entry in (section or {}).items():
        released = entry.get("released", True)
        if not isinstance(released, bool):
            raise _Malformed(f"frontends.{name}.released must be true or false, got {released!r}")
        if not released:
            names.add(name)
    return frozenset(names)


def _config_digest(section: Any) -> Optional[ConfigDigest]:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise _Malformed(f"config must be a mapping, got {type(section).__name__}")
    whole, conf, frontends = section.get("digest"), section.get("conf"), section.get("frontends", {})
    if not isinstance(whole, str):
        raise _Malformed(f"config.digest must be a string, got {whole!r}")
    if conf is not None and not isinstance(conf, str):
        raise _Malformed(f"config.conf must be a string or null, got {conf!r}")
    if not isinstance(frontends, dict) or not all(isinstance(v, str) for v in frontends.values()):
        raise _Malformed("config.frontends must map frontend names to digests")
    return ConfigDigest(whole=whole, conf=conf, frontends=dict(frontends))


def _check_agent(section: Any) -> None:
    if section is not None and not isinstance(section, dict):
        raise _Malformed(f"agent must be a mapping, got {type(section).__name__}")


def _seconds(value: float) -> str:
    """ "95 s", "2.5 s": whole seconds once the fraction no longer matters."""
    if value >= 10:
        return f"{value:.0f} s"
    return f"{value:.1f}".rstrip("0").rstrip(".") + " s"
