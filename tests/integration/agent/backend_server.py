"""The backend server process of backends.py, run inside the test's network namespace.

``ip netns exec NS python backend_server.py CONFIG_JSON`` listens on every (kind, port) of
``config["listen"]`` (kind: 'http', 'https' or 'tcp') on each address of ``config["addrs"]``, then
obeys JSON-line commands on stdin, answering each with a JSON line on stdout ({"ok": true, ...}):
``route`` (path, status, body), ``delay`` (seconds), ``close`` / ``open`` (the listening sockets),
``seen`` (the HTTP requests so far). It exits when stdin closes, so it never outlives its test.
Standard library only.
"""

from __future__ import annotations

import http.server
import json
import socket
import socketserver
import ssl
import sys
import threading
import time
from typing import Any, Dict, List, Optional

HARNESS_HEADER = "X-Mgl-Harness"  # marks the harness's own check requests, left out of "seen"


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, addr: str, port: int, handler: type, tls: Optional[ssl.SSLContext]) -> None:
        self.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.tls = tls
        super().__init__((addr, port), handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls:  # handshake in the request's thread, so a silent client blocks only itself
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (timeouts, probes) are normal here


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        pass  # accept, then close


def _http_handler(state: Dict[str, Any], lock: threading.Lock) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def respond(self) -> None:
            with lock:
                routes = state["routes"]
                status, body = routes.get(self.path.split("?", 1)[0], routes.get("*", (200, "ok\n")))
                delay = state["delay"]
                if not self.headers.get(HARNESS_HEADER):
                    state["seen"].append(f"{self.command} {self.path}")
            if delay:
                time.sleep(delay)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.close_connection = True

        do_GET = do_HEAD = do_POST = respond

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve(config: Dict[str, Any]) -> None:
    """Serve config's listeners; obey JSON-line commands on stdin, answer each on stdout; exit on EOF."""
    lock = threading.Lock()
    state: Dict[str, Any] = {"routes": {p: tuple(r) for p, r in config["routes"].items()}, "delay": 0.0, "seen": []}
    tls = None
    if config.get("cert"):
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(config["cert"], config["key"])
    handlers = {"http": _http_handler(state, lock), "https": _http_handler(state, lock), "tcp": _TCPHandler}
    servers: List[_Server] = []

    def do_open() -> None:
        for kind, port in config["listen"]:
            for addr in config["addrs"]:
                srv = _Server(addr, port, handlers[kind], tls if kind == "https" else None)
                # a short poll keeps close_port quick: shutdown() waits for the loop to notice
                threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
                servers.append(srv)

    def do_close() -> None:
        while servers:
            srv = servers.pop()
            srv.shutdown()
            srv.server_close()

    def reply(**msg: Any) -> None:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    try:
        do_open()
    except OSError as exc:
        reply(ok=False, error=str(exc))
        return
    reply(ok=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            with lock:
                if cmd["op"] == "route":
                    state["routes"][cmd["path"]] = (cmd["status"], cmd["body"])
                elif cmd["op"] == "delay":
                    state["delay"] = cmd["seconds"]
                seen = list(state["seen"]) if cmd["op"] == "seen" else None
            if cmd["op"] == "close":
                do_close()
            elif cmd["op"] == "open" and not servers:
                do_open()
            reply(ok=True, seen=seen)
        except Exception as exc:
            reply(ok=False, error=f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
