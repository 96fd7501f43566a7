"""Pack the agent's code from the installed collection into a reproducible tar (run on the controller).

    python bundle_code.py COLLECTION_ROOT OUTPUT.tar

Packs ``agent/`` and the shared core ``plugins/module_utils/vpp_lb/`` whole: every file of those
packages is code or package data the agent serves or reads (the status page's HTML, JavaScript and
CSS under ``agent/page/``), so nothing is chosen by file extension; only Python's byte-code caches
are left out. Fixed owners, modes and times: the same code gives the same archive and
``ansible.builtin.unarchive`` on the host reports a change only when the code changed.
"""

import os
import sys
import tarfile

PARTS = ("agent", os.path.join("plugins", "module_utils", "vpp_lb"))
FIXED_MTIME = 1700000000  # any constant: the content, not the install time, decides a change
CACHE_DIRS = ("__pycache__",)
CACHE_SUFFIXES = (".pyc", ".pyo")  # byte code the host's Python writes for itself


def is_cache(name: str) -> bool:
    return name.endswith(CACHE_SUFFIXES)


def members(root):
    for part in PARTS:
        top = os.path.join(root, part)
        if not os.path.isdir(top):
            raise SystemExit(f"{top}: missing (is {root} the maglev.vpp collection?)")
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in CACHE_DIRS)
            yield os.path.relpath(dirpath, root), True
            for name in sorted(filenames):
                if not is_cache(name):
                    yield os.path.relpath(os.path.join(dirpath, name), root), False


def normalized(info, is_dir):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = FIXED_MTIME
    info.mode = 0o755 if is_dir else 0o644
    return info


def main(root, output):
    with tarfile.open(output, "w", format=tarfile.GNU_FORMAT) as tar:
        for relpath, is_dir in members(root):
            info = normalized(tar.gettarinfo(os.path.join(root, relpath), relpath), is_dir)
            if is_dir:
                tar.addfile(info)
            else:
                with open(os.path.join(root, relpath), "rb") as handle:
                    tar.addfile(info, handle)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
