"""Benchmarks of the Ansible modules against vppsim, next to the floor of a bare vpp_papi loop.

1. One `maglev.vpp.lb` task pushing N VIPs x M ASes from empty, and its no-op rerun. Ansible's own
   cost (process start, inventory, templating the same vars, a trivial task) is measured with a
   baseline playbook that runs `ansible.builtin.ping` with the same vars, and subtracted, so the
   module's own time is reported separately from Ansible's task start-up.
2. The same 100 VIPs pushed with one lb_vip + one lb_as task per VIP, against one lb task.

Run: .venv/bin/python bench/bench_modules.py [--vips 1000] [--ases 8] [--small 100] [--write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conftest  # noqa: E402

conftest.ensure_collection_link()  # the checkout as ansible_collections.maglev.vpp
import bench_core  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, planner, schema  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import LbState  # noqa: E402

from vppsim import launcher  # noqa: E402

MARK_BEGIN = "<!-- bench_modules:begin -->"
MARK_END = "<!-- bench_modules:end -->"
BIN = os.path.dirname(sys.executable)


def run_playbook(workdir: str, tasks: list, vars_file: str) -> float:
    """Wall time of one ansible-playbook run on localhost (local connection, the venv's Python)."""
    play = [{"hosts": "localhost", "gather_facts": False, "vars_files": [vars_file], "tasks": tasks}]
    path = os.path.join(workdir, "play.yml")
    with open(path, "w") as f:
        yaml.safe_dump(play, f)
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build"),
        ANSIBLE_HOME=os.path.join(workdir, "ansible-home"),
        ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"),
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", path]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"ansible-playbook failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return elapsed


def connection(sim) -> dict:
    return {"api_socket": sim.api_socket, "stats_socket": sim.stats_socket,
            "agent_state": os.path.join(sim.workdir, "no-agent.json")}


def lb_task(sim) -> dict:
    return {"maglev.vpp.lb": dict(connection(sim), config="{{ maglev_lb }}", state="merged")}


def small_module_tasks(sim, maglev_lb: dict) -> list:
    tasks = []
    for frontend in maglev_lb["frontends"].values():
        vip = {k: frontend[k] for k in ("prefix", "protocol", "port", "encap", "new_flows_table_length")}
        tasks.append({"maglev.vpp.lb_vip": dict(connection(sim), **vip)})
        members = frontend["pools"][0]["backends"]
        ases = [{"address": maglev_lb["backends"][name]["address"], "weight": m["weight"]}
                for name, m in members.items()]
        tasks.append({"maglev.vpp.lb_as": dict(connection(sim), prefix=vip["prefix"], protocol=vip["protocol"],
                                               port=vip["port"], ases=ases)})
    return tasks


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--vips", type=int, default=1000)
    p.add_argument("--ases", type=int, default=8)
    p.add_argument("--small", type=int, default=100, help="VIPs for the lb_vip+lb_as comparison")
    p.add_argument("--write", action="store_true", help="write results into docs/performance.md")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-modules-") as workdir:
        big = bench_core.generate_maglev_lb(args.vips, args.ases)
        big_vars = os.path.join(workdir, "big.yml")
        with open(big_vars, "w") as f:
            yaml.safe_dump({"maglev_lb": big}, f)
        ops = planner.plan(desired.desired_state(schema.parse_config(big)), LbState())

        with launcher.start() as sim:
            baseline = run_playbook(workdir, [{"ansible.builtin.ping": {}}], big_vars)
            push = run_playbook(workdir, [lb_task(sim)], big_vars)
            noop = run_playbook(workdir, [lb_task(sim)], big_vars)
        with launcher.start() as sim:
            floor = bench_core.bare_loop_floor(sim, ops)
        with launcher.start() as sim:
            floor_async = bench_core.async_loop_floor(sim, ops)

        small = bench_core.generate_maglev_lb(args.small, args.ases)
        small_vars = os.path.join(workdir, "small.yml")
        with open(small_vars, "w") as f:
            yaml.safe_dump({"maglev_lb": small}, f)
        with launcher.start() as sim:
            one_task = run_playbook(workdir, [lb_task(sim)], small_vars)
        with launcher.start() as sim:
            per_vip = run_playbook(workdir, small_module_tasks(sim, small), small_vars)
        with launcher.start() as sim:
            small_baseline = run_playbook(workdir, [{"ansible.builtin.ping": {}}], small_vars)

    module_push, module_noop = push - baseline, noop - baseline
    lines = [
        MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on {bench_core.machine()}; vppsim as the VPP; one run; "
        "`.venv/bin/python bench/bench_modules.py --write`.",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| Ansible baseline: playbook with one ping task and the same {args.vips}-frontend vars | {baseline:.2f} s |",
        f"| one lb task, {args.vips} VIPs x {args.ases} ASes from empty ({len(ops)} API calls): playbook | "
        f"{push:.2f} s |",
        f"| ... the module's own time (playbook - baseline) | {module_push:.2f} s |",
        f"| floor: bare sync vpp_papi loop, same calls | {floor:.2f} s "
        f"(module = {module_push / floor:.2f}x) |",
        f"| floor: bare asyncio vpp_papi loop, same calls | {floor_async:.2f} s "
        f"(module = {module_push / floor_async:.2f}x) |",
        f"| no-op rerun: playbook / module's own time | {noop:.2f} s / {module_noop:.2f} s |",
        f"| {args.small} VIPs x {args.ases} ASes: one lb task (playbook) | {one_task:.2f} s "
        f"(module {one_task - small_baseline:.2f} s) |",
        f"| {args.small} VIPs x {args.ases} ASes: {2 * args.small} lb_vip + lb_as tasks (playbook) | "
        f"{per_vip:.2f} s |",
        f"| ratio: per-VIP tasks / one lb task (whole playbooks) | {per_vip / one_task:.1f}x |",
        f"| ratio: per-VIP tasks / one lb task (module time, baseline {small_baseline:.2f} s subtracted) | "
        f"{(per_vip - small_baseline) / max(one_task - small_baseline, 1e-3):.1f}x |",
        MARK_END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        bench_core.write_section(MARK_BEGIN, MARK_END, text,
                                 "## Modules: one lb task vs a bare vpp_papi loop, and vs per-VIP tasks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
