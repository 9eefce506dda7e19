"""The tunnel ``stdio --persist DURATION`` leaves behind (ssh's ``ControlPersist``): a
tunnel of its own in a background process, serving one loopback port, that ends once
DURATION passes with no connection (:mod:`rittunnel.commands.persist` starts it, and
says what it is named and where it listens).

While it runs it is a tunnel like ``up -d``'s: its state file lists it in ``status``,
``stop`` stops it, and ``stdio`` and ``run`` of the same service use it
(:mod:`rittunnel.tunnel.share`): the next ssh makes no API call.

How it ends (:func:`serve_until_unused`): once no client has been connected for the
window (:meth:`~rittunnel.tunnel.port.Port.wait_unused`, no timer while one is), its
state file first says it is not ready, so that nobody looking for a running tunnel
picks it any more; if no client came within :data:`HIDE_GRACE` (one that read the file
just before is connecting by then), it ends: the session stops its proxy and removes
its state file. A client that did come puts it back to work.
"""

from __future__ import annotations

import trio

from ..quantities import format_duration
from .session import Session

#: seconds its state file says "not ready" before it ends, for a client that read the
#: file just before to connect (and keep it)
HIDE_GRACE = 0.25


async def serve_until_unused(session: Session, window: float) -> int:
    """A :class:`Session` body: return once the session's (one) tunnel has had no client
    for ``window`` seconds (see the module docstring), or has ended. Returns 0."""
    slot = session.slots[0]
    port = slot.tunnel.port
    async with trio.open_nursery() as nursery:

        async def ended() -> None:
            await session.wait_finished()
            nursery.cancel_scope.cancel()

        nursery.start_soon(ended)
        while True:
            await port.wait_unused(window)
            opened = port.traffic.opened
            session.hide(slot, True)
            await trio.sleep(HIDE_GRACE)
            if port.traffic.opened == opened and not port.waiting():
                break
            session.hide(slot, False)  # someone came: back to work
        session.reporter.info(f"{slot.name}: no connection for {format_duration(window)}; stopping")
        nursery.cancel_scope.cancel()
    return 0
