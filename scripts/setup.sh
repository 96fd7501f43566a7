#!/usr/bin/env bash
# One setup path for developers, CI and the demo: Debian packages the tests need, then .venv with
# the pinned Python dependencies. Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3-venv iproute2 nftables shellcheck git prometheus chromium nginx-light faketime)
need_apt=()
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need_apt+=("$pkg")
    done
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing Debian packages: ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing Python requirements into .venv"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -r requirements-test.txt
    echo "$want" > "$stamp"
fi

# The agent's console scripts (maglev-agent, maglevctl), run from this checkout as the collection
# (the same import path the installed collection has: ansible_collections.maglev.vpp).
mkdir -p .build/ansible_collections/maglev
[ -L .build/ansible_collections/maglev/vpp ] || ln -s ../../.. .build/ansible_collections/maglev/vpp
root=$(pwd)
cat > .venv/bin/maglev-agent <<WRAPPER
#!/bin/sh
PYTHONPATH="$root/.build\${PYTHONPATH:+:\$PYTHONPATH}" exec "$root/.venv/bin/python" -m ansible_collections.maglev.vpp.agent "\$@"
WRAPPER
chmod +x .venv/bin/maglev-agent
cat > .venv/bin/maglevctl <<WRAPPER
#!/bin/sh
PYTHONPATH="$root/.build\${PYTHONPATH:+:\$PYTHONPATH}" exec "$root/.venv/bin/python" -m ansible_collections.maglev.vpp.agent.ctl "\$@"
WRAPPER
chmod +x .venv/bin/maglevctl
