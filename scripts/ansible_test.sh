#!/usr/bin/env bash
# Runs ansible-test on a copy of the checkout laid out as ansible_collections/maglev/vpp, the path
# ansible-test insists on.
#   scripts/ansible_test.sh sanity [args]   the sanity tests that need no containers
#   scripts/ansible_test.sh units [args]    the module unit tests (tests/unit/plugins)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COMMAND=${1:?usage: ansible_test.sh sanity|units [ansible-test arguments]}
shift
case $COMMAND in
    sanity) TARGETS=() ;;
    units) TARGETS=(tests/unit/plugins/) ;;
    *) echo "ansible_test.sh: unknown command $COMMAND (sanity or units)" >&2; exit 2 ;;
esac
# One copy per command, so both can run at once.
DEST=$ROOT/.build/ansible-test-$COMMAND/ansible_collections/maglev/vpp
rm -rf "$DEST"
mkdir -p "$DEST"
# What a clone would hold: tracked files plus untracked files git does not ignore.
git ls-files -z --cached --others --exclude-standard | (cd "$ROOT" && xargs -0 cp --parents -t "$DEST")
git -C "$DEST" init -q
git -C "$DEST" add -A

# ansible-test bootstraps each test venv with a get-pip script from a host that is not reachable
# here. Give it a cached stand-in: ensurepip in a subprocess (in-process ensurepip makes the next
# pip ignore /etc/pip.conf), then pip with the arguments it was given.
PIP_VERSION=$(.venv/bin/python -c '
from ansible_test._internal.python_requirements import get_venv_packages
class P: version = "3.11"
print(get_venv_packages(P)["pip"])')
CACHE=$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py
mkdir -p "$(dirname "$CACHE")"
cat > "$CACHE" <<'PY'
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY

cd "$DEST"
export PATH=$ROOT/.venv/bin:$PATH
exec ansible-test "$COMMAND" --local --python 3.11 --color no "$@" "${TARGETS[@]}"
