#!/usr/bin/env bash
# Runs `ansible-test units` for the modules (tests/unit/plugins) on a copy of the checkout laid out
# as ansible_collections/maglev/vpp, the path ansible-test insists on (same copy as ansible_test.sh,
# in a directory of its own so both can run at once). The venv must hold pytest, pytest-xdist,
# pytest-mock and mock (requirements-test.txt).
# Usage: scripts/ansible_test_units.sh [extra ansible-test units arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEST=$ROOT/.build/ansible-test-units/ansible_collections/maglev/vpp
rm -rf "$DEST"
mkdir -p "$DEST"
# What a clone would hold: tracked files plus untracked files git does not ignore.
git ls-files -z --cached --others --exclude-standard | (cd "$ROOT" && xargs -0 cp --parents -t "$DEST")
git -C "$DEST" init -q
git -C "$DEST" add -A

cd "$DEST"
export PATH=$ROOT/.venv/bin:$PATH
exec ansible-test units --local --python 3.11 --color no "$@" tests/unit/plugins/
