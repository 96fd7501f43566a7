"""The stateful model test of the agent's decision core (tests/unit/agent/agent_model.py).

Bounded here so the suite stays fast; scripts/model_soak.py runs the same machine for as many
examples as you give it (docs/reliability.md has its last results).
"""

from __future__ import annotations

from agent_model import AgentModel
from hypothesis import HealthCheck, settings

AgentModel.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestAgentDecisionsModel = AgentModel.TestCase
