"""Byte relay between two TCP sockets.

The relay works on plain non-blocking ``socket.socket`` objects and waits with
``trio.lowlevel.wait_readable``/``wait_writable``: no per-chunk allocation, no per-chunk
logging, one pool of large page-aligned buffers per :class:`Relayer` (a buffer is held
only between ``recv_into`` and the end of the matching ``send``, or while relay threads
run; idle connections hold none, so they cost only their sockets and two small tasks).

Contract of :meth:`Relayer.relay` (and :func:`relay`):

* bytes are copied exactly, in order, both directions at once;
* EOF on one side becomes ``shutdown(SHUT_WR)`` on the other (half-close), so
  request/EOF protocols (``ssh``, ``psql``, ``nc -N``) work;
* backpressure: a direction stops reading while its peer is not writable, so memory is
  bounded by one buffer per *active* direction in trio, ``LANE_BUFFERS`` in threads;
* it returns when both directions have seen EOF, or as soon as either side fails (reset,
  broken pipe; it then aborts both sockets); it never closes the sockets, the caller
  owns them;
* it counts the bytes it moved into the :class:`Counts` it is given, and into nothing
  else: totals over connections are the caller's to keep.

Three modes. A connection starts in trio: each direction is a task that waits for
readability, which costs nothing while idle. A connection that stays busy
(:attr:`Limits.promote_after` wakeups) moves to the hub (:mod:`.hub`: one ``epoll``
thread per CPU, at most 2, relaying all such connections) if most of its reads were
small. If they were mostly bulk, or the connection turns to bulk in the hub, it moves
to threads, socat-style: each direction gets a reader thread (``poll``, then ``recv_into`` and
``send`` with no scheduler in between), which roughly halves the cost of each hop; a
direction moving large chunks also gets a writer thread, so that one chunk is sent while
the next is read. The threads hand the connection back to trio after
:attr:`Limits.thread_idle` seconds without traffic, and at most
:attr:`Limits.max_threads` connections of a :class:`Relayer` are in threads at once (the
rest stay in trio). Where a thread cannot be started (a process or system limit), the
connection goes back to, or stays in, trio for the rest of its life. Cancelling the
relay wakes its threads through a pipe and waits for them to let go of the sockets
before returning.

The package: :mod:`.buffers` (the buffer pool), :mod:`.pump` (trio mode), :mod:`.hub`
(the hub), :mod:`.threads` (thread mode); this module moves a connection between them.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from typing import Literal

import trio

from ..net import abort
from ..settings import RELAY_THREADS
from .buffers import BufferPool
from .hub import Hub
from .pump import Direction, Handoff, relay_in_trio
from .threads import relay_in_thread

#: hub threads of a relayer: one per CPU, up to 2 (measured on 2 CPUs only; a second
#: hub overlaps its system calls with the first's, docs/PERFORMANCE.md)
HUBS = max(1, min(2, os.cpu_count() or 1))

__all__ = ["BufferPool", "Counts", "Limits", "Relayer", "relay"]


@dataclass(frozen=True)
class Limits:
    """When a connection moves between trio and relay threads."""

    #: wakeups or full buffers (of either direction) after which a connection moves to
    #: relay threads
    promote_after: int = 32
    #: connections in relay threads at once; more stay in trio (0: never use threads)
    max_threads: int = RELAY_THREADS
    #: seconds without a read either way after which relay threads hand their connection
    #: back to trio
    thread_idle: float = 30.0


@dataclass(slots=True)
class Counts:
    """Bytes of one relayed connection; up: local→remote, down: remote→local. Each field
    has one writer at a time (the direction's trio task or its reader thread), so no
    update is lost; readers elsewhere see a recent value."""

    up: int = 0
    down: int = 0


class Relayer:
    """What the relays of one process share: their limits, the buffer pool, the hub, and
    the budget of connections in relay threads (at most ``limits.max_threads``)."""

    def __init__(self, limits: Limits = Limits(), pool: BufferPool | None = None) -> None:
        self.limits = limits
        self.pool = pool if pool is not None else BufferPool()
        # one hub per CPU (at most HUBS): busy connections spread over them, fewest first
        self.hubs = [Hub(self.pool, limits.thread_idle) for _ in range(HUBS)]
        self._hub_load = [0] * len(self.hubs)
        # both only touched from trio: no lock
        self._threaded = 0
        self._in_hub = 0
        # the budget above is the limit; trio's default limiter (40 threads) would make
        # connections wait for a worker instead of staying in trio
        self._limiter = trio.CapacityLimiter(math.inf)

    @property
    def busy(self) -> int:
        """Connections out of trio right now: in the hub or in relay threads."""
        return self._threaded + self._in_hub

    @property
    def threaded(self) -> int:
        """Connections in relay threads right now."""
        return self._threaded

    def _take_thread(self) -> bool:
        if self._threaded >= self.limits.max_threads:
            return False
        self._threaded += 1
        return True

    async def relay(
        self,
        local: socket.socket,
        remote: socket.socket,
        counts: Counts | None = None,
        *,
        threads: bool = True,
    ) -> None:
        """Copy bytes both ways between two connected non-blocking sockets (see the
        module doc), counting them into ``counts``. ``threads=False`` keeps the
        connection in trio for its whole life."""
        c = counts if counts is not None else Counts()

        def count_up(n: int) -> None:
            c.up += n

        def count_down(n: int) -> None:
            c.down += n

        directions = [Direction(local, remote, count_up), Direction(remote, local, count_down)]
        # may leave trio at all (for the hub or threads); may go to relay threads
        can_move = can_thread = threads and self.limits.max_threads > 0
        where: Literal["trio", "hub", "threads"] = "trio"
        failed = False
        while not failed and not all(d.eof for d in directions):
            outcome: str
            if where == "trio":
                for d in directions:
                    d.parked = d.idle = False
                handoff = Handoff(directions, self.limits.promote_after) if can_move else None
                failed = await relay_in_trio(directions, self.pool, handoff)
                if handoff is None or not handoff.requested or failed:
                    break
                bulk = can_thread and handoff.bulk and self._take_thread()
                where = "threads" if bulk else "hub"
                continue
            if where == "hub":
                i = self._hub_load.index(min(self._hub_load))
                self._in_hub += 1
                self._hub_load[i] += 1
                try:
                    outcome = await self.hubs[i].relay(directions, bulk=can_thread)
                finally:
                    self._in_hub -= 1
                    self._hub_load[i] -= 1
                if outcome == "bulk":
                    if self._take_thread():
                        where = "threads"
                    else:  # the budget is spent: stay in the hub, bulk or not
                        can_thread = False
            else:
                try:
                    outcome = await relay_in_thread(
                        directions, self.pool, self.limits.thread_idle, self._limiter
                    )
                finally:
                    self._threaded -= 1
                if outcome == "no thread":
                    can_thread = False
            failed = outcome == "failed"
            if outcome == "woken":  # cancelled: trio raises Cancelled at the next checkpoint
                await trio.lowlevel.checkpoint()
            if outcome == "idle":
                where = "trio"
            if outcome == "no thread":  # a process or system limit: trio for good
                where, can_move = "trio", False
        if failed:
            abort(local)
            abort(remote)


async def relay(
    local: socket.socket,
    remote: socket.socket,
    counts: Counts | None = None,
    *,
    relayer: Relayer,
    threads: bool = True,
) -> None:
    """``relayer.relay(local, remote, counts, threads=threads)``. The relayer is
    required: it holds the process's thread budget and limits, and a default one here
    would be a second budget that ignores the caller's limits."""
    await relayer.relay(local, remote, counts, threads=threads)
