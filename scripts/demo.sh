#!/usr/bin/env bash
# The main job on the embedded default: set up, then push the sample state into vppsim.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
