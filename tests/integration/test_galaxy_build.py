"""``ansible-galaxy collection build`` ships no caches or test output; the tarball installs
offline and ``ansible-doc`` reads every module and the role's argument spec from the install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.path.dirname(sys.executable)
# What a developer's checkout holds after tests and linters ran; none of it belongs in the tarball.
LEFTOVERS = (
    ".hypothesis/examples/x", ".pytest_cache/v/x", ".ruff_cache/0.1/x", ".build/x", ".venv/x",
    "tests/output/junit/x.xml", "agent/__pycache__/config.cpython-311.pyc", ".ansible/x",
    "plugins/module_utils/vpp_lb/__pycache__/schema.cpython-311.pyc",
)
FORBIDDEN_PARTS = {".hypothesis", ".pytest_cache", ".ruff_cache", ".build", ".venv", "__pycache__", ".ansible",
                   ".git"}
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(REPO_ROOT, "plugins", "modules"))
                 if name.endswith(".py") and not name.startswith("_"))


def run(argv, **kwargs):
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, **kwargs)
    assert out.returncode == 0, f"$ {' '.join(argv)}\n{out.stdout}\n{out.stderr}"
    return out


def env_for(collections_path: str, home: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_HOME=home, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
               ANSIBLE_CONFIG=os.path.join(home, "ansible.cfg"))
    return env


def copy_with_leftovers(dest: str) -> None:
    shutil.copytree(REPO_ROOT, dest, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", ".build", "__pycache__", ".*_cache", ".hypothesis"))
    for relpath in LEFTOVERS:
        path = os.path.join(dest, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write("leftover\n")


def test_built_tarball_is_clean_installs_and_documents_everything(tmp_path):
    source = str(tmp_path / "src" / "ansible_collections" / "maglev" / "vpp")
    copy_with_leftovers(source)
    home = tmp_path / "home"
    home.mkdir()
    (home / "ansible.cfg").write_text("[defaults]\n")
    env = env_for(str(tmp_path / "installed"), str(home))

    run([os.path.join(BIN_DIR, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), source],
        env=env)
    tarball = str(tmp_path / "maglev-vpp-0.1.0.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    shipped_leftovers = [n for n in names if FORBIDDEN_PARTS & set(n.split("/")) or n.startswith("tests/output")
                         or n.endswith(".pyc")]
    assert shipped_leftovers == []
    # What the role installs on a host is in the tarball.
    for needed in ("agent/__main__.py", "plugins/module_utils/vpp_lb/schema.py", "requirements.txt",
                   "roles/agent/meta/argument_specs.yml", "roles/agent/files/bundle_code.py", "playbooks/site.yml"):
        assert needed in names, needed

    run([os.path.join(BIN_DIR, "ansible-galaxy"), "collection", "install", tarball, "-p", str(tmp_path / "installed")],
        env=env)
    installed = tmp_path / "installed" / "ansible_collections" / "maglev" / "vpp"
    assert (installed / "MANIFEST.json").is_file()

    docs = json.loads(run([os.path.join(BIN_DIR, "ansible-doc"), "--json", *[f"maglev.vpp.{m}" for m in MODULES]],
                          env=env).stdout)
    assert sorted(docs) == [f"maglev.vpp.{m}" for m in MODULES]
    for name, body in docs.items():
        assert body["doc"]["options"], name
        assert body["doc"]["collection"] == "maglev.vpp", name
        assert body["doc"]["filename"].startswith(str(installed)), name

    role = json.loads(run([os.path.join(BIN_DIR, "ansible-doc"), "-t", "role", "--json", "maglev.vpp.agent"],
                          env=env).stdout)
    options = role["maglev.vpp.agent"]["entry_points"]["main"]["options"]
    assert {"maglev_lb", "maglev_agent_state", "maglev_agent_service", "maglev_agent_venv"} <= set(options)
    assert options["maglev_agent_venv"]["default"] == "/opt/maglev-agent"
