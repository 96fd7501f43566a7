"""The collection as Galaxy users get it: one tarball built per test session with
``ansible-galaxy collection build``, installed with ``ansible-galaxy collection install`` into an
empty collections path, and an Ansible environment that sees only that installed copy.

The tarball is built from a copy of the checkout salted with what a developer's checkout holds
after tests and linters ran (caches, venvs, test output), so the test of the tarball's contents
also shows that none of that ships.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BIN_DIR = Path(sys.executable).parent
VERSION = "0.1.0"
TARBALL_NAME = f"maglev-vpp-{VERSION}.tar.gz"
COMMAND_TIMEOUT = 180.0
PLAYBOOK_TIMEOUT = 600.0  # a playbook that creates a virtualenv, on a loaded 2-core machine
# What a developer's checkout holds after tests and linters ran; none of it belongs in the tarball.
LEFTOVERS = (
    ".hypothesis/examples/x", ".pytest_cache/v/x", ".ruff_cache/0.1/x", ".build/x", ".venv/x",
    "tests/output/junit/x.xml", "agent/__pycache__/config.cpython-311.pyc", ".ansible/x",
    "plugins/module_utils/vpp_lb/__pycache__/schema.cpython-311.pyc", "extensions/ee/context/Containerfile",
    "extensions/ee/maglev-vpp-0.0.9.tar.gz",
)


def run(argv: List[str], timeout: float = COMMAND_TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; a non-zero exit fails with everything it printed."""
    out = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False,
                         timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    assert out.returncode == 0, f"$ {' '.join(str(a) for a in argv)}\n{out.stdout}\n{out.stderr}"
    return out


def isolated_env(collections_path: Path, home: Path) -> Dict[str, str]:
    """An environment where Ansible finds collections only under ``collections_path`` and nothing
    of the checkout is importable (no PYTHONPATH, no ANSIBLE_* of the caller)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "ansible.cfg").write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_HOME=str(home),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False", ANSIBLE_CONFIG=str(home / "ansible.cfg"),
               ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_REMOTE_TEMP=str(home / "tmp"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    return env


_SKIPPED = shutil.ignore_patterns(".git", ".venv", ".build", "__pycache__", ".*_cache", ".hypothesis", "*.tar.gz")


def _skipped(directory: str, names: List[str]):
    """What the copy leaves out: caches, venvs, tarballs, an EE build context."""
    skipped = set(_SKIPPED(directory, names))
    if Path(directory) == REPO_ROOT / "extensions" / "ee":
        skipped.add("context")
    return skipped


def copy_with_leftovers(dest: Path) -> None:
    shutil.copytree(REPO_ROOT, dest, symlinks=True, ignore=_skipped)
    for relpath in LEFTOVERS:
        path = dest / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("leftover\n")


def build_tarball(workdir: Path) -> Path:
    """``ansible-galaxy collection build`` of a salted copy of the checkout; the tarball's path."""
    source = workdir / "src" / "ansible_collections" / "maglev" / "vpp"
    copy_with_leftovers(source)
    env = isolated_env(workdir / "no-collections", workdir / "home")
    run([BIN_DIR / "ansible-galaxy", "collection", "build", "--output-path", workdir, source], env=env)
    shutil.rmtree(workdir / "src")  # nothing of the copy stays where a later step could find it
    tarball = workdir / TARBALL_NAME
    assert tarball.is_file()
    return tarball


def install_tarball(tarball: Path, collections_path: Path, home: Path) -> Path:
    """``ansible-galaxy collection install`` into ``collections_path`` (must be empty or absent);
    the installed collection's root."""
    assert not collections_path.exists() or not any(collections_path.iterdir()), collections_path
    run([BIN_DIR / "ansible-galaxy", "collection", "install", tarball, "-p", collections_path],
        env=isolated_env(collections_path, home))
    root = collections_path / "ansible_collections" / "maglev" / "vpp"
    assert (root / "MANIFEST.json").is_file()
    return root
