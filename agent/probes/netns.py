"""Sockets inside a named network namespace, and plain ones outside it.

A socket belongs to the namespace of the thread that creates it, for its whole life. So one
dedicated thread enters the namespace once (``setns`` on ``/run/netns/NAME``, which needs
CAP_SYS_ADMIN) and creates sockets on request; the event loop then uses them like any other
non-blocking socket. The event loop's own thread never changes namespace.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import queue
import socket
import threading
from typing import Any, Optional, Tuple

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
_OPEN_TIMEOUT = 5.0  # seconds for the thread to enter the namespace; it takes well under 10 ms


class NetnsError(RuntimeError):
    """The probe namespace cannot be entered (or its socket thread is gone)."""


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _deliver(future: asyncio.Future, sock: Optional[socket.socket], error: Optional[BaseException]) -> None:
    """Runs in the loop thread: hand the new socket over, or close it if nobody waits any more."""
    if future.done():  # the waiting probe was cancelled
        if sock is not None:
            sock.close()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(sock)


class NetnsSockets:
    """A thread living in network namespace ``name`` that creates sockets for the event loop."""

    def __init__(self, name: str, thread: threading.Thread, requests: queue.SimpleQueue[Any],
                 identity: Tuple[int, int] = (0, 0)) -> None:
        self.name = name
        self.identity = identity  # (st_dev, st_ino) of the namespace the thread entered
        self._thread = thread
        self._requests = requests
        self._closed = False

    @classmethod
    def open(cls, name: str) -> NetnsSockets:
        """Start the namespace thread; raises NetnsError when the namespace cannot be entered.

        Blocks the caller only while the thread enters the namespace (a few milliseconds).
        """
        if not name or "/" in name or name in (".", ".."):
            raise NetnsError(f"{name!r} is not a network namespace name")
        path = os.path.join(NETNS_DIR, name)
        requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        entered = threading.Event()
        failure: list = []
        identity: list = []
        thread = threading.Thread(
            target=_serve, args=(path, requests, entered, failure, identity), name=f"netns-{name}", daemon=True
        )
        thread.start()
        if not entered.wait(_OPEN_TIMEOUT):
            requests.put(None)
            raise NetnsError(f"cannot enter network namespace {name}: no answer within {_OPEN_TIMEOUT:g}s")
        if failure:
            thread.join(_OPEN_TIMEOUT)
            raise NetnsError(f"cannot enter network namespace {name}: {failure[0]}")
        return cls(name, thread, requests, identity[0])

    def still_named(self) -> bool:
        """Whether ``/run/netns/NAME`` still names the namespace the thread entered. ``ip netns del``
        removes the name but not the namespace (the thread keeps it alive, out of the operator's
        sight), and ``ip netns add`` then names a new one: either way, probing on in the old one
        would report on a network nobody manages any more."""
        try:
            st = os.stat(os.path.join(NETNS_DIR, self.name))
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.identity

    async def socket(self, family: int, type: int, proto: int = 0) -> socket.socket:
        """A new non-blocking socket created inside the namespace."""
        if self._closed or not self._thread.is_alive():
            raise NetnsError(f"network namespace {self.name}: socket thread is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._requests.put((family, type, proto, loop, future))
        return await future

    def close(self) -> None:
        """Stop the thread (sockets it made stay usable until their owners close them)."""
        if not self._closed:
            self._closed = True
            self._requests.put(None)
            self._thread.join(_OPEN_TIMEOUT)

    def __enter__(self) -> NetnsSockets:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _serve(path: str, requests: queue.SimpleQueue[Any], entered: threading.Event, failure: list,
           identity: list) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            identity.append((st.st_dev, st.st_ino))
            _setns(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        failure.append(f"{path}: {exc.strerror or exc}")
        entered.set()
        return
    entered.set()
    while True:
        request = requests.get()
        if request is None:
            return
        family, type_, proto, loop, future = request
        sock: Optional[socket.socket] = None
        error: Optional[BaseException] = None
        try:
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
        except OSError as exc:
            error = exc
        try:
            loop.call_soon_threadsafe(_deliver, future, sock, error)
        except RuntimeError:  # the loop is closed: nobody will take the socket
            if sock is not None:
                sock.close()


class AgentResourceError(RuntimeError):
    """The agent itself cannot make a socket (out of file descriptors or memory): not the
    backend's fault. Not an OSError, so the probes' network-error handling lets it through."""


# Errors of socket() that say the agent is starved, not that the backend is unreachable.
_STARVED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


async def new_socket(netns: Optional[NetnsSockets], family: int, type: int, proto: int = 0) -> socket.socket:
    """A non-blocking socket, inside ``netns`` when one is given."""
    try:
        if netns is not None:
            return await netns.socket(family, type, proto)
        sock = socket.socket(family, type, proto)
    except OSError as exc:
        if exc.errno in _STARVED:
            raise AgentResourceError(f"cannot make a socket: {os.strerror(exc.errno)}") from exc
        raise
    sock.setblocking(False)
    return sock


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def bind_source(sock: socket.socket, source_address: Optional[str]) -> None:
    """Bind to the probe's source address (port chosen by the kernel); OSError if it is not local."""
    if source_address:
        sock.bind((source_address, 0))
