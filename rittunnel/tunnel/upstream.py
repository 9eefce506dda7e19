"""The upstream half of a tunnel: remote.it's proxy for one profile, and TCP connections
through it.

* :class:`ProxyKeeper` owns the proxy connections of one tunnel. It makes one when a
  client needs it (one creation at a time however many clients wait), retries transient
  API failures with backoff, replaces an expired or dead proxy, and stops every proxy it
  made: a replaced one as soon as no relayed connection uses it any more, the rest at exit.
* :class:`Upstream` puts a keeper to use: :meth:`Upstream.connect` gives a proxy and a
  socket connected through it (trying the next proxy when one does not take the
  connection), :meth:`Upstream.stop_proxies` is the teardown. ``stdio`` uses this half
  alone; a tunnel with a local port adds :class:`~rittunnel.tunnel.port.Port`.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from typing import Protocol

import trio

from ..errors import (
    ApiError,
    ApiRefused,
    ApiUnavailable,
    LocalResourceError,
    ProtocolError,
)
from ..net import open_tcp
from ..profiles import Profile
from ..remoteit.accounts import Account
from ..remoteit.client import ApiClient
from ..remoteit.protocol import Connection, PortProxy, ReverseProxy, is_gone
from ..report import Reporter
from ..settings import STOP_TIMEOUT
from .lease import Lease, backoff_delays, is_expired, lease_from

#: how long one TCP connect to a proxy may take
UPSTREAM_CONNECT_TIMEOUT = 10.0
#: seconds before asking for another proxy after one refused at once (doubling)
REFUSAL_PAUSE = 0.5
REFUSAL_PAUSE_MAX = 30.0
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
    ) -> None:
        self.api = api
        self.profile = profile
        self.reporter = reporter
        self.on_change = on_change
        self.stop_timeout = stop_timeout
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

    @property
    def open_ids(self) -> list[str]:
        return [*self._open, *self._unusable]

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.open_ids)

    async def acquire(self, deadline: float) -> Lease:
        """A usable proxy, made if needed; counts one user until :meth:`release`.

        Transient API failures are retried with backoff until ``deadline`` (trio time);
        then, or at once for a permanent failure, the :class:`ApiError` is raised."""
        async with self._lock:
            lease = self.current
            if lease is not None and is_expired(lease, trio.current_time()):
                self.reporter.info(f"{self.profile.name}: proxy expired; making a fresh one")
                await self._retire(lease)
                lease = None
            if lease is None:
                lease = await self._create(deadline)
            self._users[lease.connection_id] = self._users.get(lease.connection_id, 0) + 1
            return lease

    async def release(self, lease: Lease) -> None:
        cid = lease.connection_id
        self._users[cid] = self._users.get(cid, 1) - 1
        if self._users[cid] <= 0:
            del self._users[cid]
            if cid in self._retired:
                await self._stop_soon(lease)

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
            if self.current is not None:
                self.reporter.info(f"{self.profile.name}: {why}; stopping the proxy")
                await self._retire(self.current)

    async def _retire(self, lease: Lease) -> None:
        if self.current is lease:
            self.current = None
        self._retired.add(lease.connection_id)
        if self._users.get(lease.connection_id, 0) == 0:
            await self._stop_soon(lease)

    async def _create(self, deadline: float) -> Lease:
        profile = self.profile
        await self._pause_after_refusals(deadline)
        delays = backoff_delays()
        attempt = 1
        while True:
            try:
                conn = await self._connect()
                break
            except ApiError as exc:
                # remote.it may ask how long to wait (HTTP 429 Retry-After): at least that
                delay = max(next(delays), getattr(exc, "retry_after", None) or 0.0)
                if not exc.transient or trio.current_time() + delay >= deadline:
                    if isinstance(exc, ApiRefused) and exc.offline:
                        raise self._offline(exc) from None
                    raise
                self.reporter.warn(f"{exc} (attempt {attempt}; retrying in {delay:.1f}s)")
                attempt += 1
                await trio.sleep(delay)
        if conn.replaced is not None:
            self.reporter.warn(
                f"{profile.name}: remote.it replaced an earlier proxy of this service "
                f"({conn.replaced}); connections through it were cut"
            )
        lease = lease_from(conn, trio.current_time())
        self._open[conn.connection_id] = lease
        self.current = lease
        self.generation += 1
        self._changed()
        if self.generation > 1:
            self._announce_renewal(lease)
        await trio.lowlevel.checkpoint()  # cancelled meanwhile: now, with it recorded
        return lease

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
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.profile = profile
        self.reporter = reporter
        self._on_change = on_change
        self.keeper = ProxyKeeper(api, profile, reporter, self._changed, stop_timeout=stop_timeout)
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
        """Run the keeper's background work (stopping replaced proxies) until cancelled;
        what it had not finished is done by :meth:`stop_proxies`."""
        async with trio.open_nursery() as background:
            self.keeper.background = background
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
        lease = await self.keeper.acquire(deadline)
        await self.keeper.release(lease)
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
