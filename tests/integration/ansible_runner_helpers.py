"""Run real ``ansible-playbook`` and ad-hoc ``ansible`` processes against a vppsim.

Nothing here mocks Ansible or VPP: every run is a subprocess of the venv's own Ansible, with
localhost as a local-connection host whose interpreter is the venv Python (vpp_papi lives
there), and the collection found through the ``.build/ansible_collections`` symlink tree that
tests/conftest.py creates.

Per-task results come from a test-only callback (``callback_plugins/maglev_test_results.py``)
that appends JSON lines to a file; the screen output stays the default callback's, so a test
can also look at what an operator sees (``--diff`` text, the PLAY RECAP).

Usage::

    runner = AnsibleRunner(tmp_path)
    run = runner.playbook([lb_task(sim, config, state="merged")], check=True, diff=True)
    assert run.ok, run.explain()
    run.tasks[0].result["commands"]
    run.recap_for()["changed"]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
COLLECTIONS_DIR = REPO_ROOT / ".build"
CALLBACK_DIR = HERE / "callback_plugins"
CALLBACK_NAME = "maglev_test_results"
BIN_DIR = Path(sys.executable).parent
PLAYBOOK_TIMEOUT = 120.0
HOST = "localhost"

# A command prefix that runs a process as root without the capabilities that bypass file modes:
# it is refused what an unprivileged user is refused, while still reading the test's root-owned
# files (their owner bits allow root).
NO_DAC_OVERRIDE = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all", "--"]

LB = "maglev.vpp.lb"
LB_FACTS = "maglev.vpp.lb_facts"

_RECAP_RE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)
_ADHOC_RE = re.compile(r"^(?P<host>\S+) \| (?P<status>[A-Z]+)(?: \| rc=\d+)? => ", re.M)


@dataclass
class TaskResult:
    """One task's result on one host, as the callback saw it."""

    name: str
    action: str
    status: str  # ok | failed | skipped | unreachable
    result: Dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "unreachable")

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))

    @property
    def warnings(self) -> List[str]:
        return [str(w) for w in self.result.get("warnings") or []]

    def __getitem__(self, key: str) -> Any:
        return self.result[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.result.get(key, default)


@dataclass
class RunResult:
    """A finished ansible-playbook / ansible process."""

    argv: List[str]
    returncode: int
    stdout: str
    stderr: str
    tasks: List[TaskResult] = field(default_factory=list)
    recap: Dict[str, Dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not any(t.failed for t in self.tasks)

    def recap_for(self, host: str = HOST) -> Dict[str, int]:
        """The PLAY RECAP counters of one host (ok, changed, failures, unreachable, ...)."""
        return self.recap[host]

    @property
    def changed_count(self) -> int:
        return self.recap_for()["changed"]

    @property
    def failed_count(self) -> int:
        return self.recap_for()["failures"]

    def task(self, name: str) -> TaskResult:
        matches = [t for t in self.tasks if t.name == name]
        if len(matches) != 1:
            raise AssertionError(f"expected one result of task {name!r}, got {len(matches)}\n{self.explain()}")
        return matches[0]

    def only(self) -> TaskResult:
        """The single task result of a one-task run."""
        if len(self.tasks) != 1:
            raise AssertionError(f"expected one task result, got {len(self.tasks)}\n{self.explain()}")
        return self.tasks[0]

    def explain(self) -> str:
        """Everything a failing assertion should show."""
        return (
            f"$ {' '.join(self.argv)}\nrc={self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


class AnsibleRunner:
    """Runs ansible-playbook / ansible in an isolated environment under ``workdir``."""

    def __init__(self, workdir: Union[str, Path]):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._count = 0
        # Put before every command, e.g. NO_DAC_OVERRIDE: runs as root that obeys file modes.
        self.command_prefix: List[str] = []
        self.inventory = self.workdir / "inventory.ini"
        self.inventory.write_text(
            f"{HOST} ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        )
        self.config = self.workdir / "ansible.cfg"
        self.config.write_text("[defaults]\n")  # empty: no ansible.cfg from cwd or $HOME leaks in
        for sub in ("local_tmp", "remote_tmp", "home"):
            (self.workdir / sub).mkdir(exist_ok=True)

    def env(self, results_file: Path) -> Dict[str, str]:
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("ANSIBLE_"):
                del env[key]
        env.update(
            ANSIBLE_CONFIG=str(self.config),
            ANSIBLE_HOME=str(self.workdir / "home"),
            ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_DIR),
            ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
            ANSIBLE_HOST_KEY_CHECKING="False",
            ANSIBLE_RETRY_FILES_ENABLED="False",
            ANSIBLE_LOCAL_TEMP=str(self.workdir / "local_tmp"),
            ANSIBLE_REMOTE_TEMP=str(self.workdir / "remote_tmp"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_STDOUT_CALLBACK="default",
            ANSIBLE_CALLBACK_RESULT_FORMAT="json",
            ANSIBLE_CALLBACK_PLUGINS=str(CALLBACK_DIR),
            ANSIBLE_CALLBACKS_ENABLED=CALLBACK_NAME,
            ANSIBLE_LOAD_CALLBACK_PLUGINS="True",  # callbacks in ad-hoc runs too
            ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
            ANSIBLE_LOCALHOST_WARNING="False",
            MAGLEV_TEST_RESULTS=str(results_file),
        )
        return env

    def _next(self, stem: str) -> Path:
        self._count += 1
        return self.workdir / f"{self._count:02d}-{stem}"

    def _run(self, argv: List[str], results_file: Path, timeout: float) -> RunResult:
        try:
            proc = subprocess.run(
                self.command_prefix + argv,
                env=self.env(results_file),
                cwd=self.workdir,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"$ {' '.join(argv)} did not finish within {timeout}s\n--- stdout\n{exc.stdout}\n"
                f"--- stderr\n{exc.stderr}"
            ) from exc
        run = RunResult(argv, proc.returncode, proc.stdout, proc.stderr)
        _load_results(run, results_file)
        return run

    def playbook(
        self,
        tasks: Sequence[Mapping[str, Any]],
        *,
        check: bool = False,
        diff: bool = False,
        extra_args: Sequence[str] = (),
        timeout: float = PLAYBOOK_TIMEOUT,
    ) -> RunResult:
        """One play on localhost (no fact gathering) with these tasks."""
        path = self._next("playbook.yml")
        play = {"name": "maglev test", "hosts": HOST, "gather_facts": False, "tasks": list(tasks)}
        path.write_text(yaml.safe_dump([play], sort_keys=False))
        argv = [str(BIN_DIR / "ansible-playbook"), "-i", str(self.inventory), str(path)]
        argv += (["--check"] if check else []) + (["--diff"] if diff else []) + list(extra_args)
        return self._run(argv, path.with_suffix(".results.jsonl"), timeout)

    def adhoc(
        self,
        module: str,
        args: Union[str, Mapping[str, Any]],
        *,
        check: bool = False,
        diff: bool = False,
        timeout: float = PLAYBOOK_TIMEOUT,
    ) -> RunResult:
        """``ansible localhost -m module -a args``; args may be a dict (passed as JSON)."""
        results = self._next("adhoc.results.jsonl")
        text = args if isinstance(args, str) else json.dumps(dict(args))
        argv = [str(BIN_DIR / "ansible"), "-i", str(self.inventory), HOST, "-m", module, "-a", text]
        argv += (["--check"] if check else []) + (["--diff"] if diff else [])
        return self._run(argv, results, timeout)


def _load_results(run: RunResult, results_file: Path) -> None:
    if results_file.exists():
        for line in results_file.read_text().splitlines():
            record = json.loads(line)
            if record["kind"] == "task":
                run.tasks.append(
                    TaskResult(record["task"], record["action"], record["status"], record["result"])
                )
            elif record["kind"] == "recap":
                run.recap = record["hosts"]


def screen_recap(stdout: str) -> Dict[str, Dict[str, int]]:
    """The PLAY RECAP as printed on screen (an independent reading of the callback's counters)."""
    recap = {}
    for m in _RECAP_RE.finditer(stdout):
        values = m.groupdict()
        host = values.pop("host")
        recap[host] = {k: int(v) for k, v in values.items()}
    return recap


def adhoc_screen_result(stdout: str) -> Dict[str, Any]:
    """The JSON the default callback prints for an ad-hoc run: ``localhost | SUCCESS => {...}``."""
    m = _ADHOC_RE.search(stdout)
    if m is None:
        raise AssertionError(f"no ad-hoc result line in:\n{stdout}")
    result, _end = json.JSONDecoder().raw_decode(stdout[m.end():])
    result["_screen_status"] = m.group("status")
    return result


# -- task builders ---------------------------------------------------------------------------


def vpp_args(
    sim: Any, agent_state: Optional[Union[str, Path]] = None, module: str = LB, **extra: Any
) -> Dict[str, Any]:
    """The connection options of ``module`` for one vppsim: each module takes only the options
    it acts on (stats_socket: lb_facts; agent_state: lb and lb_facts).

    ``agent_state`` defaults to a path that does not exist (no agent), never to the real
    /run/maglev-agent/state.json of the machine running the tests.
    """
    if agent_state is None:
        agent_state = os.path.join(os.path.dirname(sim.api_socket), "no-agent.json")
    args: Dict[str, Any] = {"api_socket": sim.api_socket, "timeout": 10}
    if module == LB_FACTS:
        args["stats_socket"] = sim.stats_socket
    if module in (LB, LB_FACTS):
        args["agent_state"] = str(agent_state)
    args.update(extra)
    return args


def lb_task(
    sim: Any,
    config: Optional[Mapping[str, Any]] = None,
    state: str = "merged",
    name: Optional[str] = None,
    register: Optional[str] = None,
    agent_state: Optional[Union[str, Path]] = None,
    **extra: Any,
) -> Dict[str, Any]:
    """A ``maglev.vpp.lb`` task against ``sim``."""
    args = vpp_args(sim, agent_state)
    args["state"] = state
    if config is not None:
        args["config"] = config
    args.update(extra)
    task: Dict[str, Any] = {"name": name or f"lb {state}", LB: args}
    if register:
        task["register"] = register
    return task


def facts_task(sim: Any, name: str = "lb facts", **extra: Any) -> Dict[str, Any]:
    args = vpp_args(sim, module=LB_FACTS)
    args.update(extra)
    return {"name": name, LB_FACTS: args}


# -- VPP's side, read independently of the modules -------------------------------------------


@dataclass
class VppSnapshot:
    """What VPP holds, read with the core client (its own connection) and the raw CLI."""

    state: Any  # model.LbState
    verbose: str  # `show lb vips verbose`, byte for byte

    @property
    def summary(self) -> Dict[str, Any]:
        return summarize(self.state)

    def index_of(self, vip: str) -> int:
        for key, state in self.state.vips.items():
            if str(key) == vip:
                return state.index
        raise AssertionError(f"VPP has no VIP {vip}: {sorted(str(k) for k in self.state.vips)}")

    def flows(self, vip: str) -> Dict[str, int]:
        """Sticky flows per AS of one VIP, from the CLI text (`flows:N` of each AS line)."""
        for parsed in _parsed_vips(self.verbose):
            if _vip_label(parsed.prefix, parsed.protocol, parsed.port) == vip and not parsed.removed:
                return {a.address: a.flows for a in parsed.ases if a.used}
        raise AssertionError(f"no VIP {vip} in:\n{self.verbose}")

    def removed_flows(self, vip: str) -> Dict[str, int]:
        """Sticky flows per *removed* AS of one VIP (deleted, not yet garbage-collected)."""
        for parsed in _parsed_vips(self.verbose):
            if _vip_label(parsed.prefix, parsed.protocol, parsed.port) == vip and not parsed.removed:
                return {a.address: a.flows for a in parsed.ases if not a.used}
        raise AssertionError(f"no VIP {vip} in:\n{self.verbose}")


def vpp_client(sim: Any):
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient

    return VppLbClient(sim.api_socket, timeout=10, name="maglev-test")


def snapshot(sim: Any) -> VppSnapshot:
    with vpp_client(sim) as client:
        return VppSnapshot(client.dump(), client.cli("show lb vips verbose"))


def vpp_cli(sim: Any, *commands: str) -> List[str]:
    """Run CLI commands on one connection; a refused command raises.

    Commands are written for VPP master; on LB API 1.1.0 (no weights, its CLI refuses the
    keyword) ``lb as ... weight W`` loses the weight, and with W = 0 is left out: an AS of
    weight 0 is an absent AS there, as the modules and the agent program it.
    """
    with vpp_client(sim) as client:
        if not client.capabilities.as_weights:
            commands = tuple(c for c in (without_weight(command) for command in commands) if c is not None)
        return [client.cli(command) for command in commands]


_WEIGHT = re.compile(r" weight (\d+)")


def without_weight(command: str) -> Optional[str]:
    """A master ``lb as`` command as LB API 1.1.0 takes it (None: weight 0, the AS stays out)."""
    found = _WEIGHT.search(command)
    if not command.startswith("lb as ") or found is None:
        return command
    return None if found.group(1) == "0" else _WEIGHT.sub("", command)


def lb_api_of(sim: Any) -> str:
    """The LB API generation of the VPP under test."""
    if sim.is_sim:
        from vppsim.launcher import lb_api_of as sim_lb_api

        return sim_lb_api(sim.args)
    from vpp_under_test import external_lb_api

    return external_lb_api()


def seen_on(sim: Any, expected: Any) -> Any:
    """A ``summarize`` value (or its ``vips`` part, or one VIP's ``ases``) written for VPP master,
    as the VPP under test reports that state: on LB API 1.1.0 an AS of weight 0 is absent, every
    other AS reads weight 100, and lb_conf's bucket count and timeout cannot be read (None)."""
    if lb_api_of(sim) != "1.1.0":
        return expected
    return _legacy(expected)


def _legacy(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 4:  # a summary's conf
        return (value[0], value[1], None, None)
    if isinstance(value, dict) and isinstance(value.get("ases"), dict):  # one VIP
        return dict(value, ases=_legacy(value["ases"]))
    if isinstance(value, dict) and "vips" in value and "conf" in value:
        conf = value["conf"]
        return {"conf": (conf[0], conf[1], None, None) if conf else conf, "vips": _legacy(value["vips"])}
    if isinstance(value, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        return {address: 100 for address, weight in value.items() if weight > 0}  # one VIP's ases
    if isinstance(value, dict):
        return {k: (dict(v, ases=_legacy(v["ases"])) if isinstance(v, dict) and "ases" in v else v)
                for k, v in value.items()}
    return value


def _parsed_vips(text: str):
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.cli_parser import parse_vips_verbose

    return parse_vips_verbose(text)


def _vip_label(prefix: str, protocol: int, port: int) -> str:
    if not port:
        return prefix
    return f"{prefix} {PROTOCOL_NAMES.get(protocol, str(protocol))}/{port}"


PROTOCOL_NAMES = {6: "tcp", 17: "udp"}


def summarize(state: Any) -> Dict[str, Any]:
    """LbState -> plain data a test can compare with a literal:

    ``{"conf": (ip4, ip6, buckets, timeout), "vips": {"192.0.2.1/32 tcp/80": {"encap": ...,
    "src_ip_sticky": ..., "new_flows_table_length": ..., "ases": {address: weight}}}}``
    """
    conf = state.conf
    vips = {}
    for key, vip in state.vips.items():
        vips[str(key)] = {
            "encap": vip.spec.encap,
            "src_ip_sticky": vip.spec.src_ip_sticky,
            "new_flows_table_length": vip.spec.new_flows_table_length,
            "ases": {address: a.weight for address, a in vip.ases.items()},
        }
    return {
        "conf": (conf.ip4_src_address, conf.ip6_src_address, conf.sticky_buckets_per_core, conf.flow_timeout),
        "vips": vips,
    }


def normalize_config(maglev_lb: Mapping[str, Any]) -> Dict[str, Any]:
    """A ``maglev_lb`` value (as the modules take or return it) -> the ``vips`` part of ``summarize``
    that it means with every backend up: the first pool's members get their configured weight,
    members of later (standby) pools 0. Names do not matter, addresses do."""
    import ipaddress

    addresses = {name: body["address"] for name, body in (maglev_lb.get("backends") or {}).items()}
    vips = {}
    for frontend in (maglev_lb.get("frontends") or {}).values():
        prefix = str(ipaddress.ip_network(frontend["prefix"]))
        protocol = frontend.get("protocol")
        label = f"{prefix} {protocol}/{frontend['port']}" if protocol else prefix
        ases = {}
        for position, pool in enumerate(frontend["pools"]):
            for member, body in (pool.get("backends") or {}).items():
                weight = (body or {}).get("weight")
                weight = 100 if weight is None else weight
                ases[str(ipaddress.ip_address(addresses[member]))] = weight if position == 0 else 0
        vips[label] = {
            "encap": frontend.get("encap") or "gre4",
            "src_ip_sticky": bool(frontend.get("src_ip_sticky")),
            "new_flows_table_length": frontend.get("new_flows_table_length") or 1024,
            "ases": ases,
        }
    return vips


def vips_of(reported: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The ``vips`` part of ``summarize`` from a module's before/after value, in either shape:
    a ``maglev_lb`` value (``frontends``) or the state form (``vips`` keyed by VIP label)."""
    if not reported:
        return {}
    if "frontends" in reported:
        return normalize_config(reported)
    return {
        label: {
            "encap": vip["encap"],
            "src_ip_sticky": vip["src_ip_sticky"],
            "new_flows_table_length": vip["new_flows_table_length"],
            "ases": dict(vip["ases"]),
        }
        for label, vip in (reported.get("vips") or {}).items()
    }
