"""The example execution environment (extensions/ee/) as ansible-builder renders it, and the
requirements its build would install for maglev.vpp.

``ansible-builder create`` writes the build context without a container engine. The container
build would then install the collections of requirements.yml and run ansible-builder's own
``introspect.py`` over them to collect each collection's Python and system requirements (from
its meta/execution-environment.yml). This test does those two steps itself, with the files
``create`` rendered, on the tarball of this session.
"""

from __future__ import annotations

import shutil
import sys

import yaml
from ansible_builder._target_scripts.introspect import EXCLUDE_REQUIREMENTS
from collection_build import BIN_DIR, REPO_ROOT, TARBALL_NAME, isolated_env, run

EE_DIR = REPO_ROOT / "extensions" / "ee"


def requirement_lines(path) -> list:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_ansible_builder_renders_the_example_ee_and_its_build_lists_our_requirements(tmp_path, collection_tarball):
    project = tmp_path / "ee"
    shutil.copytree(EE_DIR, project)
    shutil.copy(collection_tarball, project / TARBALL_NAME)  # as the EE's comment says to build it
    context = tmp_path / "context"
    run([BIN_DIR / "ansible-builder", "create", "--file", project / "execution-environment.yml",
         "--context", context, "--output-filename", "Containerfile"], cwd=project)

    build = context / "_build"
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect" in containerfile
    assert (build / "collections" / TARBALL_NAME).read_bytes() == collection_tarball.read_bytes()
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert galaxy["collections"] == [{"name": f"collections/{TARBALL_NAME}", "type": "file"}]

    # The build's galaxy stage: install the collections of requirements.yml (from /build there).
    collections = tmp_path / "collections"
    run([BIN_DIR / "ansible-galaxy", "collection", "install", "-r", "requirements.yml", "-p", collections],
        cwd=build, env=isolated_env(collections, tmp_path / "home"))
    meta = collections / "ansible_collections" / "maglev" / "vpp" / "meta" / "execution-environment.yml"
    assert yaml.safe_load(meta.read_text())["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    # The builder stage: ansible-builder's introspection of what got installed.
    pip_out, bindep_out = tmp_path / "pip.txt", tmp_path / "bindep.txt"
    run([sys.executable, build / "scripts" / "introspect.py", "introspect", collections,
         "--write-pip", pip_out, "--write-bindep", bindep_out])

    ours = requirement_lines(REPO_ROOT / "requirements.txt")
    # The builder leaves out what every EE has already (PyYAML comes with ansible-core).
    kept = [line for line in ours if line.split("==")[0].lower() not in EXCLUDE_REQUIREMENTS]
    assert [line for line in kept if line.startswith("vpp_papi==")] == ["vpp_papi==2.4.2"]
    assert requirement_lines(pip_out) == [f"{line}  # from collection maglev.vpp" for line in kept]
    assert requirement_lines(bindep_out) == [f"{line}  # from collection maglev.vpp"
                                             for line in requirement_lines(REPO_ROOT / "bindep.txt")]
