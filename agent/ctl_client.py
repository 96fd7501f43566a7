"""maglevctl's side of the status API: plain ``http.client`` over an AF_UNIX socket.

maglevctl is a short-lived CLI making one or two requests, so a blocking stdlib client is
simpler than an event loop (and keeps aiohttp out of its start-up time).
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import time
from typing import Any, Iterator, Optional, Tuple
from urllib.parse import quote, urlencode

from .clock import HTTP_HEADER

DEFAULT_SOCKET = "/run/maglev-agent/status.sock"
TIMEOUT = 60.0  # a reload or a full sync waits for VPP; the API bounds those waits itself


class AgentUnreachable(Exception):
    """No agent answers on the socket (not running, wrong path, no permission)."""


class NotAnAgent(AgentUnreachable):
    """Something listens on the socket but does not speak the status API (VPP's API socket, say)."""


class ApiError(Exception):
    """The agent answered with an error status; ``message`` is its explanation."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: Optional[float]):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def path_of(*parts: str, **query: Any) -> str:
    """A request path from raw segments (each quoted) and query parameters."""
    path = "/" + "/".join(quote(part, safe="") for part in parts)
    return path + ("?" + urlencode(query) if query else "")


class StatusClient:
    def __init__(self, socket_path: str = DEFAULT_SOCKET, timeout: Optional[float] = TIMEOUT):
        self.socket_path = socket_path
        self.timeout = timeout
        # The agent's time in its last answer, and this process's monotonic time when it came.
        self._agent_time: Optional[Tuple[float, float]] = None

    def agent_now(self) -> float:
        """The agent's time now (unix seconds): what its last answer said, advanced by the time
        since. Its timestamps run on its own steady clock (agent/clock.py), which differs from
        this machine's wall clock by any step since the agent started. The wall clock when no
        answer carried the agent's time (none yet, or an older agent)."""
        if self._agent_time is None:
            return time.time()
        said, received = self._agent_time
        return said + (time.monotonic() - received)

    def _note_agent_time(self, response: http.client.HTTPResponse) -> None:
        try:
            self._agent_time = (float(response.getheader(HTTP_HEADER, "")), time.monotonic())
        except ValueError:
            pass  # no such header: keep what an earlier answer said, or the wall clock

    def _open(self, method: str, path: str, body: Optional[bytes], timeout: Optional[float]):
        conn = _UnixConnection(self.socket_path, timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            conn.request(method, path, body=body, headers=headers)
            return conn, conn.getresponse()
        except FileNotFoundError:
            conn.close()
            raise AgentUnreachable(f"no agent socket at {self.socket_path} (is maglev-agent running?)") from None
        except ConnectionRefusedError:
            conn.close()
            raise AgentUnreachable(
                f"nothing listens on {self.socket_path} (is maglev-agent running?)") from None
        except PermissionError:
            conn.close()
            raise AgentUnreachable(f"no permission to connect to {self.socket_path} (are you in its group?)") from None
        except (http.client.HTTPException, ConnectionResetError, BrokenPipeError) as exc:
            # The peer accepted the connection but closed it or answered something that is not
            # HTTP: VPP's API socket does exactly that with an HTTP request.
            conn.close()
            raise NotAnAgent(self._not_an_agent(exc)) from None
        except TimeoutError:
            conn.close()
            # VPP's API socket takes an HTTP request as the start of a huge message and waits
            # for the rest: it never answers, it never closes.
            raise AgentUnreachable(
                f"no answer from {self.socket_path} within {timeout:g} s: the agent is stuck or busy, or "
                f"{self.socket_path} is not a maglev-agent status socket (VPP's API socket never answers "
                f"HTTP); the agent's is "
                f"agent.status_socket in its config, by default {DEFAULT_SOCKET}") from None
        except OSError as exc:
            conn.close()
            if exc.errno == errno.EPROTOTYPE:  # a datagram/seqpacket socket, e.g. VPP's stats socket
                raise NotAnAgent(self._not_an_agent(exc)) from None
            raise AgentUnreachable(f"cannot reach the agent at {self.socket_path}: {exc}") from None

    def _not_an_agent(self, exc: BaseException) -> str:
        return (f"{self.socket_path} is not a maglev-agent status socket (it does not answer HTTP: {exc}); "
                f"is it VPP's API or stats socket? The agent's is agent.status_socket in its config, "
                f"by default {DEFAULT_SOCKET}")

    def raw(self, method: str, path: str, body: Optional[bytes] = None) -> Tuple[int, bytes]:
        """(status, body bytes), whatever the status."""
        conn, response = self._open(method, path, body, self.timeout)
        self._note_agent_time(response)
        try:
            return response.status, response.read()
        finally:
            conn.close()

    def call(self, method: str, path: str, data: Any = None) -> Any:
        """The decoded JSON answer; ApiError for a status >= 400."""
        body = None if data is None else json.dumps(data).encode()
        status, raw = self.raw(method, path, body)
        try:
            decoded = json.loads(raw) if raw.strip() else None
        except ValueError:
            decoded = None
        if status >= 400:
            message = decoded.get("error") if isinstance(decoded, dict) else None
            raise ApiError(status, message or f"HTTP {status}: {raw[:200]!r}", decoded)
        return decoded

    def get(self, *parts: str, **query: Any) -> Any:
        return self.call("GET", path_of(*parts, **query))

    def post(self, *parts: str, data: Any = None) -> Any:
        return self.call("POST", path_of(*parts), data)

    def put(self, *parts: str, data: Any = None) -> Any:
        return self.call("PUT", path_of(*parts), data)

    def delete(self, *parts: str) -> Any:
        return self.call("DELETE", path_of(*parts))

    def stream(self, *parts: str, **query: Any) -> Iterator[dict]:
        """The decoded records of a newline-delimited JSON stream (keep-alive empty lines skipped)."""
        conn, response = self._open("GET", path_of(*parts, **query), None, None)
        try:
            if response.status >= 400:
                raw = response.read()
                try:
                    message = json.loads(raw).get("error")
                except (ValueError, AttributeError):
                    message = None
                raise ApiError(response.status, message or f"HTTP {response.status}")
            while True:
                line = response.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()
