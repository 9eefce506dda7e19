"""How a tunnel process answers signals: one watcher for ``up``, ``run`` and ``stdio``.

``async with stop_on_signals(reporter) as stop:`` runs its body until SIGINT, SIGTERM or
SIGHUP cancels it (``stop.signal`` then says which); the body's own teardown runs after
that, shielded. A second SIGINT or SIGTERM during that teardown is the user insisting: the
process leaves at once (exit 130), saying that proxies may be left open for ``cleanup``.

Two hooks serve a session: ``forward`` passes a signal on to a child process instead
(``rittunnel run``: the command decides, we stop when it exits), and ``on_usr1`` is
called for SIGUSR1 (``rittunnel stop NAME`` for one tunnel of several).
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from ..report import Reporter

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: the exit code of a forced exit (a second Ctrl-C), as a shell gives for SIGINT
FORCED_EXIT = 130


@dataclass
class Forward:
    """``forward`` for :func:`stop_on_signals` while a child process runs (``rittunnel
    run``): a signal goes to ``proc`` while it runs, SIGINT only with ``sigint`` (not when
    the child's terminal already sent it there). Returns whether it passed it on."""

    proc: trio.Process | None = None
    sigint: bool = True

    def __call__(self, signum: int) -> bool:
        if self.proc is None or self.proc.returncode is not None:
            return False
        if signum != signal.SIGINT or self.sigint:
            self.proc.send_signal(signum)
        return True


@dataclass
class Stop:
    """What stopped the body: the signal number, or None when it ended by itself."""

    signal: int | None = None


@asynccontextmanager
async def stop_on_signals(
    reporter: Reporter,
    *,
    forward: Callable[[int], bool] | None = None,
    on_usr1: Callable[[], None] | None = None,
    on_stop: Callable[[int], None] | None = None,
) -> AsyncIterator[Stop]:
    """Cancel the body at the first stop signal (see module docstring). ``forward(signum)``
    returns whether it passed the signal on (then nothing else happens); ``on_stop(signum)``
    is called at the first stop signal, just before the body is cancelled."""
    stop = Stop()
    watched = (*STOP_SIGNALS, signal.SIGUSR1) if on_usr1 is not None else STOP_SIGNALS
    with trio.open_signal_receiver(*watched) as receiver:
        async with trio.open_nursery() as nursery:
            body = trio.CancelScope()

            async def watch() -> None:
                async for signum in receiver:
                    if signum == signal.SIGUSR1 and on_usr1 is not None:
                        on_usr1()
                    elif forward is not None and forward(signum):
                        continue
                    elif stop.signal is None:
                        stop.signal = signum
                        if on_stop is not None:
                            on_stop(signum)
                        reporter.info(f"{signal.Signals(signum).name}: stopping (again to force)")
                        body.cancel()
                    elif signum != signal.SIGHUP:
                        # Teardown runs shielded, so nothing can cancel it from here.
                        reporter.warn("forced exit: proxies may be left open; `rittunnel cleanup`")
                        os._exit(FORCED_EXIT)

            nursery.start_soon(watch)
            try:
                with body:
                    yield stop
            finally:
                nursery.cancel_scope.cancel()
