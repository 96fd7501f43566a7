"""What the status API, the metrics listener and the page may ask of the agent: one small typed
interface (agent/daemon.Agent implements it), so readers never reach into the VPP sync or the
decision core. Reads go through the published snapshot; actions through the agent's methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Protocol, Tuple

from .config import AgentConfig
from .counters import AgentCounters
from .events import EventBus
from .snapshot import AgentSnapshot
from .vppsync import VppInfo


@dataclass(frozen=True)
class SyncStatus:
    last_full_sync: Optional[float]  # unix seconds of the last full sync, None before the first
    sync_errors: int
    blocked: Mapping[str, str] = field(default_factory=dict)  # frontends VPP would refuse: name -> why


class AgentStatus(Protocol):
    config_path: Optional[str]
    started_at: float
    events: EventBus
    counters: AgentCounters
    snapshot: Optional[AgentSnapshot]
    probe_loop_crashes: int
    write_errors: Mapping[str, int]  # file (state, operator-state) -> failed writes
    probe_schedule_stretch: float  # factor on every probe interval (1: not starved; agent/starvation.py)

    @property
    def config(self) -> AgentConfig: ...

    @property
    def config_loaded_at(self) -> float: ...

    def publish_pending(self) -> None: ...

    def vpp_info(self) -> VppInfo: ...

    async def wait_vpp_idle(self) -> None: ...

    def request_full_sync(self, reason: str) -> None: ...

    def sync_status(self) -> SyncStatus: ...

    def vpp_api_calls(self) -> Dict[Tuple[str, str], int]: ...

    def backend_action(self, name: str, action: str): ...

    def set_weight(self, frontend: str, pool: str, backend: str, weight: Optional[int]) -> None: ...

    async def reload(self) -> bool: ...
