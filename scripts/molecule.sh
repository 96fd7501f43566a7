#!/usr/bin/env bash
# Run molecule on the role's scenarios (extensions/molecule/) with the checkout as the collection
# maglev.vpp and .venv's tools on PATH (molecule runs ansible-config, ansible-playbook, ... by name):
#   scripts/molecule.sh test -s default     (part of scripts/test.sh)
#   scripts/molecule.sh test -s vm          (slow, run alone: roles/agent/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
root=$PWD
cd extensions
exec env ANSIBLE_COLLECTIONS_PATH="$root/.build" PATH="$root/.venv/bin:$PATH" "$root/.venv/bin/molecule" "$@"
