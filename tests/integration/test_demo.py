"""The README's main job: the demo runs end to end against vppsim and converges."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_pushes_sample_state_and_is_idempotent():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "demo.py")],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    planned = int(re.search(r"^plan: (\d+) operations", text, re.M).group(1))
    assert planned > 0
    assert "re-plan after apply: 0 operations" in text
    # Both frontends are in VPP with their settings, and traffic moved the counters.
    assert re.search(r"VIP \[\d+\] 192\.0\.2\.1/32 tcp/80\s+encap gre4\s+table 1024\s+src_ip_sticky True", text)
    assert re.search(r"VIP \[\d+\] 2001:db8::10/128\s+encap gre6\s+table 512", text)
    firsts = [int(n) for n in re.findall(r"counters: first (\d+)", text)]
    assert len(firsts) == 2 and all(n > 0 for n in firsts)
    # The fallback pool's backend is present but takes no new flows while the primary pool is up.
    assert re.search(r"AS 198\.51\.100\.21\s+weight\s+0\b", text)
    # The output explains itself: which AS is the standby, what "flows" and "untracked" mean.
    assert re.search(r"AS 198\.51\.100\.21\s+weight\s+0\b.*pool fallback \(standby\)", text)
    assert re.search(r"AS 198\.51\.100\.11\s+weight\s+100\b.*pool primary \(active\)", text)
    assert "API message definitions fetched from VPP itself (get_api_json)" in text
    assert "`untracked` packets found their 4-entry sticky-table bucket full" in text
    assert "`flows:` per AS is the sticky entries pointing at it now" in text
    assert "stays listed as `removed` until VPP's garbage collector frees it" in text
    assert "vppsim stopped" in text
