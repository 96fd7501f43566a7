"""The README's main job: playbooks/demo.yml end to end (vppsim, loopback HTTP backends, site.yml,
the agent without systemd, traffic, an outage and a failover), leaving nothing running."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lab_dir_of(text: str) -> str:
    return re.search(r"demo_dir=(/tmp/maglev-demo-\S+)", text).group(1)


def running_in(lab_dir: str) -> list:
    """Processes whose command line mentions the lab directory (vppsim, backends, agent)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if lab_dir in cmdline:
            found.append(cmdline)
    return found


def test_demo_deploys_fails_over_and_stops_everything():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "demo.py")],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=False,
    )
    text = out.stdout
    assert out.returncode == 0, text[-4000:] + out.stderr
    assert re.search(r"^localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", text, re.M)

    # site.yml: the LB state pushed, the agent deployed from the collection and started.
    assert "TASK [Push the LB plugin state" in text
    assert "TASK [maglev.vpp.agent : Render the agent config" in text
    assert re.search(r"agent pid \d+ \(/tmp/maglev-demo-\S+/bin/maglev-agent --config", text)

    # Before the outage: the primary pool takes the traffic, the standby none.
    before, after = text.split("Take web1 down:", 1)
    assert re.search(r"VPP weights on every VIP: web1 100, web2 100, web3 0", before)
    assert re.search(r"AS \S+\s+web3\s+weight\s+0\s+0% of new flows\s+health up", before)
    assert re.search(r"AS \S+\s+web1\s+weight 100\s+50% of new flows\s+health up", before)
    # web1 down: its share goes to web2; the primary pool down: the standby takes over.
    assert re.search(r"after the last backend went down: web1 0, web2 100, web3 0", after)
    failover = after.split("Failover to the standby pool:", 1)[1]
    assert re.search(r"after the last backend went down: web1 0, web2 0, web3 100", failover)
    assert re.search(r"AS \S+\s+web3\s+weight 100\s+100% of new flows\s+health up", failover)
    assert re.search(r"AS \S+\s+web1\s+weight\s+0\s+0% of new flows\s+health down", failover)
    # The traffic after the failover all went to web3, on both VIPs.
    traffic = failover.split("Simulated traffic after the failover:", 1)[1].split("The LB state after", 1)[0]
    assert len(re.findall(r"\S+ flows:1000\b", traffic)) == 4  # two VIP headers, web3 on each VIP
    assert "flows:0" in traffic

    # lb_facts, and a playbook push while backends are down changes nothing.
    assert re.search(r"push_changed: false", text)
    assert re.search(r"agent_used: true", text)
    assert re.search(r"web1: down\s+web2: down\s+web3: up", text)

    # Nothing left running, the lab directory gone.
    assert "lab stopped: vppsim" in text
    lab_dir = lab_dir_of(text)
    assert running_in(lab_dir) == []
    assert not os.path.exists(lab_dir)
