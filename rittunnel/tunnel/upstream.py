"""The upstream half of a tunnel: remote.it's proxy for one profile, and TCP connections
through it.

* :class:`ProxyKeeper` owns the proxy connections of one tunnel. It makes one when a
  client needs it (one creation at a time however many clients wait), retries transient
  API failures with backoff, replaces an expired or dead proxy, and stops every proxy it
  made: a replaced one as soon as no relayed connection uses it any more (or when it
  expires), the rest at exit. While the tunnel runs, :meth:`ProxyKeeper.maintain` keeps
  clients from waiting for remote.it (see :func:`~rittunnel.tunnel.lease.plan`): it renews
  a proxy in use before it expires, retires one remote.it has dropped for idleness before
  a client is sent into it, and with ``warm: true`` makes the next one before an idle
  proxy is dropped, while the idle one still serves.
* :class:`Upstream` puts a keeper to use: :meth:`Upstream.connect` gives a proxy and a
  socket connected through it (trying the next proxy when one does not take the
  connection), :meth:`Upstream.stop_proxies` is the teardown. ``stdio`` uses this half
  alone; a tunnel with a local port adds :class:`~rittunnel.tunnel.port.Port`.
"""

from __future__ import annotations

import errno
import math
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol

import trio

from ..errors import (
    ApiError,
    ApiRefused,
    ApiUnavailable,
    LocalResourceError,
    ProtocolError,
    RittunnelError,
)
from ..net import open_tcp
from ..profiles import Profile
from ..remoteit.accounts import Account
from ..remoteit.client import ApiClient
from ..remoteit.protocol import Connection, PortProxy, ReverseProxy, is_gone
from ..report import Reporter
from ..settings import STOP_TIMEOUT
from ..units import format_duration
from .lease import (
    Lease,
    Use,
    backoff_delays,
    is_dropped,
    is_expired,
    lease_from,
    plan,
    renewal_lead,
    usable_until,
)

#: how long one TCP connect to a proxy may take
UPSTREAM_CONNECT_TIMEOUT = 10.0
#: seconds before asking for another proxy after one refused at once (doubling)
REFUSAL_PAUSE = 0.5
REFUSAL_PAUSE_MAX = 30.0
#: the longest pause between background attempts to make a proxy that keep failing
BACKGROUND_RETRY_MAX = 300.0
#: how many recent connect times the renewal lead is based on
RECENT_CONNECTS = 5
#: errors that say this machine is out of something (not the proxy's fault)
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def wall_clock(at: float | None) -> float | None:
    """A trio clock reading as a Unix time (for files and JSON), or None."""
    if at is None:
        return None
    return round(time.time() + (at - trio.current_time()), 3)


class ApiClients(Protocol):
    """Where a tunnel's API client comes from: one per account (API, URL, credentials
    section), so a state file can name the account that must stop its proxies."""

    def locate(self, profile: Profile) -> Account:
        """The profile's account."""
        ...

    def client(self, account: Account) -> ApiClient: ...


class ProxyKeeper:
    """The proxy connections of one tunnel (see module docstring).

    ``on_change`` is called (synchronously) with the IDs of every proxy that is open at
    remote.it whenever that set changes, so the caller can record them for cleanup.

    It tracks how the tunnel uses its current proxy (:class:`~rittunnel.tunnel.lease.Use`):
    clients through it, since when it has had none (remote.it's idle timer), when a client
    last came; :meth:`maintain` acts on that. ``make_timeout``: how long a background
    attempt to make a proxy retries transient failures.

    Nothing leaks: a connect call, once made, is awaited (shielded; the API client's
    timeout bounds it) and what it made is recorded before a cancellation takes effect;
    an ID leaves :attr:`open_ids` only when remote.it confirmed the stop, or said that
    connection no longer exists (it expired, or was killed). Replaced proxies are stopped
    in :attr:`background` (a nursery the tunnel runs, see :meth:`Upstream.serve`) so no
    waiting client waits for a stop call; without one they are stopped inline.
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
        self.stop_timeout = stop_timeout
        self.make_timeout = make_timeout
        self.current: Lease | None = None
        self.generation = 0
        #: where replaced proxies are stopped (None: inline)
        self.background: trio.Nursery | None = None
        self._open: dict[str, Lease] = {}
        #: connections remote.it made but answered unusably: stopped, recorded until then
        self._unusable: set[str] = set()
        self._users: dict[str, int] = {}
        self._retired: set[str] = set()
        self._stopping: set[str] = set()
        #: IDs already said to be maybe open (once is enough)
        self.warned: set[str] = set()
        #: proxies in a row that refused a connection (backoff before the next)
        self._refusals = 0
        self._lock = trio.Lock()
        #: per proxy with no connection through it: since when (remote.it's idle timer)
        self._idle_since: dict[str, float] = {}
        #: when a client last came or went (None: never)
        self._last_used: float | None = None
        #: how long the recent successful creations took (seconds)
        self._connect_times: deque[float] = deque(maxlen=RECENT_CONNECTS)
        #: set while a proxy is being made (by a client or in the background): one at a time
        self._making: trio.Event | None = None
        #: set when the use changes (wakes :meth:`maintain`)
        self._changes = trio.Event()
        #: background attempts to make a proxy failed: not before this time again
        self._retry_at = 0.0
        self._retry_delays: Iterator[float] | None = None
        #: how many times :meth:`drop` was called (a background creation it overtook
        #: is dropped too)
        self._drops = 0

    @property
    def open_ids(self) -> list[str]:
        return [*self._open, *self._unusable]

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.open_ids)

    def _poke(self) -> None:
        self._changes.set()

    def use(self) -> Use:
        """How the tunnel uses its current proxy now."""
        lease = self.current
        if lease is None:
            return Use(last_used=self._last_used)
        cid = lease.connection_id
        return Use(
            users=self._users.get(cid, 0),
            idle_since=self._idle_since.get(cid),
            last_used=self._last_used,
        )

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
            cid = lease.connection_id
            self._users[cid] = self._users.get(cid, 0) + 1
            self._idle_since.pop(cid, None)
            if use:
                self._last_used = trio.current_time()
            self._poke()
            return lease

    def _why_unusable(self, lease: Lease, now: float) -> str:
        """Why no client may be sent into ``lease`` now ("" when one may)."""
        if is_expired(lease, now):
            return "proxy expired"
        if is_dropped(lease, self._idle_since.get(lease.connection_id), now):
            return _idle_drop(lease)
        return ""

    async def release(self, lease: Lease, *, use: bool = True) -> None:
        """A user of ``lease`` is done (``use``: as for :meth:`acquire`)."""
        cid = lease.connection_id
        now = trio.current_time()
        self._users[cid] = self._users.get(cid, 1) - 1
        if self._users[cid] <= 0:
            del self._users[cid]
            if cid in self._open:
                self._idle_since[cid] = now
            if cid in self._retired:
                await self._stop_soon(lease)
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
        self._retired.add(lease.connection_id)
        self._poke()
        if self._users.get(lease.connection_id, 0) == 0:
            await self._stop_soon(lease)

    async def _create(self, deadline: float, *, background: bool = False) -> Lease:
        """Make a proxy and make it the current one (the one it replaces, if any, is
        retired: it keeps its live connections). One at a time: see :attr:`_making`.
        ``background``: nobody waits for it, so its retries are only debug lines."""
        making = self._making = trio.Event()
        started = trio.current_time()
        try:
            say = self.reporter.debug if background else None
            conn = await self._connect_retrying(deadline, say, waited=not background)
            if conn.replaced is not None:
                self.reporter.warn(
                    f"{self.profile.name}: remote.it replaced an earlier proxy of this service "
                    f"({conn.replaced}); connections through it were cut"
                )
            now = trio.current_time()
            self._connect_times.append(now - started)
            lease = lease_from(conn, now)
            self._open[conn.connection_id] = lease
            self._idle_since[conn.connection_id] = now  # remote.it's idle timer starts now
            previous, self.current = self.current, lease
            self.generation += 1
            self._changed()
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
        """One connect, transient failures retried with backoff until ``deadline``; each
        retry is said (``say``: default a warning). ``waited``: a client waits for it, so
        a retry that would not end by ``deadline`` at the pace of the last attempt (or of
        the slowest recent connect, if faster) is not started: the client hears the error
        then rather than after one more connect. A connect once asked is still awaited
        (it may make a proxy), up to the API timeout. In the background (``waited``
        False) retries go on while a backoff step fits before ``deadline``."""
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
                # remote.it may ask how long to wait (HTTP 429 Retry-After): at least that
                delay = max(next(delays), getattr(exc, "retry_after", None) or 0.0)
                pace = now - began
                if self._connect_times:
                    pace = min(pace, max(self._connect_times))
                if not exc.transient or now + delay + (pace if waited else 0.0) >= deadline:
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
        (:meth:`Upstream.serve`); a failed background attempt is said and tried again with
        backoff, while clients keep making proxies on their own time as before."""
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
            )
            if step.retire and lease is not None:
                self._say_retired(step.why, lease, step.make)
                await self._retire(lease)
            wake = min(step.wake_at, await self._stop_expired_retired(now))
            if step.make:
                if now >= self._retry_at:
                    await self._make_in_background(step.why)
                    continue
                wake = min(wake, self._retry_at)
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
            delays = self._retry_delays = self._retry_delays or backoff_delays(
                base=2 * REFUSAL_PAUSE, cap=BACKGROUND_RETRY_MAX
            )
            delay = next(delays)
            self._retry_at = trio.current_time() + delay
            self.reporter.warn(
                f"{self.profile.name}: could not make the next proxy ahead of time: {exc}; "
                f"trying again in {_seconds(delay)} (or when a client needs one)"
            )
            return
        self._retry_delays = None
        self._retry_at = 0.0
        if self._drops != drops:  # the idle policy stopped the tunnel's proxy meanwhile
            await self._retire(lease)

    async def _stop_expired_retired(self, now: float) -> float:
        """Stop replaced proxies that still have connections once they expire (remote.it
        cuts those then); return when the next one expires (inf: none)."""
        wake = math.inf
        for cid in list(self._retired):
            lease = self._open.get(cid)
            if lease is None or lease.expires_at is None:
                continue
            if cid in self._stopping or cid in self.warned or not self._users.get(cid):
                continue  # being stopped, failed to stop (left for teardown), or unused
            if now >= lease.expires_at:
                await self._stop_soon(lease)
            else:
                wake = min(wake, lease.expires_at)
        return wake

    async def _connect(self) -> Connection:
        """One connect call, shielded: once asked, remote.it may make the proxy whether or
        not we wait, so we wait for the answer (the API client's timeout bounds it). An
        answer naming a connection it cannot describe usably gets that connection
        stopped."""
        p = self.profile
        with trio.CancelScope(shield=True):
            try:
                conn = await self.api.connect(p.service, p.mode, p.hostip, p.proxy)
            except ProtocolError as exc:
                if exc.connection_id:
                    await self._stop_unusable(exc.connection_id)
                raise
        return conn

    async def _pause_after_refusals(self, deadline: float) -> None:
        """After proxies that refused at once, wait before asking for another (0.5 s,
        doubling, at most :data:`REFUSAL_PAUSE_MAX`), within ``deadline``."""
        if not self._refusals:
            return
        pause = min(REFUSAL_PAUSE * 2 ** (self._refusals - 1), REFUSAL_PAUSE_MAX)
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

    async def _stop_soon(self, lease: Lease) -> None:
        if self.background is not None:
            self.background.start_soon(self._stop, lease)
        else:
            await self._stop(lease)

    async def _stop(self, lease: Lease) -> None:
        cid = lease.connection_id
        if cid not in self._open or cid in self._stopping:
            return
        self._stopping.add(cid)
        try:
            stopped = await self._stop_call(lease.connection.service, cid)
        finally:
            self._stopping.discard(cid)
        if stopped:
            self._open.pop(cid, None)
            self._retired.discard(cid)
            self._idle_since.pop(cid, None)
            self._changed()

    async def _stop_unusable(self, cid: str) -> None:
        """Stop a connection remote.it made but described unusably; it is recorded
        before the stop call (in case that never returns) and until it succeeds."""
        if cid not in self._unusable:
            self._unusable.add(cid)
            self._changed()
        if await self._stop_call(self.profile.service, cid):
            self._unusable.discard(cid)
            self._changed()

    async def _stop_call(self, service: str, cid: str) -> bool:
        """Ask remote.it to stop ``cid``: True once it confirmed, or said that connection
        no longer exists; False (said, and the ID kept for ``cleanup``) otherwise."""
        name = self.profile.name
        try:
            with trio.fail_after(self.stop_timeout):
                await self.api.stop(service, cid)
        except trio.TooSlowError:
            why = f"no answer to the stop call within {self.stop_timeout:g}s"
        except ApiError as exc:
            if is_gone(exc):  # "connectionid incorrect", "not found": expired or killed
                self.reporter.debug(f"{name}: proxy {cid} is gone already ({exc})")
                return True
            why = str(exc)
        except RittunnelError as exc:  # credentials: a login that now needs 2FA, say
            why = str(exc)
        else:
            self.reporter.debug(f"{name}: stopped proxy {cid}")
            return True
        self.reporter.warn(
            f"{name}: proxy {cid} may still be open at remote.it ({why}); "
            "`rittunnel cleanup` will try again"
        )
        self.warned.add(cid)
        return False

    async def stop_all(self) -> None:
        """Stop every proxy this keeper made (teardown). Errors are reported, not raised;
        what could not be stopped stays in :attr:`open_ids`."""
        self.current = None
        for lease in list(self._open.values()):
            await self._stop(lease)
        for cid in list(self._unusable):
            await self._stop_unusable(cid)


class Upstream:
    """One profile's proxies and connections through them.

    ``on_change`` is called (synchronously) whenever the set of proxies open at remote.it
    changes, so the caller can record them for ``cleanup``."""

    def __init__(
        self,
        profile: Profile,
        api: ApiClient,
        reporter: Reporter,
        *,
        stop_timeout: float = STOP_TIMEOUT,
        make_timeout: float = 30.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.profile = profile
        self.reporter = reporter
        self._on_change = on_change
        self.keeper = ProxyKeeper(
            api,
            profile,
            reporter,
            self._changed,
            stop_timeout=stop_timeout,
            make_timeout=make_timeout,
        )
        #: the last proxy handed out, as ``host:port`` or URL ("" before the first)
        self.proxy = ""

    @property
    def open_ids(self) -> list[str]:
        """IDs of the proxies open at remote.it (to record for ``cleanup``)."""
        return self.keeper.open_ids

    @property
    def current(self) -> Lease | None:
        """The proxy new clients get, if there is one."""
        return self.keeper.current

    def _changed(self, _ids: list[str]) -> None:
        lease = self.keeper.current
        if lease is not None:
            self.proxy = str(lease.connection.proxy)
        if self._on_change is not None:
            self._on_change()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the keeper's background work (renewals, idle drops, stopping replaced
        proxies: :meth:`ProxyKeeper.maintain`) until cancelled; what it had not finished
        is done by :meth:`stop_proxies`."""
        async with trio.open_nursery() as background:
            self.keeper.background = background
            background.start_soon(self.keeper.maintain)
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self.keeper.background = None

    async def drop(self, why: str) -> None:
        """Stop the current proxy (idle policy); the next client gets a fresh one."""
        await self.keeper.drop(why)

    async def warm(self, deadline: float) -> Lease:
        """Make sure a proxy exists (start-up, unless ``on_demand``) and return it."""
        lease = await self.keeper.acquire(deadline, use=False)
        await self.keeper.release(lease, use=False)
        return lease

    async def connect(self, deadline: float) -> tuple[Lease, socket.socket | None]:
        """A proxy and, for a port proxy, a socket connected to it (``None`` for a
        reverse proxy). A proxy that does not take the connection is replaced and the next
        one tried, until ``deadline`` (trio time). The caller must :meth:`release` the
        lease.

        Raises :class:`ApiError` when no working proxy can be had by then, and
        :class:`LocalResourceError` when this machine cannot open a socket (the proxy is
        not blamed for that)."""
        while True:
            lease = await self.keeper.acquire(deadline)
            proxy = lease.connection.proxy
            if isinstance(proxy, ReverseProxy):
                return lease, None
            try:
                upstream = await self._open(proxy, lease, deadline)
            except BaseException:
                await self.release(lease)
                raise
            if upstream is not None:
                self.keeper.worked()
                return lease, upstream
            await self.release(lease)
            if trio.current_time() >= deadline:
                raise ApiUnavailable(
                    f"no working proxy within hold_timeout {self.profile.hold_timeout:g}s"
                )

    async def release(self, lease: Lease) -> None:
        """A connection through ``lease`` is over (shielded: runs while cancelled)."""
        with trio.CancelScope(shield=True):
            await self.keeper.release(lease)

    async def _open(self, proxy: PortProxy, lease: Lease, deadline: float) -> socket.socket | None:
        timeout = min(UPSTREAM_CONNECT_TIMEOUT, max(0.0, deadline - trio.current_time()))
        try:
            with trio.fail_after(timeout):
                return await open_tcp(proxy.host, proxy.port)
        except (OSError, trio.TooSlowError) as exc:
            if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
                raise LocalResourceError(
                    f"{self.profile.name}: cannot open a connection to the proxy: "
                    f"{exc.strerror} (this machine is out of file descriptors or memory)"
                ) from None
            why = "timed out" if isinstance(exc, trio.TooSlowError) else (exc.strerror or str(exc))
            with trio.CancelScope(shield=True):
                await self.keeper.fail(lease, why)
            return None

    async def stop_proxies(self) -> bool:
        """Teardown: stop every proxy, shielded, within ``stop_timeout``. Returns whether
        all are stopped; if not, says so (the state file keeps them for ``cleanup``)."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self.keeper.stop_timeout
            await self.keeper.stop_all()
        left = self.keeper.open_ids
        unsaid = [cid for cid in left if cid not in self.keeper.warned]
        if unsaid:  # teardown ran out of time before their stop calls answered
            what = "proxy" if len(unsaid) == 1 else "proxies"
            self.reporter.warn(
                f"{self.profile.name}: {what} {', '.join(unsaid)} may still be open at "
                f"remote.it (no answer to the stop call within "
                f"{self.keeper.stop_timeout:g}s); `rittunnel cleanup` will try again"
            )
        return not left


def _idle_drop(lease: Lease) -> str:
    """What is said of a proxy retired because remote.it drops it for idleness."""
    return (
        f"proxy {lease.connection.proxy} has had no connection for "
        f"{format_duration(lease.idle_window)}, after which remote.it drops it"
    )


def _seconds(delay: float) -> str:
    """A retry delay for people: ``0.7s``, ``12s``, ``4m10s``."""
    return f"{delay:.1f}s" if delay < 10 else format_duration(delay)
