"""Make the checkout importable as ``ansible_collections.maglev.vpp``.

A module of its own (not conftest) so the benchmarks and scripts import it by a name nothing
else on sys.path has: inside pytest, ``import conftest`` finds whichever conftest came first.
"""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, ".build")


def ensure_collection_link() -> None:
    ns_dir = os.path.join(COLLECTIONS_DIR, "ansible_collections", "maglev")
    link = os.path.join(ns_dir, "vpp")
    os.makedirs(ns_dir, exist_ok=True)
    if not os.path.islink(link):
        os.symlink(os.path.relpath(REPO_ROOT, ns_dir), link)
    for path in (COLLECTIONS_DIR, REPO_ROOT):
        if path not in sys.path:
            sys.path.insert(0, path)


ensure_collection_link()
