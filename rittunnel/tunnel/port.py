"""The port half of a tunnel: the stable local port and its clients.

:class:`Port` binds the profile's port (before any API call: a taken port costs nothing
at remote.it), accepts local clients and serves each through the tunnel's
:class:`~rittunnel.tunnel.upstream.Upstream`: a relay to the proxy, or, for a reverse
proxy, an HTTP redirect to its URL (:mod:`rittunnel.tunnel.redirect`). It counts
connections and bytes (:class:`Traffic`) and, with ``idle_timeout``, stops the proxy when
no client has been connected for that long. :meth:`Port.wait_unused` waits for such a
quiet spell (``stdio --persist``'s tunnel then ends): no timer while a client is
connected.
"""

from __future__ import annotations

import errno
import math
import select
import socket
from collections.abc import Callable

import trio

from ..errors import RittunnelError
from ..net import abort, bind_listeners, format_address, tune
from ..profiles import DEFAULT_BIND, Profile
from ..quantities import format_duration
from ..relay import Counts, Relayer
from ..remoteit.protocol import ReverseProxy
from ..report import Reporter
from .redirect import serve_redirect
from .upstream import RESOURCE_ERRNOS, Upstream

#: ``accept`` errors about the one connection being accepted (it was reset or refused
#: before we got to it): skip it, as trio's ``SocketListener`` does
CONNECTION_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "EPERM", "ECONNABORTED", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
        "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ENOSR", "ESOCKTNOSUPPORT",
        "EPROTONOSUPPORT", "ETIMEDOUT", "ECONNRESET",
    )
    if hasattr(errno, name)
)  # fmt: skip
#: seconds the accept loop pauses after a resource error
ACCEPT_PAUSE = 0.1
#: seconds :meth:`Port.wait_unused` leaves the accept loop to take a waiting client
ACCEPT_TURN = 0.01


def unused_at(quiet_since: float | None, seconds: float) -> float:
    """When a port quiet since ``quiet_since`` (None: a client is connected) will have
    been unused for ``seconds``: ``math.inf`` while a client is connected. Pure."""
    return math.inf if quiet_since is None else quiet_since + seconds


class Traffic:
    """A tunnel's counters, read and written on the trio side only.

    Each relayed connection counts its own bytes in a :class:`~rittunnel.relay.Counts`
    (written by one relay task or thread per direction); :meth:`end` folds them into
    ``up``/``down`` when the connection is over, and :meth:`totals` adds the live ones."""

    def __init__(self) -> None:
        #: bytes of the connections that are over; up is local→remote, down remote→local
        self.up = 0
        self.down = 0
        #: connections accepted, and open now
        self.opened = 0
        self.active = 0
        self._live: dict[int, Counts] = {}
        #: called (trio side) when a connection opens or ends: the state file's cue
        self.on_change: Callable[[], None] | None = None

    def changed(self) -> None:
        """A connection opened or ended: tell whoever writes the counters down."""
        if self.on_change is not None:
            self.on_change()

    def begin(self) -> Counts:
        """A connection is being relayed: the counts its relay writes to."""
        counts = Counts()
        self._live[id(counts)] = counts
        return counts

    def end(self, counts: Counts) -> None:
        """The connection is over: fold its bytes into the totals."""
        if self._live.pop(id(counts), None) is not None:
            self.up += counts.up
            self.down += counts.down

    def totals(self) -> tuple[int, int]:
        """Bytes up and down so far, live connections included."""
        live = list(self._live.values())
        return self.up + sum(c.up for c in live), self.down + sum(c.down for c in live)


class Port:
    """One profile's local port in front of its upstream (see module docstring)."""

    def __init__(
        self, profile: Profile, upstream: Upstream, reporter: Reporter, relayer: Relayer
    ) -> None:
        self.profile = profile
        self.upstream = upstream
        self.reporter = reporter
        self.relayer = relayer
        self.traffic = Traffic()
        self.listeners: list[socket.socket] = []
        #: the first address listened on, as a host for clients (``127.0.0.1``, ``::1``)
        self.host = ""
        self.local_port = 0
        #: every address listened on, as ``host:port``
        self.addresses: list[str] = []
        self._idle_since: float | None = None
        self._idle_wakeup = trio.Event()
        #: when the last client left, or serving began (trio clock); None while one is
        #: connected
        self.quiet_since: float | None = None
        self._activity_wakeup = trio.Event()

    def bind(self) -> None:
        """Bind the local port(s). Done before any API call: a taken port costs nothing."""
        p = self.profile
        optional = frozenset(DEFAULT_BIND) - {"127.0.0.1"} if p.bind_is_default else frozenset()
        self.listeners = bind_listeners(p.bind, p.local_port, optional=optional)
        self.host, self.local_port = self.listeners[0].getsockname()[:2]
        self.addresses = [
            format_address(s.getsockname()[0], self.local_port) for s in self.listeners
        ]

    def close(self) -> None:
        for s in self.listeners:
            s.close()
        self.listeners = []

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept and serve clients until cancelled (binding first if not bound);
        ``task_status.started()`` once accepting. Closes the listeners when it ends."""
        if not self.listeners:
            self.bind()
        if self.traffic.active == 0:
            self.quiet_since = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                for listener in self.listeners:
                    nursery.start_soon(self._accept_loop, listener, nursery)
                if self.profile.idle_timeout is not None:
                    nursery.start_soon(self._idle_watch, self.profile.idle_timeout)
                task_status.started()
        finally:
            self.close()

    async def _accept_loop(self, listener: socket.socket, nursery: trio.Nursery) -> None:
        while True:
            try:
                client, peer = listener.accept()
            except BlockingIOError:
                await trio.lowlevel.wait_readable(listener)
                continue
            except OSError as exc:
                if exc.errno in CONNECTION_ERRNOS:  # that client is gone already
                    self.reporter.debug(f"{self.profile.name}: accept: {exc.strerror}")
                    continue
                if exc.errno not in RESOURCE_ERRNOS:  # the process or system is out of fds
                    raise  # or memory: pause and try again, as trio's serve_listeners does
                self.reporter.warn(f"{self.profile.name}: accept failed: {exc.strerror}")
                await trio.sleep(ACCEPT_PAUSE)  # wait for fds or memory instead of spinning
                continue
            client.setblocking(False)
            nursery.start_soon(self._handle, client, format_address(*peer[:2]))

    async def _handle(self, client: socket.socket, peer: str) -> None:
        with client:
            tune(client)
            self._activity(+1)
            try:
                await self._serve_client(client, peer)
            finally:
                self._activity(-1)

    def _activity(self, delta: int) -> None:
        t = self.traffic
        t.active += delta
        if delta > 0:
            t.opened += 1
            self._idle_since = None
            self.quiet_since = None
        elif t.active == 0:
            self._idle_since = self.quiet_since = trio.current_time()
            self._idle_wakeup.set()
        self._activity_wakeup.set()
        t.changed()

    def waiting(self) -> bool:
        """Whether a client waits to be accepted (connected, not yet taken)."""
        if not self.listeners:
            return False
        try:
            readable, _, _ = select.select(self.listeners, [], [], 0)
        except (OSError, ValueError):  # closed meanwhile
            return False
        return bool(readable)

    async def wait_unused(self, seconds: float) -> None:
        """Return once no client has been connected for ``seconds`` (counted from when
        serving began, or the last one left) and none waits to be accepted. Sleeps until
        then, or until a client comes or goes; no wake-up while one is connected."""
        while True:
            at = unused_at(self.quiet_since, seconds)
            now = trio.current_time()
            if now >= at:
                if not self.waiting():
                    return
                at = now + ACCEPT_TURN  # the accept loop takes it: look again then
            self._activity_wakeup = trio.Event()
            with trio.move_on_at(at):
                await self._activity_wakeup.wait()

    async def _serve_client(self, client: socket.socket, peer: str) -> None:
        name = self.profile.name
        try:
            lease, upstream = await self.upstream.connect(
                trio.current_time() + self.profile.hold_timeout
            )
        except RittunnelError as exc:  # no proxy (API, credentials) or no fds
            self.reporter.warn(f"{name}: no proxy for a client from {peer}: {exc}")
            abort(client)
            return
        try:
            proxy = lease.connection.proxy
            if upstream is None:
                assert isinstance(proxy, ReverseProxy)
                await serve_redirect(client, proxy.url)
                return
            with upstream:
                self.reporter.debug(f"{name}: {peer} connected via {proxy}")
                counts = self.traffic.begin()
                try:
                    await self.relayer.relay(client, upstream, counts)
                finally:
                    self.traffic.end(counts)
                self.reporter.debug(
                    f"{name}: {peer} closed ({counts.up} bytes up, {counts.down} down)"
                )
        finally:
            await self.upstream.release(lease)

    async def _idle_watch(self, idle_timeout: float) -> None:
        self._idle_since = trio.current_time()
        while True:
            since = self._idle_since
            if since is None or self.upstream.current is None:
                self._idle_wakeup = trio.Event()
                await self._idle_wakeup.wait()
                continue
            wake_at = since + idle_timeout
            if trio.current_time() >= wake_at:
                if self.traffic.active == 0:
                    await self.upstream.drop(
                        f"no local connection for {format_duration(idle_timeout)}"
                    )
                self._idle_since = None
                continue
            with trio.move_on_at(wake_at):
                self._idle_wakeup = trio.Event()
                await self._idle_wakeup.wait()
