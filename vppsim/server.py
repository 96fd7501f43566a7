"""The API socket server, the stats socket, timers and fault injection.

One thread per API client reads frames (``>QII`` header, big-endian data_len, then the body),
dispatches them in order through ``Handlers.table[msg_id]`` and writes the replies, batching
the replies of requests that arrived together into one ``sendall``. Every call into the LB
plugin is serialised by ``Server.lock``.

Fault injection, through ``cli_inband`` (the reply is sent first, then the fault acts)::

    sim fault restart               reply "sim fault: restart"; then drop all LB state (new
                                    LbPlugin, new stats segment/memfd with a later boottime),
                                    close every client socket, report a new vpe_pid; keep
                                    listening.
    sim fault stall <ms> [<msg>]    reply "sim fault: stall <ms> ms"; every later reply (all
                                    clients), or only the replies to <msg> (a name with or
                                    without _<crc>), is delayed by <ms> ms after the request
                                    was executed. "stall 0" ends it.
    sim fault error <msg> <retval> [count <n>]
                                    reply "sim fault: next <n> <msg> return <retval>"; the next
                                    <n> (default 1) <msg> requests get <retval> (other fields
                                    zero) without executing. Only requests whose reply carries
                                    a retval qualify. <msg> is a name with or without _<crc>.
    sim fault restart after <n>     reply "sim fault: restart after <n> writes"; the reply to the
                                    n-th later write (an lb_* request other than a dump or
                                    lb_conf_get, or a cli_inband "lb ..." command, any client)
                                    is sent, then the restart above happens: the requests that
                                    client pipelined behind it are dropped unanswered. One shot.
    sim fault clear                 reply "sim fault: cleared"; no stall, no pending errors, no
                                    pending restart.
    sim fault show                  the current settings.
    sim stats                       reply "sim stats: lb writes <n>, generation <g>": the LB
                                    writes (as for `restart after`, API messages only)
                                    executed since start, across restarts (a soak's VPP
                                    mutation rate).

Fault settings belong to the harness, not to the emulated VPP: they survive ``restart``.
Errors give retval -1 and a text starting with ``sim fault:`` as VPP's CLI does.
"""

from __future__ import annotations

import array
import errno
import os
import socket
import struct
import sys
import threading
import time
from typing import Any, Callable

from vppsim.connection import Connection
from vppsim.handlers import ApiDefinitions, Handlers, ProtocolError, log_exception
from vppsim.statseg import DEFAULT_SIZE, StatsSegment

# show_version per LB API generation: master says 26.10-rc0 (marked as the simulator), the
# 1.1.0 personality answers what a real v26.06 does (vpp-facts Part 3 §3).
VERSIONS = {"1.2.0": "26.10-rc0~vppsim", "1.1.0": "26.06-release"}
VERSION = VERSIONS["1.2.0"]
_DLEN = struct.Struct(">I").unpack_from
_RECV = 256 * 1024
_MIN_REQUEST = 16 + 2 + 4 + 4
# API messages that change LB state: counted for ``sim stats`` (CLI writes are not counted).
_MAX_MESSAGE = 64 << 20  # nothing legitimate comes close; refuse before allocating for garbage


def _lb_factory(segment: StatsSegment, api_version: str) -> Any:
    from vppsim.lb import LbPlugin  # imported late: the plugin is a separate module

    return LbPlugin(segment, api_version=api_version)


class Server:
    """VPP stand-in: API socket + stats socket + LB plugin state."""

    def __init__(
        self,
        api_socket: str,
        stats_socket: str,
        *,
        threads: int = 1,
        stats_interval: float = 1.0,
        stats_size: int = DEFAULT_SIZE,
        lb_api: str = "1.2.0",
        gc_interval: float = 60.0,
        api_dir: str | None = None,
        lb_factory: Callable[[StatsSegment, str], Any] = _lb_factory,
    ) -> None:
        self.api_socket_path = api_socket
        self.stats_socket_path = stats_socket
        self.n_threads = threads
        self.stats_interval = stats_interval
        self.stats_size = stats_size
        self.lb_api = lb_api
        # LB API 1.1.0 (releases up to 26.06) has no periodic GC process.
        self.gc_interval = gc_interval if lb_api != "1.1.0" else 0.0
        self._lb_factory = lb_factory
        self.api = ApiDefinitions(api_dir, lb_api)
        self.version = VERSIONS.get(lb_api, VERSION)
        self.build_date = time.strftime("%Y-%m-%dT%H:%M:%S")
        # One lock for everything the LB plugin and a restart touch.
        self.lock = threading.RLock()
        self.generation = 0
        self._base_pid = os.getpid()
        self.segment = StatsSegment(threads, stats_size)
        self.lb = lb_factory(self.segment, lb_api)
        self._heartbeat = 0
        self.handlers = Handlers(self)
        self._conns: set[Connection] = set()
        self._regs: dict[int, Connection] = {}
        self._conn_lock = threading.Lock()
        # Fault injection (read without a lock on the hot path; written under _fault_lock).
        self.stall = 0.0
        self.stall_only: int | None = None  # message id whose replies stall; None: all
        self.errors: dict[int, list] = {}  # msg id -> [name, retval, remaining]
        self.restart_after = 0  # writes left until a `restart after` fault acts; 0: none armed
        self.write_ids = frozenset(
            c.id for c in self.api.by_id[1:]
            if c is not None and c.name.startswith("lb_") and not c.name.endswith(("_reply", "_details", "_dump"))
            and c.name != "lb_conf_get")
        self._fault_lock = threading.Lock()
        # Harness counters (survive restarts, like the fault settings).
        self.lb_writes = 0
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._listeners: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    @property
    def vpe_pid(self) -> int:
        # A "restarted VPP" must look like a new process: offset the pid by the generation.
        return (self._base_pid + self.generation) & 0xFFFFFFFF

    def start(self) -> None:
        api = self._listen(self.api_socket_path, socket.SOCK_STREAM)
        stats = self._listen(self.stats_socket_path, socket.SOCK_SEQPACKET)
        for target, sock in ((self._accept_api, api), (self._accept_stats, stats)):
            t = threading.Thread(target=target, args=(sock,), daemon=True, name=target.__name__)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._ticker, daemon=True, name="ticker")
        t.start()
        self._threads.append(t)

    def _listen(self, path: str, kind: int) -> socket.socket:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)  # a stale socket from an earlier run, as VPP does
        s = socket.socket(socket.AF_UNIX, kind)
        s.bind(path)
        s.listen(128)
        self._listeners.append(s)
        return s

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, drop every client, unlink the sockets. Safe to call twice."""
        self._stopping.set()
        for s in self._listeners:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
            except OSError:
                pass
            s.close()
        self._listeners = []
        with self._conn_lock:
            conns = list(self._conns)
        for c in conns:
            c.shutdown()
        for t in self._threads:
            t.join(timeout)
        for path in (self.api_socket_path, self.stats_socket_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        with self.lock:
            self.generation += 1  # requests still in flight are dropped instead of run
            self.segment.close()

    # ------------------------------------------------------------------ stats socket
    def _accept_stats(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                return
            try:
                with self.lock:  # the segment may be swapped by a restart
                    fds = array.array("i", [self.segment.fd])
                    conn.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            except OSError:
                pass
            finally:
                conn.close()

    # ------------------------------------------------------------------ timers
    def _ticker(self) -> None:
        """Heartbeat every stats_interval; the lb-gc-process pass every gc_interval (1.2.0)."""
        now = time.monotonic()
        next_hb = now + self.stats_interval
        next_gc = now + self.gc_interval if self.gc_interval > 0 else float("inf")
        while not self._stopping.wait(max(0.0, min(next_hb, next_gc) - time.monotonic())):
            now = time.monotonic()
            if now >= next_hb:
                with self.lock:
                    self._heartbeat += 1
                    self.segment.set_scalar("/sys/heartbeat", self._heartbeat)
                next_hb += self.stats_interval
                if next_hb < now:
                    next_hb = now + self.stats_interval
            if now >= next_gc:
                try:
                    with self.lock:
                        self.lb.gc_tick()
                except Exception:
                    log_exception("gc_tick failed")
                next_gc = max(next_gc + self.gc_interval, now)

    # ------------------------------------------------------------------ registrations
    def register(self, conn: Connection, name: str) -> int:
        with self._conn_lock:
            if conn.index is None:
                # VPP hands out pool index | 0x80000000; pool slot 0 is never a client.
                slot = 1
                while (0x80000000 | slot) in self._regs:
                    slot += 1
                conn.index = 0x80000000 | slot
                self._regs[conn.index] = conn
            conn.name = name
            return conn.index

    def unregister(self, conn: Connection) -> None:
        with self._conn_lock:
            if conn.index is not None and self._regs.get(conn.index) is conn:
                del self._regs[conn.index]
            conn.index = None

    def registration(self, index: int) -> Connection | None:
        with self._conn_lock:
            return self._regs.get(index)

    def clients(self) -> int:
        with self._conn_lock:
            return len(self._conns)

    # ------------------------------------------------------------------ API socket
    def _accept_api(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                sock, _addr = listener.accept()
            except OSError as e:
                if self._stopping.is_set() or e.errno in (errno.EBADF, errno.EINVAL):
                    return
                sys.stderr.write(f"vppsim: accept failed: {e}\n")  # e.g. EMFILE: keep serving
                self._stopping.wait(0.1)
                continue
            with self.lock:
                conn = Connection(sock, self.generation)
            with self._conn_lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="api-client").start()

    def _serve(self, conn: Connection) -> None:
        sock = conn.sock
        table = self.handlers.table
        ntable = len(table)
        buf = b""
        try:
            # vpp_papi writes the 16-byte header and the body with two sendall() calls. Waking up
            # for the header alone costs a context switch per request, so let the kernel hold the
            # read until a minimal request (header + id + client_index + context) is there.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, _MIN_REQUEST)
            while True:
                if len(buf) >= 16:
                    # A frame is partly here: its length is known, wait for exactly the rest.
                    (dlen,) = _DLEN(buf, 8)
                    if dlen > _MAX_MESSAGE:
                        raise ProtocolError(f"message of {dlen} bytes")
                    chunk = sock.recv(min(16 + dlen - len(buf), _RECV), socket.MSG_WAITALL)
                elif buf:
                    # Partial header: ask for exactly its rest (the low-water mark is capped by it).
                    chunk = sock.recv(16 - len(buf), socket.MSG_WAITALL)
                else:
                    chunk = sock.recv(_RECV)
                if not chunk:
                    return
                buf = buf + chunk if buf else chunk
                n = len(buf)
                pos = 0
                out: list[bytes] = []
                while n - pos >= 16:
                    (dlen,) = _DLEN(buf, pos + 8)
                    end = pos + 16 + dlen
                    if end > n:
                        break
                    body = buf[pos + 16 : end]
                    pos = end
                    if dlen < 2:
                        raise ProtocolError("empty message")
                    if conn.generation != self.generation:
                        raise ProtocolError("request from before a restart")
                    mid = (body[0] << 8) | body[1]
                    handler = table[mid] if mid < ntable else None
                    if handler is None:
                        # VPP drops a client that sends garbage; so do we.
                        raise ProtocolError(f"unknown message id {mid}")
                    reply = None
                    if self.errors:
                        reply = self._injected_error(mid, body)
                    if reply is None:
                        reply = handler(conn, body)
                        if mid in self.write_ids:
                            with self._stats_lock:
                                self.lb_writes += 1
                            if self.restart_after:
                                self.note_write(conn)
                    if self.stall > 0 and self.stall_only in (None, mid):
                        if out:
                            sock.sendall(b"".join(out))
                            out = []
                        time.sleep(self.stall)  # the injected stall itself, not synchronisation
                        if reply:
                            sock.sendall(reply)
                    elif reply:
                        out.append(reply)
                    if conn.after or conn.close_after_reply:
                        if out:
                            sock.sendall(b"".join(out))
                            out = []
                        actions, conn.after = conn.after, []
                        for action in actions:
                            action()
                        if conn.close_after_reply:
                            return
                buf = buf[pos:]
                if out:
                    sock.sendall(out[0] if len(out) == 1 else b"".join(out))
        except ProtocolError as e:
            if not conn._shut:
                sys.stderr.write(f"vppsim: dropping client {conn.name!r}: {e}\n")
        except OSError:
            pass  # peer went away, or we shut the socket down ourselves
        except Exception:
            log_exception(f"handler failed for client {conn.name!r}; dropping it")
        finally:
            self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        self.unregister(conn)
        with self._conn_lock:
            self._conns.discard(conn)
        conn.shutdown()
        try:
            conn.sock.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ faults
    def _injected_error(self, mid: int, body: bytes) -> bytes | None:
        with self._fault_lock:
            armed = self.errors.get(mid)
            if armed is None:
                return None
            armed[2] -= 1
            if armed[2] <= 0:
                del self.errors[mid]
        return self.handlers.error_reply(armed[0], body, armed[1])

    def note_write(self, conn: Connection) -> None:
        """Count one executed write against an armed ``restart after``; the last one restarts
        VPP once its reply is out (the rest of that client's batch is then dropped)."""
        with self._fault_lock:
            if self.restart_after <= 0:
                return
            self.restart_after -= 1
            if self.restart_after:
                return
        conn.after.append(self.restart)

    def _codec_named(self, name: str):
        """The codec of a message given by name or name_crc, or None."""
        codec = self.api.codecs.get(name)
        if codec is None:
            codec = next((c for c in self.api.by_id[1:] if c and f"{c.name}_{c.crc[2:]}" == name), None)
        return codec

    def fault_command(self, conn: Connection, words: list[str]) -> tuple[int, str]:
        """``sim fault ...`` (see the module docstring). Returns (retval, reply text)."""
        usage = ("sim fault: usage: sim fault restart [after <n>] | stall <ms> | error <msg> <retval> [count <n>]"
                 " | clear | show\n")
        if not words:
            return -1, usage
        op = words[0]
        if op == "restart" and len(words) == 1:
            conn.after.append(self.restart)
            return 0, "sim fault: restart\n"
        if op == "restart" and len(words) == 3 and words[1] == "after":
            try:
                writes = int(words[2])
            except ValueError:
                return -1, f"sim fault: unknown input `{words[2]}'\n"
            if writes < 1:
                return -1, "sim fault: restart after needs at least 1 write\n"

            def arm_restart() -> None:
                with self._fault_lock:
                    self.restart_after = writes

            conn.after.append(arm_restart)
            return 0, f"sim fault: restart after {writes} writes\n"
        if op == "stall" and len(words) in (2, 3):
            try:
                ms = float(words[1])
            except ValueError:
                return -1, f"sim fault: unknown input `{words[1]}'\n"
            if ms < 0:
                return -1, "sim fault: stall must be >= 0\n"
            only = None
            if len(words) == 3:
                codec = self._codec_named(words[2])
                if codec is None:
                    return -1, f"sim fault: unknown message `{words[2]}'\n"
                only = codec.id

            def set_stall() -> None:
                self.stall, self.stall_only = ms / 1000.0, only

            conn.after.append(set_stall)
            return 0, f"sim fault: stall {words[1]} ms\n"
        if op == "error" and len(words) in (3, 5):
            name = words[1]
            codec = self._codec_named(name)
            if codec is None:
                return -1, f"sim fault: unknown message `{name}'\n"
            if self.api.reply_of(codec.name) is None or "client_index" not in codec.fields:
                return -1, f"sim fault: {codec.name} has no reply with a retval\n"
            try:
                retval = int(words[2], 0)
                count = 1
                if len(words) == 5:
                    if words[3] != "count":
                        raise ValueError(words[3])
                    count = int(words[4])
                if count < 1:
                    raise ValueError(count)
            except ValueError:
                return -1, f"sim fault: unknown input `{' '.join(words[2:])}'\n"

            def arm() -> None:
                with self._fault_lock:
                    self.errors[codec.id] = [codec.name, retval, count]

            conn.after.append(arm)
            return 0, f"sim fault: next {count} {codec.name} return {retval}\n"
        if op == "clear" and len(words) == 1:

            def clear() -> None:
                with self._fault_lock:
                    self.errors = {}
                    self.stall, self.stall_only = 0.0, None
                    self.restart_after = 0

            conn.after.append(clear)
            return 0, "sim fault: cleared\n"
        if op == "show" and len(words) == 1:
            with self._fault_lock:
                errs = "".join(f"  error {n} {rv} count {left}\n" for n, rv, left in self.errors.values())
                pending = f"  restart after {self.restart_after} writes\n" if self.restart_after else ""
            return 0, f"sim fault: stall {self.stall * 1000:g} ms, generation {self.generation}\n{errs}{pending}"
        return -1, usage

    def stats_command(self, words: list[str]) -> tuple[int, str]:
        """``sim stats``: the harness counters. Returns (retval, reply text)."""
        if words:
            return -1, "sim stats: usage: sim stats\n"
        with self._stats_lock:
            writes = self.lb_writes
        return 0, f"sim stats: lb writes {writes}, generation {self.generation}\n"

    def restart(self) -> None:
        """Behave like a VPP restart: all LB state and the stats segment are new, clients dropped."""
        with self.lock:
            old = self.segment
            self.generation += 1
            # A restart within the same second must still show a new boottime.
            boottime = max(int(time.time()), old.boottime + 1)
            self.segment = StatsSegment(self.n_threads, self.stats_size, boottime=boottime)
            self.lb = self._lb_factory(self.segment, self.lb_api)
            self._heartbeat = 0
        with self._conn_lock:
            conns = list(self._conns)
            self._regs.clear()
            for c in conns:
                c.index = None
        # Half-close, like a VPP process that went away: the client's reader sees EOF after the
        # replies already sent, so its next call fails with VPPIOError ("read failed"); the
        # request it sends meanwhile is dropped here and the socket closed.
        for c in conns:
            c.shutdown(socket.SHUT_WR)
        with self.lock:
            old.close()  # clients that mapped it keep reading the stale copy, as after a real restart
