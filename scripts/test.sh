#!/usr/bin/env bash
# The whole test suite: lint, ansible-test sanity and units, then unit and integration tests (pytest) against
# vppsim over real sockets. Extra arguments go to pytest (e.g. scripts/test.sh -k planner).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check .
echo "== ansible-test sanity"
bash scripts/ansible_test.sh sanity
echo "== ansible-test units"
bash scripts/ansible_test.sh units
echo "== pytest"
.venv/bin/python -m pytest -n 2 "$@"
