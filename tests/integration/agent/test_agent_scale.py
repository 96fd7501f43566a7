"""A reload from one frontend to 1,000 and back, on the real agent against vppsim (issue 18,
docs/reliability.md "A reload of 1,000 frontends"). Asserted: VPP ends equal to each config,
no healthy backend of a configured frontend is ever written weight 0, and the status API answers
every request while the reload runs. Measured, not asserted: how long each reload took to
converge in VPP and the slowest status API answer (printed; recorded in docs/reliability.md)."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Dict, List

from agentproc import wait_for
from ansible_collections.maglev.vpp.agent.ctl_client import StatusClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import PROTOCOLS, VipKey
from test_agent_daemon import VIP, config_for, in_vpp
from test_agent_lifecycle import started_agent

MANY = 1000


def many_frontends(config: dict) -> dict:
    """``www`` and MANY more frontends over the same three backends (one VIP each)."""
    www = config["frontends"]["www"]
    frontends = {"www": www}
    for i in range(MANY):
        frontends[f"fe{i}"] = dict(www, prefix=str(vip_of(i).prefix))
    return dict(config, frontends=frontends)


def vip_of(i: int) -> VipKey:
    return VipKey(f"198.18.{i // 250}.{i % 250 + 1}/32", PROTOCOLS["tcp"], 80)


def vpp_weights(client) -> Dict[VipKey, Dict[str, int]]:
    return {key: {a: s.weight for a, s in vip.ases.items()} for key, vip in client.dump().vips.items()}


class StatusPoller:
    """Asks the status API for its summary in a loop until stopped; keeps every failure and the
    slowest answer."""

    def __init__(self, socket_path: str):
        self.client = StatusClient(socket_path, timeout=30)
        self.failures: List[str] = []
        self.answers = 0
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatusPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.client.get()
            except Exception as exc:  # noqa: BLE001 (any failure is what the test reports)
                self.failures.append(repr(exc))
            else:
                self.answers += 1
            self.slowest = max(self.slowest, time.monotonic() - started)


def zero_writes(records: List[dict], healthy: set, configured: set) -> List[dict]:
    return [r for r in records if r.get("address") in healthy and r.get("vip") in configured
            and (r.get("weight") == 0 or r["kind"] == "as_removed")]


def test_a_reload_to_a_thousand_frontends_and_back(sim, tmp_path, backends, client, agent):
    socket_path = str(tmp_path / "status.sock")
    small = config_for(sim, tmp_path, backends, status_socket=socket_path)
    proc = started_agent(agent, small, client, backends)
    proc.wait_event_after(proc.wait_event("warmup", action="done"), "vpp-lbsync-done")
    healthy = {b.address for b in backends[:2]}
    per_vip = in_vpp(client, backends, 100, 100, 0)
    big = many_frontends(small)
    measured = {}
    everything = {VIP: per_vip, **{vip_of(i): per_vip for i in range(MANY)}}
    # Back to one frontend, VPP keeps the 1,000 VIPs as they are: the agent never deletes a VIP
    # the config does not know (docs/agent.md "Full sync"); a playbook removes them.
    for name, config, frontends in (("to 1,000", big, len(big["frontends"])), ("back to 1", small, 1)):
        configured = {str(VIP)} if config is small else {str(key) for key in everything}
        writes = wait_for(proc.settled_writes, 15, "the agent's writes logged")
        reloads = proc.count("config-reload")
        proc.write_config(config)
        with StatusPoller(socket_path) as poller:
            started = time.monotonic()
            proc.signal(signal.SIGHUP)
            reload = proc.wait_event("config-reload", after=reloads, timeout=120)
            proc.wait_event_after(reload, "vpp-lbsync-done", timeout=120)  # the reload's full sync
            wait_for(lambda: vpp_weights(client) == everything, 120, f"VPP equal to the config ({name})",
                     interval=0.2)
            took = time.monotonic() - started
        assert poller.failures == [] and poller.answers > 0
        assert len(StatusClient(socket_path).get("frontends")) == frontends
        found = zero_writes(proc.events("vpp-lbsync")[writes:], healthy, configured)
        assert found == [], "weight 0 for a healthy backend:\n" + "\n".join(json.dumps(r) for r in found[:5])
        assert proc.count("config-reload-failed") == 0
        measured[name] = (round(took, 2), round(poller.slowest, 3), poller.answers)
    summary = "; ".join(f"{n}: converged in {t}s, slowest status answer {s}s of {a}"
                        for n, (t, s, a) in measured.items())
    print(f"\nreload measurements (AS weights: {client.capabilities.as_weights}): {summary}")
