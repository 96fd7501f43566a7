"""The collection's own documentation against the collection: module counts, links, the README's
first usage snippet and install instructions, galaxy.yml's links."""

from __future__ import annotations

import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}


def read(path: str) -> str:
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def modules() -> list:
    return sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules"))
                  if name.endswith(".py") and not name.startswith("_"))


def test_modules_md_counts_and_lists_every_module():
    text = read("docs/modules.md")
    count = re.search(r"The collection has (\w+) modules", text).group(1)
    assert count == WORDS[len(modules())]
    table = re.findall(r"^\| `maglev\.vpp\.(\w+)` \|", text, re.M)
    assert sorted(table) == modules()


def test_galaxy_links_are_real_urls():
    galaxy = yaml.safe_load(read("galaxy.yml"))
    for key in ("repository", "documentation", "issues"):
        assert re.match(r"^https://github\.com/[\w.-]+/[\w.-]+(/|$)", galaxy[key]), (key, galaxy[key])
        assert "example.invalid" not in galaxy[key]


def test_docs_point_only_inside_the_project():
    for name in ("modules.md", "vppsim.md", "config-reference.md"):
        text = read(os.path.join("docs", name))
        assert "shared/" not in text, name  # the design notes live outside the collection
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if "://" not in target:
                assert os.path.exists(os.path.join(ROOT, "docs", target)), (name, target)


def _usage() -> str:
    text = read("README.md")
    return text[text.index("## Using it"):text.index("## Layout")]


def test_readme_shows_merged_first_and_warns_before_overridden():
    usage = _usage()
    states = re.findall(r"^\s+state: (\w+)", usage, re.M)
    assert states[0] == "merged", states
    overridden = re.search(r"^\s+state: overridden", usage, re.M).start()
    assert "deletes every VIP" in usage[:overridden]


def test_readme_says_how_to_get_the_collection_and_ansible_core():
    usage = _usage()
    required = yaml.safe_load(read("meta/runtime.yml"))["requires_ansible"]
    assert required == ">=2.19.0"
    assert "ansible-core 2.19" in usage and "Debian 12" in usage and "2.14" in usage
    assert "ansible-galaxy collection build" in usage and "ansible-galaxy collection install" in usage
    assert "ANSIBLE_COLLECTIONS_PATH" in usage
    galaxy = yaml.safe_load(read("galaxy.yml"))
    assert f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz" in usage
