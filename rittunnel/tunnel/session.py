"""The tunnels of one rittunnel process, from claim to teardown.

A :class:`Session` runs one or more profiles in one process (one nursery, one listener
set each, one API client per API URL):

* it first stops proxies orphaned by killed tunnels, then claims a state file per
  profile (a second process for the same profile is refused) and binds every local port
  before any API call, so a taken port fails fast;
* it starts all tunnels concurrently. A failure at start-up tears the rest down and is
  raised. After start-up each tunnel is isolated: one that fails is reported, torn down
  (its proxy stopped, its state file removed) and the others keep serving. The session
  ends when its last tunnel does;
* SIGINT, SIGTERM and SIGHUP stop every tunnel (a second SIGINT/SIGTERM forces an exit);
  SIGUSR1 makes it look for stop requests (``rittunnel stop NAME`` for one tunnel of
  several); while a ``body`` runs a child process (``rittunnel run``), signals are
  forwarded to that child instead;
* it writes live counters (connections, bytes) to the state files about once a second
  while they change, for ``rittunnel status``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import trio

from ..errors import RittunnelError
from ..profiles import Profile
from ..progress import spinner
from ..report import Reporter
from .state import StateStore, TunnelState
from .upstream import (
    ApiClients,
    Options,
    Tunnel,
    TunnelInfo,
    cleanup_orphans,
    new_state,
    wall_clock,
)

#: seconds between writes of live counters to the state files
FLUSH_INTERVAL = 1.0

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Slot:
    """One profile's tunnel and its state file."""

    tunnel: Tunnel
    state: TunnelState
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    claimed: bool = False
    started: bool = False
    finished: bool = False

    @property
    def name(self) -> str:
        return self.tunnel.profile.name


@dataclass
class Outcome:
    """How a session ended."""

    signal: int | None = None
    #: names of tunnels that failed after start-up
    failed: list[str] = field(default_factory=list)
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
        options: Options,
        *,
        log: str = "",
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.reporter = reporter
        self.store = store
        self.options = options
        self.flush_interval = flush_interval
        self.outcome = Outcome()
        #: the child process signals are forwarded to (set by a ``run`` body)
        self.forward_to: trio.Process | None = None
        #: whether SIGINT is forwarded too (not when the terminal already sent it there)
        self.forward_sigint = True
        self._stopping = trio.CancelScope()
        self._all_done = trio.Event()
        self._clients = clients
        self.slots: list[Slot] = []
        by_name: dict[str, Slot] = {}
        for profile in profiles:
            state = new_state(profile, clients, profile.name, log=log)
            tunnel = Tunnel(
                profile,
                clients.client(state.api_url, state.credentials),
                reporter,
                options,
                on_change=lambda t: self._record(by_name[t.profile.name]),
            )
            by_name[profile.name] = Slot(tunnel=tunnel, state=state)
            self.slots.append(by_name[profile.name])

    # -- running -------------------------------------------------------------------------

    async def run(
        self,
        *,
        on_ready: Callable[[], None] | None = None,
        body: Callable[[Session], Awaitable[int]] | None = None,
    ) -> Outcome:
        """Run every tunnel until a signal, or until all of them ended, or until ``body``
        (started once every tunnel is ready) returns. Errors at start-up propagate."""
        with trio.open_signal_receiver(*STOP_SIGNALS, signal.SIGUSR1) as receiver:
            async with trio.open_nursery() as outer:
                outer.start_soon(self._watch_signals, receiver)
                try:
                    with self._stopping:
                        await self._serve(on_ready, body)
                finally:
                    outer.cancel_scope.cancel()
        return self.outcome

    async def _serve(
        self,
        on_ready: Callable[[], None] | None,
        body: Callable[[Session], Awaitable[int]] | None,
    ) -> None:
        try:
            await cleanup_orphans(self.store, self._clients, self.reporter)
            for slot in self.slots:
                await self._claim(slot)
            for slot in self.slots:
                slot.tunnel.bind()
            async with trio.open_nursery() as tunnels:
                tunnels.start_soon(self._flush_loop)
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
                slot.tunnel.close_listeners()
                if slot.claimed and not slot.finished:
                    self._release(slot)

    async def _claim(self, slot: Slot) -> None:
        previous = self.store.claim(slot.state)
        slot.claimed = True
        if previous is not None and previous.proxies:
            # a killed holder of this very profile: stop its proxies under its own name
            self.store.write(previous)
            await cleanup_orphans(self.store, self._clients, self.reporter)
        self.store.write(slot.state)

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
            self._release(slot)
            if all(s.finished for s in self.slots):
                self._all_done.set()

    def _release(self, slot: Slot) -> None:
        """The tunnel is over: remove its state file, unless proxies are left open (then
        the file stays for ``cleanup``, which will find this process gone)."""
        slot.finished = True
        if slot.tunnel.keeper.open_ids:
            self._record(slot)
        else:
            self.store.remove(slot.name)

    # -- state files ----------------------------------------------------------------------

    def _record(self, slot: Slot, *, durable: bool = True) -> None:
        tunnel, state = slot.tunnel, slot.state
        state.proxies = tunnel.keeper.open_ids
        state.local_port = tunnel.info.local_port
        state.addresses = tunnel.info.addresses
        state.upstream = tunnel.info.upstream
        current = tunnel.keeper.current
        state.expires_at = wall_clock(current.expires_at) if current is not None else None
        state.ready = slot.started and not slot.finished
        t = tunnel.traffic
        state.connections, state.opened = t.active, t.opened
        state.bytes_up, state.bytes_down = t.up, t.down
        self.store.write(state, durable=durable)

    async def _flush_loop(self) -> None:
        last: dict[str, tuple[int, int, int, int]] = {}
        while True:
            await trio.sleep(self.flush_interval)
            for slot in self.slots:
                if not slot.started or slot.finished:
                    continue
                t = slot.tunnel.traffic
                now = (t.up, t.down, t.active, t.opened)
                if last.get(slot.name) != now:
                    last[slot.name] = now
                    self._record(slot, durable=False)

    # -- signals --------------------------------------------------------------------------

    async def _watch_signals(self, receiver: AsyncIterator[int]) -> None:
        async for signum in receiver:
            if signum == signal.SIGUSR1:
                self._honour_stop_requests()
                continue
            child = self.forward_to
            if child is not None and child.returncode is None:
                if signum != signal.SIGINT or self.forward_sigint:
                    child.send_signal(signum)
                continue
            if self.outcome.signal is None:
                self.outcome.signal = signum
                self.reporter.info(f"{signal.Signals(signum).name}: stopping (again to force)")
                self._stopping.cancel()
            elif signum != signal.SIGHUP:
                # Teardown runs shielded, so nothing can cancel it from here: a second
                # Ctrl-C is the user insisting, and we leave at once.
                self.reporter.warn("forced exit: proxies may be left open; `rittunnel cleanup`")
                os._exit(130)

    def _honour_stop_requests(self) -> None:
        for slot in self.slots:
            if slot.started and not slot.finished and self.store.stop_requested(slot.name):
                self.reporter.info(f"{slot.name}: stop requested")
                slot.scope.cancel()
