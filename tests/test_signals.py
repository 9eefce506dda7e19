"""The signal watcher: real signals sent to this process, caught by trio."""

from __future__ import annotations

import io
import os
import signal

import trio

from rittunnel.report import Reporter
from rittunnel.tunnel.signals import stop_on_signals

DEADLINE = 10


async def test_a_stop_signal_cancels_the_body_and_says_which() -> None:
    err = io.StringIO()
    torn_down = False
    with trio.fail_after(DEADLINE):
        async with stop_on_signals(Reporter(err=err)) as stop:
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                await trio.sleep(2 * DEADLINE)  # cancelled by the signal long before
            finally:
                torn_down = True
    assert stop.signal == signal.SIGTERM and torn_down
    assert err.getvalue() == "rittunnel: SIGTERM: stopping (again to force)\n"


async def test_a_body_that_ends_by_itself_has_no_signal() -> None:
    with trio.fail_after(DEADLINE):
        async with stop_on_signals(Reporter(err=io.StringIO())) as stop:
            await trio.sleep(0)
    assert stop.signal is None


async def test_forwarded_signals_and_usr1_do_not_stop_the_body() -> None:
    forwarded: list[int] = []
    usr1: list[bool] = []

    def forward(signum: int) -> bool:
        """The first signal goes to the child; after that there is none."""
        forwarded.append(signum)
        return len(forwarded) < 2

    with trio.fail_after(DEADLINE):
        async with stop_on_signals(
            Reporter(err=io.StringIO()), forward=forward, on_usr1=lambda: usr1.append(True)
        ) as stop:
            os.kill(os.getpid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGINT)  # forwarded: the body goes on
            while not (usr1 and forwarded):
                await trio.sleep(0.01)
            os.kill(os.getpid(), signal.SIGHUP)  # not forwarded any more: stops
            await trio.sleep(2 * DEADLINE)
    assert usr1 == [True] and forwarded == [signal.SIGINT, signal.SIGHUP]
    assert stop.signal == signal.SIGHUP


def test_a_forced_exit_names_the_connects_whose_ids_never_came() -> None:
    from rittunnel.tunnel.signals import connecting, forced_exit_warnings

    assert forced_exit_warnings() == ["forced exit: proxies may be left open; `rittunnel cleanup`"]
    with connecting("b"), connecting("a"), connecting("a"):
        said = forced_exit_warnings()
    assert [line.split(":")[0] for line in said[:-1]] == ["a", "b"]
    assert "its ID never arrived" in said[0] and len(said) == 3
    assert len(forced_exit_warnings()) == 1  # answered: nothing out of cleanup's reach
