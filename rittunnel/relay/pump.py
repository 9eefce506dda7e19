"""The relay in trio: a task per direction (:func:`_pump_copy`) that waits for
readability and copies through a pooled buffer, and :class:`Handoff`, which stops both
directions together when a busy connection is to move to the hub or to relay threads.

Also :class:`Direction`, one direction of a relay, which the hub and the thread lanes
use as well.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass

import trio

from .buffers import BufferPool

#: bytes a direction may move before yielding to the scheduler, for fairness
YIELD_EVERY = 4 * 1024 * 1024


class _Broken(Exception):
    """One side of the relay failed; the relay is over."""


async def _send_all(dst: socket.socket, view: memoryview) -> None:
    while view:
        try:
            sent = dst.send(view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(dst)
            continue
        except OSError as exc:
            raise _Broken(exc.strerror) from None
        view = view[sent:]


@dataclass(slots=True)
class Direction:
    """One direction of a relay: where bytes come from and go, and how far it got."""

    src: socket.socket
    dst: socket.socket
    #: told each chunk's size once it is read (by the trio task or the reader thread)
    count: Callable[[int], None]
    #: the source said EOF and the destination was half-closed
    eof: bool = False
    #: blocked waiting for readability, holding no data: it may be stopped for a handoff
    idle: bool = False
    #: the cancel scope of this direction's task (trio mode)
    scope: trio.CancelScope | None = None
    #: stopped in trio for a handoff to the hub or a thread
    parked: bool = False

    def finish(self) -> None:
        """The source said EOF and everything before it was sent: half-close the
        destination."""
        with contextlib.suppress(OSError):
            self.dst.shutdown(socket.SHUT_WR)
        self.eof = True


#: a read at least this large is a bulk read: a connection whose reads are mostly such
#: moves to relay threads, others to the hub
BULK_READ = 64 * 1024


@dataclass(slots=True)
class Handoff:
    """Moving a connection out of trio (to the hub or to relay threads). After
    ``promote_after`` wakeups it is requested; the directions then park, but only
    together: a direction parks when every other one is parked or idle (waiting for
    readability, so holding no data), and stops the idle ones. It never parks while
    another still has bytes to deliver, which could need this one to keep draining the
    far side. It also counts the reads, and how many were bulk reads."""

    directions: list[Direction]
    promote_after: int
    wakeups: int = 0
    requested: bool = False
    reads: int = 0
    bulk_reads: int = 0

    def woke(self) -> None:
        self.wakeups += 1
        if self.wakeups >= self.promote_after:
            self.requested = True

    @property
    def bulk(self) -> bool:
        """Whether most reads so far were bulk reads (:data:`BULK_READ`)."""
        return self.bulk_reads * 2 >= self.reads > 0

    def park(self, me: Direction) -> bool:
        """Whether ``me`` (holding no data) parks now; if so the idle others stop."""
        if not self.requested:
            return False
        others = [d for d in self.directions if d is not me and not d.eof]
        if any(not d.idle and not d.parked for d in others):
            return False
        me.parked = True
        for d in others:
            if d.idle and d.scope is not None:
                d.scope.cancel()
        return True


async def _pump_copy(d: Direction, pool: BufferPool, handoff: Handoff | None) -> bool:
    """Copy ``d.src`` → ``d.dst`` until EOF (returns True) or until ``handoff`` asks to
    park (returns False, holding no data). Waits for readability first, then reads until
    a short read (the socket is drained, so the next read would only say EAGAIN) or
    EAGAIN, and only then waits again: one wakeup per burst, no exception per small
    message. A buffer is held for the burst only."""
    wait_readable = trio.lowlevel.wait_readable
    src, dst = d.src, d.dst
    recv_into, send, count = src.recv_into, dst.send, d.count
    src_fd = src.fileno()
    size = pool.size
    moved_since_yield = 0
    while True:
        if handoff is not None and handoff.park(d):
            return False
        d.idle = True
        await wait_readable(src_fd)
        d.idle = False
        if handoff is not None:
            if d.scope is not None and d.scope.cancel_called:
                # stopped for the handoff just as data arrived: park before reading it,
                # with no checkpoint in between (one would raise Cancelled)
                return False
            handoff.woke()
        buf = pool.acquire()
        view = memoryview(buf)
        try:
            while True:
                try:
                    n = recv_into(buf)
                except BlockingIOError:
                    break
                except OSError as exc:
                    raise _Broken(exc.strerror) from None
                if n == 0:
                    return True
                if handoff is not None:
                    handoff.reads += 1
                    if n >= BULK_READ:
                        handoff.bulk_reads += 1
                try:
                    sent = send(view[:n])
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    raise _Broken(exc.strerror) from None
                if sent < n:
                    await _send_all(dst, view[sent:n])
                count(n)
                if n < size:
                    break
                if handoff is not None:  # a full buffer counts as a wakeup: bulk moves too
                    handoff.woke()
                    if handoff.requested:
                        break
                moved_since_yield += n
                if moved_since_yield >= YIELD_EVERY:
                    moved_since_yield = 0
                    await trio.lowlevel.checkpoint()
        finally:
            view.release()
            pool.release(buf)


async def relay_in_trio(
    directions: list[Direction], pool: BufferPool, handoff: Handoff | None
) -> bool:
    """One task per unfinished direction until both reach EOF, either breaks (returns
    True), or ``handoff`` parks them."""
    failed = False

    async def direction(d: Direction, scope: trio.CancelScope) -> None:
        nonlocal failed
        with trio.CancelScope() as d.scope:
            try:
                at_eof = await _pump_copy(d, pool, handoff)
            except _Broken:
                failed = True
                scope.cancel()
                return
        if d.scope.cancelled_caught or not at_eof:  # parked for a handoff
            d.parked = True
            return
        d.finish()

    async with trio.open_nursery() as nursery:
        for d in directions:
            if not d.eof:
                nursery.start_soon(direction, d, nursery.cancel_scope)
    return failed
