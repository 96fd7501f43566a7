"""Per-backend health state machine: probe results and operator actions in, state out.

Pure: no I/O, no clocks, no tasks. Callers pass the time (``now``, seconds on any monotonic
scale) and the probe outcome; the machine answers with the new state, a :class:`Transition`
when the state changed, and how long to wait before the next probe.

States (names shared with ``weights``): ``unknown`` (no result yet), ``up``, ``down``, the
operator states ``paused`` (probing stops; weight 0, flows drain) and ``disabled`` (probing
stops; weight 0 with flush), and ``removed`` (dropped by a config reload; terminal, local to
the agent).

Rise/fall: HAProxy's single counter in ``[0, rise + fall - 1]`` (``max``); the backend is up
iff ``counter >= rise``. A pass adds 1 (capped at ``max``), a failure subtracts 1 (floored at 0),
and, as in HAProxy, crossing the rise boundary jumps to the far end: reaching ``rise`` sets the
counter to ``max``, dropping below ``rise`` sets it to 0. The jump is what gives real
hysteresis: an up backend needs ``fall`` consecutive failures to go down, a down backend
``rise`` consecutive passes to come up, and one that alternates pass/fail keeps its state
instead of flapping at the boundary (plain +1/-1 would flip it on every probe there; the
vpp-maglev docs promise this hysteresis without the jump that delivers it).

Expedited unknown: entering ``unknown`` (creation, resume, enable, a reload that changed the
probe) presets the counter to ``rise - 1``, so the first pass gives ``up`` and any failure gives
``down`` at once.

Next probe (:meth:`BackendHealth.base_delay`, then +-10% jitter in :meth:`next_delay`):

=========  =========================  =================  ========================================
state      counter                    delay              why
=========  =========================  =================  ========================================
unknown    ``rise - 1`` (preset)      ``fast_interval``  one result settles it: get it soon
up         ``max``                    ``interval``       stable
up         ``< max``                  ``fast_interval``  failures seen: confirm or clear soon
down       ``0``                      ``down_interval``  continuously down: spare the backend
down       ``> 0``                    ``fast_interval``  passes seen: confirm recovery soon
=========  =========================  =================  ========================================

Paused, disabled, removed, or no healthcheck: no probing; asking for a delay is a
:class:`HealthError` (check :attr:`BackendHealth.probing` first).

With ``fall == 1`` an up backend is always at ``max``; with ``rise == 1`` a down one is
always at 0, so for those the fast rows of that state never apply.

Operator actions (anything else raises :class:`HealthError`):

* ``pause``: from unknown/up/down to paused.   ``resume``: from paused to unknown.
* ``disable``: from unknown/up/down/paused to disabled.   ``enable``: from disabled to unknown.
* Pause or resume of a disabled backend is an error (no "paused but disabled" mix), as in
  vpp-maglev; so is pausing a paused, disabling a disabled, resuming or enabling a backend
  that is not paused or disabled.
* ``remove``: from any state but removed; afterwards everything raises. For a backend that
  left the config: call it for the final event, then drop the machine.

A backend with ``enabled: false`` in the config is ``disabled`` whatever its machine says
(``weights.backend_states`` applies the config first); the agent need not probe it.

A backend without a healthcheck (``check=None``) is always ``up``: it never probes
(:meth:`~BackendHealth.record` raises :class:`ResultRejected`), but can still be paused and
disabled; resume and enable return it straight to ``up`` (nothing to wait for). So the agent can
keep one machine per configured backend, with or without a check.

Reload (:meth:`BackendHealth.reconfigure`) keeps what is still evidence:

* same check: nothing changes (``UNCHANGED``).
* same probe, other timing or thresholds (interval, fast_interval, down_interval, timeout,
  rise, fall; the check's name too): state, history and last result kept; the counter is
  carried into the new range keeping the state and how far it is from settled
  (``RETUNED``). No probe restart needed, no traffic disturbed by a timing tweak.
* a different probe (type, port, path, host, expected status, body, TLS, source address; or
  a check added): old results say nothing about the new probe, but they are all the agent
  knows, so the backend KEEPS its state (and so its weight) and the new probe's first result
  decides: the counter is set one step from the boundary on the side of the current state
  (``rise`` when up, ``rise - 1`` otherwise), the last result is cleared, no transition.
  (Re-entering ``unknown`` would push weight 0 for every healthy backend of the check at
  once.) A check removed makes the backend ``up`` (nothing to wait for), a transition with
  code ``reloaded``. Paused and disabled backends stay so: operator intent outlives a reload,
  the new check applies on resume/enable. The caller must restart the probe task (``RESET``),
  promptly, so an in-flight result of the old probe is not recorded against the new one.

Repeated operator actions are idempotent: pausing a paused backend, disabling a disabled one,
resuming one that is not paused or enabling one that is not disabled returns None (nothing to
do). Pausing or resuming a disabled backend stays an error (enable it first).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Deque, Optional, Protocol, Tuple

from ansible_collections.maglev.vpp.agent.probes.result import ProbeResult
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.schema import HealthCheck
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.weights import (
    DISABLED,
    DOWN,
    PAUSED,
    UNKNOWN,
    UP,
)

REMOVED = "removed"  # agent-only: the backend left the config; never handed to weights

JITTER = 0.10  # next delay is base * [1 - JITTER, 1 + JITTER)
DEFAULT_HISTORY = 5

# Transition codes of operator actions and reloads (probe transitions carry the probe's code).
PAUSED_CODE = "paused"
RESUMED_CODE = "resumed"
DISABLED_CODE = "disabled"
ENABLED_CODE = "enabled"
REMOVED_CODE = "removed"
RELOADED_CODE = "reloaded"

# Outcomes of BackendHealth.reconfigure.
UNCHANGED = "unchanged"
RETUNED = "retuned"
RESET = "reset"

_PROBING = (UNKNOWN, UP, DOWN)


class HealthError(Exception):
    """An operator action or call that the backend's current state does not allow."""


class ResultRejected(HealthError):
    """A probe result offered while the backend is not probing (paused, disabled, ...)."""


class RandomSource(Protocol):
    """Anything with ``random() -> float in [0, 1)``, e.g. ``random.Random``."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class Transition:
    """One state change; ``code``/``detail`` come from the probe result or name the action."""

    from_state: str
    to_state: str
    at: float
    code: str
    detail: str = ""


@dataclass(frozen=True)
class BackendHealthView:
    """An immutable snapshot for publishing (status API, metrics, weights)."""

    name: str
    state: str
    counter: int
    rise: int  # 0 when the backend has no healthcheck
    fall: int  # 0 when the backend has no healthcheck
    since: float  # time of the last transition (or of creation)
    last_result: Optional[ProbeResult]
    history: Tuple[Transition, ...]  # oldest first, newest last
    rejected: int  # probe results refused because the backend was not probing


@dataclass(frozen=True)
class Reconfigured:
    """What a reload did: ``kind`` is UNCHANGED, RETUNED or RESET (restart the probe task)."""

    kind: str
    transition: Optional[Transition] = None


def jittered(base: float, unit: float) -> float:
    """``base`` spread by +-JITTER: ``unit`` in [0, 1) maps linearly onto [0.9, 1.1) * base."""
    if not 0.0 <= unit < 1.0:
        raise ValueError(f"jitter unit {unit!r} is not in [0, 1)")
    return base * (1.0 - JITTER + 2.0 * JITTER * unit)


def _probe_identity(check: HealthCheck) -> HealthCheck:
    """The check without what only tunes timing and thresholds: equal identity = same probe."""
    return dataclasses.replace(
        check, name="", interval=0.0, fast_interval=0.0, down_interval=0.0, timeout=0.0, rise=1, fall=1
    )


def _validate(check: Optional[HealthCheck]) -> None:
    if check is not None and (check.rise < 1 or check.fall < 1):
        raise ValueError(f"healthcheck {check.name}: rise and fall must be at least 1")


class BackendHealth:
    """Health of one backend; see the module docstring for the rules."""

    def __init__(
        self, name: str, check: Optional[HealthCheck], now: float, history_size: int = DEFAULT_HISTORY
    ) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, not {history_size}")
        _validate(check)
        self._name = name
        self._check = check
        self._state = self._entry_state()
        self._counter = self._preset()
        self._since = now
        self._last: Optional[ProbeResult] = None
        self._history: Deque[Transition] = deque(maxlen=history_size)
        self._rejected = 0

    # -- reading -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def state(self) -> str:
        return self._state

    @property
    def check(self) -> Optional[HealthCheck]:
        return self._check

    @property
    def probing(self) -> bool:
        """Whether probes should run: a healthcheck exists and no operator stopped it."""
        return self._check is not None and self._state in _PROBING

    def snapshot(self) -> BackendHealthView:
        return BackendHealthView(
            name=self._name,
            state=self._state,
            counter=self._counter,
            rise=self._check.rise if self._check else 0,
            fall=self._check.fall if self._check else 0,
            since=self._since,
            last_result=self._last,
            history=tuple(self._history),
            rejected=self._rejected,
        )

    # -- probing -------------------------------------------------------------------------

    def record(self, ok: bool, code: str, detail: str, now: float, duration: float) -> Optional[Transition]:
        """Apply one probe result; the Transition if the state changed, else None.

        Raises ResultRejected (and counts it) when the backend is not probing; the result is
        then ignored entirely (not even kept as the last result).
        """
        if not self.probing:
            self._rejected += 1
            why = "it has no healthcheck" if self._check is None else f"it is {self._state}"
            raise ResultRejected(f"backend {self._name}: probe result {code} ignored: {why}")
        assert self._check is not None
        self._last = ProbeResult(ok, code, detail, duration, at=now)
        rise, top = self._check.rise, self._top()
        if ok:
            self._counter = top if self._counter + 1 >= rise else self._counter + 1
        else:
            # From unknown (counter rise - 1) any failure lands below rise: down at once.
            self._counter = 0 if self._counter - 1 < rise else self._counter - 1
        return self._move(UP if self._counter >= rise else DOWN, now, code, detail)

    def base_delay(self) -> float:
        """Seconds until the next probe, before jitter (the table in the module docstring)."""
        if not self.probing:
            raise HealthError(f"backend {self._name}: not probing ({self._why_not_probing()})")
        check = self._check
        assert check is not None
        if self._state == UP and self._counter == self._top():
            return check.interval
        if self._state == DOWN and self._counter == 0:
            return check.down_interval
        return check.fast_interval

    def next_delay(self, rng: RandomSource) -> float:
        """base_delay() with +-10% jitter drawn from ``rng`` so probes of many backends spread."""
        return jittered(self.base_delay(), rng.random())

    # -- operator actions ----------------------------------------------------------------

    def pause(self, now: float, detail: str = "") -> Optional[Transition]:
        """Stop probing; weight 0 without flush (existing flows drain). None: already paused."""
        self._refuse_if_removed("pause")
        if self._state == DISABLED:
            raise self._refused("pause", "it is disabled (enable it first)")
        if self._state == PAUSED:
            return None
        return self._operator(PAUSED, now, PAUSED_CODE, detail)

    def resume(self, now: float, detail: str = "") -> Optional[Transition]:
        """Restart probing from unknown (expedited: the first result decides). None: not paused."""
        self._refuse_if_removed("resume")
        if self._state == DISABLED:
            raise self._refused("resume", "it is disabled (enable it first)")
        if self._state != PAUSED:
            return None
        return self._operator(self._entry_state(), now, RESUMED_CODE, detail)

    def disable(self, now: float, detail: str = "") -> Optional[Transition]:
        """Take the backend out: weight 0 with flush; probing stops. Allowed from paused too.
        None: already disabled."""
        self._refuse_if_removed("disable")
        if self._state == DISABLED:
            return None
        return self._operator(DISABLED, now, DISABLED_CODE, detail)

    def enable(self, now: float, detail: str = "") -> Optional[Transition]:
        """Undo disable: back to unknown, probing restarts. None: not disabled."""
        self._refuse_if_removed("enable")
        if self._state != DISABLED:
            return None
        return self._operator(self._entry_state(), now, ENABLED_CODE, detail)

    def remove(self, now: float, detail: str = "") -> Transition:
        """The backend left the config: terminal state, for the final event."""
        self._refuse_if_removed("remove")
        return self._operator(REMOVED, now, REMOVED_CODE, detail)

    # -- reload --------------------------------------------------------------------------

    def reconfigure(self, check: Optional[HealthCheck], now: float) -> Reconfigured:
        """Adopt a reloaded healthcheck, keeping what is still evidence (module docstring)."""
        self._refuse_if_removed("reconfigure")
        _validate(check)
        old = self._check
        if check == old:
            return Reconfigured(UNCHANGED)
        if old is not None and check is not None and _probe_identity(old) == _probe_identity(check):
            self._check = check
            self._counter = self._carried_counter(old, check)
            return Reconfigured(RETUNED)
        self._check = check
        self._last = None
        transition = None
        if check is None:
            self._counter = 0
            if self._state in _PROBING:
                transition = self._move(UP, now, RELOADED_CODE, "healthcheck removed")
        elif self._state == UP:
            self._counter = check.rise  # the first failure of the new probe takes it down
        else:
            self._counter = check.rise - 1  # the first pass of the new probe brings it up
        return Reconfigured(RESET, transition)

    # -- internals -----------------------------------------------------------------------

    def _top(self) -> int:
        assert self._check is not None
        return self._check.rise + self._check.fall - 1

    def _entry_state(self) -> str:
        return UP if self._check is None else UNKNOWN

    def _preset(self) -> int:
        return 0 if self._check is None else self._check.rise - 1

    def _carried_counter(self, old: HealthCheck, new: HealthCheck) -> int:
        """The counter under new rise/fall: same state, same distance from fully settled."""
        top = new.rise + new.fall - 1
        if self._state == UP:
            failures_seen = old.rise + old.fall - 1 - self._counter
            return max(new.rise, top - failures_seen)
        if self._state == DOWN:
            return min(self._counter, new.rise - 1)
        if self._state == UNKNOWN:
            return new.rise - 1
        # paused/disabled: re-preset on resume/enable; keep it in range meanwhile.
        return min(self._counter, top)

    def _why_not_probing(self) -> str:
        return "no healthcheck" if self._check is None else self._state

    def _refused(self, action: str, why: str) -> HealthError:
        return HealthError(f"backend {self._name}: cannot {action}: {why}")

    def _refuse_if_removed(self, action: str) -> None:
        if self._state == REMOVED:
            raise self._refused(action, "it is removed")

    def _operator(self, to_state: str, now: float, code: str, detail: str) -> Transition:
        if to_state == UNKNOWN:
            self._counter = self._preset()
        transition = self._move(to_state, now, code, detail)
        assert transition is not None  # every allowed action changes the state
        return transition

    def _move(self, to_state: str, now: float, code: str, detail: str) -> Optional[Transition]:
        if to_state == self._state:
            return None
        transition = Transition(self._state, to_state, now, code, detail)
        self._state = to_state
        self._since = now
        self._history.append(transition)
        return transition
