#!/usr/bin/env bash
# The whole test suite: lint, ansible-test sanity and units, then unit and integration tests (pytest) against
# vppsim over real sockets. Extra arguments go to pytest (e.g. scripts/test.sh -k planner).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check .
# ansible-lint and molecule find the checkout as the collection maglev.vpp through .build.
lint_env=(env ANSIBLE_COLLECTIONS_PATH="$PWD/.build" PATH="$PWD/.venv/bin:$PATH")
echo "== ansible-lint (production profile, offline)"
"${lint_env[@]}" .venv/bin/ansible-lint roles playbooks extensions
echo "== ansible-test sanity"
bash scripts/ansible_test.sh sanity
echo "== ansible-test units"
bash scripts/ansible_test.sh units
echo "== molecule (the role against this machine: converge, idempotence, verify)"
bash scripts/molecule.sh test -s default
echo "== pytest"
.venv/bin/python -m pytest -n 2 "$@"
