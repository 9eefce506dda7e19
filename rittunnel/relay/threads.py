"""The relay in threads (thread mode), socat-style: per direction a reader thread
(``poll``, then ``recv_into`` and ``send`` with no scheduler in between) and, once it
reads a large chunk, a writer thread that sends it while the reader reads the next one.

:func:`relay_in_thread` runs :func:`relay_blocking` from trio. Threads end on EOF, a
failure, cancellation (the wake pipe), or a hand-back to trio (the quiet pipe): when
the connection has been idle, or when a writer thread cannot be started.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import queue
import select
import socket
import threading
import time
from typing import Literal

import trio

from .buffers import BufferPool
from .pump import Direction

#: in thread mode, a chunk this large is sent by a writer thread of its direction, so
#: the next read overlaps the send; smaller ones are sent at once (docs/PERFORMANCE.md)
HANDOFF_MIN = 64 * 1024
#: buffers a direction holds at most in thread mode: one being read into, one being sent
LANE_BUFFERS = 2

#: how thread mode ended: both directions at EOF, a side failed, cancelled, or handed
#: back to trio because the connection went idle or a thread could not be had
_Outcome = Literal["done", "failed", "woken", "idle", "no thread"]


def _poke(fd: int) -> None:
    with contextlib.suppress(OSError):  # a full pipe is readable already
        os.write(fd, b"\0")


def _nonblocking_pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


class _Link:
    """What the threads of one connection share in thread mode: the pipes that end them
    and why they ended."""

    def __init__(self, wake_fd: int, idle: float) -> None:
        #: readable once relay() is cancelled: every thread stops, dropping what it holds
        self.wake_fd = wake_fd
        #: readable once a side failed: likewise
        self.halt = _nonblocking_pipe()
        #: readable once the connection goes back to trio: readers stop, writers send
        #: what they hold
        self.quiet = _nonblocking_pipe()
        self.idle = idle
        #: time.monotonic() of the last read, either way
        self.last = time.monotonic()
        self.failed = False
        #: why the connection goes back to trio, once it does
        self.handed_back: Literal["idle", "no thread"] | None = None
        self.lanes: list[_Lane] = []

    def fail(self) -> None:
        self.failed = True
        _poke(self.halt[1])

    def hand_back(self, why: Literal["idle", "no thread"]) -> None:
        self.handed_back = why
        _poke(self.quiet[1])

    def close(self) -> None:
        for fd in (*self.halt, *self.quiet):
            os.close(fd)


def _send_chunk(dst: socket.socket, view: memoryview, poller: select.poll) -> bool | None:
    """Send all of ``view`` on non-blocking ``dst``, waiting in ``poller`` (``dst`` for
    POLLOUT, and stop pipes) when it takes no more: True once sent, False if a send
    failed, None if a stop pipe turned readable first."""
    send, dst_fd = dst.send, dst.fileno()
    while True:
        try:
            sent = send(view)
        except BlockingIOError:
            sent = 0
        except OSError:
            return False
        if sent == len(view):
            return True
        view = view[sent:]
        if any(fd != dst_fd for fd, _ in poller.poll()):
            return None


def _send_poller(dst: socket.socket, link: _Link) -> select.poll:
    """A poller for :func:`_send_chunk`: ``dst`` writable, or the wake or halt pipe."""
    poller = select.poll()
    poller.register(dst.fileno(), select.POLLOUT)
    poller.register(link.wake_fd, select.POLLIN)
    poller.register(link.halt[0], select.POLLIN)
    return poller


#: a chunk for a destination: (buffer, the bytes of it to send); "shut" asks to
#: half-close it after what came before
_Chunk = tuple[mmap.mmap, memoryview] | Literal["shut"]
#: what a writer is queued: a chunk, or "stop" to end
_Item = _Chunk | Literal["stop"]


def _deliver(d: Direction, link: _Link, item: _Chunk, poller: select.poll) -> bool:
    """Do what ``item`` asks of ``d``'s destination (send the chunk, or half-close):
    True once done; False if a send failed (the link fails) or a stop pipe turned
    readable first."""
    if item == "shut":
        d.finish()
        return True
    sent = _send_chunk(d.dst, item[1], poller)
    if sent is False:
        link.fail()
    return bool(sent)


class _Writer:
    """The sending half of one direction in thread mode: a thread that sends, in order,
    the chunks its reader queues, so that the reader's next ``recv_into`` runs while
    this ``send`` does (two copies on two CPUs, where one thread does them in turn).

    Each buffer goes back on ``back`` once sent; ``None`` there says the writer ended.
    It ends at "stop" (after sending what came before), when a send fails, or when the
    wake or halt pipe turns readable while it waits for its socket to take more.
    Making one raises ``RuntimeError`` when its thread cannot be started."""

    def __init__(self, d: Direction, link: _Link) -> None:
        self.d = d
        self.link = link
        self.queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self.back: queue.SimpleQueue[mmap.mmap | None] = queue.SimpleQueue()
        #: chunks queued (counted by the reader) and sent (by the writer)
        self.queued = self.sent = 0
        self.thread = threading.Thread(target=self._run, name="rittunnel-send", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        d, link, back, get = self.d, self.link, self.back, self.queue.get
        poller = _send_poller(d.dst, link)
        try:
            while True:
                item = get()
                if item == "stop" or not _deliver(d, link, item, poller):
                    return
                if item != "shut":
                    self.sent += 1
                    back.put(item[0])
        finally:
            back.put(None)


class _Lane:
    """One direction in thread mode: its reader (the thread running :meth:`run`), its
    buffers, and its writer once a chunk needs one."""

    def __init__(self, d: Direction, link: _Link, pool: BufferPool) -> None:
        self.d = d
        self.link = link
        self.pool = pool
        #: every buffer the lane holds (at most LANE_BUFFERS), and those not with the writer
        self.owned: list[mmap.mmap] = []
        self.free: list[mmap.mmap] = []
        self.writer: _Writer | None = None
        #: the writer ended (failed or halted): nothing more can be sent
        self.broken = False

    def run(self) -> None:
        """Wait for the source to be readable, read it dry, repeat; until EOF, a failure,
        cancellation, or a hand-back to trio: the connection went idle (nothing read
        either way for ``link.idle`` seconds, and no writer holding bytes), or a writer
        thread could not be had."""
        link, src_fd = self.link, self.d.src.fileno()
        poller = select.poll()
        poller.register(src_fd, select.POLLIN)
        for fd in (link.wake_fd, link.halt[0], link.quiet[0]):
            poller.register(fd, select.POLLIN)
        try:
            while True:
                wait = link.last + link.idle - time.monotonic()
                if wait <= 0:
                    if not any(lane.holding() for lane in link.lanes):
                        link.hand_back("idle")
                        return
                    wait = link.idle  # a writer still waits to send: look again later
                events = poller.poll(math.ceil(wait * 1000))
                if events and (any(fd != src_fd for fd, _ in events) or not self._read()):
                    return
        finally:
            self._finish()

    def holding(self) -> int:
        """Chunks queued for the writer and not sent yet (safe from any thread)."""
        w = self.writer
        return 0 if w is None else w.queued - w.sent

    def _sending(self) -> int:
        """Take back the buffers the writer has sent; how many it still holds."""
        if self.writer is not None:
            back = self.writer.back
            while not back.empty():
                buf = back.get()
                if buf is None:
                    self.broken = True
                else:
                    self.free.append(buf)
        return len(self.owned) - len(self.free)

    def _buffer(self) -> mmap.mmap | None:
        """A buffer to read into: a free one, a new one, or (both with the writer) the
        next one it sends; None if the writer ended."""
        if self.broken:  # its None was taken already: waiting for another would hang
            return None
        if self.free:
            return self.free.pop()
        if len(self.owned) < LANE_BUFFERS:
            buf = self.pool.acquire()
            self.owned.append(buf)
            return buf
        assert self.writer is not None  # it holds them all
        got = self.writer.back.get()
        if got is None:
            self.broken = True
        return got

    def _read(self) -> bool:
        """Read until a short read or EAGAIN; False once this lane is over (EOF, a
        failure, its writer gone, a hand-back to trio)."""
        d, link, size = self.d, self.link, self.pool.size
        recv_into, send, count = d.src.recv_into, d.dst.send, d.count
        while True:
            sending = self._sending()
            buf = self._buffer()
            if buf is None or self.broken:
                return False
            try:
                n = recv_into(buf)
            except BlockingIOError:
                self.free.append(buf)
                return True
            except OSError:
                self.free.append(buf)
                link.fail()
                return False
            if n == 0:
                self.free.append(buf)
                if sending:  # the writer half-closes after the bytes it holds
                    self._hand("shut")
                else:
                    d.finish()
                return False
            count(n)
            link.last = time.monotonic()
            view = memoryview(buf)[:n]
            if n < HANDOFF_MIN and not sending:
                try:
                    sent = send(view)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    self.free.append(buf)
                    link.fail()
                    return False
                if sent == n:
                    self.free.append(buf)
                    if n < size:
                        return True
                    continue
                view = view[sent:]  # the writer sends the rest when the socket takes it
            if not self._hand((buf, view)):
                return False
            if n < size:
                return True

    def _hand(self, item: _Chunk) -> bool:
        """Queue ``item`` for the writer, starting it with the first chunk. If its thread
        cannot be started (a process or system limit), the reader delivers ``item``
        itself, then hands the connection back to trio for good: False, this lane is
        over. (A "shut" always finds a writer: it is handed only while one holds bytes.)"""
        if self.writer is None:
            try:
                self.writer = _Writer(self.d, self.link)
            except RuntimeError:
                if _deliver(self.d, self.link, item, _send_poller(self.d.dst, self.link)):
                    self.link.hand_back("no thread")
                return False
        if item != "shut":
            self.writer.queued += 1
        self.writer.queue.put(item)
        return True

    def _finish(self) -> None:
        if self.writer is not None:
            self.writer.queue.put("stop")
            self.writer.thread.join()
        for buf in self.owned:
            self.pool.release(buf)
        self.owned.clear()
        self.free.clear()


def relay_blocking(
    directions: list[Direction], wake_fd: int, pool: BufferPool, idle: float
) -> _Outcome:
    """Relay in threads (no trio here) until both directions are at EOF ("done"), a side
    fails ("failed"), ``wake_fd`` turns readable ("woken", cancelled), nothing was read
    for ``idle`` seconds ("idle"), or a thread cannot be started ("no thread"). After
    "idle" and "no thread" every byte read has been sent: the connection goes on in
    trio, and after "no thread" it stays there.

    Each unfinished direction gets a reader: this thread for the first, a new thread for
    the other; if that one cannot be started, nothing is done. A reader sends a small
    chunk (< :data:`HANDOFF_MIN`) itself; a large one, or any chunk while earlier ones
    are still being sent, goes to the direction's writer thread, and the reader goes on
    into its other buffer. A direction whose buffers are both with its writer waits for
    one (backpressure: at most :data:`LANE_BUFFERS` buffers per direction). If the
    writer thread cannot be started, the reader sends that chunk itself and the
    connection is handed back as when idle: the other reader stops, and its writer, if
    any, sends what it holds first."""
    link = _Link(wake_fd, idle)
    others: list[threading.Thread] = []
    try:
        lanes = link.lanes = [_Lane(d, link, pool) for d in directions if not d.eof]
        for lane in lanes[1:]:
            t = threading.Thread(target=lane.run, name="rittunnel-relay")
            try:
                t.start()
            except RuntimeError:  # no thread to be had: nothing moved, stay in trio
                return "no thread"
            others.append(t)
        if lanes:
            lanes[0].run()
    finally:
        for t in others:
            t.join()
        link.close()
    if link.failed:
        return "failed"
    if all(d.eof for d in directions):
        return "done"
    return link.handed_back or "woken"


async def relay_in_thread(
    directions: list[Direction], pool: BufferPool, idle: float, limiter: trio.CapacityLimiter
) -> _Outcome:
    """Run :func:`relay_blocking` from a trio worker thread (borrowed from ``limiter``);
    cancellation wakes its threads through a pipe and waits until they have let go of
    the sockets. "no thread" when trio cannot start that worker either (a process or
    system thread limit)."""
    wake_r, wake_w = os.pipe()
    entered = False

    def run() -> _Outcome:
        nonlocal entered
        entered = True
        return relay_blocking(directions, wake_r, pool, idle)

    try:
        async with trio.open_nursery() as nursery:

            async def wake_when_cancelled() -> None:
                try:
                    await trio.sleep_forever()
                finally:
                    _poke(wake_w)

            nursery.start_soon(wake_when_cancelled)
            result: _Outcome
            try:
                result = await trio.to_thread.run_sync(
                    run, abandon_on_cancel=False, limiter=limiter
                )
            except RuntimeError:
                if entered:
                    raise
                result = "no thread"  # trio could not start its worker: nothing moved
            nursery.cancel_scope.cancel()
        return result
    finally:
        os.close(wake_r)
        os.close(wake_w)
