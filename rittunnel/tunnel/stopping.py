"""Proxies open at remote.it, and stopping them.

* :func:`stop_proxy` is the one stop call, for a tunnel's own proxies and for
  ``cleanup`` (the proxies of a tunnel whose process is gone): what came of it, with a
  reason whenever the proxy may still be open;
* :class:`OpenProxies` is what one tunnel holds open (each :class:`Held` with its use),
  for the :class:`~rittunnel.tunnel.keeper.ProxyKeeper`: stopped when retired and
  unused, when expired, and at teardown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import trio

from ..errors import ApiError, ApiRefused, RittunnelError
from ..quantities import format_duration
from ..remoteit.client import ApiClient
from ..remoteit.protocol import is_gone
from ..report import Reporter
from .lease import Lease, at_its_end


@dataclass(frozen=True)
class Stopped:
    """What came of a stop call (see :func:`stop_proxy`)."""

    #: ``stopped``: remote.it confirmed; ``gone``: it no longer knows that connection
    #: (expired, killed, stopped meanwhile); ``left``: it may still be open
    outcome: Literal["stopped", "gone", "left"]
    #: remote.it's answer (``gone``), or why the proxy may still be open (``left``)
    detail: str = ""

    @property
    def done(self) -> bool:
        """Whether the proxy is no longer open (stopped, or gone)."""
        return self.outcome != "left"


async def stop_proxy(api: ApiClient, service: str, cid: str, timeout: float) -> Stopped:
    """Ask remote.it to stop connection ``cid`` of ``service``, waiting at most
    ``timeout`` seconds. Never raises for the API's or the credentials' failures (a
    login that now needs 2FA, say): they are a ``left`` with the reason."""
    try:
        with trio.fail_after(timeout):
            await api.stop(service, cid)
    except trio.TooSlowError:
        return Stopped("left", f"no answer to the stop call within {timeout:g}s")
    except ApiError as exc:
        if is_gone(exc):  # "connectionid incorrect", "not found": expired or killed
            return Stopped("gone", str(exc))
        return Stopped("left", str(exc))
    except RittunnelError as exc:
        return Stopped("left", str(exc))
    return Stopped("stopped")


@dataclass
class Held:
    """A proxy a tunnel made that is open at remote.it, and how the tunnel uses it."""

    lease: Lease
    #: connections through it now
    users: int = 0
    #: since when it has had no connection (remote.it's idle timer); None while in use
    idle_since: float | None = None
    #: no new client goes to it: it is stopped once its last one is done (or it expires)
    retired: bool = False
    #: its stop call is under way
    stopping: bool = False
    #: connections that ended as it expired (remote.it closed them), not said yet
    cut: int = 0
    #: its expiry's closed connections were said (once is enough)
    said: bool = False


def expired_with_users(name: str, lease: Lease, closed: int) -> str:
    """The line for a proxy that reached its end with ``closed`` connections through it:
    remote.it closes them then, and nothing a tunnel does can keep them (pure)."""
    life = "" if lease.lifetime is None else f" (this one after {format_duration(lease.lifetime)})"
    them = f"{closed} live connection" + ("" if closed == 1 else "s")
    return (
        f"{name}: proxy {lease.connection.proxy} expired and remote.it closed its {them}: "
        f"remote.it ends every proxy after about 8 hours{life}; renewal and `warm` keep "
        "new connections instant, but cannot keep old ones open"
    )


def no_proxy(name: str, exc: ApiError) -> str:
    """What is said of a connect a stop signal waited for that made no proxy (pure): a
    refusal leaves nothing to stop; no answer leaves what it may have made unknown."""
    if isinstance(exc, ApiRefused):  # remote.it answered: it made no proxy
        return f"{name}: the connect was refused ({exc}): nothing to stop"
    return (
        f"{name}: the connect failed ({exc}); a proxy remote.it may have made meanwhile "
        "cannot be found by `rittunnel cleanup` (its ID never arrived)"
    )


class OpenProxies:
    """The proxies one tunnel holds open at remote.it, and stopping them.

    ``changed`` is called (synchronously) whenever the set of open IDs (:attr:`ids`)
    changes. An ID leaves it only when remote.it confirmed the stop, or said that
    connection no longer exists (it expired, or was killed). Stops asked for with
    :meth:`stop_soon` run in :attr:`background` (a nursery the tunnel runs) so nobody
    waits for them; without one they run inline."""

    def __init__(
        self,
        api: ApiClient,
        name: str,
        reporter: Reporter,
        changed: Callable[[], None],
        stop_timeout: float,
    ) -> None:
        self.api = api
        self.name = name
        self.reporter = reporter
        self.changed = changed
        self.stop_timeout = stop_timeout
        #: every proxy made and not stopped yet, by connection ID
        self.held: dict[str, Held] = {}
        #: connections remote.it made but answered unusably, by ID: their service
        self.unusable: dict[str, str] = {}
        #: IDs already said to be maybe open (once is enough)
        self.warned: set[str] = set()
        #: where :meth:`stop_soon` stops proxies (None: inline)
        self.background: trio.Nursery | None = None
        #: IDs whose stop a stop signal waited for: its outcome is said, not a debug line
        self.awaited: set[str] = set()

    @property
    def ids(self) -> list[str]:
        return [*self.held, *self.unusable]

    def add(self, lease: Lease, now: float) -> None:
        """A proxy was made at ``now`` (remote.it's idle timer starts then)."""
        self.held[lease.connection_id] = Held(lease, idle_since=now)
        self.changed()

    def get(self, cid: str) -> Held | None:
        return self.held.get(cid)

    async def stop_soon(self, lease: Lease) -> None:
        if self.background is not None:
            self.background.start_soon(self.stop, lease)
        else:
            await self.stop(lease)

    async def stop(self, lease: Lease) -> None:
        cid = lease.connection_id
        held = self.held.get(cid)
        if held is None or held.stopping:
            return
        held.stopping = True
        try:
            stopped = await self._call(lease.connection.service, cid)
        finally:
            held.stopping = False
        if stopped:
            self.held.pop(cid, None)
            self.changed()

    async def stop_unusable(self, service: str, cid: str) -> None:
        """Stop a connection remote.it made but described unusably; it is recorded
        before the stop call (in case that never returns) and until it succeeds."""
        if cid not in self.unusable:
            self.unusable[cid] = service
            self.changed()
        if await self._call(service, cid):
            self.unusable.pop(cid, None)
            self.changed()

    async def stop_expired_retired(self, now: float) -> float:
        """Stop replaced proxies that still have connections once they expire (remote.it
        cuts those then); return when the next one expires (inf: none)."""
        wake = math.inf
        for cid, held in list(self.held.items()):
            expires_at = held.lease.expires_at
            if not held.retired or expires_at is None:
                continue
            if held.stopping or cid in self.warned or not held.users:
                continue  # being stopped, failed to stop (left for teardown), or unused
            if now >= expires_at:
                # remote.it has closed (or is closing) the connections through it
                self.say_cut(held, held.users)
                await self.stop_soon(held.lease)
            else:
                wake = min(wake, expires_at)
        return wake

    def one_ended(self, held: Held, now: float) -> bool:
        """A connection through ``held`` ended at ``now``; True when it was the last. One
        ending as the proxy expires was closed by remote.it: counted, and said (once)
        when the last of them is gone."""
        if held.users > 0 and at_its_end(held.lease, now):
            held.cut += 1
        held.users -= 1
        if held.users > 0:
            return False
        held.users, held.idle_since = 0, now
        self.say_cut(held)
        return True

    def say_cut(self, held: Held, more: int = 0) -> None:
        """Say, once per proxy, how many connections its expiry closed: those counted
        (``held.cut``) and ``more`` still open as it ends."""
        closed, held.cut = held.cut + more, 0
        if closed and not held.said:
            held.said = True
            self.reporter.warn(expired_with_users(self.name, held.lease, closed))

    def answered(self, awaited: bool, cid: str | None, exc: ApiError | None = None) -> None:
        """A connect call ended: with ``awaited`` (a stop signal came meanwhile) the stop
        of its proxy ``cid`` is said at teardown, or that it made none (``exc``)."""
        if not awaited:
            return
        if cid:
            self.awaited.add(cid)
        elif exc is not None:
            self.reporter.info(no_proxy(self.name, exc))

    async def stop_all(self) -> None:
        """Stop every proxy (teardown). Errors are said, not raised; what could not be
        stopped stays in :attr:`ids`."""
        for held in list(self.held.values()):
            await self.stop(held.lease)
        for cid, service in list(self.unusable.items()):
            await self.stop_unusable(service, cid)

    async def _call(self, service: str, cid: str) -> bool:
        """Ask remote.it to stop ``cid`` (:func:`stop_proxy`): True once it confirmed, or
        said that connection no longer exists; False (said, and the ID kept for
        ``cleanup``) otherwise."""
        result = await stop_proxy(self.api, service, cid, self.stop_timeout)
        say = self.reporter.info if cid in self.awaited else self.reporter.debug
        if result.outcome == "gone":
            say(f"{self.name}: proxy {cid} is gone already ({result.detail})")
        elif result.outcome == "stopped":
            say(f"{self.name}: stopped proxy {cid}")
        else:
            self.reporter.warn(
                f"{self.name}: proxy {cid} may still be open at remote.it ({result.detail}); "
                "`rittunnel cleanup` will try again"
            )
            self.warned.add(cid)
        return result.done
