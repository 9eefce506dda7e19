"""A tunnel's life: bind the local port, get a proxy from remote.it, relay, and stop the
proxy whatever way the process ends.

* :class:`ProxyKeeper` owns the proxy connections of one tunnel. It makes one when a
  client needs it (one creation at a time however many clients wait), retries transient
  API failures with backoff, replaces an expired or dead proxy, and stops every proxy it
  made: a replaced one as soon as no relayed connection uses it any more, the rest at exit.
* :class:`Tunnel` binds the port *before* any API call, accepts local clients and hands
  each to a relay through the keeper's current proxy (or answers with a redirect for a
  reverse proxy).
* :func:`cleanup_orphans` stops the proxies of tunnels that were killed.

Running several tunnels in one process, with signals, is :mod:`rittunnel.tunnel.session`'s job.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import trio

from ..errors import ApiError, ApiRefused, ApiUnavailable, AuthError
from ..net import abort, bind_listeners, format_address, open_tcp, tune
from ..profiles import DEFAULT_BIND, Profile
from ..relay import Traffic, relay
from ..remoteit.protocol import PortProxy, ReverseProxy
from ..remoteit.rest import ApiClient
from ..report import Reporter
from ..units import format_duration
from .lease import Lease, backoff_delays, is_expired, lease_from
from .redirect import serve_redirect
from .state import StateStore, TunnelState, process_start_time

#: how long teardown may spend stopping proxies before giving up
STOP_TIMEOUT = 10.0
#: how long one upstream TCP connect may take
UPSTREAM_CONNECT_TIMEOUT = 10.0
#: how long start-up retries transient API failures before giving up
START_TIMEOUT = 15.0


def wall_clock(at: float | None) -> float | None:
    """A trio clock reading as a Unix time (for files and JSON), or None."""
    if at is None:
        return None
    return round(time.time() + (at - trio.current_time()), 3)


class ApiClients(Protocol):
    """Where a tunnel's API client comes from: one per account (API URL + credentials
    section), so a state file can name the account that must stop its proxies."""

    def locate(self, profile: Profile) -> tuple[str, str]:
        """The profile's account: (API URL, credentials section or "")."""
        ...

    def client(self, api_url: str, section: str) -> ApiClient: ...


def new_state(
    profile: Profile,
    clients: ApiClients,
    name: str,
    *,
    log: str = "",
    addresses: list[str] | None = None,
) -> TunnelState:
    """The state file of a tunnel this process runs for ``profile``, under ``name``."""
    pid = os.getpid()
    api_url, section = clients.locate(profile)
    return TunnelState(
        name=name,
        pid=pid,
        pid_started=process_start_time(pid) or 0.0,
        api_url=api_url,
        credentials=section,
        service=profile.service,
        service_name=profile.service_name,
        mode=profile.mode,
        source=profile.source,
        addresses=addresses or [],
        log=log,
    )


@dataclass
class Options:
    """Knobs that come from the command line or environment rather than the profile."""

    start_timeout: float = START_TIMEOUT
    stop_timeout: float = STOP_TIMEOUT
    upstream_connect_timeout: float = UPSTREAM_CONNECT_TIMEOUT


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
    ) -> None:
        self.api = api
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
        last = f"connect: no answer from {self.api.host}"
        while True:
            try:
                with trio.fail_at(deadline):
                    conn = await self.api.connect(profile.service, profile.mode, profile.hostip)
                break
            except trio.TooSlowError:
                waited = trio.current_time() - started
                raise ApiUnavailable(
                    f"{profile.name}: no proxy from remote.it within {waited:.0f}s ({last}); "
                    "the API is slow or down, try again later"
                ) from None
            except ApiError as exc:
                last = str(exc)
                delay = next(delays)
                if not exc.transient or trio.current_time() + delay >= deadline:
                    raise
                self.reporter.warn(f"{exc} (attempt {attempt}; retrying in {delay:.1f}s)")
                attempt += 1
                await trio.sleep(delay)
        lease = lease_from(conn, trio.current_time())
        self._open[conn.connection_id] = lease
        self.current = lease
        self.generation += 1
        self._changed()
        if self.generation > 1:
            self._announce_renewal(lease)
        return lease

    def _announce_renewal(self, lease: Lease) -> None:
        proxy = lease.connection.proxy
        expires = lease.connection.expires_in
        life = f", expires in {format_duration(expires)}" if expires is not None else ""
        self.reporter.event(
            "renewed",
            f"{self.profile.name}: new proxy {proxy} ({self.profile.mode}{life})",
            name=self.profile.name,
            upstream=str(proxy),
            connection_id=lease.connection_id,
            expires_in=expires,
            expires_at=wall_clock(lease.expires_at),
        )

    async def _stop(self, lease: Lease) -> None:
        cid = lease.connection_id
        if self._open.pop(cid, None) is None:
            return
        self._retired.discard(cid)
        try:
            with trio.fail_after(STOP_TIMEOUT):
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


@dataclass
class TunnelInfo:
    """What a running tunnel shows of itself (ready line, status)."""

    name: str
    addresses: list[str] = field(default_factory=list)
    local_port: int = 0
    upstream: str = ""
    mode: str = ""
    expires_in: float | None = None
    #: the first address listened on, as a host for clients (``127.0.0.1``, ``::1``)
    host: str = ""


class Tunnel:
    """One profile: a stable local port in front of a remote.it proxy."""

    def __init__(
        self,
        profile: Profile,
        api: ApiClient,
        reporter: Reporter,
        options: Options | None = None,
        on_change: Callable[[Tunnel], None] | None = None,
    ) -> None:
        self.profile = profile
        self.api = api
        self.reporter = reporter
        self.options = options or Options()
        self.traffic = Traffic()
        self._on_change = on_change
        self.keeper = ProxyKeeper(api, profile, reporter, on_change=self._proxies_changed)
        self.listeners: list[socket.socket] = []
        self.info = TunnelInfo(name=profile.name, mode=profile.mode)
        self._idle_since: float | None = None
        self._idle_wakeup = trio.Event()
        self.ready = False

    def _proxies_changed(self, _ids: list[str]) -> None:
        lease = self.keeper.current
        if lease is not None:
            self.info.upstream = str(lease.connection.proxy)
        if self._on_change is not None:
            self._on_change(self)

    def bind(self) -> None:
        """Bind the local port(s). Done before any API call: a taken port costs nothing."""
        p = self.profile
        optional = frozenset(DEFAULT_BIND) - {"127.0.0.1"} if p.bind_is_default else frozenset()
        self.listeners = bind_listeners(p.bind, p.local_port, optional=optional)
        self.info.host, self.info.local_port = self.listeners[0].getsockname()[:2]
        self.info.addresses = [
            format_address(s.getsockname()[0], self.info.local_port) for s in self.listeners
        ]

    def close_listeners(self) -> None:
        for s in self.listeners:
            s.close()
        self.listeners = []

    async def run(
        self, *, task_status: trio.TaskStatus[TunnelInfo] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled. ``task_status.started(info)`` once the port is live and,
        unless ``on_demand``, the first proxy exists. Stops every proxy before returning."""
        if not self.listeners:
            self.bind()
        try:
            async with trio.open_nursery() as nursery:
                if not self.profile.on_demand:
                    deadline = trio.current_time() + self.options.start_timeout
                    lease = await self.keeper.acquire(deadline)
                    await self.keeper.release(lease)
                    self._announce(lease, "ready")
                else:
                    self._announce(None, "ready")
                for listener in self.listeners:
                    nursery.start_soon(self._accept_loop, listener, nursery)
                if self.profile.idle_timeout is not None:
                    nursery.start_soon(self._idle_watch, self.profile.idle_timeout)
                self.ready = True
                task_status.started(self.info)
        finally:
            self.close_listeners()
            await self.stop_proxies()
            if self.ready:
                self.reporter.event(
                    "stopped", f"{self.profile.name}: stopped", name=self.profile.name
                )

    async def stop_proxies(self) -> bool:
        """Teardown: stop every proxy, shielded, within ``stop_timeout``. Returns whether
        all are stopped; if not, says so (the state file keeps them for ``cleanup``)."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self.options.stop_timeout
            await self.keeper.stop_all()
        if self.keeper.open_ids:
            self.reporter.warn(
                f"{self.profile.name}: proxies still open at remote.it: "
                f"{', '.join(self.keeper.open_ids)}; run `rittunnel cleanup`"
            )
            return False
        return True

    def _announce(self, lease: Lease | None, kind: str) -> None:
        p = self.profile
        where = " and ".join(self.info.addresses)
        fields: dict[str, object] = {
            "name": p.name,
            "local_port": self.info.local_port,
            "addresses": self.info.addresses,
            "mode": p.mode,
            "pid": os.getpid(),
        }
        if lease is None:
            text = f"{p.name} ready on {where} (proxy made when the first client connects)"
            fields["upstream"] = None
            self.reporter.event(kind, text, **fields)
            return
        proxy = lease.connection.proxy
        expires = lease.connection.expires_in
        self.info.upstream = str(proxy)
        self.info.expires_in = expires
        fields.update(
            upstream=str(proxy),
            connection_id=lease.connection_id,
            expires_in=expires,
            expires_at=wall_clock(lease.expires_at),
        )
        life = f", proxy expires in {format_duration(expires)}" if expires is not None else ""
        if isinstance(proxy, ReverseProxy):
            text = (
                f"{p.name} ready on {where} → {proxy.url} (reverse proxy, public URL{life}); "
                f"http://localhost:{self.info.local_port}/ redirects there"
            )
        else:
            text = f"{p.name} ready on {where} → {proxy} ({p.mode}{life})"
        self.reporter.event(kind, text, **fields)
        if p.mode == "public" and isinstance(proxy, PortProxy):
            self.reporter.warn(
                f"{p.name}: mode public: anyone who learns {proxy} can connect to the "
                "service until the proxy expires"
            )

    async def _accept_loop(self, listener: socket.socket, nursery: trio.Nursery) -> None:
        while True:
            try:
                client, peer = listener.accept()
            except BlockingIOError:
                await trio.lowlevel.wait_readable(listener)
                continue
            except OSError as exc:  # EMFILE and friends: back off instead of spinning
                self.reporter.warn(f"{self.profile.name}: accept failed: {exc.strerror}")
                await trio.sleep(0.1)
                continue
            client.setblocking(False)
            nursery.start_soon(self._handle, client, peer)

    async def _handle(self, client: socket.socket, peer: object) -> None:
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
        elif t.active == 0:
            self._idle_since = trio.current_time()
            self._idle_wakeup.set()

    async def connect(self, deadline: float) -> tuple[Lease, socket.socket | None]:
        """A proxy and, for a port proxy, a socket connected to it (``None`` for a
        reverse proxy). A proxy that does not take the connection is replaced and the next
        one tried, until ``deadline`` (trio time). The caller must release the lease.

        Raises :class:`ApiError` when no working proxy can be had by then."""
        while True:
            lease = await self.keeper.acquire(deadline)
            proxy = lease.connection.proxy
            if isinstance(proxy, ReverseProxy):
                return lease, None
            upstream = await self._open_upstream(proxy, lease, deadline)
            if upstream is not None:
                return lease, upstream
            with trio.CancelScope(shield=True):
                await self.keeper.release(lease)
            if trio.current_time() >= deadline:
                raise ApiUnavailable(
                    f"no working proxy within hold_timeout {self.profile.hold_timeout:g}s"
                )

    async def _serve_client(self, client: socket.socket, peer: object) -> None:
        name = self.profile.name
        try:
            lease, upstream = await self.connect(trio.current_time() + self.profile.hold_timeout)
        except ApiError as exc:
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
                before_up, before_down = self.traffic.up, self.traffic.down
                await relay(client, upstream, self.traffic)
                self.reporter.debug(
                    f"{name}: {peer} closed ({self.traffic.up - before_up} bytes up, "
                    f"{self.traffic.down - before_down} down)"
                )
        finally:
            with trio.CancelScope(shield=True):
                await self.keeper.release(lease)

    async def _open_upstream(
        self, proxy: PortProxy, lease: Lease, deadline: float
    ) -> socket.socket | None:
        timeout = min(
            self.options.upstream_connect_timeout, max(0.0, deadline - trio.current_time())
        )
        try:
            with trio.fail_after(timeout):
                return await open_tcp(proxy.host, proxy.port)
        except (OSError, trio.TooSlowError) as exc:
            why = "timed out" if isinstance(exc, trio.TooSlowError) else (exc.strerror or str(exc))
            with trio.CancelScope(shield=True):
                await self.keeper.fail(lease, why)
            return None

    async def _idle_watch(self, idle_timeout: float) -> None:
        self._idle_since = trio.current_time()
        while True:
            since = self._idle_since
            if since is None or self.keeper.current is None:
                self._idle_wakeup = trio.Event()
                await self._idle_wakeup.wait()
                continue
            wake_at = since + idle_timeout
            if trio.current_time() >= wake_at:
                if self.traffic.active == 0:
                    await self.keeper.drop(
                        f"no local connection for {format_duration(idle_timeout)}"
                    )
                self._idle_since = None
                continue
            with trio.move_on_at(wake_at):
                self._idle_wakeup = trio.Event()
                await self._idle_wakeup.wait()


async def cleanup_orphans(store: StateStore, clients: ApiClients, reporter: Reporter) -> int:
    """Stop the proxies of tunnels whose process is gone (``kill -9``, a crash, a reboot)
    and remove their state files. Returns how many proxies were stopped. A proxy the API
    no longer knows (it expired meanwhile) counts as gone; an API outage keeps the file
    for next time."""
    stopped = 0
    for path, state in store.orphans():
        left = []
        api = clients.client(state.api_url, state.credentials)
        for cid in state.proxies:
            try:
                with trio.fail_after(STOP_TIMEOUT):
                    await api.stop(state.service, cid)
                stopped += 1
                reporter.info(
                    f"stopped proxy {cid} left open by {state.name} (pid {state.pid} is gone)"
                )
            except ApiRefused as exc:
                if exc.transient or isinstance(exc, AuthError):
                    left.append(cid)
                    reporter.warn(f"could not stop proxy {cid} of {state.name}: {exc}")
                else:
                    reporter.debug(f"proxy {cid} of {state.name} already gone: {exc}")
            except (ApiError, trio.TooSlowError) as exc:
                left.append(cid)
                reporter.warn(f"could not stop proxy {cid} of {state.name}: {exc}")
        if left:
            state.proxies = left
            store.write(state)
        else:
            path.unlink(missing_ok=True)
    return stopped
