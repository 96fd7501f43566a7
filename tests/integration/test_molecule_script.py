"""scripts/molecule.sh runs the role's molecule scenarios as documented, from any directory and
with nothing of .venv on PATH: molecule runs ansible-config and ansible-playbook by name, so
``cd extensions && ../.venv/bin/molecule ...`` alone failed with
``No such file or directory: 'ansible-config'``. The vm scenario's syntax step is enough to show
it (its other steps boot a VM: roles/agent/README.md)."""

from __future__ import annotations

import os
import re
import subprocess

from collection_build import REPO_ROOT


def test_molecule_script_runs_the_vm_scenario_with_a_bare_path(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_")) and k != "PYTHONPATH"}
    env.update(PATH="/usr/sbin:/usr/bin:/sbin:/bin", NO_COLOR="1")
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "molecule.sh"), "syntax", "-s", "vm"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
                         stdin=subprocess.DEVNULL)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    assert out.returncode == 0, text[-4000:]
    assert "No such file or directory" not in text
    assert re.search(r"^vm\s+: actions=1\s+successful=1\s.*failed=0", text, re.M), text[-4000:]
