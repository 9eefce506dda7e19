"""The tunnels of one rittunnel process, from claim to teardown.

A :class:`Tunnel` is one profile: its :class:`~rittunnel.tunnel.port.Port` in front of its
:class:`~rittunnel.tunnel.upstream.Upstream`. A :class:`Session` runs one or more of them
in one process (one nursery, one listener set each, one API client per account):

* it first stops proxies orphaned by killed tunnels, then claims a state file per
  profile (a second process for the same profile is refused) and binds every local port
  before any API call, so a taken port fails fast;
* it starts all tunnels concurrently. A failure at start-up tears the rest down and is
  raised. After start-up each tunnel is isolated: one that fails is reported, torn down
  (its proxy stopped, its state file removed) and the others keep serving. The session
  ends when its last tunnel does;
* SIGINT, SIGTERM and SIGHUP stop every tunnel (:mod:`rittunnel.tunnel.signals`);
  SIGUSR1 makes it look for stop requests (``rittunnel stop NAME`` for one tunnel of
  several); while a ``body`` runs a child process (``rittunnel run``), signals are
  forwarded to that child instead;
* it writes live counters (connections, bytes) to the state files when they change (at
  most about once a second) and when ``rittunnel status`` asks with SIGUSR1, and has no
  timer while nothing happens (:mod:`rittunnel.tunnel.flush`).
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial

import trio

from ..errors import RittunnelError
from ..profiles import Profile
from ..progress import spinner
from ..relay import Limits, Relayer
from ..remoteit.client import ApiClient
from ..remoteit.protocol import ReverseProxy
from ..report import Reporter
from ..settings import Settings
from .claims import Claim, cleanup_orphans, new_state
from .flush import INTERVAL, Flusher
from .keeper import wall_clock
from .lease import Lease
from .port import Port
from .signals import Forward, Stop, stop_on_signals
from .state import account_of
from .store import StateStore
from .trust import TrustedUrls
from .upstream import ApiClients, Upstream

#: seconds between writes of live counters to the state files while they change
FLUSH_INTERVAL = INTERVAL


@dataclass
class TunnelInfo:
    """What a running tunnel shows of itself (``run`` puts it in the command line)."""

    name: str
    addresses: list[str]
    local_port: int
    upstream: str
    mode: str
    #: the first address listened on, as a host for clients (``127.0.0.1``, ``::1``)
    host: str


class Tunnel:
    """One profile: a stable local port in front of a remote.it proxy."""

    def __init__(
        self,
        profile: Profile,
        api: ApiClient,
        reporter: Reporter,
        settings: Settings,
        relayer: Relayer,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.profile = profile
        self.reporter = reporter
        self.start_timeout = settings.start_timeout
        self.upstream = Upstream(
            profile,
            api,
            reporter,
            stop_timeout=settings.stop_timeout,
            make_timeout=settings.start_timeout,
            on_change=on_change,
        )
        self.port = Port(profile, self.upstream, reporter, relayer)
        self.ready = False
        #: called when teardown begins, before the port closes and the proxies stop
        self.on_teardown: Callable[[], None] | None = None

    @property
    def info(self) -> TunnelInfo:
        p = self.port
        return TunnelInfo(
            name=self.profile.name,
            addresses=p.addresses,
            local_port=p.local_port,
            upstream=self.upstream.proxy,
            mode=self.profile.mode,
            host=p.host,
        )

    async def run(
        self, *, task_status: trio.TaskStatus[TunnelInfo] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled. ``task_status.started(info)`` once the port is live and,
        unless ``on_demand``, the first proxy exists. Stops every proxy before returning."""
        if not self.port.listeners:
            self.port.bind()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.upstream.serve)
                lease = None
                if not self.profile.on_demand:
                    deadline = trio.current_time() + self.start_timeout
                    lease = await self.upstream.warm(deadline)
                self._say_ready(lease)
                await nursery.start(self.port.serve)
                self.ready = True
                task_status.started(self.info)
        finally:
            if self.on_teardown is not None:
                self.on_teardown()
            self.port.close()
            # "stopped" only when it is true; else stop_proxies said what is left open
            if await self.upstream.stop_proxies() and self.ready:
                self.reporter.stopped(self.profile.name)

    def _say_ready(self, lease: Lease | None) -> None:
        p, port = self.profile, self.port
        if lease is None:
            self.reporter.ready(p.name, port.addresses, port.local_port, p.mode)
            return
        proxy = lease.connection.proxy
        self.reporter.ready(
            p.name,
            port.addresses,
            port.local_port,
            p.mode,
            proxy=str(proxy),
            reverse=isinstance(proxy, ReverseProxy),
            connection_id=lease.connection_id,
            expires_in=lease.connection.expires_in,
            expires_at=wall_clock(lease.expires_at),
        )


@dataclass
class Slot:
    """One profile's tunnel and its state file."""

    tunnel: Tunnel
    claim: Claim
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    started: bool = False
    #: its teardown has begun
    stopping: bool = False
    finished: bool = False
    #: its state file says it is not ready, though it serves (see :meth:`Session.hide`)
    hidden: bool = False

    @property
    def name(self) -> str:
        return self.tunnel.profile.name


@dataclass
class Outcome:
    """How a session ended."""

    signal: int | None = None
    #: names of tunnels that failed after start-up
    failed: list[str] = field(default_factory=list)
    #: IDs of proxies that may still be open at remote.it after teardown (recorded)
    left_open: list[str] = field(default_factory=list)
    #: what the body returned (``rittunnel run``: the command's exit code)
    body_result: int | None = None


class _Started:
    """A ``task_status`` that notes the tunnel started before passing it on."""

    def __init__(self, on_started: Callable[[TunnelInfo], None]) -> None:
        self._on_started = on_started

    def started(self, value: TunnelInfo | None = None) -> None:
        assert value is not None
        self._on_started(value)


def describe(exc: BaseException) -> str:
    """A one-line account of an exception (group) for an error event."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    if isinstance(exc, RittunnelError):
        return str(exc)
    return f"internal error: {exc.__class__.__name__}: {exc}"


class Session:
    def __init__(
        self,
        profiles: list[Profile],
        clients: ApiClients,
        store: StateStore,
        reporter: Reporter,
        settings: Settings,
        *,
        relayer: Relayer | None = None,
        log: str = "",
        flush_interval: float = FLUSH_INTERVAL,
        shareable: bool = True,
    ) -> None:
        """``shareable=False``: ``stdio`` and ``run`` of the same service must not use
        these tunnels (a ``run``'s: they end with its command)."""
        self.reporter = reporter
        self.store = store
        self.settings = settings
        self.flusher = Flusher(self._look, self._write_counters, interval=flush_interval)
        self._written: dict[str, tuple[int, ...]] = {}
        self.outcome = Outcome()
        #: where signals go while a ``run`` body's child runs (its ``proc`` is set by it)
        self.forward = Forward()
        self._all_done = trio.Event()
        #: the signal watcher's view of this session (told when teardown is over)
        self._stop = Stop()
        self._clients = clients
        relayer = relayer or Relayer(Limits(max_threads=settings.relay_threads))
        #: the API URLs the user's settings name: the only ones orphans are stopped at
        self._trusted = TrustedUrls(settings)
        self.slots: list[Slot] = []
        by_name: dict[str, Slot] = {}
        for profile in profiles:
            state = new_state(profile, clients, profile.name, log=log, shareable=shareable)
            tunnel = Tunnel(
                profile,
                clients.client(account_of(state)),
                reporter,
                settings,
                relayer,
                on_change=partial(lambda name: self._record(by_name[name]), profile.name),
            )
            claim = Claim(
                store,
                state,
                clients,
                reporter,
                stop_timeout=settings.stop_timeout,
                trusted=self._trusted,
            )
            by_name[profile.name] = Slot(tunnel=tunnel, claim=claim)
            self.slots.append(by_name[profile.name])
            tunnel.on_teardown = partial(self._tearing_down, by_name[profile.name])
            tunnel.port.traffic.on_change = self.flusher.changed
        self._on_stopping: Callable[[str], None] | None = None
        self._stopping_said = False

    # -- running -------------------------------------------------------------------------

    async def run(
        self,
        *,
        on_ready: Callable[[], None] | None = None,
        body: Callable[[Session], Awaitable[int]] | None = None,
        on_stopping: Callable[[str], None] | None = None,
    ) -> Outcome:
        """Run every tunnel until a signal, or until all of them ended, or until ``body``
        (started once every tunnel is ready) returns. Errors at start-up propagate.

        ``on_ready()`` is called once every port serves; ``on_stopping(why)`` once, when
        teardown begins (a stop signal, or the last tunnel ending), before any proxy of
        the tunnels still running is stopped (``rittunnel up`` tells systemd both)."""
        self._on_stopping = on_stopping
        async with stop_on_signals(
            self.reporter,
            forward=self.forward,
            on_usr1=self._honour_stop_requests,
            on_stop=lambda signum: self._stopping(signal.Signals(signum).name),
        ) as stop:
            self._stop = stop
            await self._serve(on_ready, body)
        self.outcome.signal = stop.signal
        return self.outcome

    async def _serve(
        self,
        on_ready: Callable[[], None] | None,
        body: Callable[[Session], Awaitable[int]] | None,
    ) -> None:
        async with AsyncExitStack() as claims:
            await cleanup_orphans(
                self.store,
                self._clients,
                self.reporter,
                stop_timeout=self.settings.stop_timeout,
                trusted=self._trusted,
            )
            for slot in self.slots:
                await claims.enter_async_context(slot.claim)
            try:
                for slot in self.slots:
                    slot.tunnel.port.bind()
                async with trio.open_nursery() as tunnels:
                    tunnels.start_soon(self.flusher.run)
                    names = ", ".join(s.name for s in self.slots)
                    async with (
                        spinner(self.reporter, f"connecting {names} through remote.it"),
                        trio.open_nursery() as starting,
                    ):
                        for slot in self.slots:
                            starting.start_soon(self._start, tunnels, slot)
                    if on_ready is not None:
                        on_ready()
                    if body is not None:
                        self.outcome.body_result = await body(self)
                    else:
                        await self._all_done.wait()
                    tunnels.cancel_scope.cancel()
            finally:
                for slot in self.slots:
                    slot.tunnel.port.close()

    async def _start(self, tunnels: trio.Nursery, slot: Slot) -> None:
        await tunnels.start(self._supervise, slot)

    async def _supervise(
        self, slot: Slot, *, task_status: trio.TaskStatus[TunnelInfo] = trio.TASK_STATUS_IGNORED
    ) -> None:
        def on_started(info: TunnelInfo) -> None:
            slot.started = True
            self._record(slot)
            task_status.started(info)

        try:
            with slot.scope:
                await slot.tunnel.run(task_status=_Started(on_started))
        except Exception as exc:
            if not slot.started:
                raise
            self.outcome.failed.append(slot.name)
            self.reporter.event(
                "error",
                f"{slot.name}: {describe(exc)}; this tunnel stopped, the others keep running",
                name=slot.name,
            )
        finally:
            slot.finished = True
            self.outcome.left_open += slot.tunnel.upstream.open_ids
            self._fill(slot)
            slot.claim.release()
            if all(s.finished for s in self.slots):
                self._stop.settled = True  # every proxy stopped, or recorded for cleanup
                self._all_done.set()

    # -- state files ----------------------------------------------------------------------

    def _fill(self, slot: Slot) -> None:
        """Bring the slot's state up to date with its tunnel."""
        tunnel, state = slot.tunnel, slot.claim.state
        upstream, port = tunnel.upstream, tunnel.port
        state.proxies = upstream.open_ids
        state.local_port = port.local_port
        state.addresses = port.addresses
        state.upstream = upstream.proxy
        current = upstream.current
        state.expires_at = wall_clock(current.expires_at) if current is not None else None
        if current is not None:  # else: the last one's kind (a reverse proxy stays unfit)
            state.reverse = isinstance(current.connection.proxy, ReverseProxy)
        state.ready = slot.started and not slot.finished and not slot.hidden
        t = port.traffic
        state.connections, state.opened = t.active, t.opened
        state.bytes_up, state.bytes_down = t.totals()

    def hide(self, slot: Slot, hidden: bool) -> None:
        """Have ``slot``'s state file say it is not ready (``hidden``), or ready again,
        while it keeps serving: a tunnel about to end on its own (``stdio --persist``'s)
        first turns away whoever looks for a running tunnel (``stdio``, ``run``)."""
        slot.hidden = hidden
        self._record(slot)

    async def wait_finished(self) -> None:
        """Return once every tunnel has ended (failed, or stopped by ``stop NAME``)."""
        await self._all_done.wait()

    def _record(self, slot: Slot, *, durable: bool = True) -> None:
        self._fill(slot)
        slot.claim.record(durable=durable)

    def _counters(self, slot: Slot) -> tuple[int, ...]:
        t = slot.tunnel.port.traffic
        return (*t.totals(), t.active, t.opened)

    def _live_slots(self) -> list[Slot]:
        return [s for s in self.slots if s.started and not s.finished]

    def _look(self) -> tuple[bool, object]:
        """For the flusher: whether bytes may move unseen (a connection is open), and the
        counters of every live tunnel."""
        live = self._live_slots()
        busy = any(s.tunnel.port.traffic.active for s in live)
        return busy, [(s.name, self._counters(s)) for s in live]

    def _write_counters(self, every: bool) -> None:
        """Write the live tunnels' counters that changed (``every``: all, for ``status``)."""
        for slot in self._live_slots():
            now = self._counters(slot)
            if every or self._written.get(slot.name) != now:
                self._written[slot.name] = now
                self._record(slot, durable=False)

    # -- signals --------------------------------------------------------------------------

    def _tearing_down(self, slot: Slot) -> None:
        slot.stopping = True
        if all(s.stopping or s.finished for s in self.slots):
            self._stopping("the last tunnel ended")

    def _stopping(self, why: str) -> None:
        if self._on_stopping is not None and not self._stopping_said:
            self._stopping_said = True
            self._on_stopping(why)

    def _honour_stop_requests(self) -> None:
        """SIGUSR1: ``stop NAME`` left a stop request, or ``status`` wants counters."""
        self.flusher.ask()
        for slot in self.slots:
            if slot.started and not slot.finished and self.store.stop_requested(slot.name):
                self.reporter.info(f"{slot.name}: stop requested")
                slot.scope.cancel()
