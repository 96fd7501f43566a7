"""Two ways to drive the real vpp_papi client, behind one small interface.

* ``AsyncPapiSession``: vpp_papi's asyncio client (``vpp_papi.vpp_papi_async``), run on a private
  event loop so synchronous callers can use it. It loads the API definitions from VPP itself
  (``get_api_json``, VPP >= 24.06) and decodes replies in the caller's thread, which makes dumps
  several times faster than the threaded client (docs/performance.md).
* ``SyncPapiSession``: the classic ``vpp_papi.VPPApiClient`` with definitions from a directory,
  for VPPs that do not serve their definitions.

Both turn a dead peer into VppDisconnectedError and an unreachable one into VppConnectError.
Neither is thread-safe; VppLbClient serialises calls with a lock.

Raw replies (``decode_raw``). LB API 1.1.0 sends IPv4 VIP prefixes in lb_vip_details and
lb_as_details with the ip46 length (96 + plen); vpp_papi's type conversion then builds
``IPv4Interface((address, 128))`` and raises NetmaskValueError, leaving the rest of the dump
unread (vpp-facts Part 3 §4.2). vpp_papi has its own switch for this: its decoder takes
``no_type_conversion`` (VPPType.unpack ``ntc``), which returns the wire structure (af, the
16-byte union, len) as plain values. The sync client exposes it per call
(``_no_type_conversion=True``); the asyncio client decodes every message in its socket reader
through ``decode_incoming_msg(msg, no_type_conversion)``, so a subclass overrides that one
method to pass True for the named replies. Both use vpp_papi's decoder unchanged; only the
conversion of the decoded values into Python objects is skipped, and the caller fixes the
prefixes itself (client.raw_prefix).
"""

from __future__ import annotations

import asyncio
import collections
import struct
from typing import FrozenSet, List, Optional, Tuple

from .errors import VppConnectError, VppDisconnectedError, VppTimeoutError

try:
    from vpp_papi import VPPApiClient
    from vpp_papi.vpp_papi_async import VPPApiClient as AsyncVPPApiClient
except ImportError as exc:  # pragma: no cover - reported at connect time
    VPPApiClient = AsyncVPPApiClient = None
    VPP_PAPI_IMPORT_ERROR: Optional[ImportError] = exc
else:
    VPP_PAPI_IMPORT_ERROR = None

    class _AsyncClient(AsyncVPPApiClient):
        """vpp_papi's asyncio client that decodes the replies in ``raw_replies`` without type
        conversion (see the module docstring)."""

        raw_replies: FrozenSet[str] = frozenset()

        def decode_incoming_msg(self, msg, no_type_conversion=False):
            if self.raw_replies and msg and len(msg) >= 2:
                name = self.id_names[struct.unpack_from(">H", msg)[0]]
                no_type_conversion = no_type_conversion or name in self.raw_replies
            return super().decode_incoming_msg(msg, no_type_conversion)


def _details_of(message: str) -> str:
    """The details message an old-style dump answers with (lb_vip_dump -> lb_vip_details)."""
    return message[: -len("_dump")] + "_details" if message.endswith("_dump") else ""


def _require_papi() -> None:
    if VPPApiClient is None:
        raise VppConnectError(f"the vpp_papi Python package is not installed: {VPP_PAPI_IMPORT_ERROR}")


def _connect_error(socket_path: str, timeout: float, exc: BaseException) -> VppConnectError:
    if isinstance(exc, PermissionError):
        return VppConnectError(f"permission denied on VPP API socket {socket_path}: {exc}")
    if isinstance(exc, (ConnectionRefusedError, FileNotFoundError)):
        return VppConnectError(f"nothing listens on VPP API socket {socket_path}: {exc}")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return VppConnectError(f"VPP did not answer on {socket_path} within {timeout}s")
    return VppConnectError(f"VPP closed or broke the connection on {socket_path}: {exc!r}")


def _call_each(call, requests) -> Tuple[list, Optional[Exception]]:
    replies = []
    for message, fields in requests:
        try:
            reply = call(message, **fields)
        except VppDisconnectedError as exc:
            return replies, exc
        replies.append(reply)
        if getattr(reply, "retval", 0) != 0:
            break
    return replies, None


class SyncPapiSession:
    """vpp_papi.VPPApiClient with API definitions from a directory."""

    kind = "sync"

    def __init__(self, socket_path: str, timeout: float, name: str, api_dir: str):
        _require_papi()
        self.socket_path = socket_path
        self.timeout = timeout
        self._broken = False
        self._raw_replies: FrozenSet[str] = frozenset()
        try:
            self._vpp = VPPApiClient(
                server_address=socket_path, read_timeout=timeout, async_thread=False,
                use_socket=True, apidir=api_dir,
            )
        except Exception as exc:  # vpp_papi raises several types for unreadable definitions
            raise VppConnectError(f"no usable VPP API definitions in {api_dir}: {exc}") from exc
        try:
            self._vpp.connect(name)
        except (OSError, EOFError, TypeError) as exc:  # TypeError: vpp_papi's read of a closed socket
            raise _connect_error(socket_path, timeout, exc) from exc

    def has(self, message: str) -> bool:
        return hasattr(self._vpp.api, message)

    def served(self) -> FrozenSet[str]:
        """The messages VPP serves, as ``name_crc`` (its message table), whatever was loaded."""
        return frozenset(getattr(self._vpp.transport, "message_table", {}) or ())

    def loaded(self) -> FrozenSet[str]:
        """The loaded definitions as ``name_crc`` (the CRC without its 0x)."""
        return frozenset(f"{name}_{msg.crc[2:]}" for name, msg in self._vpp.messages.items())

    def alive_transport(self) -> bool:
        return bool(getattr(getattr(self._vpp, "transport", None), "connected", False))

    def decode_raw(self, replies: FrozenSet[str]) -> None:
        """From now on decode the dumps answered by ``replies`` without type conversion."""
        self._raw_replies = frozenset(replies)

    @property
    def alive(self) -> bool:
        """False once a call found the peer gone (vpp_papi's transport keeps saying connected)."""
        transport = getattr(self._vpp, "transport", None)
        return not self._broken and bool(getattr(transport, "connected", False))

    def fileno(self) -> int:
        """The API socket, for watching it for EOF between calls (-1 when closed)."""
        sock = getattr(getattr(self._vpp, "transport", None), "socket", None)
        return sock.fileno() if sock is not None else -1

    def call(self, message: str, **fields):
        if self._raw_replies and _details_of(message) in self._raw_replies:
            fields = dict(fields, _no_type_conversion=True)
        try:
            return getattr(self._vpp.api, message)(**fields)
        except OSError as exc:  # VPPIOError, VppTransportSocketIOError, BrokenPipeError
            self._broken = True
            if "read failed" in str(exc) and self.alive_transport():
                # vpp_papi's read timed out on a live socket: the request may have been applied.
                raise VppTimeoutError(
                    f"VPP at {self.socket_path} did not answer {message} within {self.timeout}s"
                ) from exc
            raise VppDisconnectedError(
                f"lost the connection to VPP at {self.socket_path} during {message}: {exc}"
            ) from exc

    def call_pipelined(self, requests: List[Tuple[str, dict]], barriers: List[int],
                       window: int) -> Tuple[list, Optional[Exception], int]:
        """The threaded client cannot pipeline: one request at a time, stopping at the first
        failure, whatever ``barriers`` and ``window`` allow. Returns as AsyncPapiSession's."""
        replies, broken = _call_each(self.call, requests)
        return replies, broken, len(replies) + (broken is not None)

    def close(self) -> None:
        try:
            self._vpp.disconnect()
        except Exception:  # the peer may be dead; the local side is torn down regardless
            pass


class AsyncPapiSession:
    """vpp_papi's asyncio client on a private event loop; definitions come from VPP."""

    kind = "asyncio"

    def __init__(self, socket_path: str, timeout: float, name: str):
        _require_papi()
        self.socket_path = socket_path
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._vpp = _AsyncClient(server_address=socket_path)
        try:
            rv = self._loop.run_until_complete(
                asyncio.wait_for(self._vpp.connect(name, asyncio.Queue()), timeout)
            )
        except Exception as exc:
            self._abandon()
            if isinstance(exc, (OSError, EOFError, asyncio.TimeoutError, asyncio.IncompleteReadError)):
                raise _connect_error(socket_path, timeout, exc) from exc
            raise  # e.g. no get_api_json: the caller falls back to SyncPapiSession
        if rv != 0:  # the asyncio client reports a missing socket or EACCES as -1
            self._abandon()
            raise VppConnectError(f"cannot open VPP API socket {socket_path} (permission or missing)")
        self._pending: dict = {}  # future -> (message, deadline), in the order sent
        self._watchdog = None  # the one timer that checks the deadlines of _pending
        for task in (self._vpp.socket_task, self._vpp.queue_task):
            task.add_done_callback(self._on_transport_end)

    def has(self, message: str) -> bool:
        return hasattr(self._vpp.api, message)

    def served(self) -> FrozenSet[str]:
        """The messages VPP serves, as ``name_crc``; the definitions came from VPP, so they match."""
        return frozenset(self._vpp.message_table)

    def loaded(self) -> FrozenSet[str]:
        return self.served()

    def decode_raw(self, replies: FrozenSet[str]) -> None:
        """From now on decode the messages ``replies`` without type conversion."""
        self._vpp.raw_replies = frozenset(replies)

    @property
    def alive(self) -> bool:
        """False once the client's socket reader or writer ended (EOF, broken pipe)."""
        return not self._dead()

    def fileno(self) -> int:
        """The API socket, for watching it for EOF between calls (-1 when closed)."""
        writer = getattr(self._vpp, "writer", None)
        sock = writer.get_extra_info("socket") if writer is not None else None
        return sock.fileno() if sock is not None else -1

    def call(self, message: str, **fields):
        if self._dead():
            raise VppDisconnectedError(f"lost the connection to VPP at {self.socket_path}")
        result = self._loop.run_until_complete(self._request(message, fields))
        # Old-style dumps resolve to (control_ping_reply, [details]); callers want the details.
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list):
            return result[1]
        return result

    def call_pipelined(self, requests: List[Tuple[str, dict]], barriers: List[int],
                       window: int) -> Tuple[list, Optional[Exception], int]:
        """Send the requests pipelined: up to ``window`` in flight, topped up whenever half of them
        were answered, and at each of ``barriers`` (pipeline.barrier_ends) a full stop until
        every request before it was answered. After a reply with a non-zero retval nothing more
        is sent; the requests already in flight are still answered (and were executed).

        Returns the replies received in order (VPP answers in order), so ``len(replies)`` requests
        were answered; the connection error, if any (the request after the last reply got no
        answer); and how many requests were sent.
        """
        if self._dead():
            return [], VppDisconnectedError(f"lost the connection to VPP at {self.socket_path}"), 0
        return self._loop.run_until_complete(self._request_pipelined(requests, barriers, window))

    async def _request_pipelined(self, requests, barriers, window):
        replies: list = []
        in_flight: collections.deque = collections.deque()
        sent = 0
        refused = False
        refill_at = window // 2  # top up in bursts, not one request per reply: both sides batch
        try:
            for end in barriers:
                while sent < end or in_flight:
                    if len(in_flight) <= refill_at:
                        while not refused and sent < end and len(in_flight) < window:
                            message, fields = requests[sent]
                            in_flight.append(self._send(message, fields))
                            sent += 1
                    if not in_flight:
                        break
                    reply = await in_flight[0]
                    self._forget((in_flight.popleft(),))
                    replies.append(reply)
                    refused = refused or getattr(reply, "retval", 0) != 0
                if refused:
                    break
        except VppDisconnectedError as exc:
            return replies, exc, sent
        finally:
            self._forget(in_flight)
        return replies, None, sent

    async def _request(self, message: str, fields: dict):
        # Inside the running loop: the asyncio client binds its futures to the current loop.
        future = self._send(message, fields)
        try:
            return await future
        finally:
            self._forget((future,))

    def _send(self, message: str, fields: dict):
        """Queue one request; its reply resolves the returned future, or a timeout or EOF fails it.

        One watchdog timer serves every request in flight (``_check_deadlines``), rather than a
        timer (or asyncio.wait_for) per request: a large apply sends thousands.
        """
        future = getattr(self._vpp.api, message)(**fields)
        deadline = self._loop.time() + self.timeout
        self._pending[future] = (message, deadline)
        if self._watchdog is None:
            self._watchdog = self._loop.call_at(deadline, self._check_deadlines)
        return future

    def _forget(self, futures) -> None:
        for future in futures:
            self._pending.pop(future, None)

    def _check_deadlines(self) -> None:
        """Fail the requests whose deadline passed; re-arm for the next deadline of one pending.

        Requests are sent, and so registered, in deadline order; VPP answers them in order.
        """
        self._watchdog = None
        now = self._loop.time()
        for future, (message, deadline) in list(self._pending.items()):
            if future.done():
                continue
            if deadline > now:
                self._watchdog = self._loop.call_at(deadline, self._check_deadlines)
                return
            future.set_exception(VppTimeoutError(
                f"VPP at {self.socket_path} did not answer {message} within {self.timeout}s"
            ))

    def _on_transport_end(self, _task) -> None:
        """The client's socket reader or writer ended (EOF, broken pipe): fail the waiting calls now."""
        for future, (message, _deadline) in list(self._pending.items()):
            if not future.done():
                future.set_exception(VppDisconnectedError(
                    f"lost the connection to VPP at {self.socket_path} during {message}"
                ))

    def _dead(self) -> bool:
        return self._vpp.socket_task.done() or self._vpp.queue_task.done()

    def close(self) -> None:
        if not self._dead():
            try:  # sockclnt_delete, bounded: the asyncio client would wait forever on a dead peer
                self._loop.run_until_complete(self._goodbye())
            except Exception:
                pass
        self._abandon()

    async def _goodbye(self) -> None:
        await asyncio.wait_for(self._vpp.api.sockclnt_delete(index=self._vpp.socket_index), 1.0)

    def _abandon(self) -> None:
        """Stop the client's tasks, close the socket and the loop."""
        vpp, loop = self._vpp, self._loop
        writer = getattr(vpp, "writer", None)
        if writer is not None:
            writer.close()
        tasks = [t for t in (getattr(vpp, "socket_task", None), getattr(vpp, "queue_task", None)) if t]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()
