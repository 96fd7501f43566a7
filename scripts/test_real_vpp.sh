#!/usr/bin/env bash
# The integration tests against a real VPP built by ../shared/real-vpp/build_vpp.sh (not in CI:
# it needs that build). Starts VPP in RUNDIR, points the tests at it (docs/testing.md "Against a
# real VPP"), runs pytest without xdist, stops VPP. Extra arguments go to pytest.
#
# usage: scripts/test_real_vpp.sh PREFIX RUNDIR [pytest args...]
#   e.g. scripts/test_real_vpp.sh "$VPP_HOME/master" /tmp/vpp-master -k counters
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=$(realpath "${1:?install prefix of a real-vpp build}")
RUNDIR=${2:?run dir (its basename is also VPP shm prefix)}
shift 2
REAL_VPP=${REAL_VPP:-$(realpath ../shared/real-vpp 2>/dev/null || echo /work/shared/real-vpp)}
mkdir -p "$RUNDIR"
RUNDIR=$(realpath "$RUNDIR")

export VPP_API_SOCKET="$RUNDIR/api.sock" VPP_STATS_SOCKET="$RUNDIR/stats.sock" VPP_API_DIR="$PREFIX/share/vpp/api"
export VPP_STOP_CMD="$REAL_VPP/stop_vpp.sh $RUNDIR >/dev/null"
export VPP_START_CMD="$REAL_VPP/run_vpp.sh $PREFIX $RUNDIR >/dev/null"
export VPP_RESTART_CMD="{ [ -s $RUNDIR/pid ] && $VPP_STOP_CMD || true; } && $VPP_START_CMD"

bash -c "$VPP_RESTART_CMD"
trap 'bash -c "$VPP_STOP_CMD" || true' EXIT
echo "== $(cat "$PREFIX/COMMIT" 2>/dev/null || echo "$PREFIX") at $VPP_API_SOCKET"
.venv/bin/python -m pytest tests/integration -p no:xdist -q -rs "$@"
