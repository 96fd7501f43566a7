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


def test_a_second_drain_after_enable_and_disable_without_a_tick_ends():
    """Found by scripts/model_soak.py (docs/reliability.md), then fixed in agent/inputs.py (a new
    disable forgets the old drain's reported end); f0 has drain_timeout 6 s."""
    model = AgentModel()
    model.start()
    model.tick(0.01)
    model.operator_action("b0", "disable")
    model.tick(7.0)  # the first drain ends: its full sync flushes b0
    model.operator_action("b0", "enable")
    model.operator_action("b0", "disable")  # no tick in between
    model.tick(7.0)  # the second drain must end too
    model.check_view_is_the_plan()
    assert model.core.plans["f0"].effective["b0"].flush
