"""The spinner and the lines printed while it spins: on a terminal (stdout and stderr
both on it) every line starts a line of its own, the spinner is drawn again below it, and
nothing of the spinner is left at the end. A unit test with fake terminal streams, and
an end-to-end one: the real ``rittunnel up`` in a pty."""

from __future__ import annotations

import errno
import fcntl
import io
import os
import signal
import struct
import termios
from typing import Any

import trio

from rittunnel.progress import FRAMES, spinner
from rittunnel.report import Reporter
from rittunnel.tunnel.signals import connecting, stop_on_signals

from .conftest import RITTUNNEL, World, free_port, record_output, run_cli, ssh_profile

DEADLINE = 30


class Screen:
    """A tiny terminal: printable characters overwrite at the cursor, ``\\r`` goes to
    column 0, ``\\n`` moves down a row (column kept, as a terminal does: the pty's
    ``onlcr`` turns a program's ``\\n`` into ``\\r\\n``), ``ESC [ K`` erases to the end of
    the row. Any other control sequence fails the test (the spinner uses no other)."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = [[]]
        self.row = 0
        self.col = 0

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if text.startswith("\x1b[K", i):
                del self.rows[self.row][self.col :]
                i += 3
                continue
            ch = text[i]
            i += 1
            if ch == "\r":
                self.col = 0
            elif ch == "\n":
                self.row += 1
                if self.row == len(self.rows):
                    self.rows.append([])
            elif ch < " " or ch == "\x7f":
                raise AssertionError(f"unexpected control character {ch!r} in {text!r}")
            else:
                line = self.rows[self.row]
                line.extend(" " * (self.col - len(line)))
                if self.col < len(line):
                    line[self.col] = ch
                else:
                    line.append(ch)
                self.col += 1

    @property
    def lines(self) -> list[str]:
        return ["".join(row).rstrip() for row in self.rows]


class TtyStream(io.StringIO):
    """One of a program's streams on a terminal (``onlcr`` included)."""

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.screen = screen

    def write(self, text: str) -> int:
        self.screen.feed(text.replace("\n", "\r\n"))
        return len(text)

    def isatty(self) -> bool:
        return True


def spinning(line: str) -> bool:
    return line[:1] in FRAMES or "connecting" in line


def test_screen_model() -> None:
    screen = Screen()
    screen.feed("abc\rX\x1b[K\r\ndef\nghi")
    assert screen.lines == ["X", "def", "   ghi"]


async def test_lines_on_either_stream_never_join_the_spinner(autojump_clock: Any) -> None:
    screen = Screen()
    reporter = Reporter(out=TtyStream(screen), err=TtyStream(screen))
    async with spinner(reporter, "connecting pi through remote.it"):
        await trio.sleep(1.0)
        assert spinning(screen.lines[-1])
        reporter.warn("connect: an outage")  # on stderr
        assert screen.lines[0] == "rittunnel: warning: connect: an outage"
        assert spinning(screen.lines[1])  # drawn again at once, below the line
        await trio.sleep(1.0)
        reporter.ready("pi", ["127.0.0.1:2222"], 2222, "latching", proxy="h:1")  # on stdout
        assert screen.lines[1] == "pi ready on 127.0.0.1:2222 → h:1 (latching)"
        assert spinning(screen.lines[2]) and "2.0s" in screen.lines[2]
        await trio.sleep(0.5)
    assert screen.lines == [
        "rittunnel: warning: connect: an outage",
        "pi ready on 127.0.0.1:2222 → h:1 (latching)",
        "",
    ]
    assert (screen.row, screen.col) == (2, 0)
    reporter.info("after the wait")  # nothing erased or drawn around it any more
    assert screen.lines[2:] == ["rittunnel: after the wait", ""]


async def test_no_spinner_off_a_terminal_or_when_quiet(autojump_clock: Any) -> None:
    for reporter in (
        Reporter(out=io.StringIO(), err=io.StringIO()),
        Reporter(out=io.StringIO(), err=TtyStream(Screen()), quiet=True),
        Reporter(out=io.StringIO(), err=TtyStream(Screen()), json_mode=True),
    ):
        async with spinner(reporter, "connecting"):
            await trio.sleep(1.0)
            reporter.event("ready", "pi ready")
        err = reporter.err
        assert isinstance(err, io.StringIO) and "connecting" not in err.getvalue()


def test_the_spinner_line_fits_the_terminal() -> None:
    """A status line that filled the terminal's width would wrap, and ``\\r\\x1b[K``
    would then erase only its last row: it is cut one column short."""
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 30, 0, 0))
        with open(os.dup(slave), "w", encoding="utf-8") as tty:
            reporter = Reporter(out=io.StringIO(), err=tty)
            reporter.status("⠋ connecting a-long-profile-name through remote.it 1.0s")
            reporter.clear_status()
        drawn = os.read(master, 4096).decode()
    finally:
        os.close(master)
        os.close(slave)
    line = drawn.split("\r\x1b[K")[1]
    assert line == "⠋ connecting a-long-profile-…" and len(line) == 29


# -- end to end: rittunnel up in a pty -------------------------------------------------


class PtyReader:
    """What a pty's master reads, collected until every writer is gone (Linux then
    answers EIO); ``wait_for`` blocks until some bytes are in it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.output = bytearray()
        self._changed = trio.Event()

    async def run(self) -> None:
        stream = trio.lowlevel.FdStream(self.fd)
        try:
            while True:
                try:
                    chunk = await stream.receive_some(65536)
                except trio.BrokenResourceError as exc:
                    cause = exc.__cause__
                    if isinstance(cause, OSError) and cause.errno == errno.EIO:
                        return
                    raise
                if not chunk:
                    return
                self.output += chunk
                self._changed.set()
                self._changed = trio.Event()
        finally:
            self._changed.set()
            await stream.aclose()

    async def wait_for(self, needle: bytes, proc: trio.Process) -> None:
        while needle not in self.output:
            assert proc.returncode is None, self.output.decode(errors="replace")
            await self._changed.wait()


async def test_up_in_a_pty_leaves_no_spinner_and_the_ready_line_its_own(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        world.fake.knobs.delay = 0.6  # every API answer: the spinner has time to draw
        world.fake.fail_next("connect", "html502")  # a warning while it spins
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        pty = PtyReader(master)
        record_output(lambda: pty.output.decode(errors="replace"), world.env)
        try:
            proc = await trio.lowlevel.open_process(
                [RITTUNNEL, "up", "ssh-pi"],
                env=world.env,
                stdin=-3,  # DEVNULL
                stdout=slave,
                stderr=slave,
            )
        finally:
            os.close(slave)
        try:
            async with trio.open_nursery() as reading:
                reading.start_soon(pty.run)
                await pty.wait_for(b" ready on ", proc)
                proc.send_signal(signal.SIGTERM)
                assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                with trio.CancelScope(shield=True):
                    await proc.wait()
    text = pty.output.decode()
    assert "connecting ssh-pi through remote.it" in text  # the spinner was drawn
    screen = Screen()
    screen.feed(text)
    lines = [line for line in screen.lines if line]
    assert [line for line in lines if spinning(line)] == [], screen.lines
    ready = [line for line in lines if " ready on " in line]
    assert len(ready) == 1 and ready[0].startswith("ssh-pi ready on 127.0.0.1:"), screen.lines
    warnings = [line for line in lines if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("rittunnel: warning: "), screen.lines
    assert lines[-1] == "rittunnel: ssh-pi: stopped", screen.lines
    assert world.fake.open_proxies == []


async def test_a_stop_signal_during_a_connect_clears_the_spinner_at_once() -> None:
    """Ctrl-C while a connect is unanswered: the spinner goes at once (not when remote.it
    answers), and the line says what the tunnel still waits for."""
    screen = Screen()
    reporter = Reporter(out=TtyStream(screen), err=TtyStream(screen))
    with trio.fail_after(DEADLINE):
        async with stop_on_signals(reporter) as stop, spinner(reporter, "connecting pi via r"):
            with trio.CancelScope(shield=True), connecting("pi") as call:
                while not spinning(screen.lines[-1]):
                    await trio.sleep(0.05)
                os.kill(os.getpid(), signal.SIGINT)
                while not call.awaited:
                    await trio.sleep(0.01)
                said = list(screen.lines)
                await trio.sleep(0.5)  # the spinner would have drawn again by now
                assert screen.lines == said
    assert stop.signal == signal.SIGINT
    assert said == [
        "rittunnel: SIGINT: stopping; waiting for remote.it's answer to the connect of pi "
        "so its proxy can be stopped (again to force)",
        "",
    ]


async def run_in_pty(
    world: World, *args: str, until: bytes | None = None, then: int | None = None
) -> tuple[int, str]:
    """Run ``rittunnel ARGS`` with stdout and stderr on a pty; once ``until`` is on it,
    send signal ``then``. Its exit code, and all it wrote."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))
    pty = PtyReader(master)
    record_output(lambda: pty.output.decode(errors="replace"), world.env)
    try:
        proc = await trio.lowlevel.open_process(
            [RITTUNNEL, *args], env=world.env, stdin=-3, stdout=slave, stderr=slave
        )
    finally:
        os.close(slave)
    try:
        async with trio.open_nursery() as reading:
            reading.start_soon(pty.run)
            if until is not None and then is not None:
                await pty.wait_for(until, proc)
                proc.send_signal(then)
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()
    return code, pty.output.decode()


def screen_lines(text: str) -> list[str]:
    screen = Screen()
    screen.feed(text)
    return [line for line in screen.lines if line]


async def test_ctrl_c_during_the_connect_clears_the_spinner_and_says_the_outcome(
    world: World,
) -> None:
    ssh_profile(world, free_port())
    world.fake.knobs.connect_delay = 2  # the spinner draws; the signal comes before
    with trio.fail_after(DEADLINE):
        code, text = await run_in_pty(
            world, "up", "ssh-pi", until=b"connecting ssh-pi", then=signal.SIGINT
        )
    assert code == 0, text
    lines = screen_lines(text)
    assert [line for line in lines if spinning(line)] == [], lines
    [cid] = [p.connection_id for p in world.fake._proxies.by_id.values()]
    assert lines == [
        "rittunnel: SIGINT: stopping; waiting for remote.it's answer to the connect of "
        "ssh-pi so its proxy can be stopped (again to force)",
        f"rittunnel: ssh-pi: stopped proxy {cid}",
    ], lines
    assert world.fake.open_proxies == []


async def test_sigterm_during_a_refused_connect_says_there_is_nothing_to_stop(
    world: World,
) -> None:
    ssh_profile(world, free_port())
    world.fake.fail_next("connect", "delay:2")  # answers after 2 s: refused
    with trio.fail_after(DEADLINE):
        _, text = await run_in_pty(
            world, "up", "ssh-pi", until=b"connecting ssh-pi", then=signal.SIGTERM
        )
    lines = screen_lines(text)
    assert [line for line in lines if spinning(line)] == [], lines
    assert lines[0].startswith("rittunnel: SIGTERM: stopping; waiting for remote.it's"), lines
    said = "rittunnel: ssh-pi: the connect was refused (connect: remote.it said no: delayed)"
    assert f"{said}: nothing to stop" in lines, lines
    assert world.fake.open_proxies == []


async def test_up_d_in_a_pty_shows_the_spinner_until_ready(world: World) -> None:
    ssh_profile(world, free_port())
    world.fake.knobs.connect_delay = 1.0
    try:
        with trio.fail_after(DEADLINE):
            code, text = await run_in_pty(world, "up", "-d", "ssh-pi")
        assert code == 0, text
        assert "connecting ssh-pi through remote.it" in text  # drawn while it waited
        lines = screen_lines(text)
        assert [line for line in lines if spinning(line)] == [], lines
        assert lines[0].startswith("ssh-pi ready on 127.0.0.1:"), lines
        assert lines[1].startswith("rittunnel: running in the background as pid "), lines
    finally:
        await run_cli(world.env, "stop", "ssh-pi")
