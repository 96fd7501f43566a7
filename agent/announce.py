"""Route announcement, decided: what state each frontend's hook must announce next, and when.

Pure (the clock is passed in); agent/announce_runner.py runs the hook processes. Rules
(docs/operations.md, "Route announcement"):

* A frontend is announced ``up`` iff VPP is connected and the frontend has a weighted backend,
  both in the agent's plan (its state is ``up``) and in VPP's live VIP (so a VPP that restarted
  empty is announced only once the sync has written it); else ``down``. Before the agent has
  judged a frontend, VPP's live weights decide, and nothing is announced first while they do
  not serve it (``announce_state``).
* One run per frontend at a time (serialised). States that come and go while a run is under
  way are coalesced: after it, only the latest wanted state runs, and only if it differs from
  what was announced.
* The first state (at start-up) is announced once, and so is the state after a VPP reconnect,
  even when unchanged.
* A failed run (non-zero exit, timeout, cannot start) is retried after ``retry_interval``,
  doubling up to ``retry_max_interval``; a different wanted state runs at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

UP = "up"
DOWN = "down"
NONE = "none"  # the previous state of the first announcement
# Why a run happens (MAGLEV_REASON in the hook's environment).
START, CHANGE, RECONNECT, RETRY = "start", "change", "reconnect", "retry"


def announce_state(frontend_state: str, released: bool, vpp_connected: bool, weighted_in_vpp: bool,
                   vpp_seen: bool = True) -> Optional[str]:
    """The state to announce for a frontend; None: nothing yet (not judged).

    ``vpp_seen``: the agent has been connected to VPP, or a connect attempt has failed. Before
    either (the agent's own first connect is under way, slow on a loaded router) VPP's state is
    unknown, not down: announcing down then would withdraw a route VPP serves because of the
    agent's own start-up.

    ``weighted_in_vpp``: VPP's live VIP has an AS with a nonzero weight (written, not just
    planned). Until the agent has judged a frontend (warm-up holds it, or no backend has a
    result yet) VPP keeps its weights, so a VPP serving it is announced ``up`` and anything else
    waits: an agent restart withdraws no route it has not judged. The same holds for a frontend
    planned up whose weights are not written yet."""
    if not vpp_connected and not vpp_seen:
        return None
    judged = released and frontend_state != "unknown"
    if vpp_connected and weighted_in_vpp and (frontend_state == UP or not judged):
        return UP
    if judged and vpp_connected and frontend_state == UP:
        return None  # planned up, the write is under way (Announcer: down if it was announced)
    return DOWN if judged else None


@dataclass(frozen=True)
class Run:
    """One hook run to start: the environment's facts."""

    frontend: str
    state: str
    previous: str
    vpp_connected: bool
    reason: str
    attempt: int  # 1 for a first try; 2, 3, ... for retries of the same state


@dataclass
class _Slot:
    wanted: Optional[str] = None
    connected: bool = False
    announced: Optional[str] = None  # the state of the last successful run
    running: Optional[Run] = None
    reannounce: bool = False  # VPP reconnected: announce once even if unchanged
    failures: int = 0  # consecutive failed runs of ``failed_state``
    failed_state: Optional[str] = None
    retry_at: float = 0.0


@dataclass
class Announcer:
    retry_interval: float = 5.0
    retry_max_interval: float = 60.0
    slots: Dict[str, _Slot] = field(default_factory=dict)
    epoch: Optional[float] = None  # the VPP connection (its connected_since) last seen

    def observe(self, wanted: Mapping[str, Tuple[Optional[str], bool]], epoch: Optional[float]) -> None:
        """The current wanted (state, vpp_connected) of every frontend that has a hook.

        ``epoch`` identifies the VPP connection (None while disconnected); a new one after an
        earlier one is a reconnect."""
        reconnected = epoch is not None and self.epoch is not None and epoch != self.epoch
        if epoch is not None:
            self.epoch = epoch
        for name in list(self.slots):
            if name not in wanted:
                del self.slots[name]  # left the config or lost its hook
        for name, (state, connected) in wanted.items():
            slot = self.slots.setdefault(name, _Slot())
            if state is None and slot.announced is not None:
                state = DOWN  # once announced, a frontend that cannot be judged is withdrawn
            slot.wanted, slot.connected = state, connected
            if reconnected and slot.announced is not None:
                slot.reannounce = True

    def due(self, now: float) -> List[Run]:
        """Runs to start now (each marked running until ``finished``)."""
        runs = []
        for name, slot in sorted(self.slots.items()):
            run = self._next(name, slot, now)
            if run is not None:
                slot.running = run
                runs.append(run)
        return runs

    def finished(self, run: Run, ok: bool, now: float) -> None:
        slot = self.slots.get(run.frontend)
        if slot is None or slot.running != run:
            return  # the frontend left while its hook ran
        slot.running = None
        if ok:
            slot.announced = run.state
            slot.reannounce = False
            slot.failures, slot.failed_state = 0, None
            return
        slot.failures = slot.failures + 1 if slot.failed_state == run.state else 1
        slot.failed_state = run.state
        backoff = self.retry_interval * 2 ** (slot.failures - 1)
        slot.retry_at = now + min(backoff, self.retry_max_interval)

    def next_wake(self, now: float) -> Optional[float]:
        """Seconds until a retry falls due (None: none waits)."""
        waits = [max(0.0, s.retry_at - now) for s in self.slots.values()
                 if s.running is None and s.failures and s.failed_state == s.wanted]
        return min(waits) if waits else None

    def announced(self) -> Dict[str, Optional[str]]:
        return {name: slot.announced for name, slot in self.slots.items()}

    def _next(self, name: str, slot: _Slot, now: float) -> Optional[Run]:
        if slot.running is not None or slot.wanted is None:
            return None
        if slot.announced == slot.wanted and not slot.reannounce:
            return None
        retrying = slot.failures > 0 and slot.failed_state == slot.wanted
        if retrying and now < slot.retry_at:
            return None
        if retrying:
            reason = RETRY
        elif slot.announced is None:
            reason = START
        elif slot.announced == slot.wanted:
            reason = RECONNECT
        else:
            reason = CHANGE
        return Run(
            frontend=name, state=slot.wanted, previous=slot.announced or NONE, vpp_connected=slot.connected,
            reason=reason, attempt=slot.failures + 1 if retrying else 1,
        )
