"""``ansible-galaxy collection build`` ships no caches or test output; the tarball installs
offline and ``ansible-doc`` reads every module and the role's argument spec from the install."""

from __future__ import annotations

import json
import tarfile

from collection_build import BIN_DIR, REPO_ROOT, install_tarball, isolated_env, run

MODULES = sorted(path.stem for path in (REPO_ROOT / "plugins" / "modules").glob("*.py")
                 if not path.name.startswith("_"))
FORBIDDEN_PARTS = {".hypothesis", ".pytest_cache", ".ruff_cache", ".build", ".venv", "__pycache__", ".ansible",
                   ".git"}


def test_built_tarball_is_clean_installs_and_documents_everything(tmp_path, collection_tarball):
    with tarfile.open(collection_tarball) as tar:
        names = tar.getnames()
    shipped_leftovers = [n for n in names if FORBIDDEN_PARTS & set(n.split("/")) or n.startswith("tests/output")
                         or n.endswith((".pyc", ".tar.gz")) or n.startswith("extensions/ee/context")]
    assert shipped_leftovers == []
    # What the role installs on a host, and what an execution environment reads, is in the tarball.
    for needed in ("agent/__main__.py", "plugins/module_utils/vpp_lb/schema.py", "requirements.txt",
                   "roles/agent/meta/argument_specs.yml", "roles/agent/files/bundle_code.py", "playbooks/site.yml",
                   "playbooks/rolling.yml", "playbooks/tasks/rolling_gate.yml", "meta/execution-environment.yml",
                   "bindep.txt"):
        assert needed in names, needed

    installed = install_tarball(collection_tarball, tmp_path / "installed", tmp_path / "home")
    env = isolated_env(tmp_path / "installed", tmp_path / "home")

    docs = json.loads(run([BIN_DIR / "ansible-doc", "--json", *[f"maglev.vpp.{m}" for m in MODULES]],
                          env=env).stdout)
    assert sorted(docs) == [f"maglev.vpp.{m}" for m in MODULES]
    for name, body in docs.items():
        assert body["doc"]["options"], name
        assert body["doc"]["collection"] == "maglev.vpp", name
        assert body["doc"]["filename"].startswith(str(installed)), name

    role = json.loads(run([BIN_DIR / "ansible-doc", "-t", "role", "--json", "maglev.vpp.agent"],
                          env=env).stdout)
    options = role["maglev.vpp.agent"]["entry_points"]["main"]["options"]
    assert {"maglev_lb", "maglev_agent_state", "maglev_agent_service", "maglev_agent_venv"} <= set(options)
    assert options["maglev_agent_venv"]["default"] == "/opt/maglev-agent"
