"""When a tunnel process writes its live counters to its state files: when they change,
and when ``rittunnel status`` asks, never on a clock while nothing happens.

The counters (connections open and opened, bytes up and down) feed ``rittunnel status``
only. A laptop pays for every timer wake-up of a process that lives for hours, so:

* a connection opening or ending is a change the trio side sees: it is written at once,
  or, while busy, at most once per ``interval`` (:meth:`Flusher.changed`);
* bytes are counted by relay threads that never wake trio, so while a connection is
  open the counters are looked at on a timer that backs off while they stay the same
  (``interval``, twice that, … up to ``quiet_cap``), and starts over when they move;
* with no connection open nothing can change unseen: no timer at all;
* ``status`` asks with SIGUSR1 (:meth:`Flusher.ask`): everything is written at once,
  changed or not, and ``status`` waits for that write (``commands/control.py``).

:func:`next_check` is the decision alone, pure; :class:`Flusher` runs it in trio.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import trio

#: seconds between writes while the counters keep changing
INTERVAL = 1.0
#: the longest pause between looks at the byte counters of an open but quiet connection
QUIET_CAP = 64.0


@dataclass
class FlushState:
    """What :func:`next_check` decides from (trio clock seconds)."""

    #: when the counters were last written (-inf: never)
    last_write: float = -math.inf
    #: a change was seen (a connection opened or ended) and is not written yet
    pending: bool = False
    #: looks in a row that found the counters unchanged while connections were open
    quiet: int = 0


def next_check(
    state: FlushState, now: float, *, open_connections: bool, interval: float, quiet_cap: float
) -> float:
    """When to look at the counters next (an absolute time; ``math.inf``: only when
    woken). A pending change is written as soon as ``interval`` has passed since the last
    write; open connections are looked at after ``interval · 2^quiet`` (at most
    ``quiet_cap``); else nothing can change unseen."""
    if state.pending:
        return max(now, state.last_write + interval)
    if open_connections:
        pause = min(interval * 2.0 ** min(state.quiet, 64), max(quiet_cap, interval))
        return max(now, state.last_write + interval, now + pause)
    return math.inf


class Flusher:
    """Runs :func:`next_check`. ``look()`` returns whether connections are open (so
    bytes may move unseen) and a snapshot of the counters to compare; ``write(all)``
    writes the state files (``all``: every one, changed or not, for ``status``)."""

    def __init__(
        self,
        look: Callable[[], tuple[bool, object]],
        write: Callable[[bool], None],
        *,
        interval: float = INTERVAL,
        quiet_cap: float = QUIET_CAP,
    ) -> None:
        self._look = look
        self._write = write
        self.interval = interval
        self.quiet_cap = quiet_cap
        self.state = FlushState()
        self._asked = False
        self._wake = trio.Event()
        self._last: object = None
        #: how many times the loop woke up (the bench and the tests count them)
        self.wakeups = 0

    def changed(self) -> None:
        """A connection opened or ended (trio side): write it soon."""
        self.state.pending = True
        self._wake.set()

    def ask(self) -> None:
        """``status`` asks (SIGUSR1): write every state file now."""
        self._asked = True
        self._wake.set()

    async def run(self) -> None:
        """Write counters as they change, until cancelled."""
        state = self.state
        while True:
            open_now, _ = self._look()
            at = next_check(
                state,
                trio.current_time(),
                open_connections=open_now,
                interval=self.interval,
                quiet_cap=self.quiet_cap,
            )
            with trio.move_on_at(at):
                await self._wake.wait()
            self._wake = trio.Event()
            self.wakeups += 1
            now = trio.current_time()
            if self._asked:
                self._asked = False
                self._flush(now, force=True)
            elif now >= at or (state.pending and now >= state.last_write + self.interval):
                self._flush(now, force=False)
            # else: a change inside ``interval`` of the last write: wait for its turn

    def _flush(self, now: float, *, force: bool) -> None:
        state = self.state
        _, snapshot = self._look()
        moved = snapshot != self._last
        state.pending = False
        if moved or force:
            self._last = snapshot
            self._write(force)
            state.last_write = now
        if moved:
            state.quiet = 0
        elif not force:
            state.quiet += 1
