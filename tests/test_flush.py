"""When live counters are written (rittunnel.tunnel.flush): the decision alone, then the
loop under trio's MockClock (no sockets, no state files)."""

from __future__ import annotations

import itertools
import math

import pytest
import trio
import trio.testing

from rittunnel.tunnel.flush import Flusher, FlushState, next_check

CAP = 64.0


def test_nothing_open_and_nothing_pending_needs_no_timer() -> None:
    state = FlushState(last_write=5.0)
    assert next_check(state, 100.0, open_connections=False, interval=1.0, quiet_cap=CAP) == (
        math.inf
    )


def test_a_change_is_written_at_once_or_one_interval_after_the_last_write() -> None:
    state = FlushState(last_write=99.5, pending=True)
    assert next_check(state, 100.0, open_connections=True, interval=1.0, quiet_cap=CAP) == 100.5
    state.last_write = 10.0
    assert next_check(state, 100.0, open_connections=False, interval=1.0, quiet_cap=CAP) == 100.0


@pytest.mark.parametrize(("quiet", "pause"), [(0, 1.0), (1, 2.0), (3, 8.0), (6, 64.0), (500, 64.0)])
def test_open_connections_are_looked_at_less_often_while_quiet(quiet: int, pause: float) -> None:
    state = FlushState(last_write=0.0, quiet=quiet)
    assert next_check(state, 100.0, open_connections=True, interval=1.0, quiet_cap=CAP) == (
        100.0 + pause
    )


class Counters:
    """What a session's flusher looks at: open connections and a counter."""

    def __init__(self) -> None:
        self.open = 0
        self.bytes = 0
        self.writes: list[tuple[float, bool]] = []

    def look(self) -> tuple[bool, object]:
        return self.open > 0, (self.open, self.bytes)

    def write(self, every: bool) -> None:
        self.writes.append((trio.current_time(), every))


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_an_idle_tunnel_never_wakes(autojump_clock: trio.testing.MockClock) -> None:
    c = Counters()
    flusher = Flusher(c.look, c.write)
    async with trio.open_nursery() as n:
        n.start_soon(flusher.run)
        await trio.sleep(1.0)
        start = flusher.wakeups
        await trio.sleep(24 * 3600.0)  # a day with a proxy open and no connection
        assert flusher.wakeups == start
        n.cancel_scope.cancel()


async def test_connections_are_written_when_they_open_and_end(
    autojump_clock: trio.testing.MockClock,
) -> None:
    c = Counters()
    flusher = Flusher(c.look, c.write)
    async with trio.open_nursery() as n:
        n.start_soon(flusher.run)
        await trio.sleep(10.0)
        c.writes.clear()
        c.open += 1
        flusher.changed()
        await settle()
        assert [t for t, _ in c.writes] == [10.0]  # at once: the last write was long ago
        c.open -= 1
        c.bytes += 100
        flusher.changed()
        await settle()
        assert len(c.writes) == 1  # within a second of the last write: waits its turn
        await trio.sleep(1.01)  # not 1.0: the same deadline as the flusher's
        assert [t for t, _ in c.writes] == [10.0, 11.0]
        await trio.sleep(3600.0)
        assert len(c.writes) == 2
        n.cancel_scope.cancel()


async def test_busy_counters_are_written_once_a_second_and_quiet_ones_back_off(
    autojump_clock: trio.testing.MockClock,
) -> None:
    c = Counters()
    flusher = Flusher(c.look, c.write)
    async with trio.open_nursery() as n:
        n.start_soon(flusher.run)
        c.open = 1
        flusher.changed()
        await settle()
        for _ in range(10):  # bytes move (in relay threads: no one tells the flusher)
            c.bytes += 1000
            await trio.sleep(0.25)
        busy = [t for t, _ in c.writes]
        assert len(busy) >= 3
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(busy))
        c.writes.clear()
        before = flusher.wakeups
        await trio.sleep(3600.0)  # an ssh session left open, quiet, for an hour
        assert c.writes == [] or len(c.writes) == 1  # at most the last bytes
        assert flusher.wakeups - before <= 3600 / CAP + 8  # about one look a minute
        c.bytes += 1  # a keystroke: seen on the next look, and looks speed up again
        await trio.sleep(CAP)
        assert len(c.writes) >= 1
        n.cancel_scope.cancel()


async def test_status_asking_writes_everything_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    c = Counters()
    flusher = Flusher(c.look, c.write)
    async with trio.open_nursery() as n:
        n.start_soon(flusher.run)
        c.open = 1
        flusher.changed()
        await trio.sleep(0.5)
        c.writes.clear()
        flusher.ask()  # unchanged, and inside the interval: written anyway
        await settle()
        assert c.writes == [(0.5, True)]
        n.cancel_scope.cancel()
