"""vppsim: a stand-in for the fd.io VPP dataplane that vpp_papi cannot tell from VPP.

It speaks VPP's binary API over a Unix socket (same framing, handshake, message table and
message definitions), publishes a VPP-layout stats segment over the stats socket, and
emulates the LB plugin (``vppsim.lb``). Start it with ``python -m vppsim --help``.
"""

import os

API_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "api")

__all__ = ["API_DIR"]
