"""Benchmarks of the Ansible modules against vppsim, next to the floor of a bare vpp_papi loop.

1. One `maglev.vpp.lb` task pushing N VIPs x M ASes from empty, and its no-op reruns. Ansible's
   own cost of a task with the same arguments (worker start, templating the config, shipping it
   to the module, argument parsing, echoing it back as `invocation`, handling the result) is
   measured in the same play with bench/library/lb_arguments_only.py, a module that takes lb's
   arguments and returns at once. Tasks are timed by a callback (bench/callback_plugins/
   task_times.py) and module processes by an interpreter wrapper (bench/timed-python); the
   module's own time is the lb process's time minus the baseline processes'. The floors are
   the very same API calls issued by bare vpp_papi loops (sync and asyncio), in the same run.
   Rounds are interleaved (play, sync floor, asyncio floor) and medians reported.
2. The same 100 VIPs pushed with one lb_vip + one lb_as task per VIP, against one lb task.

Run: .venv/bin/python bench/bench_modules.py [--vips 1000] [--ases 8] [--small 100] [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)
import collection_link  # noqa: E402

collection_link.ensure_collection_link()  # the checkout as ansible_collections.maglev.vpp
import bench_core  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import desired, planner, schema  # noqa: E402
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import LbState  # noqa: E402

from vppsim import launcher  # noqa: E402

MARK_BEGIN = "<!-- bench_modules:begin -->"
MARK_END = "<!-- bench_modules:end -->"
BIN = os.path.dirname(sys.executable)


def write_inventory(workdir: str, vars_file: str) -> str:
    """An inventory of localhost whose host_vars hold ``vars_file``'s variables: the normal way to
    give a host its maglev_lb. (A play's vars_files would be re-read and re-parsed by ansible-core
    2.19 for every task, seconds each at 1,000 frontends: docs/performance.md.)"""
    inventory = os.path.join(workdir, "inventory")
    os.makedirs(os.path.join(inventory, "host_vars"), exist_ok=True)
    shutil.copyfile(vars_file, os.path.join(inventory, "host_vars", "localhost.yml"))
    hosts = os.path.join(inventory, "hosts")
    with open(hosts, "w") as f:
        f.write("localhost ansible_connection=local\n")
    return hosts


def run_playbook(workdir: str, tasks: list, vars_file: str) -> Tuple[float, Dict[str, float], Dict[str, float]]:
    """One ansible-playbook run on localhost (local connection, the venv's Python), with the
    variables of ``vars_file`` in the inventory's host_vars.

    Returns the run's wall time, each task's time and each task's module process time, by task
    name. Every task must run one module (the process times are matched to tasks in order).
    """
    inventory = write_inventory(workdir, vars_file)
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path = os.path.join(workdir, "play.yml")
    with open(path, "w") as f:
        yaml.safe_dump(play, f)
    times_path = os.path.join(workdir, "task-times.jsonl")
    process_path = os.path.join(workdir, "process-times.txt")
    for stale in (times_path, process_path):
        if os.path.exists(stale):
            os.unlink(stale)
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build"),
        ANSIBLE_HOME=os.path.join(workdir, "ansible-home"),
        ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"),
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_PYTHON_INTERPRETER=os.path.join(HERE, "timed-python"),
        MAGLEV_REAL_PYTHON=sys.executable,
        MAGLEV_PROCESS_TIMES=process_path,
        ANSIBLE_LIBRARY=f"{os.path.join(HERE, 'library')}:{templated_library(workdir)}",
        ANSIBLE_ACTION_PLUGINS=os.path.join(HERE, "action_plugins"),
        ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="task_times",
        MAGLEV_TASK_TIMES=times_path,
    )
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, path]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"ansible-playbook failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    with open(times_path) as f:
        records = [json.loads(line) for line in f]
    with open(process_path) as f:
        processes = [line.split(maxsplit=2) for line in f]
    if len(records) != len(tasks) or len(processes) != len(tasks):
        raise RuntimeError(f"{len(tasks)} tasks, {len(records)} results, {len(processes)} module processes")
    task_times = {r["task"]: r["seconds"] for r in records}
    process_times = {
        r["task"]: float(process[1]) - float(process[0]) for r, process in zip(records, processes, strict=True)
    }
    return elapsed, task_times, process_times


def templated_library(workdir: str) -> str:
    """A library holding the baseline module as lb_arguments_templated: no action plugin has that
    name, so its config takes Ansible's normal templating (the hand-over before plugins/action/lb.py)."""
    library = os.path.join(workdir, "library-templated")
    os.makedirs(library, exist_ok=True)
    link = os.path.join(library, "lb_arguments_templated.py")
    if not os.path.exists(link):
        os.symlink(os.path.join(HERE, "library", "lb_arguments_only.py"), link)
    return library


def connection(sim) -> dict:
    """lb's connection options (the small modules take api_socket alone)."""
    return {"api_socket": sim.api_socket, "agent_state": os.path.join(sim.workdir, "no-agent.json")}


def lb_task(sim, name: str = "lb") -> dict:
    return {"name": name, "maglev.vpp.lb": dict(connection(sim), config="{{ maglev_lb }}", state="merged")}


def arguments_only_task(sim, name: str, config: str = "{{ maglev_lb }}", module: str = "lb_arguments_only") -> dict:
    """The baseline: a task with lb's very arguments, handed over as lb's action plugin does,
    whose module returns at once."""
    return {"name": name, module: dict(connection(sim), config=config, state="merged")}


def measure_push_round(workdir: str, big_vars: str) -> Dict[str, List[float]]:
    """One play on a fresh vppsim: lb push from empty, then two lb no-op reruns, each between
    two baseline tasks (this machine's speed drifts within a play).

    The module's own time of an lb task is its module process's time minus the mean of the
    baseline processes around it: both parse the same arguments and echo them back, so the
    difference is what the lb module does. The controller's templating of the config (several
    seconds at 1,000 frontends, and its noise) is left out; the task-level difference, which
    adds the controller's handling of lb's larger result, is reported next to it.
    """
    with launcher.start() as sim:
        names = ["baseline 0", "push", "baseline 1", "no-op 1", "baseline 2", "no-op 2", "baseline 3"]
        tasks = [arguments_only_task(sim, name) if name.startswith("baseline") else lb_task(sim, name)
                 for name in names]
        # The same baseline with Ansible's normal templating of the config (no action plugin), and
        # with the config as JSON text (a filter: the action plugin falls back to normal templating).
        tasks.append(arguments_only_task(sim, "baseline templated", module="lb_arguments_templated"))
        tasks.append(arguments_only_task(sim, "baseline json", "{{ maglev_lb | ansible.builtin.to_json }}"))
        playbook, task_times, process_times = run_playbook(workdir, tasks, big_vars)

    def own(times: Dict[str, float], position: int) -> float:
        return times[names[position]] - (times[names[position - 1]] + times[names[position + 1]]) / 2

    return {
        "playbook": [playbook],
        "baseline_task": [task_times[name] for name in names if name.startswith("baseline")],
        "baseline_process": [process_times[name] for name in names if name.startswith("baseline")],
        "baseline_templated_task": [task_times["baseline templated"]],
        "baseline_json_task": [task_times["baseline json"]],
        "noop_task_ratio": [task_times[names[i]] / own(process_times, i) for i in (3, 5)],
        "push_task": [task_times["push"]],
        "noop_task": [task_times["no-op 1"], task_times["no-op 2"]],
        "push": [own(process_times, 1)],
        "noop": [own(process_times, 3), own(process_times, 5)],
        "push_by_task": [own(task_times, 1)],
        "noop_by_task": [own(task_times, 3), own(task_times, 5)],
    }


def small_module_tasks(sim, maglev_lb: dict) -> list:
    tasks = []
    for name, frontend in maglev_lb["frontends"].items():
        vip = {k: frontend[k] for k in ("prefix", "protocol", "port", "encap", "new_flows_table_length")}
        tasks.append({"name": f"lb_vip {name}", "maglev.vpp.lb_vip": dict(api_socket=sim.api_socket, **vip)})
        members = frontend["pools"][0]["backends"]
        ases = [{"address": maglev_lb["backends"][name]["address"], "weight": m["weight"]}
                for name, m in members.items()]
        tasks.append({"name": f"lb_as {name}",
                      "maglev.vpp.lb_as": dict(api_socket=sim.api_socket, prefix=vip["prefix"],
                                               protocol=vip["protocol"], port=vip["port"], ases=ases)})
    return tasks


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--vips", type=int, default=1000)
    p.add_argument("--ases", type=int, default=8)
    p.add_argument("--small", type=int, default=100, help="VIPs for the lb_vip+lb_as comparison")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of play and floors; medians reported")
    p.add_argument("--write", action="store_true", help="write results into docs/performance.md")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-modules-") as workdir:
        big = bench_core.generate_maglev_lb(args.vips, args.ases)
        big_vars = os.path.join(workdir, "big.yml")
        with open(big_vars, "w") as f:
            yaml.safe_dump({"maglev_lb": big}, f)
        ops = planner.plan(desired.desired_state(schema.parse_config(big)), LbState())

        rounds, floors, floors_async = [], [], []
        push_calls = functools.partial(bench_core.papi_calls, ops=ops)
        for _round in range(args.rounds):
            rounds.append(measure_push_round(workdir, big_vars))
            with launcher.start() as sim:
                floors.append(bench_core.sync_floor(sim, push_calls))
            with launcher.start() as sim:
                floors_async.append(bench_core.asyncio_floor(sim, push_calls, pipelined=False))

        small = bench_core.generate_maglev_lb(args.small, args.ases)
        small_vars = os.path.join(workdir, "small.yml")
        with open(small_vars, "w") as f:
            yaml.safe_dump({"maglev_lb": small}, f)
        with launcher.start() as sim:
            one_task, one_task_times, _unused = run_playbook(workdir, [lb_task(sim)], small_vars)
        with launcher.start() as sim:
            per_vip_tasks = small_module_tasks(sim, small)
            per_vip, per_vip_times, _unused = run_playbook(workdir, per_vip_tasks, small_vars)
        assert len(per_vip_times) == len(per_vip_tasks), "task names must be unique"
        one_task_time, per_vip_time = one_task_times["lb"], sum(per_vip_times.values())

    def _samples(values: List[float]) -> str:
        return bench_core.spread(values, "samples")

    def column(key: str) -> List[float]:
        return [value for r in rounds for value in r[key]]

    push = statistics.median(column("push"))
    floor, floor_async = statistics.median(floors), statistics.median(floors_async)
    push_ratios = [p / f for p, f in zip(column("push"), floors, strict=True)]
    lines = [
        MARK_BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on {bench_core.machine()}; vppsim as the VPP; {args.rounds} "
        "interleaved rounds (play, sync floor, asyncio floor), medians; "
        "`.venv/bin/python bench/bench_modules.py --write`.",
        "",
        f"{args.vips} VIPs x {args.ases} ASes, one play per round: lb push from empty ({len(ops)} API calls) "
        "and two lb no-op reruns, each between two baseline tasks (a task with lb's very arguments whose "
        "module returns at once). The module's own time is the lb module process's time minus the mean of the "
        "baseline processes around it (an interpreter wrapper times every module process); the task-level "
        "difference adds the controller's handling of lb's larger result and the noise of its templating.",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| whole playbook (Ansible start-up, loading the {args.vips}-frontend host_vars, 9 tasks) | "
        f"{_samples(column('playbook'))} |",
        "| Ansible's task start-up (reported separately): a task with lb's arguments, handed over by lb's action "
        f"plugin, whose module returns at once | {_samples(column('baseline_task'))} |",
        f"| ... of which its module process | {_samples(column('baseline_process'))} |",
        "| ... the same task with Ansible's normal templating of `config: \"{{ maglev_lb }}\"` (no action plugin) "
        f"| {_samples(column('baseline_templated_task'))} |",
        "| ... the same task with the config as JSON text (`config: \"{{ maglev_lb \\| ansible.builtin.to_json }}\"`) "
        f"| {_samples(column('baseline_json_task'))} |",
        f"| lb push task | {_samples(column('push_task'))} |",
        f"| **lb push: the module's own time** | **{_samples(column('push'))}** |",
        f"| ... by task times (task - baseline tasks) | {_samples(column('push_by_task'))} |",
        f"| floor: bare sync vpp_papi loop, same calls | {_samples(floors)} |",
        f"| floor: bare asyncio vpp_papi loop, same calls | {_samples(floors_async)} |",
        f"| push / sync floor (target <= 1.3x) | **{push / floor:.2f}x** (per round: "
        f"{', '.join(f'{r:.2f}' for r in push_ratios)}); asyncio floor: {push / floor_async:.2f}x |",
        f"| lb no-op rerun task | {_samples(column('noop_task'))} |",
        f"| **lb no-op rerun: the module's own time** (target <= 2 s) | **{_samples(column('noop'))}** |",
        f"| ... by task times (task - baseline tasks) | {_samples(column('noop_by_task'))} |",
        "| **whole lb no-op task / the module's own time** (target <= 2x) | "
        f"**{statistics.median(column('noop_task_ratio')):.2f}x** (samples: "
        f"{', '.join(f'{r:.2f}' for r in column('noop_task_ratio'))}) |",
        f"| {args.small} VIPs x {args.ases} ASes: one lb task (whole playbook) | {one_task:.2f} s |",
        f"| {args.small} VIPs x {args.ases} ASes: {2 * args.small} lb_vip + lb_as tasks (whole playbook) | "
        f"{per_vip:.2f} s |",
        f"| ratio: per-VIP tasks / one lb task (whole playbooks; target >= 50x) | **{per_vip / one_task:.1f}x** |",
        f"| ... task times only (sum of the {2 * args.small} tasks / the one task: {per_vip_time:.2f} s / "
        f"{one_task_time:.2f} s) | **{per_vip_time / one_task_time:.1f}x** |",
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
