"""The demo's lab (playbooks/demo.yml): vppsim as the VPP, real HTTP backends on loopback, the agent.

    demo_lab.py start DIR                          vppsim + backends; writes DIR/lab.json
    demo_lab.py agent-start DIR COMMAND CONFIG     the agent in the background (the role's command)
    demo_lab.py wait DIR NAME=WEIGHT...            until every VIP gives each backend that weight
                                                   and those with weight are up in the agent's view
    demo_lab.py down DIR NAME                      stop one backend (its port then refuses)
    demo_lab.py traffic DIR                        simulated flows to every VIP (`sim traffic`)
    demo_lab.py show DIR                           VIPs, AS weights, buckets, counters, health
    demo_lab.py metrics DIR                        a few lines of the agent's /metrics, if served
    demo_lab.py stop DIR                           stop everything the lab started

Every process the lab starts is recorded in lab.json, so `stop` (and scripts/demo.py on any
failure) ends exactly those. Every wait has a deadline.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Callable, Dict

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))
BACKENDS = ("web1", "web2", "web3")
START_TIMEOUT = 20.0
WAIT_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def collections_dir() -> str:
    """The directory holding ansible_collections/ (installed collection, or the checkout's .build link)."""
    parent = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION_ROOT)))
    if os.path.basename(os.path.dirname(os.path.dirname(COLLECTION_ROOT))) == "ansible_collections":
        return parent
    sys.path.insert(0, os.path.join(COLLECTION_ROOT, "tests"))
    import conftest  # the checkout: tests/conftest.py makes the .build symlink tree

    return conftest.COLLECTIONS_DIR


def core():
    """The collection's core (client and stats reader), imported as the modules import it."""
    path = collections_dir()
    if path not in sys.path:
        sys.path.insert(0, path)
    from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import client, stats

    return client, stats


def deadline_wait(predicate: Callable[[], object], timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)  # paces the polling of a real condition


def load(lab_dir: str) -> dict:
    with open(os.path.join(lab_dir, "lab.json")) as handle:
        return json.load(handle)


def save(lab_dir: str, lab: dict) -> None:
    tmp = os.path.join(lab_dir, "lab.json.tmp")
    with open(tmp, "w") as handle:
        json.dump(lab, handle, indent=2)
    os.replace(tmp, os.path.join(lab_dir, "lab.json"))


def accepts(address, family=socket.AF_INET, kind=socket.SOCK_STREAM) -> bool:
    sock = socket.socket(family, kind)
    sock.settimeout(1)
    try:
        sock.connect(address)
        return True
    except OSError:
        return False
    finally:
        sock.close()


def free_port(address: str) -> int:
    sock = socket.socket()
    sock.bind((address, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def spawn(argv, log_path: str, env=None) -> int:
    """A background process in its own session (a Ctrl-C of the playbook does not reach it)."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, cwd="/")
    return proc.pid


def alive(pid: int) -> bool:
    """Running (a zombie, whoever its parent, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it if it is ours
        except ChildProcessError:
            pass
        return False
    return True


# -- the lab ---------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = f"{self.server.name} ok\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


def serve(address: str, port: int, name: str) -> int:
    """One HTTP backend in the foreground, until SIGTERM."""
    server = http.server.ThreadingHTTPServer((address, port), _Handler)
    server.name = name
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever(poll_interval=0.2)
    return 0


def start(lab_dir: str) -> int:
    # A loopback /24 of its own per run, so a demo never meets another one's backends.
    base = f"127.{200 + os.getpid() % 50}.{os.getpid() // 50 % 250 + 1}"
    addresses = {name: f"{base}.{11 + i}" for i, name in enumerate(BACKENDS)}
    port = free_port(addresses["web1"])
    lab = {
        "dir": lab_dir,
        "api_socket": os.path.join(lab_dir, "api.sock"),
        "stats_socket": os.path.join(lab_dir, "stats.sock"),
        "port": port,
        "metrics_listen": f"127.0.0.1:{free_port('127.0.0.1')}",
        "backends": addresses,
        "pids": {},
    }
    save(lab_dir, lab)  # first, so that stop finds whatever was started if a later step fails
    env = dict(os.environ, PYTHONPATH=COLLECTION_ROOT)
    lab["pids"]["vppsim"] = spawn([sys.executable, "-m", "vppsim", "--api-socket", lab["api_socket"],
                                   "--stats-socket", lab["stats_socket"]], os.path.join(lab_dir, "vppsim.log"), env)
    save(lab_dir, lab)
    for name, address in addresses.items():
        lab["pids"][name] = spawn([sys.executable, os.path.abspath(__file__), "serve", address, str(port), name],
                                  os.path.join(lab_dir, f"{name}.log"))
        save(lab_dir, lab)
    deadline_wait(lambda: accepts(lab["api_socket"], socket.AF_UNIX)
                  and accepts(lab["stats_socket"], socket.AF_UNIX, socket.SOCK_SEQPACKET), START_TIMEOUT, "vppsim")
    for name, address in addresses.items():
        deadline_wait(lambda a=address: accepts((a, port)), START_TIMEOUT, f"backend {name}")
    print(f"vppsim pid {lab['pids']['vppsim']}: API {lab['api_socket']}, stats {lab['stats_socket']}")
    for name, address in addresses.items():
        print(f"backend {name}: http://{address}:{port}/ (pid {lab['pids'][name]})")
    return 0


def agent_start(lab_dir: str, command: str, config: str) -> int:
    lab = load(lab_dir)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the command sets its own
    lab["pids"]["agent"] = spawn([command, "--config", config], os.path.join(lab_dir, "agent.log"), env)
    save(lab_dir, lab)
    state_file = lab_state_file(lab_dir)

    def all_known():
        if not alive(lab["pids"]["agent"]):
            raise SystemExit(f"demo: the agent exited:\n{tail(os.path.join(lab_dir, 'agent.log'))}")
        states = backend_states(state_file)
        return states if states and "unknown" not in states.values() else None

    states = deadline_wait(all_known, START_TIMEOUT, "the agent's first health results")
    print(f"agent pid {lab['pids']['agent']} ({command} --config {config}); state file {state_file}")
    print("health: " + ", ".join(f"{name} {state}" for name, state in sorted(states.items())))
    return 0


def lab_state_file(lab_dir: str) -> str:
    return os.path.join(lab_dir, "run", "state.json")


def backend_states(state_file: str) -> Dict[str, str]:
    try:
        with open(state_file) as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return {}
    return {name: body["state"] for name, body in document.get("backends", {}).items()}


def tail(path: str, lines: int = 20) -> str:
    try:
        with open(path) as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def vpp_weights(lab: dict) -> Dict[str, Dict[str, int]]:
    """{VIP: {backend name: weight}} as VPP holds it."""
    client = core()[0]
    names = {address: name for name, address in lab["backends"].items()}
    with client.VppLbClient(lab["api_socket"], name="maglev-demo") as vpp:
        state = vpp.dump()
    return {str(key): {names.get(a, a): s.weight for a, s in vip.ases.items()} for key, vip in state.vips.items()}


def wait(lab_dir: str, expected: Dict[str, int]) -> int:
    lab = load(lab_dir)

    def matches():
        # VPP holds the agent's write before the agent's state file says why (it is written after):
        # the step means both, so a backend given weight is also up in the agent's view.
        weights = vpp_weights(lab)
        health = backend_states(lab_state_file(lab_dir))
        return weights if weights and all(
            {n: w for n, w in ases.items() if n in expected} == expected for ases in weights.values()) and all(
            health.get(n) == "up" for n, w in expected.items() if w > 0) else None

    deadline_wait(matches, WAIT_TIMEOUT, f"VPP weights {expected}, and those with weight up in the agent's view")
    since = f" {time.time() - lab['down_at']:.1f}s after the last backend went down" if "down_at" in lab else ""
    print(f"VPP weights on every VIP{since}: " + ", ".join(f"{n} {w}" for n, w in sorted(expected.items())))
    print("health: " + ", ".join(f"{n} {s}" for n, s in sorted(backend_states(lab_state_file(lab_dir)).items())))
    return 0


def down(lab_dir: str, name: str) -> int:
    lab = load(lab_dir)
    stop_pid(lab["pids"][name])
    lab["down_at"] = time.time()
    save(lab_dir, lab)
    address = lab["backends"][name]
    deadline_wait(lambda: not accepts((address, lab["port"])), STOP_TIMEOUT, f"{name} to refuse connections")
    print(f"backend {name} ({address}) is down: its port {lab['port']} refuses connections")
    return 0


def traffic(lab_dir: str) -> int:
    lab = load(lab_dir)
    client = core()[0]
    with client.VppLbClient(lab["api_socket"], name="maglev-demo") as vpp:
        for key in sorted(vpp.dump().vips, key=lambda k: k.sort_key()):
            target = key.prefix if key.is_all_port else (
                f"{key.prefix} protocol {'tcp' if key.protocol == 6 else 'udp'} port {key.port}")
            command = f"sim traffic {target} flows 1000 packets 3 seed {int(time.time()) % 1000}"
            print(f"vpp# {command}")
            print(vpp.cli(command).rstrip())
    return 0


def show(lab_dir: str) -> int:
    lab = load(lab_dir)
    client, stats = core()
    names = {address: name for name, address in lab["backends"].items()}
    health = backend_states(lab_state_file(lab_dir))
    with client.VppLbClient(lab["api_socket"], name="maglev-demo") as vpp, \
            stats.LbStatsReader(lab["stats_socket"]) as reader:
        state = vpp.dump()
        counters = reader.vip_counters({key: vip.index for key, vip in state.vips.items()})
        for key in sorted(state.vips, key=lambda k: k.sort_key()):
            vip = state.vips[key]
            ctr = counters[key]
            print(f"VIP {key}  encap {vip.spec.encap}  src_ip_sticky {vip.spec.src_ip_sticky}  "
                  f"table {vip.spec.new_flows_table_length}")
            print(f"    counters: first {ctr['first_packets']}  existing {ctr['next_packets']}  "
                  f"no-server {ctr['no_server_packets']}")
            for address in sorted(vip.ases):
                a = vip.ases[address]
                name = names.get(address, "?")
                share = f"{a.num_buckets / vip.spec.new_flows_table_length:.0%}" if a.num_buckets is not None else "?"
                print(f"    AS {address:<15} {name:<5} weight {a.weight:>3}  {share:>4} of new flows  "
                      f"health {health.get(name, 'not probed')}")
    return 0


def metrics(lab_dir: str) -> int:
    lab = load(lab_dir)
    url = f"http://{lab['metrics_listen']}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        print(f"no Prometheus exporter at {url} ({exc})")
        return 0
    lines = [line for line in text.splitlines() if line.startswith("maglev_") and not line.startswith("#")]
    print(f"{url} ({len(lines)} maglev_ samples), a few:")
    for line in lines[:12]:
        print("    " + line)
    return 0


def stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # paces the check that the process is gone
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def stop(lab_dir: str) -> int:
    try:
        lab = load(lab_dir)
    except OSError:
        return 0
    # The agent first: it leaves VPP as it is on SIGTERM and removes its state file.
    for name in sorted(lab["pids"], key=lambda n: n != "agent"):
        stop_pid(lab["pids"][name])
    print("lab stopped: " + ", ".join(f"{n} (pid {p})" for n, p in lab["pids"].items()))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "traffic", "show", "metrics", "stop"):
        sub.add_parser(name).add_argument("dir")
    p = sub.add_parser("agent-start")
    p.add_argument("dir")
    p.add_argument("agent_command")
    p.add_argument("config")
    p = sub.add_parser("wait")
    p.add_argument("dir")
    p.add_argument("weights", nargs="+", metavar="NAME=WEIGHT")
    p = sub.add_parser("down")
    p.add_argument("dir")
    p.add_argument("name", choices=BACKENDS)
    p = sub.add_parser("serve")
    p.add_argument("address")
    p.add_argument("port", type=int)
    p.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.address, args.port, args.name)
    if args.command == "agent-start":
        return agent_start(args.dir, args.agent_command, args.config)
    if args.command == "wait":
        return wait(args.dir, {n: int(w) for n, w in (item.split("=", 1) for item in args.weights)})
    if args.command == "down":
        return down(args.dir, args.name)
    return {"start": start, "traffic": traffic, "show": show, "metrics": metrics, "stop": stop}[args.command](args.dir)


if __name__ == "__main__":
    sys.exit(main())
