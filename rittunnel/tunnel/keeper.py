"""The proxy keeper: remote.it's proxy connections of one tunnel, made, renewed,
retired and stopped.

:class:`ProxyKeeper` makes a proxy when a client needs it (one creation at a time however
many clients wait), retries transient API failures (when and how long to wait:
:func:`~rittunnel.tunnel.lease.retry_delay`), replaces an expired or dead proxy, and
stops every proxy it made: a replaced one as soon as no relayed connection uses it any
more (or when it expires), the rest at exit. While the tunnel runs,
:meth:`ProxyKeeper.maintain` keeps clients from waiting for remote.it (see
:func:`~rittunnel.tunnel.lease.plan`): it renews a proxy in use before it expires (over
GraphQL while it has no live connection if it can; :mod:`.cuts`), retires
one remote.it has dropped for idleness before a client is sent into it, and with
``warm: true`` makes the next one before an idle proxy is dropped, while the idle one
still serves. :class:`~rittunnel.tunnel.upstream.Upstream` puts a keeper to use.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator

import trio

from ..errors import ApiError, ApiRefused, ApiUnavailable, ProtocolError, RittunnelError
from ..profiles import Profile
from ..quantities import format_duration
from ..remoteit.client import ApiClient
from ..remoteit.protocol import Connection
from ..report import Reporter
from ..settings import STOP_TIMEOUT
from .cuts import CutWatch
from .lease import (
    REFUSAL_PAUSE,
    Lease,
    Use,
    backoff_delays,
    is_dropped,
    is_expired,
    lease_from,
    plan,
    refusal_pause,
    renewal_lead,
    retry_delay,
    retry_pace,
    usable_until,
)
from .signals import connecting
from .stopping import OpenProxies

#: the longest pause between background attempts to make a proxy that keep failing
BACKGROUND_RETRY_MAX = 300.0
#: how many recent connect times the renewal lead is based on
RECENT_CONNECTS = 5


def wall_clock(at: float | None) -> float | None:
    """A trio clock reading as a Unix time (for files and JSON), or None."""
    if at is None:
        return None
    return round(time.time() + (at - trio.current_time()), 3)


class ProxyKeeper:
    """The proxy connections of one tunnel (see module docstring).

    ``on_change`` is called (synchronously) with the IDs of every proxy that is open at
    remote.it whenever that set changes, so the caller can record them for cleanup.

    It tracks how the tunnel uses each proxy (:attr:`proxies`; for the current one,
    :meth:`use`): clients through it, since when it has had none (remote.it's idle
    timer), and when a client last came; :meth:`maintain` acts on that.
    ``make_timeout``: how long a background attempt to make a proxy retries transient
    failures.

    Nothing leaks: a connect call, once made, is awaited (shielded; the API client's
    timeout bounds it) and what it made is recorded in :attr:`proxies` before a
    cancellation takes effect, until remote.it confirms its stop. Replaced proxies are
    stopped in the background (see :class:`~rittunnel.tunnel.stopping.OpenProxies`) so
    no waiting client waits for a stop call.
    """

    def __init__(
        self,
        api: ApiClient,
        profile: Profile,
        reporter: Reporter,
        on_change: Callable[[list[str]], None] | None = None,
        *,
        stop_timeout: float = STOP_TIMEOUT,
        make_timeout: float = 30.0,
    ) -> None:
        self.api = api
        self.profile = profile
        self.reporter = reporter
        self.on_change = on_change
        self.make_timeout = make_timeout
        self.current: Lease | None = None
        self.generation = 0
        #: the proxies open at remote.it, each with its use
        self.proxies = OpenProxies(api, profile.name, reporter, self._changed, stop_timeout)
        #: proxies in a row that refused a connection (a pause before the next)
        self._refusals = 0
        self._lock = trio.Lock()
        #: when a client last came or went (None: never)
        self._last_used: float | None = None
        #: how long the recent successful creations took (seconds)
        self._connect_times: deque[float] = deque(maxlen=RECENT_CONNECTS)
        #: set while a proxy is being made (by a client or in the background): one at a time
        self._making: trio.Event | None = None
        #: set when the use changes (wakes :meth:`maintain`)
        self._changes = trio.Event()
        #: background attempts to make a proxy failed: not before this time again, and
        #: the backoff delays after it (None: the last attempt worked)
        self._behind: tuple[float, Iterator[float]] | None = None
        #: how many times :meth:`drop` was called (a background creation it overtook
        #: is dropped too)
        self._drops = 0
        self._replace_unknown = api.replacement_unknown  # GraphQL: see .cuts
        self._cuts = CutWatch()

    @property
    def open_ids(self) -> list[str]:
        return self.proxies.ids

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.open_ids)

    def _poke(self) -> None:
        self._changes.set()

    def use(self) -> Use:
        """How the tunnel uses its current proxy now."""
        lease = self.current
        held = None if lease is None else self.proxies.get(lease.connection_id)
        if held is None:
            return Use(last_used=self._last_used)
        return Use(users=held.users, idle_since=held.idle_since, last_used=self._last_used)

    async def acquire(self, deadline: float, *, use: bool = True) -> Lease:
        """A usable proxy, made if needed; counts one user until :meth:`release`.
        ``use=False``: not a client (start-up), so it does not count as the tunnel used.

        A proxy remote.it has expired or dropped for idleness is never handed out. While
        a proxy is being made (for another client, or in the background) this waits for
        it rather than making a second. Transient API failures are retried with backoff
        until ``deadline`` (trio time); then, or at once for a permanent failure, the
        :class:`ApiError` is raised."""
        async with self._lock:
            while True:
                lease = self.current
                if lease is not None:
                    why = self._why_unusable(lease, trio.current_time())
                    if why:
                        self.reporter.info(f"{self.profile.name}: {why}; making a fresh one")
                        await self._retire(lease)
                        lease = None
                if lease is not None:
                    break
                if self._making is None:
                    lease = await self._create(deadline)
                    break
                with trio.move_on_at(deadline):
                    await self._making.wait()
                if self.current is None and trio.current_time() >= deadline:
                    raise ApiUnavailable(f"{self.profile.name}: no proxy in time")
            held = self.proxies.get(lease.connection_id)
            assert held is not None  # the current proxy is always open
            held.users += 1
            held.idle_since = None
            if use:
                self._last_used = trio.current_time()
            self._poke()
            return lease

    def _why_unusable(self, lease: Lease, now: float) -> str:
        """Why no client may be sent into ``lease`` now ("" when one may)."""
        if is_expired(lease, now):
            return "proxy expired"
        held = self.proxies.get(lease.connection_id)
        if is_dropped(lease, None if held is None else held.idle_since, now):
            return _idle_drop(lease)
        return ""

    async def release(self, lease: Lease, *, use: bool = True) -> None:
        """A user of ``lease`` is done (``use``: as for :meth:`acquire`)."""
        now = trio.current_time()
        held = self.proxies.get(lease.connection_id)
        if held is not None:
            last = self.proxies.one_ended(held, now)
            if (cut := self._cuts.ended(lease.connection_id, now)) is not None:
                self.reporter.warn(f"{self.profile.name}: {cut}")
            if last and held.retired:
                await self.proxies.stop_soon(lease)
        if use:
            self._last_used = now
        self._poke()

    def worked(self) -> None:
        """A connection went through the current proxy: refusals are behind us."""
        self._refusals = 0

    async def fail(self, lease: Lease, why: str) -> None:
        """The proxy did not take a connection: stop using it for new clients."""
        if self.current is lease:
            self._refusals += 1
            self.reporter.info(
                f"{self.profile.name}: proxy {lease.connection.proxy} failed ({why})"
            )
            await self._retire(lease)

    async def drop(self, why: str) -> None:
        """Stop the current proxy (idle policy); the next client gets a fresh one."""
        async with self._lock:
            self._drops += 1
            self._last_used = None  # the tunnel counts as unused: no renewal for it
            if self.current is not None:
                self.reporter.info(f"{self.profile.name}: {why}; stopping the proxy")
                await self._retire(self.current)

    async def _retire(self, lease: Lease) -> None:
        """No new client goes to ``lease``; it is stopped once its last one is done."""
        if self.current is lease:
            self.current = None
            self._changed()
        self._poke()
        held = self.proxies.get(lease.connection_id)
        if held is not None:
            held.retired = True
            if held.users == 0:
                await self.proxies.stop_soon(lease)

    async def _create(self, deadline: float, *, background: bool = False) -> Lease:
        """Make a proxy and make it the current one (the one it replaces, if any, is
        retired: it keeps its live connections). One at a time: see :attr:`_making`.
        ``background``: nobody waits for it, so its retries are only debug lines."""
        making = self._making = trio.Event()
        started = trio.current_time()
        try:
            say = self.reporter.debug if background else None
            if self._replace_unknown and self.current is not None:  # may cut its users
                held = self.proxies.get(self.current.connection_id)
                self._cuts.connecting(self.current, 0 if held is None else held.users)
            conn: Connection | None = None
            try:
                conn = await self._connect_retrying(deadline, say, waited=not background)
            finally:
                self._cuts.answered(trio.current_time(), made=conn is not None)
            if conn.replaced is not None:
                self.reporter.warn(
                    f"{self.profile.name}: remote.it replaced an earlier proxy of this service "
                    f"({conn.replaced}); connections through it were cut"
                )
            now = trio.current_time()
            self._connect_times.append(now - started)
            lease = lease_from(conn, now, asked_at=started)
            previous, self.current = self.current, lease
            self.generation += 1
            self.proxies.add(lease, now)
            if self.generation > 1:
                self._announce_renewal(lease)
            if previous is not None:
                await self._retire(previous)
            await trio.lowlevel.checkpoint()  # cancelled meanwhile: now, with it recorded
            return lease
        finally:
            self._making = None
            making.set()

    async def _connect_retrying(
        self, deadline: float, say: Callable[[str], None] | None = None, *, waited: bool = True
    ) -> Connection:
        """One connect, transient failures retried with backoff until ``deadline`` as
        :func:`~rittunnel.tunnel.lease.retry_delay` decides; each retry is said
        (``say``: default a warning). ``waited``: a client waits for it, so a retry must
        end by ``deadline`` at the pace of :func:`~rittunnel.tunnel.lease.retry_pace`;
        in the background a backoff step that fits is enough. A connect once asked is
        still awaited (it may make a proxy), up to the API timeout."""
        say = say or self.reporter.warn
        await self._pause_after_refusals(deadline)
        delays = backoff_delays()
        attempt = 1
        while True:
            began = trio.current_time()
            try:
                return await self._connect()
            except ApiError as exc:
                now = trio.current_time()
                delay = retry_delay(
                    transient=exc.transient,
                    step=next(delays),
                    retry_after=getattr(exc, "retry_after", None),
                    now=now,
                    deadline=deadline,
                    pace=retry_pace(now - began, self._connect_times) if waited else None,
                )
                if delay is None:
                    if isinstance(exc, ApiRefused) and exc.offline:
                        raise self._offline(exc) from None
                    raise
                say(f"{exc} (attempt {attempt}; retrying in {delay:.1f}s)")
                attempt += 1
                await trio.sleep(delay)

    # -- in the background: renewal, idle drops, warm ------------------------------------

    async def maintain(self) -> None:
        """Act on :func:`~rittunnel.tunnel.lease.plan` until cancelled: retire a proxy
        remote.it has dropped (or is about to expire), make the next one before a client
        needs it (a renewal while the current one still serves), and stop a replaced
        proxy that still has connections when it expires. Runs in the tunnel's nursery
        (:meth:`~rittunnel.tunnel.upstream.Upstream.serve`); a failed background attempt
        is said and tried again with backoff, clients making proxies on their own time
        as before."""
        while True:
            self._changes = trio.Event()
            if self._making is not None:
                await self._making.wait()
                continue
            now = trio.current_time()
            lease = self.current
            step = plan(
                lease,
                self.use(),
                now=now,
                warm=self.profile.warm,
                lead=renewal_lead(self._connect_times),
                replace_unknown=self._replace_unknown,
            )
            if step.retire and lease is not None:
                self._say_retired(step.why, lease, step.make)
                await self._retire(lease)
            wake = min(step.wake_at, await self.proxies.stop_expired_retired(now))
            if step.make:
                retry_at = 0.0 if self._behind is None else self._behind[0]
                if now >= retry_at:
                    await self._make_in_background(step.why)
                    continue
                wake = min(wake, retry_at)
            with trio.move_on_at(wake):
                await self._changes.wait()

    def _say_retired(self, why: str, lease: Lease, making: bool) -> None:
        name, proxy = self.profile.name, lease.connection.proxy
        what = _idle_drop(lease) if why == "idle" else f"proxy {proxy} is about to expire"
        then = "making the next one now" if making else "the next client gets a fresh one"
        self.reporter.info(f"{name}: {what}; {then}")

    async def _make_in_background(self, why: str) -> None:
        """Make the next proxy without holding up clients (they keep the current one, if
        it is usable, meanwhile). A renewal retries until the current one is unusable."""
        current = self.current
        if why == "renewal" and current is not None:
            self.reporter.debug(
                f"{self.profile.name}: renewing proxy {current.connection.proxy} before it expires"
            )
            deadline = usable_until(current)
        else:
            deadline = trio.current_time() + self.make_timeout
        drops = self._drops
        try:
            lease = await self._create(deadline, background=True)
        except RittunnelError as exc:  # an API failure, or credentials (a 2FA login)
            delays = (
                backoff_delays(base=2 * REFUSAL_PAUSE, cap=BACKGROUND_RETRY_MAX)
                if self._behind is None
                else self._behind[1]
            )
            delay = next(delays)
            self._behind = (trio.current_time() + delay, delays)
            self.reporter.warn(
                f"{self.profile.name}: could not make the next proxy ahead of time: {exc}; "
                f"trying again in {_seconds(delay)} (or when a client needs one)"
            )
            return
        self._behind = None
        if self._drops != drops:  # the idle policy stopped the tunnel's proxy meanwhile
            await self._retire(lease)

    async def _connect(self) -> Connection:
        """One connect call, shielded: once asked, remote.it may make the proxy whether or
        not we wait, so we wait for the answer (the API client's timeout bounds it). An
        answer naming a connection it cannot describe usably gets that connection
        stopped."""
        p = self.profile
        with trio.CancelScope(shield=True):
            try:
                with connecting(p.name) as call:  # a forced exit now says its ID never came
                    conn = await self.api.connect(p.service, p.mode, p.hostip, p.proxy)
            except ApiError as exc:
                cid = exc.connection_id if isinstance(exc, ProtocolError) else None
                self.proxies.answered(call.awaited, cid, exc)
                if cid:
                    await self.proxies.stop_unusable(p.service, cid)
                raise
        self.proxies.answered(call.awaited, conn.connection_id)
        return conn

    async def _pause_after_refusals(self, deadline: float) -> None:
        """After proxies that refused at once, wait before asking for another
        (:func:`~rittunnel.tunnel.lease.refusal_pause`), within ``deadline``."""
        if not self._refusals:
            return
        pause = refusal_pause(self._refusals)
        await trio.sleep_until(min(trio.current_time() + pause, deadline))
        if trio.current_time() >= deadline:
            raise ApiUnavailable(
                f"{self.profile.name}: {self._refusals} proxies in a row refused the "
                "connection; no working proxy in time (check mode/latching: a public IP "
                "that changed makes a latched proxy refuse)"
            )

    def _offline(self, exc: ApiRefused) -> ApiRefused:
        """The last word when the device never answered: it seems offline."""
        return ApiRefused(
            f"{self.profile.name}: the device seems offline or not responding ({exc}); "
            "check that it is on and online (it may be rebooting), then try again",
            exc.reason,
            offline=True,
        )

    def _announce_renewal(self, lease: Lease) -> None:
        self.reporter.renewed(
            self.profile.name,
            self.profile.mode,
            str(lease.connection.proxy),
            lease.connection_id,
            lease.connection.expires_in,
            wall_clock(lease.expires_at),
        )

    async def stop_all(self) -> None:
        """Stop every proxy this keeper made (teardown). Errors are reported, not raised;
        what could not be stopped stays in :attr:`open_ids`."""
        self.current = None
        await self.proxies.stop_all()


def _idle_drop(lease: Lease) -> str:
    """What is said of a proxy retired because remote.it drops it for idleness."""
    return (
        f"proxy {lease.connection.proxy} has had no connection for "
        f"{format_duration(lease.idle_window)}, after which remote.it drops it"
    )


def _seconds(delay: float) -> str:
    """A retry delay for people: ``0.7s``, ``12s``, ``4m10s``."""
    return f"{delay:.1f}s" if delay < 10 else format_duration(delay)
