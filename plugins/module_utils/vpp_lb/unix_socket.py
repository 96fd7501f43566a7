"""What is at a path that should be one of VPP's Unix sockets, in words an operator can act on.

VPP's binary API socket (``socksvr { socket-name }``) is SOCK_STREAM and its stats segment socket
(``statseg { socket-name }``) SOCK_SEQPACKET. Given the wrong one, the clients only say
"Protocol wrong type for socket"; a directory or a stale file gives "Connection refused" or
worse. Stdlib only.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from typing import Optional

API = "API"
STATS = "stats"
# role -> (socket type, short name, where it is configured)
_KINDS = {API: (socket.SOCK_STREAM, "VPP's API socket", "socksvr socket-name, usually /run/vpp/api.sock"),
          STATS: (socket.SOCK_SEQPACKET, "VPP's stats socket", "statseg socket-name, usually /run/vpp/stats.sock")}
_TYPE_NAMES = {socket.SOCK_STREAM: "SOCK_STREAM", socket.SOCK_SEQPACKET: "SOCK_SEQPACKET"}
_PROBE_TIMEOUT = 2.0


def _where(role: str) -> str:
    _kind, name, configured = _KINDS[role]
    return f"{name} ({configured})"


def file_problem(path: str, role: str) -> Optional[str]:
    """Why ``path`` cannot be VPP's ``role`` socket judging by the file alone, or None.

    Missing and unreadable paths are left to the caller, which has better words for them.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISSOCK(mode):
        return None
    if stat.S_ISDIR(mode):
        what = "a directory"
    elif stat.S_ISREG(mode):
        what = "a regular file"
    else:
        what = "not a socket"
    return f"{path} is {what}, not a socket: set the path of {_where(role)}"


def probe(path: str, role: str) -> Optional[str]:
    """Connect to the socket at ``path`` as VPP's ``role`` socket would be connected to and
    close again; a message when that fails (nothing listening, the other VPP socket), else None.
    """
    kind, name, _configured = _KINDS[role]
    other_kind, other_name, _other_configured = _KINDS[STATS if role == API else API]
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.settimeout(_PROBE_TIMEOUT)
    try:
        sock.connect(path)
    except OSError as exc:
        if exc.errno == errno.EPROTOTYPE:
            return (f"{path} is {other_name}, not {name} (it is a {_TYPE_NAMES[other_kind]} socket):"
                    f" set the path of {_where(role)}")
        if exc.errno == errno.ECONNREFUSED:
            return (f"nothing listens on {path} (connection refused): VPP is not running, or the socket"
                    " file was left behind by a VPP that stopped")
        return None  # timeouts, permissions, ...: the real client reports them
    finally:
        sock.close()
    return None
