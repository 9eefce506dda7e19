"""The fake's proxies: every connect's proxy is a real TCP listener on 127.0.0.1 that relays
to the service's target (or, in ``direct`` mode, the target itself; for a web service's
reverse proxy, only a name).

* ``hostip`` (``docs/remoteit-api.md#hostip``): ``255.255.255.255`` latches to the first
  client IP and refuses others; ``0.0.0.0`` is public; another IP, or none (the API caller's
  IP), restricts.
* A non-concurrent connect **replaces** the service's open proxies (``#second-connect``):
  the old listeners close and their live connections are cut (every open one is replaced,
  the newest is named: an inference).
* Inferences (the knobs can change them; ``#lifetime``): a proxy is dropped ``idle_sec``
  (900) after its last TCP connection closes, and at expiry its live connections are cut.
"""

from __future__ import annotations

import secrets
import time
import uuid

import trio

from .model import FakeProxy, FakeService, Knobs


class Proxies:
    """Every proxy the fake made (open or ended), by connection ID. Listeners run in
    :attr:`nursery`, which the server sets while it serves."""

    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.by_id: dict[str, FakeProxy] = {}
        self.nursery: trio.Nursery | None = None

    @property
    def open(self) -> list[FakeProxy]:
        return [p for p in self.by_id.values() if not p.ended]

    def live(self, connection_id: str) -> FakeProxy | None:
        """The open proxy with this ID, or None (unknown, expired, killed or stopped)."""
        proxy = self.by_id.get(connection_id)
        return None if proxy is None or proxy.ended else proxy

    async def open_proxy(
        self, service: FakeService, hostip: str | None, peer: str, *, reverse: bool
    ) -> FakeProxy:
        """A new proxy of ``service`` (both APIs' connect): a reverse proxy's name, the
        target itself in ``direct`` mode, or a real listener on 127.0.0.1. Takes
        ``connect_delay`` seconds first: the proxy exists only when the answer goes out."""
        if self.knobs.connect_delay > 0:
            await trio.sleep(self.knobs.connect_delay)
        now = trio.current_time()
        proxy = FakeProxy(
            connection_id=str(uuid.uuid4()).upper(),
            service=service,
            hostip=hostip,
            caller_ip=peer,
            created=now,
            expires_at=now + self.knobs.expirationsec,
            idle_since=now,
            reverse=reverse,
            created_at=time.time(),
            session_id=secrets.token_hex(8),
        )
        if reverse:
            proxy.host = f"{secrets.token_hex(4)}.p18.rt3.io"
            proxy.url = f"https://{proxy.host}"
            self.by_id[proxy.connection_id] = proxy
        elif self.knobs.direct and service.target is not None:
            proxy.host, proxy.port = service.target
            proxy.url = f"http://{proxy.host}:{proxy.port}"
            self.by_id[proxy.connection_id] = proxy
        else:
            assert self.nursery is not None, "the fake is not serving"
            proxy.host = "127.0.0.1"
            proxy.port = await self.nursery.start(self._run, proxy)
            proxy.url = f"http://127.0.0.1:{proxy.port}"
        return proxy

    def replace_open(self, service: FakeService, keep: FakeProxy | None = None) -> FakeProxy | None:
        """End every open proxy of ``service`` but ``keep`` (the new one) as a
        non-concurrent connect does (listener and live connections); returns the newest of
        them, or None."""
        old = [p for p in self.open if p.service.address == service.address and p is not keep]
        for proxy in old:
            self.end(proxy, "replaced")
        return old[-1] if old else None

    def stop(self, proxy: FakeProxy) -> None:
        proxy.stopped = True
        self.end(proxy, "stopped")

    def kill(self, connection_id: str | None = None) -> int:
        """End the open proxies (all, or the one with this ID) as when the user's IP
        changes: listener and connections go. Returns how many."""
        killed = 0
        for p in self.open:
            if connection_id in (None, p.connection_id):
                self.end(p, "killed")
                killed += 1
        return killed

    def end(self, proxy: FakeProxy, why: str) -> None:
        if not proxy.ended:
            proxy.ended = why
        proxy.scope.cancel()

    async def _run(
        self, proxy: FakeProxy, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        proxy.port = listeners[0].socket.getsockname()[1]
        self.by_id[proxy.connection_id] = proxy
        with proxy.scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._expiry, proxy)
                task_status.started(proxy.port)

                async def handler(stream: trio.SocketStream) -> None:
                    await self._client(proxy, stream)

                await trio.serve_listeners(handler, listeners, handler_nursery=nursery)
        for listener in listeners:
            await listener.aclose()

    async def _expiry(self, proxy: FakeProxy) -> None:
        while True:
            now = trio.current_time()
            if now >= proxy.expires_at:
                self.end(proxy, "expired")
                return
            if proxy.active == 0 and now >= proxy.idle_since + self.knobs.idle_sec:
                self.end(proxy, "idle")
                return
            wake = proxy.expires_at
            if proxy.active == 0:
                wake = min(wake, proxy.idle_since + self.knobs.idle_sec)
            await trio.sleep_until(min(wake, now + 1.0))

    async def _client(self, proxy: FakeProxy, client: trio.SocketStream) -> None:
        ip = client.socket.getpeername()[0]
        async with client:
            if not proxy.allows(ip) or proxy.service.target is None:
                proxy.refused += 1
                return
            proxy.accepted += 1
            proxy.active += 1
            try:
                try:
                    upstream = await trio.open_tcp_stream(*proxy.service.target)
                except OSError:
                    return
                async with upstream, trio.open_nursery() as nursery:
                    nursery.start_soon(_pipe, client, upstream, nursery.cancel_scope)
                    nursery.start_soon(_pipe, upstream, client, nursery.cancel_scope)
            finally:
                proxy.active -= 1
                if proxy.active == 0:
                    proxy.idle_since = trio.current_time()


async def _pipe(src: trio.SocketStream, dst: trio.SocketStream, scope: trio.CancelScope) -> None:
    try:
        while True:
            data = await src.receive_some(65536)
            if not data:
                await dst.send_eof()
                return
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        scope.cancel()
