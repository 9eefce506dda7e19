"""Byte relay between two TCP sockets, and the small socket helpers it needs.

The relay works on plain non-blocking ``socket.socket`` objects and waits with
``trio.lowlevel.wait_readable``/``wait_writable``: no per-chunk allocation, no per-chunk
logging, one shared pool of large page-aligned buffers (a buffer is held only between
``recv_into`` and the end of the matching ``send``, or while a relay thread runs; idle
connections hold none, so they cost only their sockets and two small tasks).

Contract of :func:`relay`:

* bytes are copied exactly, both directions at once;
* EOF on one side becomes ``shutdown(SHUT_WR)`` on the other (half-close), so
  request/EOF protocols (``ssh``, ``psql``, ``nc -N``) work;
* backpressure: a direction stops reading while its peer is not writable, so memory is
  bounded by one buffer per *active* direction;
* it returns when both directions have seen EOF, or as soon as either side fails (reset,
  broken pipe); it never closes the sockets, the caller owns them.

Two modes. A connection starts in trio: each direction is a task that waits for
readability, which costs nothing while idle. A connection that stays busy (bulk copies,
an interactive session: :data:`PROMOTE_AFTER` wakeups) moves to a relay thread of its
own, socat-style: one ``poll`` over both sockets, no scheduler between a read and its
write, which roughly halves the cost of each hop. The thread hands the connection back
to trio after :data:`THREAD_IDLE` seconds without traffic, and at most
:data:`MAX_THREADS` connections hold a thread at once (the rest stay in trio).
Cancelling :func:`relay` wakes its thread through a pipe and waits for it to let go of
the sockets before returning.
"""

from __future__ import annotations

import contextlib
import errno
import math
import mmap
import os
import select
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

import trio

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

#: wakeups or full buffers (of either direction) after which a connection moves to a
#: relay thread
PROMOTE_AFTER = 32
#: connections relayed by threads at once; more stay in trio (RITTUNNEL_RELAY_THREADS)
MAX_THREADS = 64
#: seconds without traffic after which a relay thread hands its connection back to trio
THREAD_IDLE = 30.0


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


_IN = select.POLLIN | select.POLLERR | select.POLLHUP
_OUT = select.POLLOUT | select.POLLERR | select.POLLHUP


def _relay_blocking(
    directions: list[_Direction], wake_fd: int, pool: BufferPool, idle: float
) -> str:
    """The relay loop of a thread (no trio here): ``poll`` both sockets and the wake pipe,
    copy what is readable, keep what the destination did not take and stop reading that
    direction until it is writable. Returns "done" (both directions at EOF), "failed",
    "woken" (cancelled) or "idle" (nothing moved for ``idle`` seconds, nothing held)."""
    poller = select.poll()
    poll, register, unregister = poller.poll, poller.register, poller.unregister
    register(wake_fd, select.POLLIN)
    size = pool.size
    bufs: list[mmap.mmap | None] = [None, None]
    pending: list[memoryview | None] = [None, None]
    registered: dict[int, int] = {}
    timeout_ms = int(idle * 1000)
    try:
        while True:
            masks: dict[int, int] = {}
            for i, d in enumerate(directions):
                if d.eof:
                    continue
                if pending[i] is not None:
                    fd = d.dst.fileno()
                    masks[fd] = masks.get(fd, 0) | select.POLLOUT
                else:
                    fd = d.src.fileno()
                    masks[fd] = masks.get(fd, 0) | select.POLLIN
            if not masks:
                return "done"
            for fd in list(registered):
                if fd not in masks:
                    unregister(fd)
                    del registered[fd]
            for fd, mask in masks.items():
                if registered.get(fd) != mask:
                    register(fd, mask)
                    registered[fd] = mask
            events = poll(timeout_ms)
            if not events:
                if all(p is None for p in pending):
                    return "idle"
                continue
            ready = dict(events)
            if wake_fd in ready:
                return "woken"
            for i, d in enumerate(directions):
                if d.eof:
                    continue
                view = pending[i]
                if view is not None:
                    if not ready.get(d.dst.fileno(), 0) & _OUT:
                        continue
                    try:
                        sent = d.dst.send(view)
                    except BlockingIOError:
                        continue
                    except OSError:
                        return "failed"
                    pending[i] = view[sent:] if sent < len(view) else None
                    continue
                if not ready.get(d.src.fileno(), 0) & _IN:
                    continue
                buf = bufs[i]
                if buf is None:
                    buf = bufs[i] = pool.acquire()
                mv = memoryview(buf)
                while True:
                    try:
                        n = d.src.recv_into(buf)
                    except BlockingIOError:
                        break
                    except OSError:
                        return "failed"
                    if n == 0:
                        _half_close(d.dst)
                        d.eof = True
                        break
                    d.count(n)
                    try:
                        sent = d.dst.send(mv[:n])
                    except BlockingIOError:
                        sent = 0
                    except OSError:
                        return "failed"
                    if sent < n:
                        pending[i] = mv[sent:n]
                        break
                    if n < size:
                        break
    finally:
        for buf in bufs:
            if buf is not None:
                pool.release(buf)


async def _relay_in_thread(directions: list[_Direction], pool: BufferPool) -> str:
    """Run :func:`_relay_blocking` in a worker thread; cancellation wakes it through a
    pipe and waits until it has let go of the sockets."""
    global _thread_limiter
    if _thread_limiter is None:
        _thread_limiter = trio.CapacityLimiter(math.inf)
    wake_r, wake_w = os.pipe()
    try:
        async with trio.open_nursery() as nursery:

            async def wake_when_cancelled() -> None:
                try:
                    await trio.sleep_forever()
                finally:
                    with contextlib.suppress(OSError):
                        os.write(wake_w, b"x")

            nursery.start_soon(wake_when_cancelled)
            result = await trio.to_thread.run_sync(
                _relay_blocking,
                directions,
                wake_r,
                pool,
                THREAD_IDLE,
                abandon_on_cancel=False,
                limiter=_thread_limiter,
            )
            nursery.cancel_scope.cancel()
        return result
    finally:
        os.close(wake_r)
        os.close(wake_w)


def _open_pipe() -> tuple[int, int]:
    r, w = os.pipe()
    try:  # a larger pipe moves more per syscall; best effort
        import fcntl

        fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), _SPLICE_CHUNK)
    except OSError:
        pass
    os.set_blocking(r, False)
    os.set_blocking(w, False)
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


def _half_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


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
        _half_close(d.dst)
        d.eof = True

    async with trio.open_nursery() as nursery:
        for d in directions:
            if not d.eof:
                nursery.start_soon(direction, d, nursery.cancel_scope)
    return failed


def abort(sock: socket.socket) -> None:
    """Make the peer see a reset rather than a clean EOF (used when the other side broke)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def tune(sock: socket.socket, *, keepalive: bool = False) -> None:
    """TCP_NODELAY always (interactive ssh); TCP keepalive on upstream sockets so a dead
    path through NAT and the proxy is noticed in about two minutes."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
                opt = getattr(socket, name, None)
                if opt is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, opt, value)
    except OSError:
        pass


async def open_tcp(host: str, port: int) -> socket.socket:
    """Connect a non-blocking TCP socket to ``host:port``, trying each resolved address.

    Raises ``OSError`` when none answers. The caller puts a deadline around it."""
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError = OSError(errno.EHOSTUNREACH, f"no address for {host}")
    for family, type_, proto, _, addr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            err = sock.connect_ex(addr)
            if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                await trio.lowlevel.wait_writable(sock)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        tune(sock, keepalive=True)
        return sock
    raise last


def raise_fd_limit(cap: int = 65536) -> int:
    """Each relayed connection holds two file descriptors: lift the soft RLIMIT_NOFILE to
    the hard limit (at most ``cap``), as servers do. Returns the soft limit in force."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
        except (ValueError, OSError):
            pass
    return soft
