"""Run the agent decision core's stateful model test (tests/unit/agent/agent_model.py) long.

The suite runs it bounded and derandomized; this runs it with fresh random seeds:

    .venv/bin/python scripts/model_soak.py --examples 2000 --steps 60

Exit 0 when every example kept every invariant; otherwise hypothesis prints the shrunk
counterexample (the sequence of steps) and the exit code is 1. Results go in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="state machine runs (default 1000)")
    parser.add_argument("--steps", type=int, default=60, help="steps per run (default 60)")
    args = parser.parse_args()
    sys.path[:0] = [os.path.join(ROOT, ".build"), os.path.join(ROOT, "tests", "unit", "agent")]
    from agent_model import AgentModel  # noqa: E402 (needs the paths above)
    from hypothesis import HealthCheck, settings

    AgentModel.TestCase.settings = settings(
        max_examples=args.examples, stateful_step_count=args.steps, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(AgentModel.TestCase)
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    print(f"{args.examples} examples x {args.steps} steps: "
          f"{'ok' if result.wasSuccessful() else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
