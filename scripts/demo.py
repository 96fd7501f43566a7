"""The README's main job: playbooks/demo.yml on this machine, with vppsim as the VPP.

Runs ansible-playbook (the checkout as the collection maglev.vpp) in a fresh lab directory;
the playbook starts vppsim, three HTTP backends and the agent, and stops them at the end.
Whatever happens, this script stops what the lab started and removes the directory, unless
--keep is given (then it prints how to stop the lab).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import collection_link  # noqa: E402

BIN = os.path.dirname(sys.executable)
LAB = os.path.join(ROOT, "playbooks", "files", "demo_lab.py")


def ansible_env(lab_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    home = os.path.join(lab_dir, "ansible")
    os.makedirs(home, exist_ok=True)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=collection_link.COLLECTIONS_DIR,
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
        ANSIBLE_HOME=home,
        ANSIBLE_LOCAL_TEMP=os.path.join(home, "tmp"),
        ANSIBLE_REMOTE_TEMP=os.path.join(home, "tmp"),
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_CALLBACK_RESULT_FORMAT="yaml",
        ANSIBLE_DISPLAY_SKIPPED_HOSTS="False",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_NOCOLOR="1",
        PATH=BIN + os.pathsep + env.get("PATH", ""),
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the lab (vppsim, backends, agent) running")
    args = parser.parse_args()
    collection_link.ensure_collection_link()
    lab_dir = tempfile.mkdtemp(prefix="maglev-demo-", dir="/tmp")  # short: AF_UNIX paths <= 108 bytes
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(ROOT, "playbooks", "inventory", "demo"),
            os.path.join(ROOT, "playbooks", "demo.yml"), "-e", f"demo_dir={lab_dir}",
            "-e", f"demo_keep={'true' if args.keep else 'false'}"]
    print("$ " + " ".join(argv), flush=True)
    try:
        code = subprocess.call(argv, env=ansible_env(lab_dir), cwd=ROOT, stdin=subprocess.DEVNULL)
    finally:
        if not args.keep:
            subprocess.call([sys.executable, LAB, "stop", lab_dir], stdout=subprocess.DEVNULL)
            shutil.rmtree(lab_dir, ignore_errors=True)
    if args.keep:
        print(f"lab left running in {lab_dir}; stop it with: {sys.executable} {LAB} stop {lab_dir}")
    return code


if __name__ == "__main__":
    sys.exit(main())
