"""Real HTTP backends on loopback addresses (127.0.0.x), one server thread each.

Each backend answers GET/HEAD on every path with its current status (``flapping``: 200 and 503
by turns, one request each); ``stop()`` closes the
listening socket (connections are then refused), ``start()`` opens it again on the same port.
"""

from __future__ import annotations

import http.server
import socket
import threading
from typing import Optional


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        backend = self.server.backend
        body = f"{backend.address} {backend.status}\n".encode()
        self.send_response(backend.status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        backend.requests += 1
        if backend.flapping:  # the next request gets the other answer: flaps at the prober's own pace
            backend.status = 503 if backend.status == 200 else 200

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HttpBackend:
    def __init__(self, address: str, port: int):
        self.address = address
        self.port = port
        self.status = 200
        self.requests = 0
        self.flapping = False  # alternate 200 and 503, one request each
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> HttpBackend:
        server = _Server((self.address, self.port), _Handler)
        server.backend = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def refuses(self) -> bool:
        sock = socket.socket()
        try:
            sock.settimeout(1)
            sock.connect((self.address, self.port))
            return False
        except OSError:
            return True
        finally:
            sock.close()


def free_port(address: str) -> int:
    sock = socket.socket()
    sock.bind((address, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
