#!/usr/bin/env bash
# The whole test suite: lint, unit tests, integration tests against vppsim over real sockets.
# Extra arguments go to pytest (e.g. scripts/test.sh -k planner).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check .
echo "== pytest"
.venv/bin/python -m pytest -n 2 "$@"
