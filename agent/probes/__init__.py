"""Health probes: one probe of one backend, bounded by the check's timeout, free of scheduling.

``await run_probe(check, address, netns=None)`` returns a ProbeResult with an HAProxy-style code
(result.py). Types: http/https (http.py on http_wire.py and tls.py), tcp (tcp.py), icmp (icmp.py). Probes
can run inside a network namespace through NetnsSockets (netns.py).
"""

from .netns import NetnsError, NetnsSockets
from .result import PASS_CODES, ProbeResult
from .runner import run_probe
from .tls import clear_tls_contexts

__all__ = ["NetnsError", "NetnsSockets", "PASS_CODES", "ProbeResult", "clear_tls_contexts", "run_probe"]
