"""Byte relay between two TCP sockets, and the small socket helpers it needs.

The relay works on plain non-blocking ``socket.socket`` objects and waits with
``trio.lowlevel.wait_readable``/``wait_writable``: no per-chunk allocation, no per-chunk
logging, one shared pool of large page-aligned buffers (a buffer is held only between
``recv_into`` and the end of the matching ``send``, or while relay threads run; idle
connections hold none, so they cost only their sockets and two small tasks).

Contract of :func:`relay`:

* bytes are copied exactly, both directions at once;
* EOF on one side becomes ``shutdown(SHUT_WR)`` on the other (half-close), so
  request/EOF protocols (``ssh``, ``psql``, ``nc -N``) work;
* backpressure: a direction stops reading while its peer is not writable, so memory is
  bounded by one buffer per *active* direction in trio, :data:`LANE_BUFFERS` in threads;
* it returns when both directions have seen EOF, or as soon as either side fails (reset,
  broken pipe); it never closes the sockets, the caller owns them.

Two modes. A connection starts in trio: each direction is a task that waits for
readability, which costs nothing while idle. A connection that stays busy (bulk copies,
an interactive session: :data:`PROMOTE_AFTER` wakeups) moves to threads, socat-style:
each direction gets a reader thread (``poll``, then ``recv_into`` and ``send`` with no
scheduler in between), which roughly halves the cost of each hop; a direction moving
large chunks also gets a writer thread, so that one chunk is sent while the next is read.
The threads hand the connection back to trio after :data:`THREAD_IDLE` seconds without
traffic, and at most :data:`MAX_THREADS` connections are in threads at once (the rest
stay in trio). Cancelling :func:`relay` wakes its threads through a pipe and waits for
them to let go of the sockets before returning.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import queue
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import trio

from ..net import abort

#: bytes read per ``recv_into``; large reads are what make a Python relay fast
BUFFER_SIZE = 1024 * 1024
#: how many free buffers the pool keeps for reuse
POOL_KEEP = 8
#: bytes a direction may move before yielding to the scheduler, for fairness
YIELD_EVERY = 4 * 1024 * 1024

_SPLICE = hasattr(os, "splice") and sys.platform == "linux"
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_SPLICE_CHUNK = 1024 * 1024
#: whether relay() uses splice unless told; chosen by measurement (docs/PERFORMANCE.md);
#: RITTUNNEL_SPLICE=0 or 1 overrides it
SPLICE_DEFAULT = _SPLICE and os.environ.get("RITTUNNEL_SPLICE", "0") != "0"

#: wakeups or full buffers (of either direction) after which a connection moves to
#: relay threads
PROMOTE_AFTER = 32
#: connections relayed by threads at once; more stay in trio (RITTUNNEL_RELAY_THREADS)
MAX_THREADS = 64
#: seconds without a read either way after which relay threads hand their connection
#: back to trio
THREAD_IDLE = 30.0
#: in thread mode, a chunk this large is sent by a writer thread of its direction, so
#: the next read overlaps the send; smaller ones are sent at once (docs/PERFORMANCE.md)
HANDOFF_MIN = 64 * 1024
#: buffers a direction holds at most in thread mode: one being read into, one being sent
LANE_BUFFERS = 2


class BufferPool:
    """Reusable buffers, shared by trio tasks and relay threads: ``pop`` and ``append``
    on a list are atomic, which is all the sharing needs.

    Each buffer is an anonymous ``mmap``, so it starts on a page boundary. That matters:
    a ``bytearray`` of this size comes from ``malloc`` 16 bytes past a page boundary, and
    the kernel's copies into and out of a misaligned buffer cost ~1.6x as much
    (docs/PERFORMANCE.md: 326 vs 197 ms of CPU per GB relayed)."""

    def __init__(self, size: int = BUFFER_SIZE, keep: int = POOL_KEEP) -> None:
        self.size = size
        self.keep = keep
        self._free: list[mmap.mmap] = []
        self.allocated = 0

    def acquire(self) -> mmap.mmap:
        try:
            return self._free.pop()
        except IndexError:
            self.allocated += 1
            return mmap.mmap(-1, self.size)

    def release(self, buf: mmap.mmap) -> None:
        if len(self._free) < self.keep:
            self._free.append(buf)


_POOL = BufferPool()


@dataclass
class Traffic:
    """Byte counters of one tunnel; ``up`` is local→remote, ``down`` remote→local."""

    up: int = 0
    down: int = 0
    opened: int = 0
    active: int = 0


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
class _Direction:
    """One direction of a relay: where bytes come from and go, and how far it got."""

    src: socket.socket
    dst: socket.socket
    count: Callable[[int], None]
    #: the source said EOF and the destination was half-closed
    eof: bool = False
    #: blocked waiting for readability, holding no data: it may be stopped for a handoff
    idle: bool = False
    #: the cancel scope of this direction's task (trio mode)
    scope: trio.CancelScope | None = None
    #: stopped in trio for a handoff to a thread
    parked: bool = False

    def finish(self) -> None:
        """The source said EOF and everything before it was sent: half-close the
        destination."""
        with contextlib.suppress(OSError):
            self.dst.shutdown(socket.SHUT_WR)
        self.eof = True


@dataclass(slots=True)
class _Handoff:
    """Moving a connection from trio to a thread. After enough wakeups it is requested;
    the directions then park, but only together: a direction parks when every other one
    is parked or idle (waiting for readability, so holding no data), and stops the idle
    ones. It never parks while another still has bytes to deliver, which could need
    this one to keep draining the far side."""

    directions: list[_Direction]
    wakeups: int = 0
    requested: bool = False

    def woke(self) -> None:
        self.wakeups += 1
        if self.wakeups >= PROMOTE_AFTER and not self.requested and _take_thread():
            self.requested = True

    def park(self, me: _Direction) -> bool:
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


async def _pump_copy(d: _Direction, pool: BufferPool, handoff: _Handoff | None = None) -> bool:
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


# -- thread mode -----------------------------------------------------------------------

_threads_busy = 0
_thread_limiter: trio.CapacityLimiter | None = None


def _take_thread() -> bool:
    global _threads_busy
    if _threads_busy >= MAX_THREADS:
        return False
    _threads_busy += 1
    return True


def _give_thread() -> None:
    global _threads_busy
    _threads_busy -= 1


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
        #: readable once the connection is idle: readers stop, writers send what they hold
        self.quiet = _nonblocking_pipe()
        self.idle = idle
        #: time.monotonic() of the last read, either way
        self.last = time.monotonic()
        self.failed = False
        self.went_idle = False
        self.lanes: list[_Lane] = []

    def fail(self) -> None:
        self.failed = True
        _poke(self.halt[1])

    def go_idle(self) -> None:
        self.went_idle = True
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
    poller = select.poll()
    poller.register(dst.fileno(), select.POLLOUT)
    poller.register(link.wake_fd, select.POLLIN)
    poller.register(link.halt[0], select.POLLIN)
    return poller


#: a chunk queued for a writer: (buffer, the bytes of it to send); "shut" asks it to
#: half-close its socket after what came before, "stop" to end
_Item = tuple[mmap.mmap, memoryview] | Literal["shut", "stop"]


def _deliver(
    d: _Direction,
    link: _Link,
    item: tuple[mmap.mmap, memoryview] | Literal["shut"],
    poller: select.poll,
) -> bool:
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
    wake or halt pipe turns readable while it waits for its socket to take more."""

    def __init__(self, d: _Direction, link: _Link) -> None:
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

    def __init__(self, d: _Direction, link: _Link, pool: BufferPool) -> None:
        self.d = d
        self.link = link
        self.pool = pool
        #: every buffer the lane holds (at most LANE_BUFFERS), and those not with the writer
        self.owned: list[mmap.mmap] = []
        self.free: list[mmap.mmap] = []
        self.writer: _Writer | None = None
        #: no writer thread could be started: this lane sends its large chunks itself
        self.alone: select.poll | None = None
        #: the writer ended (failed or halted): nothing more can be sent
        self.broken = False

    def run(self) -> None:
        """Wait for the source to be readable, read it dry, repeat; until EOF, a failure,
        cancellation, or the connection going idle (nothing read either way for
        ``link.idle`` seconds, and no writer holding bytes)."""
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
                        link.go_idle()
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
        failure, its writer gone)."""
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
            self._hand((buf, view))
            if n < size:
                return True

    def _hand(self, item: _Item) -> None:
        if self.writer is None and self.alone is None:
            try:
                self.writer = _Writer(self.d, self.link)
            except RuntimeError:  # no thread to be had (a process or system limit)
                self.alone = _send_poller(self.d.dst, self.link)
        if self.writer is None:
            self._send_here(item)
            return
        if item != "shut":
            self.writer.queued += 1
        self.writer.queue.put(item)

    def _send_here(self, item: _Item) -> None:
        """What the writer would do with ``item``, done by the reader (no writer)."""
        assert self.alone is not None and item != "stop"
        done = _deliver(self.d, self.link, item, self.alone)
        if item != "shut":
            self.free.append(item[0])
        if not done:
            self.broken = True

    def _finish(self) -> None:
        if self.writer is not None:
            self.writer.queue.put("stop")
            self.writer.thread.join()
        for buf in self.owned:
            self.pool.release(buf)
        self.owned.clear()
        self.free.clear()


def _relay_blocking(
    directions: list[_Direction], wake_fd: int, pool: BufferPool, idle: float
) -> str:
    """Relay in threads (no trio here) until both directions are at EOF ("done"), a side
    fails ("failed"), ``wake_fd`` turns readable ("woken", cancelled), or nothing was
    read for ``idle`` seconds ("idle"; what was read has been sent); "no thread" (nothing
    done) when the second reader thread cannot be started. A lane whose writer thread
    cannot be started sends its large chunks itself.

    Each unfinished direction gets a reader: this thread for the first, a new thread for
    the other. A reader sends a small chunk (< :data:`HANDOFF_MIN`) itself; a large
    one, or any chunk while earlier ones are still being sent, goes to the direction's
    writer thread, and the reader goes on into its other buffer. A direction whose
    buffers are both with its writer waits for one (backpressure: at most
    :data:`LANE_BUFFERS` buffers per direction)."""
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
    if link.went_idle:
        return "idle"
    return "woken"


async def _relay_in_thread(directions: list[_Direction], pool: BufferPool) -> str:
    """Run :func:`_relay_blocking` from a worker thread; cancellation wakes its threads
    through a pipe and waits until they have let go of the sockets. "no thread" when
    trio cannot start that worker either (a process or system thread limit)."""
    global _thread_limiter
    if _thread_limiter is None:
        _thread_limiter = trio.CapacityLimiter(math.inf)
    wake_r, wake_w = os.pipe()
    entered = False

    def run() -> str:
        nonlocal entered
        entered = True
        return _relay_blocking(directions, wake_r, pool, THREAD_IDLE)

    try:
        async with trio.open_nursery() as nursery:

            async def wake_when_cancelled() -> None:
                try:
                    await trio.sleep_forever()
                finally:
                    _poke(wake_w)

            nursery.start_soon(wake_when_cancelled)
            try:
                result = await trio.to_thread.run_sync(
                    run, abandon_on_cancel=False, limiter=_thread_limiter
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


def _open_pipe() -> tuple[int, int]:
    r, w = _nonblocking_pipe()
    try:  # a larger pipe moves more per syscall; best effort
        import fcntl

        fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), _SPLICE_CHUNK)
    except OSError:
        pass
    return r, w


async def _pump_splice(d: _Direction, pool: BufferPool, handoff: None = None) -> bool:
    """Zero-copy socket→pipe→socket with ``os.splice`` (Linux). The pipe is made only
    once data first arrives, so an idle connection holds no pipe."""
    src, dst, count = d.src, d.dst, d.count
    await trio.lowlevel.wait_readable(src)
    r, w = _open_pipe()
    try:
        src_fd, dst_fd = src.fileno(), dst.fileno()
        moved_since_yield = 0
        while True:
            try:
                n = os.splice(src_fd, w, _SPLICE_CHUNK, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                moved_since_yield = 0
                await trio.lowlevel.wait_readable(src)
                continue
            except OSError as exc:
                raise _Broken(exc.strerror) from None
            if n == 0:
                return True
            left = n
            while left:
                try:
                    left -= os.splice(r, dst_fd, left, flags=_SPLICE_FLAGS)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(dst)
                except OSError as exc:
                    raise _Broken(exc.strerror) from None
            count(n)
            moved_since_yield += n
            if moved_since_yield >= YIELD_EVERY:
                moved_since_yield = 0
                await trio.lowlevel.checkpoint()
    finally:
        os.close(r)
        os.close(w)


async def relay(
    local: socket.socket,
    remote: socket.socket,
    traffic: Traffic | None = None,
    *,
    pool: BufferPool = _POOL,
    splice: bool | None = None,
    threads: bool = True,
) -> None:
    """Copy bytes both ways between two connected non-blocking sockets (see module doc).
    ``threads=False`` keeps the connection in trio for its whole life."""
    use_splice = SPLICE_DEFAULT if splice is None else (splice and _SPLICE)
    t = traffic if traffic is not None else Traffic()

    def count_up(n: int) -> None:
        t.up += n

    def count_down(n: int) -> None:
        t.down += n

    directions = [_Direction(local, remote, count_up), _Direction(remote, local, count_down)]
    can_move = threads and not use_splice and MAX_THREADS > 0
    failed = False
    while not failed and not all(d.eof for d in directions):
        for d in directions:
            d.parked = d.idle = False
        handoff = _Handoff(directions) if can_move else None
        try:
            failed = await _relay_in_trio(directions, pool, use_splice, handoff)
            if handoff is None or not handoff.requested or failed:
                break
            outcome = await _relay_in_thread(directions, pool)
        finally:
            if handoff is not None and handoff.requested:
                _give_thread()
        failed = outcome == "failed"
        if outcome == "woken":  # cancelled: trio raises Cancelled at the next checkpoint
            await trio.lowlevel.checkpoint()
        if outcome == "no thread":
            can_move = False
    if failed:
        abort(local)
        abort(remote)


async def _relay_in_trio(
    directions: list[_Direction], pool: BufferPool, splice: bool, handoff: _Handoff | None
) -> bool:
    """One task per unfinished direction until both reach EOF, either breaks (returns
    True), or ``handoff`` parks them."""
    pump = _pump_splice if splice else _pump_copy
    failed = False

    async def direction(d: _Direction, scope: trio.CancelScope) -> None:
        nonlocal failed
        with trio.CancelScope() as d.scope:
            try:
                at_eof = await pump(d, pool, handoff)  # type: ignore[arg-type]
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
