"""Typed errors of the core. Every message names what failed and what to check."""

from __future__ import annotations

from typing import List, Optional

# VNET_API_ERROR_* names for the retvals the LB plugin and its neighbours return (vnet/api_errno.h).
VNET_API_ERRORS = {
    -1: "UNSPECIFIED",
    -2: "INVALID_SW_IF_INDEX",
    -3: "NO_SUCH_FIB",
    -6: "NO_SUCH_ENTRY",
    -7: "INVALID_VALUE",
    -8: "INVALID_VALUE_2",
    -70: "INVALID_MEMORY_SIZE",
    -73: "INVALID_ARGUMENT",
    -81: "VALUE_EXIST",
    -97: "INVALID_ADDRESS_FAMILY",
    -165: "EAGAIN",
}


def vnet_error_name(retval: int) -> str:
    return VNET_API_ERRORS.get(retval, f"UNKNOWN_ERROR_{retval}")


class VppError(Exception):
    """Base of every error raised by the VPP client."""


class VppConnectError(VppError):
    """VPP could not be reached: socket missing, permission denied, no answer."""


class VppApiMissingError(VppError):
    """The API definitions lack messages the client needs."""

    def __init__(self, missing: List[str], source: str):
        self.missing = missing
        super().__init__(
            f"VPP API definitions ({source}) lack {', '.join(missing)}: is the lb plugin loaded, and do "
            f"the API definitions match the running VPP?"
        )


class VppDisconnectedError(VppError):
    """The connection broke (VPP restarted or died); reconnect and retry."""


class VppTimeoutError(VppDisconnectedError):
    """VPP did not answer a request in time: the request may or may not have been applied."""


class VppRetvalError(VppError):
    """VPP answered a request with a non-zero retval."""

    def __init__(self, message: str, retval: int, operation: str = ""):
        self.message = message
        self.retval = retval
        self.error_name = vnet_error_name(retval)
        self.operation = operation
        what = f" ({operation})" if operation else ""
        super().__init__(f"{message}{what} failed: retval {retval} {self.error_name}")


class ApplyError(VppError):
    """An apply stopped: VPP refused an op, or the connection broke. The next run converges.

    ``applied``: the ops VPP accepted, in plan order (with a pipelined apply this can include ops
    in flight behind the refused one). ``failed``: the first refused op, else the
    first op sent without an answer, else the op that could not be sent. ``cause``: its error.
    ``refused``: every (op, VppRetvalError) VPP refused. ``not_sent``: ops never sent.
    ``in_doubt``: ops sent but unanswered (the connection broke; VPP may have applied them).
    """

    def __init__(self, applied: list, failed: object, cause: Exception, *, refused: Optional[list] = None,
                 not_sent: Optional[list] = None, in_doubt: Optional[list] = None):
        self.applied = applied
        self.failed = failed
        self.cause = cause
        self.refused = refused or []
        self.not_sent = not_sent or []
        self.in_doubt = in_doubt or []
        super().__init__(
            f"{cause}; {len(applied)} operation(s) were applied, {len(self.refused)} refused,"
            f" {len(self.not_sent)} not sent" + (f", {len(self.in_doubt)} unanswered" if self.in_doubt else "")
        )
