"""A TCP connection from the probe's namespace and source address; shared by tcp and http probes."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from typing import Optional

from .netns import NetnsSockets, bind_source, family_of, new_socket


class BindError(OSError):
    """The source address cannot be bound (not local, wrong family)."""


async def open_tcp(
    address: str, port: int, source_address: Optional[str], netns: Optional[NetnsSockets]
) -> socket.socket:
    """A connected non-blocking TCP socket; closed again on every failure or cancellation."""
    sock = await new_socket(netns, family_of(address), socket.SOCK_STREAM)
    try:
        try:
            bind_source(sock, source_address)
        except OSError as exc:
            raise BindError(exc.errno, f"cannot bind source address {source_address}: {exc.strerror}") from exc
        await asyncio.get_running_loop().sock_connect(sock, (address, port))
    except BaseException:
        # A cancelled sock_connect has already dropped its selector registration (its done
        # callback runs before the task resumes), so closing here cannot hit a reused descriptor.
        sock.close()
        raise
    return sock


def describe_os_error(exc: OSError) -> str:
    if isinstance(exc, BindError):
        return str(exc.strerror)
    name = errno.errorcode.get(exc.errno or 0, "")
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return f"{text} ({name})" if name else text
