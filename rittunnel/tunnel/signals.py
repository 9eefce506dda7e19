"""How a tunnel process answers signals: one watcher for ``up``, ``run`` and ``stdio``.

``async with stop_on_signals(reporter) as stop:`` runs its body until SIGINT, SIGTERM or
SIGHUP cancels it (``stop.signal`` then says which); the body's own teardown runs after
that, shielded. A second SIGINT or SIGTERM during that teardown is the user insisting: the
process leaves at once (exit 130), saying that proxies may be left open for ``cleanup``.

Two hooks serve a session: ``forward`` passes a signal on to a child process instead
(``rittunnel run``: the command decides, we stop when it exits), and ``on_usr1`` is
called for SIGUSR1 (``rittunnel stop NAME`` for one tunnel of several).

Once teardown is over nothing is left to protect: :attr:`Stop.settled` (set by the body)
makes the watcher ignore further stop signals, and a process that ends with the watcher
(:func:`ignore_stop_signals_after`) keeps ignoring them until it exits, so a storm of
signals after "stopped" never turns exit 0 into death by signal. A forced exit while a
connect call is unanswered (:func:`connecting`) says that its proxy, whose ID never
arrived, is out of ``cleanup``'s reach. The first stop signal during such a call clears the
spinner at once and says that the tunnel waits for remote.it's answer, so that the proxy
can be stopped; the call is marked :attr:`Connect.awaited`, and the tunnel says how it
ended (:meth:`~rittunnel.tunnel.stopping.OpenProxies.answered`).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
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
    #: set by the body once its teardown is over (nothing left open to protect): later
    #: stop signals are ignored, never a forced exit
    settled: bool = False


@dataclass
class Connect:
    """One connect call under way (see :func:`connecting`)."""

    name: str
    #: a stop signal came while it was unanswered: the tunnel says what came of it
    awaited: bool = False


#: connect calls under way in this process, by tunnel name (see :func:`connecting`)
CONNECTING: Counter[str] = Counter()
#: the same calls, each marked when a stop signal comes while it is under way
_UNDER_WAY: list[Connect] = []
#: whether stop signals stay ignored once :func:`stop_on_signals` is over
_ignore_after = False


@contextmanager
def connecting(name: str) -> Iterator[Connect]:
    """Around a connect call of tunnel ``name``: until remote.it answers, the proxy it
    may be making has no ID anyone could stop it by."""
    call = Connect(name)
    CONNECTING[name] += 1
    _UNDER_WAY.append(call)
    try:
        yield call
    finally:
        _UNDER_WAY.remove(call)
        CONNECTING[name] -= 1
        if CONNECTING[name] <= 0:
            del CONNECTING[name]


def ignore_stop_signals_after() -> None:
    """A process whose work ends with :func:`stop_on_signals` (a tunnel command) calls
    this first: stop signals that come once the watcher is over are then ignored until
    the process exits (a shell or systemd may send several)."""
    global _ignore_after
    _ignore_after = True


def stopping_line(signum: int) -> str:
    """What the first stop signal says; connects under way are marked as awaited."""
    for call in _UNDER_WAY:
        call.awaited = True
    sig = signal.Signals(signum).name
    names = sorted({call.name for call in _UNDER_WAY})
    if not names:
        return f"{sig}: stopping (again to force)"
    return (
        f"{sig}: stopping; waiting for remote.it's answer to the connect of "
        f"{', '.join(names)} so its proxy can be stopped (again to force)"
    )


def forced_exit_warnings() -> list[str]:
    """What a forced exit says: a proxy being made cannot be found by ``cleanup``."""
    out = [
        f"{name}: remote.it had not answered a connect call; the proxy it may have made "
        "cannot be found by `rittunnel cleanup` (its ID never arrived)"
        for name in sorted(CONNECTING)
    ]
    return [*out, "forced exit: proxies may be left open; `rittunnel cleanup`"]


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
    with _ignored_at_end() as early, trio.open_signal_receiver(*watched) as receiver:
        for signum in early:  # came just before trio's handlers were in place
            signal.raise_signal(signum)
        early.clear()
        async with trio.open_nursery() as nursery:
            body = trio.CancelScope()

            async def watch() -> None:
                async for signum in receiver:
                    if signum == signal.SIGUSR1 and on_usr1 is not None:
                        on_usr1()
                    elif forward is not None and forward(signum):
                        continue
                    elif stop.settled:
                        continue  # teardown is over: nothing to stop or to force
                    elif stop.signal is None:
                        stop.signal = signum
                        if on_stop is not None:
                            on_stop(signum)
                        body.cancel()
                        reporter.clear_status()  # a spinner must not linger: it is over
                        reporter.info(stopping_line(signum))
                    elif signum != signal.SIGHUP:
                        # Teardown runs shielded, so nothing can cancel it from here.
                        for text in forced_exit_warnings():
                            reporter.warn(text)
                        os._exit(FORCED_EXIT)

            nursery.start_soon(watch)
            try:
                with body:
                    yield stop
            finally:
                nursery.cancel_scope.cancel()


@contextmanager
def _ignored_at_end() -> Iterator[list[int]]:
    """Around trio's signal receiver: with :func:`ignore_stop_signals_after`, stop
    signals are ignored once the block ends. trio puts back the handlers it found, so
    it finds a Python one here, which only notes a signal, rather than the default,
    which kills: no signal that comes as the receiver closes can end the process. The
    caller passes on (re-raises) what was noted before trio's receiver took over."""
    noted: list[int] = []
    if not _ignore_after:
        yield noted
        return
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, _: noted.append(signum))
    try:
        yield noted
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
