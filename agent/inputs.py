"""The agent's runtime inputs of weights: operator overrides, slow-start ramps, drains.

Pure bookkeeping (callers pass the time): which pool members carry a runtime weight override,
which backends are ramping up after a recovery (frontend ``slow_start``), which are draining
after being disabled (frontend ``drain_timeout``); and from that the weights.MemberAdjustment
per frontend and member, which the agent plans with and publishes in its state file.

* A backend ramps when it comes up after being out (down, paused or disabled); coming up for
  the first time (agent start) is not a recovery, so an agent restart never lowers weights.
* A backend drains from the moment it is disabled (by an operator, or `enabled: false` on a
  reload) until the frontend's drain_timeout has passed; then it is flushed as any disabled one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from ..plugins.module_utils.vpp_lb import weights
from ..plugins.module_utils.vpp_lb.schema import Frontend, LbConfig

_OUT = (weights.DOWN, weights.PAUSED, weights.DISABLED)


@dataclass(frozen=True)
class Due:
    """What ``RuntimeInputs.due`` found: delays (s) to the next step or deadline, and what to sync."""

    delays: List[float]
    ramping: Set[str]  # frontends with a running (or just finished) ramp: re-plan them
    drain_ended: bool  # a drain just ended: a full sync with fresh flow counts plans its flush


@dataclass
class RuntimeInputs:
    overrides: Dict[Tuple[str, str], int] = field(default_factory=dict)  # (frontend, backend) -> weight
    ramp_since: Dict[str, float] = field(default_factory=dict)  # backend -> when it recovered
    disabled_at: Dict[str, float] = field(default_factory=dict)  # backend -> when it was disabled
    _was_out: Set[str] = field(default_factory=set)  # backends whose next "up" is a recovery
    _drained: Set[Tuple[str, str]] = field(default_factory=set)  # (frontend, backend): drain over

    def on_transition(self, backend: str, from_state: str, to_state: str, at: float) -> None:
        if to_state in _OUT:
            self._was_out.add(backend)
            self.ramp_since.pop(backend, None)
        elif to_state == weights.UP and backend in self._was_out:
            self._was_out.discard(backend)
            self.ramp_since[backend] = at
        if to_state == weights.DISABLED:
            self.disabled_at[backend] = at
            self._forget_drain_ends(backend)  # a new drain: its end is reported again
        elif from_state == weights.DISABLED:
            self.disabled_at.pop(backend, None)

    def config_enabled_changed(self, backend: str, enabled: bool, now: float) -> None:
        """`enabled` flipped in the file: disabling drains like an operator disable."""
        if enabled:
            self.disabled_at.pop(backend, None)
        else:
            self.disabled_at[backend] = now
            self._forget_drain_ends(backend)

    def _forget_drain_ends(self, backend: str) -> None:
        self._drained = {(f, b) for f, b in self._drained if b != backend}

    def forget_backend(self, backend: str) -> None:
        self.ramp_since.pop(backend, None)
        self.disabled_at.pop(backend, None)
        self._was_out.discard(backend)

    def set_override(self, frontend: str, backend: str, weight: Optional[int]) -> None:
        if weight is None:
            self.overrides.pop((frontend, backend), None)
        else:
            self.overrides[(frontend, backend)] = weight

    def keep_members_of(self, config: LbConfig) -> List[Tuple[str, str]]:
        """After a reload: overrides of members that left the config go; returns them."""
        kept = {
            (f, b): w for (f, b), w in self.overrides.items()
            if f in config.frontends and b in config.frontends[f].backend_names()
        }
        dropped = sorted(set(self.overrides) - set(kept))
        self.overrides = kept
        return dropped

    def adjustments(self, config: LbConfig, now: float) -> Dict[str, Dict[str, weights.MemberAdjustment]]:
        """frontend -> backend -> MemberAdjustment, only for members with a runtime input."""
        result: Dict[str, Dict[str, weights.MemberAdjustment]] = {}
        for fe in config.frontends.values():
            members = self.adjustments_of(fe, now)
            if members:
                result[fe.name] = members
        return result

    def adjustments_of(self, fe: Frontend, now: float) -> Dict[str, weights.MemberAdjustment]:
        """backend -> MemberAdjustment for one frontend, only members with a runtime input."""
        result: Dict[str, weights.MemberAdjustment] = {}
        for name in fe.backend_names():
            ramp = None
            if fe.slow_start > 0 and name in self.ramp_since:
                ramp = weights.slow_start_fraction(now - self.ramp_since[name], fe.slow_start)
            draining = (
                fe.drain_timeout > 0 and name in self.disabled_at
                and now - self.disabled_at[name] < fe.drain_timeout
            )
            adjust = weights.MemberAdjustment(self.overrides.get((fe.name, name)), ramp, draining)
            if not adjust.is_neutral():
                result[name] = adjust
        return result

    def due(self, config: LbConfig, now: float) -> Due:
        """Ramp steps and drain ends at ``now``, and the delays until the next ones.

        Forgets ramps that are over in every frontend (their full weight goes out with the
        re-plan of ``ramping``) and remembers which drains it reported as ended, so each is
        reported once.
        """
        delays: List[float] = []
        ramping: Set[str] = set()
        drain_ended = False
        longest_ramp: Dict[str, float] = {}
        for fe in config.frontends.values():
            for name in fe.backend_names():
                if fe.slow_start > 0 and name in self.ramp_since:
                    ramping.add(fe.name)
                    longest_ramp[name] = max(longest_ramp.get(name, 0.0), fe.slow_start)
                    step = weights.slow_start_next_step(now - self.ramp_since[name], fe.slow_start)
                    if step is not None:
                        delays.append(step)
                if fe.drain_timeout > 0 and name in self.disabled_at:
                    left = self.disabled_at[name] + fe.drain_timeout - now
                    if left > 0:
                        delays.append(left)
                    elif (fe.name, name) not in self._drained:
                        self._drained.add((fe.name, name))
                        drain_ended = True
        self.ramp_since = {n: t for n, t in self.ramp_since.items() if now - t < longest_ramp.get(n, 0.0)}
        self._drained = {(f, b) for f, b in self._drained if b in self.disabled_at}
        return Due(delays, ramping, drain_ended)
