"""vppsim: a stand-in for the fd.io VPP dataplane that vpp_papi cannot tell from VPP.

It speaks VPP's binary API over a Unix socket (same framing, handshake, message table and
message definitions), publishes a VPP-layout stats segment over the stats socket, and
emulates the LB plugin (``vppsim.lb``). Start it with ``python -m vppsim --help``.
"""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
#: The API JSON directory of the default personality (LB API 1.2.0, VPP master).
API_DIR = os.path.join(_HERE, "api")
#: API JSON directory per LB API version (1.1.0 = releases up to v26.06: 8 lb messages fewer).
API_DIRS = {"1.2.0": API_DIR, "1.1.0": os.path.join(_HERE, "api-1.1.0")}
LB_API_VERSIONS = tuple(API_DIRS)
DEFAULT_LB_API = "1.2.0"


def api_dir_for(lb_api: str) -> str:
    """The API JSON directory a client should load for a vppsim running ``--lb-api lb_api``."""
    try:
        return API_DIRS[lb_api]
    except KeyError:
        raise ValueError(f"unsupported LB API version {lb_api!r} (have {sorted(API_DIRS)})") from None


__all__ = ["API_DIR", "API_DIRS", "DEFAULT_LB_API", "LB_API_VERSIONS", "api_dir_for"]
