"""A spinner for long waits, drawn on a terminal's stderr only (see ``Reporter.status``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .report import Reporter

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
#: waits shorter than this draw nothing (no flicker for a fast API)
FIRST_DRAW = 0.25
TICK = 0.1


def frame_text(text: str, frame: int, elapsed: float) -> str:
    """The spinner's line: frame ``frame`` of the animation, ``text``, seconds waited."""
    return f"{FRAMES[frame % len(FRAMES)]} {text} {elapsed:.1f}s"


async def _spin(reporter: Reporter, text: str) -> None:
    started = trio.current_time()
    await trio.sleep(FIRST_DRAW)
    frame = 0
    while True:
        # cancelled as the sleep ended (a stop signal cleared the line): draw nothing
        await trio.lowlevel.checkpoint_if_cancelled()
        elapsed = trio.current_time() - started
        reporter.status(frame_text(text, frame, elapsed))
        frame += 1
        await trio.sleep(TICK)


@asynccontextmanager
async def spinner(reporter: Reporter, text: str) -> AsyncIterator[None]:
    """Show ``text`` with a spinner and the elapsed time while the body runs, when
    stderr is a terminal; otherwise do nothing. Lines the reporter prints meanwhile (a
    ready line, a warning) appear on lines of their own, the spinner drawn again below
    them; at the end it is erased, leaving nothing on screen."""
    if not reporter.interactive:
        yield
        return
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_spin, reporter, text)
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()
            reporter.clear_status()
