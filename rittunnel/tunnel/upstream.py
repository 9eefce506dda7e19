"""The upstream half of a tunnel: remote.it's proxy for one profile, and TCP connections
through it.

:class:`Upstream` puts a :class:`~rittunnel.tunnel.keeper.ProxyKeeper` (the proxies of
one tunnel: made, renewed, retired, stopped) to use: :meth:`Upstream.connect` gives a
proxy and a socket connected through it (trying the next proxy when one does not take
the connection), :meth:`Upstream.stop_proxies` is the teardown. ``stdio`` uses this half
alone; a tunnel with a local port adds :class:`~rittunnel.tunnel.port.Port`.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Protocol

import trio

from ..errors import ApiUnavailable, LocalResourceError
from ..net import open_tcp
from ..profiles import Profile
from ..remoteit.accounts import Account
from ..remoteit.client import ApiClient
from ..remoteit.protocol import PortProxy, ReverseProxy
from ..report import Reporter
from ..settings import STOP_TIMEOUT
from .keeper import ProxyKeeper
from .lease import Lease

#: how long one TCP connect to a proxy may take
UPSTREAM_CONNECT_TIMEOUT = 10.0
#: errors that say this machine is out of something (not the proxy's fault)
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class ApiClients(Protocol):
    """Where a tunnel's API client comes from: one per account (API, URL, credentials
    section), so a state file can name the account that must stop its proxies."""

    def locate(self, profile: Profile) -> Account:
        """The profile's account."""
        ...

    def client(self, account: Account) -> ApiClient: ...


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
            self.keeper.proxies.background = background
            background.start_soon(self.keeper.maintain)
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self.keeper.proxies.background = None

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
            scope.deadline = trio.current_time() + self.keeper.proxies.stop_timeout
            await self.keeper.stop_all()
        left = self.keeper.open_ids
        unsaid = [cid for cid in left if cid not in self.keeper.proxies.warned]
        if unsaid:  # teardown ran out of time before their stop calls answered
            what = "proxy" if len(unsaid) == 1 else "proxies"
            self.reporter.warn(
                f"{self.profile.name}: {what} {', '.join(unsaid)} may still be open at "
                f"remote.it (no answer to the stop call within "
                f"{self.keeper.proxies.stop_timeout:g}s); `rittunnel cleanup` will try again"
            )
        return not left
