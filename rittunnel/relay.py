"""Byte relay between two TCP sockets, and the small socket helpers it needs.

The relay works on plain non-blocking ``socket.socket`` objects and waits with
``trio.lowlevel.wait_readable``/``wait_writable``: no per-chunk allocation, no per-chunk
logging, one shared pool of large buffers (a buffer is held only between ``recv_into``
and the end of the matching ``send``; idle connections hold none, so they cost only
their sockets and two small tasks).

Contract of :func:`relay`:

* bytes are copied exactly, both directions at once;
* EOF on one side becomes ``shutdown(SHUT_WR)`` on the other (half-close), so
  request/EOF protocols (``ssh``, ``psql``, ``nc -N``) work;
* backpressure: a direction stops reading while its peer is not writable, so memory is
  bounded by one buffer per *active* direction;
* it returns when both directions have seen EOF, or as soon as either side fails (reset,
  broken pipe); it never closes the sockets, the caller owns them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

import trio

#: bytes read per ``recv_into``; large reads are what make a Python relay fast
BUFFER_SIZE = 256 * 1024
#: how many free buffers the pool keeps for reuse
POOL_KEEP = 16
#: bytes a direction may move before yielding to the scheduler, for fairness
YIELD_EVERY = 4 * 1024 * 1024

_SPLICE = hasattr(os, "splice") and sys.platform == "linux"
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_SPLICE_CHUNK = 1024 * 1024
#: whether relay() uses splice unless told; chosen by measurement (docs/PERFORMANCE.md);
#: RITTUNNEL_SPLICE=0 or 1 overrides it
SPLICE_DEFAULT = _SPLICE and os.environ.get("RITTUNNEL_SPLICE", "0") != "0"


class BufferPool:
    """Reusable ``bytearray`` buffers. trio runs one task at a time, so no lock is needed."""

    def __init__(self, size: int = BUFFER_SIZE, keep: int = POOL_KEEP) -> None:
        self.size = size
        self.keep = keep
        self._free: list[bytearray] = []
        self.allocated = 0

    def acquire(self) -> bytearray:
        if self._free:
            return self._free.pop()
        self.allocated += 1
        return bytearray(self.size)

    def release(self, buf: bytearray) -> None:
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


async def _pump_copy(
    src: socket.socket, dst: socket.socket, count: Callable[[int], None], pool: BufferPool
) -> None:
    """Copy src → dst until EOF. Waits for readability first, then reads until a short
    read (the socket is drained, so the next read would only say EAGAIN) or EAGAIN, and
    only then waits again: one wakeup per burst, no exception per small message. A
    buffer is held for the burst only."""
    wait_readable = trio.lowlevel.wait_readable
    recv_into, send = src.recv_into, dst.send
    src_fd = src.fileno()
    size = pool.size
    moved_since_yield = 0
    while True:
        await wait_readable(src_fd)
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
                    return
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
                moved_since_yield += n
                if moved_since_yield >= YIELD_EVERY:
                    moved_since_yield = 0
                    await trio.lowlevel.checkpoint()
        finally:
            view.release()
            pool.release(buf)


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


async def _pump_splice(
    src: socket.socket, dst: socket.socket, count: Callable[[int], None], pool: BufferPool
) -> None:
    """Zero-copy socket→pipe→socket with ``os.splice`` (Linux). The pipe is made only
    once data first arrives, so an idle connection holds no pipe."""
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
                return
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
) -> None:
    """Copy bytes both ways between two connected non-blocking sockets (see module doc)."""
    use_splice = SPLICE_DEFAULT if splice is None else (splice and _SPLICE)
    pump = _pump_splice if use_splice else _pump_copy
    t = traffic if traffic is not None else Traffic()

    def count_up(n: int) -> None:
        t.up += n

    def count_down(n: int) -> None:
        t.down += n

    failed = False

    async def direction(
        src: socket.socket,
        dst: socket.socket,
        count: Callable[[int], None],
        scope: trio.CancelScope,
    ) -> None:
        nonlocal failed
        try:
            await pump(src, dst, count, pool)
        except _Broken:
            failed = True
            scope.cancel()
            return
        _half_close(dst)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(direction, local, remote, count_up, nursery.cancel_scope)
        nursery.start_soon(direction, remote, local, count_down, nursery.cancel_scope)
    if failed:
        abort(local)
        abort(remote)


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
