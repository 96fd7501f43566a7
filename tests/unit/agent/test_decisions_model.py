"""The stateful model test of the agent's decision core (tests/unit/agent/agent_model.py).

Bounded and derandomized here, so the suite stays fast and never flakes; scripts/model_soak.py
runs the same machine with fresh random seeds for as many examples as you give it
(docs/reliability.md has its last results).
"""

from __future__ import annotations

from agent_model import AgentModel
from hypothesis import HealthCheck, settings

AgentModel.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestAgentDecisionsModel = AgentModel.TestCase
