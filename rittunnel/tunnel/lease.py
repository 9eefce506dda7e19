"""Timing decisions, pure: when a proxy counts as expired or dropped, when to renew it,
how long to wait between retries. Times are trio clock readings (``trio.current_time()``)
so tests can fast-forward them with ``autojump_clock``.

remote.it ends a proxy two ways (``docs/remoteit-api.md#lifetime``): at the end of its lifetime
(``expirationsec`` / GraphQL ``timeout``, about 8 hours), and about 15 minutes after its
last TCP connection closed (REST says how long as ``idleLeft``; GraphQL does not, so
:data:`IDLE_WINDOW` is assumed). :func:`plan` decides, from a proxy and how the tunnel
uses it, what a tunnel does next so that no client waits for remote.it when it need not:

* **renew** a proxy that is in use (or was within the idle window) before it expires:
  early enough for a connect as slow as the last ones (:func:`renewal_lead`), never before
  half its lifetime, so at most once per half-lifetime;
* **retire** a proxy remote.it has dropped for idleness, or that is about to expire, so
  no client is sent into it (at expiry, a tunnel in use makes the next one at once
  instead of on the next client's time);
* with ``warm``, make the next proxy ``lead`` before an idle proxy would be dropped (not
  before half its idle window), as a renewal: the idle one serves meanwhile, so no client
  ever waits.
* with ``replace_unknown`` (GraphQL, whose connect may replace the service's earlier
  proxy without saying so: ``docs/remoteit-api.md#graphql-replacement``), renew while
  the proxy has no live connection when it can (from half its lifetime on), else as late
  as above; :func:`cut_by_connect` tells when a connect seems to have cut the previous
  proxy's live connections.

:func:`retry_delay` decides whether a failed connect is tried again and after how long
(the backoff step, remote.it's ``Retry-After``, the caller's deadline);
:func:`refusal_pause` how long to wait after proxies that refused a connection.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..remoteit.protocol import Connection

#: a proxy this close to its expiry is treated as expired (a new client would be cut)
EXPIRY_MARGIN = 5.0
#: how long before its expiry a connection ending counts as cut by it (at most)
EXPIRY_CUT_WINDOW = 30.0
#: remote.it drops a proxy this long after its last connection closed, when the API does
#: not say (``idleLeft``): about 15 minutes
IDLE_WINDOW = 900.0
#: a renewal starts this many times the slowest recent connect before the expiry margin…
RENEW_LEAD_FACTOR = 2.0
#: …plus this many seconds
RENEW_SLACK = 1.0
#: connections through the previous proxy that all end this many seconds after a
#: connect answered (or while it was under way) were cut by it
CUT_WINDOW = 2.0
#: seconds before asking for another proxy after one refused at once (doubling)
REFUSAL_PAUSE = 0.5
REFUSAL_PAUSE_MAX = 30.0


@dataclass(frozen=True)
class Lease:
    """A proxy connection and when, on our clock, it stops being usable."""

    connection: Connection
    created_at: float
    expires_at: float | None
    #: seconds remote.it keeps it without a connection
    idle_window: float = IDLE_WINDOW
    #: when we asked for it (remote.it counts its life from between this and
    #: ``created_at``); None: at ``created_at``
    asked_at: float | None = None

    @property
    def connection_id(self) -> str:
        return self.connection.connection_id

    @property
    def lifetime(self) -> float | None:
        return None if self.expires_at is None else self.expires_at - self.created_at


def lease_from(connection: Connection, now: float, asked_at: float | None = None) -> Lease:
    expires_at = None if connection.expires_in is None else now + connection.expires_in
    idle = connection.idle_left if connection.idle_left is not None else IDLE_WINDOW
    return Lease(
        connection=connection,
        created_at=now,
        expires_at=expires_at,
        idle_window=idle,
        asked_at=asked_at,
    )


def at_its_end(lease: Lease, now: float) -> bool:
    """Whether ``now`` is in the last moments of ``lease``'s life (a fifth of it, at most
    :data:`EXPIRY_CUT_WINDOW`) or after: a connection through it that ends then was closed by
    remote.it as the proxy expired. remote.it counts its life from some time between our
    asking (``asked_at``) and its answer (which can take seconds), so the window is
    counted from the asking."""
    if lease.expires_at is None or lease.lifetime is None:
        return False
    asked = lease.created_at if lease.asked_at is None else lease.asked_at
    return now >= asked + lease.lifetime - min(EXPIRY_CUT_WINDOW, lease.lifetime / 5)


def margin_of(span: float, margin: float = EXPIRY_MARGIN) -> float:
    """The safety margin for a timer of ``span`` seconds: ``margin``, but at most a tenth
    of the span (a very short-lived proxy must not be expired on arrival)."""
    return min(margin, span / 10)


def usable_until(lease: Lease, margin: float = EXPIRY_MARGIN) -> float:
    """When new clients stop going to ``lease`` (its expiry less the margin; inf: never)."""
    lifetime = lease.lifetime
    if lease.expires_at is None or lifetime is None:
        return math.inf
    return lease.expires_at - margin_of(lifetime, margin)


def is_expired(lease: Lease, now: float, margin: float = EXPIRY_MARGIN) -> bool:
    return now >= usable_until(lease, margin)


def dropped_at(lease: Lease, idle_since: float) -> float:
    """When remote.it drops ``lease`` if no connection opens after ``idle_since`` (the
    time its last one closed, or its creation), less the margin."""
    return idle_since + lease.idle_window - margin_of(lease.idle_window)


def is_dropped(lease: Lease, idle_since: float | None, now: float) -> bool:
    """Whether remote.it has (about) dropped ``lease`` for idleness; ``idle_since`` is
    None while a connection is open through it."""
    return idle_since is not None and now >= dropped_at(lease, idle_since)


def renewal_lead(recent_connects: Iterable[float]) -> float:
    """How long before a proxy's expiry margin its renewal starts: room for a connect
    twice as slow as the slowest recent one (seconds each), plus :data:`RENEW_SLACK`."""
    return RENEW_LEAD_FACTOR * max(recent_connects, default=0.0) + RENEW_SLACK


def renew_at(lease: Lease, lead: float) -> float:
    """When to start replacing ``lease`` (inf: it does not expire): ``lead`` before it
    stops being usable, but not before half its lifetime."""
    lifetime = lease.lifetime
    if lifetime is None:
        return math.inf
    return max(lease.created_at + lifetime / 2, usable_until(lease) - lead)


@dataclass(frozen=True)
class Use:
    """How a tunnel uses its current proxy."""

    #: connections through it now
    users: int = 0
    #: when its last connection closed (its creation if none came yet); None while in use
    idle_since: float | None = None
    #: when a client last came or went on this tunnel (None: never)
    last_used: float | None = None


@dataclass(frozen=True)
class Plan:
    """What a tunnel does about its proxy now (see :func:`plan`)."""

    #: the current proxy is no use to new clients any more: retire it now
    retire: bool = False
    #: make a new proxy now (the current one, unless retired, serves meanwhile)
    make: bool = False
    #: otherwise, when to look again (inf: only when the use changes)
    wake_at: float = math.inf
    #: why (for the log): "idle", "expiring" or "renewal"; "" when nothing is done
    why: str = ""


def used_recently(lease: Lease, use: Use, now: float) -> bool:
    """Whether the tunnel is in use, or was within remote.it's idle window."""
    if use.users > 0:
        return True
    return use.last_used is not None and now - use.last_used < lease.idle_window


def plan(
    lease: Lease | None,
    use: Use,
    *,
    now: float,
    warm: bool,
    lead: float,
    replace_unknown: bool = False,
) -> Plan:
    """The next step for a tunnel's current proxy ``lease`` (None: it has none).

    A proxy dropped for idleness, or past :func:`usable_until`, is retired; a new one is
    made at once with ``warm``, or, at expiry, when the tunnel was used recently (a
    renewal that came too late). From :func:`renew_at` on, a proxy of a tunnel used
    recently (or ``warm``) is renewed: the new one is made while it still serves; with
    ``warm``, so is an idle one from ``lead`` before it would be dropped. Otherwise: look
    again at the next of those times (an unwanted proxy becomes wanted only through a
    change of use, which the caller wakes up for).

    ``replace_unknown``: a connect may cut the live connections of the proxy it renews,
    so a renewal happens from half the lifetime on as soon as the proxy has none (the
    caller wakes up when the last one ends), and with connections open only from
    :func:`renew_at` on."""
    if lease is None:
        return Plan(make=True, why="warm") if warm else Plan()
    drop = math.inf
    if use.users == 0 and use.idle_since is not None:
        drop = dropped_at(lease, use.idle_since)
    if now >= drop:
        return Plan(retire=True, make=warm, why="idle")
    until = usable_until(lease)
    wanted = warm or used_recently(lease, use, now)
    if now >= until:
        return Plan(retire=True, make=wanted, why="expiring")
    renew = renew_at(lease, lead)
    if warm and use.idle_since is not None and drop < math.inf:
        # like a renewal: lead before the drop, but not before half the idle window
        renew = min(renew, max(drop - lead, use.idle_since + lease.idle_window / 2))
    if now >= renew and wanted:
        return Plan(make=True, why="renewal")
    wake = until if now >= renew else min(renew, until)
    lifetime = lease.lifetime
    if replace_unknown and wanted and use.users == 0 and lifetime is not None:
        quiet = lease.created_at + lifetime / 2  # renewing now cuts nobody
        if now >= quiet:
            return Plan(make=True, why="renewal")
        wake = min(wake, quiet)
    return Plan(wake_at=min(wake, drop))


def cut_by_connect(live: int, ended: int, since_answer: float | None) -> bool:
    """Whether a connect seems to have cut the previous proxy's connections: ``live``
    were open through it when the connect was asked, ``ended`` of them have ended since,
    the last ``since_answer`` seconds after the connect answered (None: before it did).
    All of them ending within :data:`CUT_WINDOW` is no coincidence."""
    if live <= 0 or ended < live:
        return False
    return since_answer is None or since_answer <= CUT_WINDOW


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


def retry_delay(
    *,
    transient: bool,
    step: float,
    retry_after: float | None,
    now: float,
    deadline: float,
    pace: float | None,
) -> float | None:
    """How long to wait before trying a failed connect again, or None: give up now.

    A permanent failure is not retried. The delay is the backoff ``step``, or longer if
    remote.it asked (HTTP 429 ``Retry-After``). ``pace``: how long the retry is expected
    to take when a client waits for it (:func:`retry_pace`); a retry that would not end
    by ``deadline`` then is not started, so the client hears the error now rather than
    after one more connect. None (nobody waits: a background creation): a retry starts
    while its delay fits before ``deadline``."""
    if not transient:
        return None
    delay = max(step, retry_after or 0.0)
    if now + delay + (pace or 0.0) >= deadline:
        return None
    return delay


def retry_pace(last_attempt: float, recent_connects: Iterable[float]) -> float:
    """How long a retry is expected to take: as long as the attempt that failed
    (``last_attempt`` seconds), or the slowest recent successful connect if faster (one
    slow failure does not end a wait that recent connects fit in)."""
    slowest = max(recent_connects, default=None)
    return last_attempt if slowest is None else min(last_attempt, slowest)


def refusal_pause(refusals: int) -> float:
    """How long to wait before asking for another proxy after ``refusals`` proxies in a
    row refused a connection: none after none, then :data:`REFUSAL_PAUSE`, doubling, at
    most :data:`REFUSAL_PAUSE_MAX`."""
    if refusals <= 0:
        return 0.0
    return float(min(REFUSAL_PAUSE * 2 ** (refusals - 1), REFUSAL_PAUSE_MAX))
