"""``python -m vppsim ctl``, the vppctl-like command, as a subprocess against a running vppsim (and
its effect seen through an independent client: the core's, over the same socket)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.client import VppLbClient
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.errors import VppRetvalError
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb.model import (
    ADD_AS,
    ADD_VIP,
    DEL_AS,
    Op,
    VipKey,
    VipSpec,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ctl(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "vppsim", "ctl", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("args, code, stdout, stderr", [
    (["lb", "vip", "192.0.2.2/32", "encap", "gre4"], 0, "lb_vip_add ok", ""),  # words, as vppctl takes them
    (["show lb vips verbose"], 0, "ip4-gre4 [1] 192.0.2.1/32\n  new_size:1024\n", ""),  # one quoted string
    (["show", "nosuch"], 1, "", "show: unknown input `nosuch'"),
    pytest.param(["sim fault show"], 0, "sim fault: stall 0 ms", "",
                 marks=pytest.mark.simulator(reason="sim fault is vppsim's")),
    (["lb vip 192.0.2.1/33 encap gre4"], 1, "", "lb vip"),
])
def test_ctl_sends_cli_commands_like_vppctl(sim, args, code, stdout, stderr):
    setup = ctl("-s", sim.api_socket, "lb vip 192.0.2.1/32 encap gre4")  # the VIP the cases show
    assert setup.returncode == 0, setup.stderr
    done = ctl("-s", sim.api_socket, *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert stdout in done.stdout and stderr in done.stderr, (done.stdout, done.stderr)


@pytest.mark.simulator(reason="sim traffic and sim fault are vppsim's")
def test_ctl_reads_a_script_on_stdin_and_arms_faults(sim):
    script = "\n".join([
        "# a VIP with one AS, then traffic through it",
        "lb vip 192.0.2.1/32 encap gre4",
        "lb as 192.0.2.1/32 198.51.100.11",
        "",
        "sim traffic 192.0.2.1/32 flows 10 seed 1",
    ]) + "\n"
    done = ctl("-s", sim.api_socket, stdin=script)
    assert done.returncode == 0, done.stderr
    assert "first session packet: 10" in done.stdout and "198.51.100.11 flows:10" in done.stdout
    with VppLbClient(sim.api_socket) as client:
        assert [set(vip.ases) for vip in client.dump().vips.values()] == [{"198.51.100.11"}]
        armed = ctl("-s", sim.api_socket, stdin="sim fault error cli_inband -2 count 1\n")
        assert armed.returncode == 0, armed.stderr
        # The fault armed through ctl reaches the next cli_inband, whoever sends it.
        with pytest.raises(VppRetvalError) as failed:
            client.cli("show lb")
        assert failed.value.retval == -2
        assert "lb_main" in client.cli("show lb")  # count 1: the one after works


def test_ctl_names_a_socket_without_vpp(tmp_path):
    path = str(tmp_path / "none.sock")
    done = ctl("-s", path, "show lb")
    assert done.returncode == 3
    assert f"cannot talk to VPP at {path}" in done.stderr


def lb_writes(client: VppLbClient) -> tuple:
    """(lb writes, generation) from ``sim stats``."""
    words = client.cli("sim stats").replace(",", "").split()
    return int(words[words.index("writes") + 1]), int(words[words.index("generation") + 1])


@pytest.mark.simulator(reason="sim stats and sim fault restart are vppsim's")
def test_sim_stats_counts_api_writes_only_and_across_restarts(sim):
    vip = VipKey("192.0.2.7/32", 6, 80)
    with VppLbClient(sim.api_socket) as client:
        before, generation = lb_writes(client)
        client.dump()  # reads are not writes
        client.cli("lb vip 192.0.2.9/32 encap gre4")  # nor are CLI commands
        assert lb_writes(client) == (before, generation)
        client.apply([Op(ADD_VIP, vip, spec=VipSpec("gre4")), Op(ADD_AS, vip, address="198.51.100.7", weight=100),
                      Op(DEL_AS, vip, address="198.51.100.7", flush=True)])
        assert lb_writes(client) == (before + 3, generation)
        client.cli("sim fault restart")
    with VppLbClient(sim.api_socket) as client:
        assert lb_writes(client) == (before + 3, generation + 1)
