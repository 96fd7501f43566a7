"""Operator decisions that outlive the agent: pause, disable and runtime weight overrides.

HAProxy's server-state-file is the anchor: an operator who disables a backend for maintenance
must not see it back in rotation because the agent restarted (upgrade, crash, reboot). The
agent writes this file atomically in its state directory (``agent.state_dir``, by default
``/var/lib/maglev-agent``, kept across reboots) on every operator action, and reads it at start.
An entry ends only by the operator (resume, enable, deleting the override) or when the backend
or pool member leaves the config.

Format (version 1)::

    {"format": "maglev-agent-operator-state", "version": 1, "written_at": 1767225600.0,
     "backends": {"web1": {"state": "disabled", "since": 1767225000.0}},
     "overrides": {"www-v4": {"web2": 50}}}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Tuple

from ..plugins.module_utils.vpp_lb import agent_state
from ..plugins.module_utils.vpp_lb.weights import DISABLED, PAUSED

FORMAT = "maglev-agent-operator-state"
VERSION = 1
FILE_NAME = "operator-state.json"
OPERATOR_STATES = (PAUSED, DISABLED)


class OperatorStateError(ValueError):
    """The file exists but cannot be used (the agent refuses to start rather than forget it)."""


@dataclass(frozen=True)
class OperatorState:
    backends: Mapping[str, Tuple[str, float]] = field(default_factory=dict)  # name -> (paused|disabled, since)
    overrides: Mapping[Tuple[str, str], int] = field(default_factory=dict)  # (frontend, backend) -> weight

    def is_empty(self) -> bool:
        return not self.backends and not self.overrides


def path_in(state_dir: str) -> str:
    return os.path.join(state_dir, FILE_NAME)


def to_document(state: OperatorState, now: float) -> Dict[str, Any]:
    overrides: Dict[str, Dict[str, int]] = {}
    for (frontend, backend), weight in sorted(state.overrides.items()):
        overrides.setdefault(frontend, {})[backend] = weight
    return {
        "format": FORMAT,
        "version": VERSION,
        "written_at": now,
        "backends": {n: {"state": s, "since": t} for n, (s, t) in sorted(state.backends.items())},
        "overrides": overrides,
    }


def from_document(document: Any) -> OperatorState:
    """Parse a document; OperatorStateError names what is wrong."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise OperatorStateError("not a maglev agent operator-state file")
    if document.get("version") != VERSION:
        raise OperatorStateError(f"version {document.get('version')!r}, this agent reads version {VERSION}")
    backends: Dict[str, Tuple[str, float]] = {}
    for name, entry in _mapping(document.get("backends", {}), "backends").items():
        state = entry.get("state") if isinstance(entry, dict) else None
        since = entry.get("since", 0.0) if isinstance(entry, dict) else None
        if state not in OPERATOR_STATES or isinstance(since, bool) or not isinstance(since, (int, float)):
            raise OperatorStateError(f"backends.{name}: expected {{state: paused|disabled, since: seconds}}")
        backends[str(name)] = (state, float(since))
    overrides: Dict[Tuple[str, str], int] = {}
    for frontend, members in _mapping(document.get("overrides", {}), "overrides").items():
        for backend, weight in _mapping(members, f"overrides.{frontend}").items():
            if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
                raise OperatorStateError(f"overrides.{frontend}.{backend}: weight must be 0..100, got {weight!r}")
            overrides[(str(frontend), str(backend))] = weight
    return OperatorState(backends, overrides)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise OperatorStateError(f"{path} must be a mapping")
    return value


def load(path: str) -> OperatorState:
    """The persisted state; empty when the file does not exist. Raises OperatorStateError."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return OperatorState()
    except OSError as exc:
        raise OperatorStateError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise OperatorStateError(f"{path} is not valid JSON: {exc}") from None
    try:
        return from_document(document)
    except OperatorStateError as exc:
        raise OperatorStateError(f"{path}: {exc}") from None


def save(path: str, state: OperatorState, now: float) -> None:
    """Atomically replace ``path`` (the old file stays whole when the disk is full)."""
    text = json.dumps(to_document(state, now), indent=2, sort_keys=True) + "\n"
    agent_state.replace_atomically(path, text.encode("utf-8"))
