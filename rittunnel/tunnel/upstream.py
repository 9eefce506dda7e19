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

import socket
import time
from collections.abc import Callable
from typing import Protocol

import trio

from ..errors import ApiError, ApiRefused, ApiUnavailable
from ..net import open_tcp
from ..profiles import Profile
from ..remoteit.accounts import Account
from ..remoteit.client import ApiClient
from ..remoteit.protocol import PortProxy, ReverseProxy
from ..report import Reporter
from ..settings import STOP_TIMEOUT
from .lease import Lease, backoff_delays, is_expired, lease_from

#: how long one TCP connect to a proxy may take
UPSTREAM_CONNECT_TIMEOUT = 10.0


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
        self.stop_timeout = stop_timeout
        self.profile = profile
        self.reporter = reporter
        self.on_change = on_change
        self.current: Lease | None = None
        self.generation = 0
        self._open: dict[str, Lease] = {}
        self._users: dict[str, int] = {}
        self._retired: set[str] = set()
        self._lock = trio.Lock()

    @property
    def open_ids(self) -> list[str]:
        return list(self._open)

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
                await self._stop(lease)

    async def fail(self, lease: Lease, why: str) -> None:
        """The proxy did not take a connection: stop using it for new clients."""
        if self.current is lease:
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
            await self._stop(lease)

    async def _create(self, deadline: float) -> Lease:
        profile = self.profile
        delays = backoff_delays()
        attempt = 1
        started = trio.current_time()
        last: ApiError = ApiUnavailable(f"connect: no answer from {self.api.host}")
        while True:
            try:
                with trio.fail_at(deadline):
                    conn = await self.api.connect(
                        profile.service, profile.mode, profile.hostip, profile.proxy
                    )
                break
            except trio.TooSlowError:
                if isinstance(last, ApiRefused) and last.offline:
                    raise self._offline(last) from None
                waited = trio.current_time() - started
                raise ApiUnavailable(
                    f"{profile.name}: no proxy from remote.it within {waited:.0f}s ({last}); "
                    "the API is slow or down, try again later"
                ) from None
            except ApiError as exc:
                last = exc
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
        return lease

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

    async def _stop(self, lease: Lease) -> None:
        cid = lease.connection_id
        if self._open.pop(cid, None) is None:
            return
        self._retired.discard(cid)
        try:
            with trio.fail_after(self.stop_timeout):
                await self.api.stop(lease.connection.service, cid)
            self.reporter.debug(f"{self.profile.name}: stopped proxy {cid}")
        except (ApiError, trio.TooSlowError) as exc:
            self.reporter.warn(
                f"{self.profile.name}: could not stop proxy {cid} ({exc}); "
                "`rittunnel cleanup` will try again"
            )
            self._open[cid] = lease  # still open as far as we know
        finally:
            self._changed()

    async def stop_all(self) -> None:
        """Stop every proxy this keeper made (teardown). Errors are reported, not raised."""
        self.current = None
        for lease in list(self._open.values()):
            await self._stop(lease)


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

        Raises :class:`ApiError` when no working proxy can be had by then."""
        while True:
            lease = await self.keeper.acquire(deadline)
            proxy = lease.connection.proxy
            if isinstance(proxy, ReverseProxy):
                return lease, None
            upstream = await self._open(proxy, lease, deadline)
            if upstream is not None:
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
        if self.keeper.open_ids:
            self.reporter.warn(
                f"{self.profile.name}: proxies still open at remote.it: "
                f"{', '.join(self.keeper.open_ids)}; run `rittunnel cleanup`"
            )
            return False
        return True
