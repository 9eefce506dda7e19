"""The relay's hub: one thread with an ``epoll`` loop that relays every busy connection
of small messages (request/response, interactive sessions) at once.

Why (docs/PERFORMANCE.md, "Many connections at once"): in trio every message costs a
wakeup of the scheduler and a task switch; in per-connection relay threads it costs a
thread wakeup and a handover of the GIL, and with many busy connections those threads
queue for the GIL. The hub takes every ready socket from one ``epoll_wait`` and does
``recv_into`` + ``send`` for each in turn, with no scheduler and no other Python thread
in between, so the more connections are busy the more work each wakeup does.

A connection enters with :meth:`Hub.relay` (from trio) and leaves when both directions
are at EOF ("done"), a side fails ("failed"), it moved nothing for ``idle`` seconds
("idle": back to trio, where an idle connection costs two parked tasks), one direction
reads large chunks (``bulk``: over to relay threads, which overlap the copies on two
CPUs), or the trio side is cancelled ("woken"). It leaves only holding no undelivered
bytes, except when it failed or was cancelled. The thread runs only while it has
connections: an idle process has no hub thread and no wakeups.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

import trio

from .buffers import BufferPool
from .pump import Direction

#: a read at least this large is a bulk read (as for the writer threads in threads.py)
BULK_READ = 64 * 1024
#: bulk reads, less other reads, in one direction, after which a connection leaves for
#: threads
BULK_AFTER = 4

_IN, _OUT = select.EPOLLIN, select.EPOLLOUT

#: why a connection left the hub
HubOutcome = Literal["done", "failed", "woken", "idle", "bulk", "no thread"]


class _Way:
    """One direction in the hub: the bytes its destination did not take yet (only after a
    partial send; the source is not read meanwhile) and its bulk reads less the others."""

    __slots__ = ("bulk_reads", "d", "pending")

    def __init__(self, d: Direction) -> None:
        self.d = d
        self.pending: bytes = b""
        self.bulk_reads = 0


class _Conn:
    """A connection in the hub, and how the hub tells trio that it left."""

    def __init__(self, directions: list[Direction], bulk: bool, done: Callable[[], None]) -> None:
        self.ways = [_Way(d) for d in directions]
        #: whether to leave for threads on bulk reads
        self.bulk = bulk
        self.done = done
        self.outcome: HubOutcome = "woken"
        self.last = time.monotonic()
        #: set by the hub thread once it let go of the sockets, before ``done``
        self.gone = False
        #: fd -> the event mask it is registered with (absent: not registered)
        self.masks: dict[int, int] = {}


#: fd -> (its connection, the way reading it, the way writing into it)
_Fds = dict[int, tuple[_Conn, _Way | None, _Way | None]]


class Hub:
    """The hub of one :class:`~rittunnel.relay.Relayer`. Commands from trio (add a
    connection, drop one) go through a queue and a wake-up pipe; the thread starts with
    the first connection and ends with the last."""

    def __init__(self, pool: BufferPool, idle: float) -> None:
        self.pool = pool
        self.idle = idle
        self._lock = threading.Lock()
        self._commands: deque[tuple[Literal["add", "drop"], _Conn]] = deque()
        #: the write end of the running thread's wake-up pipe; None: no thread runs
        self._wake: int | None = None

    def _post(self, command: Literal["add", "drop"], conn: _Conn) -> None:
        """Queue a command, starting the thread if none runs (RuntimeError if it cannot
        be started: nothing was queued then)."""
        with self._lock:
            self._commands.append((command, conn))
            if self._wake is not None:
                with contextlib.suppress(OSError):  # a full pipe is readable already
                    os.write(self._wake, b"\0")
                return
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            thread = threading.Thread(target=self._run, args=(r, w), name="rittunnel-hub")
            thread.daemon = True
            try:
                thread.start()
            except RuntimeError:
                self._commands.pop()
                os.close(r)
                os.close(w)
                raise
            self._wake = w

    async def relay(self, directions: list[Direction], *, bulk: bool) -> HubOutcome:
        """Relay ``directions`` in the hub until they leave it (see the module doc).
        Cancelling waits until the hub has let go of the sockets. "no thread" if the
        hub's thread cannot be started."""
        token = trio.lowlevel.current_trio_token()
        left = trio.Event()

        def done() -> None:  # in the hub thread
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(left.set)

        conn = _Conn(directions, bulk, done)
        try:
            self._post("add", conn)
        except RuntimeError:
            return "no thread"
        try:
            await left.wait()
        except BaseException:
            if not conn.gone:
                with contextlib.suppress(RuntimeError):  # it just left: nothing to drop
                    self._post("drop", conn)
            with trio.CancelScope(shield=True):
                await left.wait()
            raise
        return conn.outcome

    # -- the thread ------------------------------------------------------------------

    def _run(self, wake_r: int, wake_w: int) -> None:
        ep = select.epoll()
        ep.register(wake_r, _IN)
        buf = self.pool.acquire()
        fds: _Fds = {}
        conns: set[_Conn] = set()
        #: when the next connection may have been idle for ``self.idle`` seconds
        sweep_at = math.inf
        try:
            while True:
                added = self._commands_in(ep, fds, conns)
                if not conns:
                    with self._lock:
                        if not self._commands:
                            self._wake = None  # the next command starts a thread
                            return
                    continue
                if added:
                    sweep_at = min(sweep_at, time.monotonic() + self.idle)
                timeout = -1.0 if sweep_at == math.inf else max(0.0, sweep_at - time.monotonic())
                for fd, events in ep.poll(timeout):
                    entry = fds.get(fd)
                    if entry is None:
                        if fd == wake_r:
                            with contextlib.suppress(OSError):
                                os.read(wake_r, 4096)
                        continue  # or a connection that left earlier in this batch
                    conn, reading, writing = entry
                    if writing is not None and writing.pending and events & ~_IN:
                        self._flush(ep, fds, conns, conn, writing)
                    if (
                        conn in conns
                        and reading is not None
                        and events & ~_OUT
                        and not reading.pending
                        and not reading.d.eof
                    ):
                        self._read(ep, fds, conns, conn, reading, buf)
                if conns and time.monotonic() >= sweep_at:
                    sweep_at = self._sweep_idle(ep, fds, conns)
        finally:
            # normally nothing is left here; after a bug, no connection may wait forever
            with self._lock:
                self._wake = None
                stranded = [conn for command, conn in self._commands if command == "add"]
                self._commands.clear()
            for conn in list(conns):
                self._leave(ep, fds, conns, conn, "failed")
            for conn in stranded:
                conn.outcome, conn.gone = "failed", True
                conn.done()
            ep.close()
            os.close(wake_r)
            os.close(wake_w)
            self.pool.release(buf)

    def _commands_in(
        self,
        ep: select.epoll,
        fds: _Fds,
        conns: set[_Conn],
    ) -> bool:
        """Take the queued commands; whether a connection was added."""
        added = False
        while True:
            with self._lock:
                if not self._commands:
                    return added
                command, conn = self._commands.popleft()
            if command == "drop":
                if conn in conns:
                    self._leave(ep, fds, conns, conn, "woken")
                continue
            added = True
            conns.add(conn)
            conn.last = time.monotonic()
            for way in conn.ways:
                d = way.d
                src, dst = d.src.fileno(), d.dst.fileno()
                fds[src] = (conn, way, fds.get(src, (conn, None, None))[2])
                fds[dst] = (conn, fds.get(dst, (conn, None, None))[1], way)
            self._update(ep, fds, conn)
            if all(w.d.eof for w in conn.ways):
                self._leave(ep, fds, conns, conn, "done")

    def _update(self, ep: select.epoll, fds: _Fds, conn: _Conn) -> None:
        """(Re)register the connection's sockets for what they wait for now: a socket is
        read while its direction is open and not waiting to deliver, and written while
        the direction into it has bytes pending. A socket waiting for nothing is not
        registered (epoll would report a hang-up on it over and over)."""
        for w in conn.ways:
            for fd in (w.d.src.fileno(), w.d.dst.fileno()):
                _, reading, writing = fds[fd]
                mask = 0
                if reading is not None and not reading.d.eof and not reading.pending:
                    mask |= _IN
                if writing is not None and writing.pending:
                    mask |= _OUT
                old = conn.masks.get(fd)
                if mask == old or (mask == 0 and old is None):
                    continue
                if mask == 0:
                    ep.unregister(fd)
                    del conn.masks[fd]
                elif old is None:
                    ep.register(fd, mask)
                    conn.masks[fd] = mask
                else:
                    ep.modify(fd, mask)
                    conn.masks[fd] = mask

    def _read(
        self,
        ep: select.epoll,
        fds: _Fds,
        conns: set[_Conn],
        conn: _Conn,
        way: _Way,
        buf: mmap.mmap,
    ) -> None:
        """One read and its send (level-triggered: a source with more to give is
        reported again, after the other ready sockets had their turn)."""
        d = way.d
        try:
            n = d.src.recv_into(buf)
        except BlockingIOError:
            return
        except OSError:
            self._leave(ep, fds, conns, conn, "failed")
            return
        conn.last = time.monotonic()
        if n == 0:
            d.finish()
            self._update(ep, fds, conn)
            if all(w.d.eof for w in conn.ways):
                self._leave(ep, fds, conns, conn, "done")
            return
        view = memoryview(buf)[:n]
        try:
            sent = d.dst.send(view)
        except BlockingIOError:
            sent = 0
        except OSError:
            view.release()
            self._leave(ep, fds, conns, conn, "failed")
            return
        if sent < n:
            way.pending = bytes(view[sent:])
        view.release()
        d.count(n)
        # bulk reads count up, others down: mostly bulk, with the odd short read, leaves
        way.bulk_reads = way.bulk_reads + 1 if n >= BULK_READ else max(0, way.bulk_reads - 1)
        if way.pending:
            self._update(ep, fds, conn)
        elif conn.bulk and way.bulk_reads >= BULK_AFTER and not any(w.pending for w in conn.ways):
            self._leave(ep, fds, conns, conn, "bulk")

    def _flush(
        self,
        ep: select.epoll,
        fds: _Fds,
        conns: set[_Conn],
        conn: _Conn,
        way: _Way,
    ) -> None:
        try:
            sent = way.d.dst.send(way.pending)
        except BlockingIOError:
            return
        except OSError:
            self._leave(ep, fds, conns, conn, "failed")
            return
        way.pending = way.pending[sent:]
        if way.pending:
            return
        if conn.bulk and way.bulk_reads >= BULK_AFTER and not any(w.pending for w in conn.ways):
            self._leave(ep, fds, conns, conn, "bulk")
            return
        self._update(ep, fds, conn)

    def _sweep_idle(
        self,
        ep: select.epoll,
        fds: _Fds,
        conns: set[_Conn],
    ) -> float:
        """Hand back to trio the connections that moved nothing for ``idle`` seconds and
        hold no bytes; when to look again."""
        now = time.monotonic()
        for conn in [c for c in conns if c.last <= now - self.idle]:
            if any(w.pending for w in conn.ways):
                conn.last = now  # stuck on a slow reader: look again later
            else:
                self._leave(ep, fds, conns, conn, "idle")
        return min((c.last for c in conns), default=math.inf) + self.idle

    def _leave(
        self,
        ep: select.epoll,
        fds: _Fds,
        conns: set[_Conn],
        conn: _Conn,
        outcome: HubOutcome,
    ) -> None:
        """The connection leaves: its sockets out of the epoll set, then trio is told."""
        for fd in conn.masks:
            with contextlib.suppress(OSError):
                ep.unregister(fd)
        conn.masks.clear()
        for w in conn.ways:
            for s in (w.d.src, w.d.dst):
                fds.pop(s.fileno(), None)
        conns.discard(conn)
        conn.outcome, conn.gone = outcome, True
        conn.done()
