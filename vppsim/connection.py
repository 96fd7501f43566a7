"""One API client's socket and what the server remembers about it (shared by server and handlers)."""

from __future__ import annotations

import socket
from typing import Callable


class Connection:
    """One API client socket."""

    __slots__ = ("sock", "generation", "index", "name", "close_after_reply", "after", "_shut")

    def __init__(self, sock: socket.socket, generation: int) -> None:
        self.sock = sock
        self.generation = generation
        self.index: int | None = None
        self.name = ""
        self.close_after_reply = False
        self.after: list[Callable[[], None]] = []
        self._shut = False

    def shutdown(self, how: int = socket.SHUT_RDWR) -> None:
        """Make the peer see EOF; SHUT_RDWR also wakes our reader thread (recv returns b"")."""
        if not self._shut or how == socket.SHUT_RDWR:
            self._shut = True
            try:
                self.sock.shutdown(how)
            except OSError:
                pass
