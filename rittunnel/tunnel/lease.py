"""Timing decisions, pure: when a proxy counts as expired, how long to wait between
retries. Times are trio clock readings (``trio.current_time()``) so tests can
fast-forward them with ``autojump_clock``."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ..remoteit.protocol import Connection

#: a proxy this close to its expiry is treated as expired (a new client would be cut)
EXPIRY_MARGIN = 5.0


@dataclass(frozen=True)
class Lease:
    """A proxy connection and when, on our clock, it stops being usable."""

    connection: Connection
    created_at: float
    expires_at: float | None

    @property
    def connection_id(self) -> str:
        return self.connection.connection_id


def lease_from(connection: Connection, now: float) -> Lease:
    expires_at = None if connection.expires_in is None else now + connection.expires_in
    return Lease(connection=connection, created_at=now, expires_at=expires_at)


def is_expired(lease: Lease, now: float, margin: float = EXPIRY_MARGIN) -> bool:
    if lease.expires_at is None:
        return False
    # a very short-lived proxy must not be expired on arrival: scale the margin down
    lifetime = lease.expires_at - lease.created_at
    margin = min(margin, lifetime / 10)
    return now >= lease.expires_at - margin


def backoff_delays(
    *, base: float = 0.5, factor: float = 2.0, cap: float = 30.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Exponential backoff with "equal jitter": each delay is in [d/2, d] where d grows
    from ``base`` by ``factor`` up to ``cap``. Endless; the caller bounds it."""
    rng = rng or random.Random()
    delay = base
    while True:
        yield delay / 2 + rng.random() * delay / 2
        delay = min(cap, delay * factor)
