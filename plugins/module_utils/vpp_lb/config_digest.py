"""Digests of a maglev_lb config: which config does the running agent run?

The agent publishes these digests in its state file; the ``lb`` module computes them for the
config it pushes and compares (design.md "One writer, no silent reverts"). Both sides call
``config_digest`` on a parsed ``schema.LbConfig``, so equal inputs give equal digests however
the YAML was written (key order, ``{}`` vs ``{weight: 100}``, ``2s`` vs ``2000ms``).

A frontend's digest covers everything that decides what the agent pushes for it: its VIP
(prefix, protocol, port) and immutable spec, ``flush_on_down``, ``slow_start``,
``drain_timeout``, ``spill``, its pools in order with each member's configured weight, and for every
member backend its address, ``enabled`` and its whole health check. Descriptions are left out:
they change nothing in VPP. ``conf`` is the digest of lb_conf (None when the config leaves
lb_conf alone); ``whole`` covers conf and every frontend's digest, so two configs with the same
``whole`` make the agent push the same thing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

from . import model
from .schema import Frontend, LbConfig

PREFIX = "sha256:"


@dataclass(frozen=True)
class ConfigDigest:
    """The digests of one config: ``whole``, ``conf`` (None: no lb_conf) and per frontend name."""

    whole: str
    conf: Optional[str] = None
    frontends: Dict[str, str] = field(default_factory=dict)


def config_digest(config: LbConfig) -> ConfigDigest:
    """The digests of ``config`` (whole, lb_conf, and one per frontend)."""
    checks = _check_digests(config)
    frontends = {
        name: frontend_digest(config, frontend, checks) for name, frontend in sorted(config.frontends.items())
    }
    conf = conf_digest(config.conf)
    return ConfigDigest(whole=_digest({"conf": conf, "frontends": frontends}), conf=conf, frontends=frontends)


def conf_digest(conf: Optional[model.LbConf]) -> Optional[str]:
    """The digest of lb_conf, None when there is none."""
    return None if conf is None else _digest(_fields(conf))


def frontend_digest(config: LbConfig, frontend: Frontend, checks: Optional[Dict[str, str]] = None) -> str:
    """The digest of one frontend of ``config`` (its backends and health checks included).

    ``checks`` (health check name -> digest) saves recomputing them for every frontend.
    """
    checks = _check_digests(config) if checks is None else checks
    backends: Dict[str, Any] = {}
    for name in frontend.backend_names():
        backend = config.backends[name]
        backends[name] = [backend.address, backend.enabled, checks.get(backend.healthcheck or "")]
    fields: Dict[str, Any] = {
        "vip": [frontend.key.prefix, frontend.key.protocol, frontend.key.port],
        "spec": _fields(frontend.spec),
        "flush_on_down": frontend.flush_on_down,
        "slow_start": frontend.slow_start,
        "drain_timeout": frontend.drain_timeout,
        # members sorted: their order inside a pool changes no weight
        "pools": [[pool.name, sorted(pool.members.items())] for pool in frontend.pools],
        "backends": backends,
    }
    if frontend.spill is not None:  # only when set, so configs without spill keep their digests
        fields["spill"] = frontend.spill
    return _digest(fields)


def _check_digests(config: LbConfig) -> Dict[str, str]:
    return {name: _digest(_fields(check)) for name, check in config.healthchecks.items()}


def _fields(value: Any) -> Dict[str, Any]:
    # Shallow (tuples stay tuples, which JSON writes as lists): dataclasses.asdict deep-copies,
    # which made a digest of 1,000 frontends several times slower.
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def mismatches(pushed: ConfigDigest, running: ConfigDigest, deleted: Iterable[str] = ()) -> List[str]:
    """What of a push the agent running ``running`` would not keep, one line each (none: safe).

    ``pushed`` is the config being pushed, ``deleted`` the frontends the push deletes (state
    ``deleted``, or frontends that ``overridden`` does not declare). A push's lb_conf differs only
    when both configs have one: an agent without conf never writes lb_conf.
    """
    lines = []
    if pushed.conf is not None and running.conf is not None and pushed.conf != running.conf:
        lines.append("conf (lb_conf) differs from the agent's")
    for name, digest in sorted(pushed.frontends.items()):
        theirs = running.frontends.get(name)
        if theirs is None:
            lines.append(f"frontend {name} is not in the agent's config (the agent would not follow its health)")
        elif theirs != digest:
            lines.append(f"frontend {name} differs from the agent's config")
    for name in sorted(set(deleted)):
        if name in running.frontends:
            lines.append(f"frontend {name} is deleted by this push, but the agent's config has it"
                         " (it would add it back)")
    return lines
