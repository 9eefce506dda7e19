"""``rittunnel stdio NAME``: one connection through a fresh proxy, carried over stdin and
stdout, for ssh's ``ProxyCommand``. No local port is bound. (Beside a running tunnel of
the service, ``stdio`` uses that instead: :mod:`rittunnel.tunnel.share`.)

stdout carries nothing but the bytes from the service. stdin's EOF is passed on as a
half-close; the command ends when the service closes its side (or on SIGINT, SIGTERM or
SIGHUP), and the proxy is stopped before it exits. It uses a tunnel's upstream half
(:class:`~rittunnel.tunnel.upstream.Upstream`) alone. A state file
(``NAME.stdio-PID``) records the proxy meanwhile, so a ``kill -9`` leaves nothing that
the next run or ``rittunnel cleanup`` does not stop.
"""

from __future__ import annotations

import os
import socket

import trio

from ..errors import RittunnelError
from ..profiles import Profile
from ..report import Reporter
from ..settings import Settings
from .claims import Claim, cleanup_orphans, new_state
from .signals import stop_on_signals
from .state import account_of
from .store import StateStore
from .trust import TrustedUrls
from .upstream import ApiClients, Upstream

BUFFER = 256 * 1024


async def pump_stdio(
    upstream: socket.socket, stdin_fd: int = 0, stdout_fd: int = 1, bufsize: int = BUFFER
) -> None:
    """Relay ``stdin_fd`` → ``upstream`` and ``upstream`` → ``stdout_fd`` until the
    upstream side closes. EOF on stdin is a half-close (``send_eof``). The fds are dup'ed;
    the originals stay open."""
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(upstream))
    stdin = trio.lowlevel.FdStream(os.dup(stdin_fd))
    stdout = trio.lowlevel.FdStream(os.dup(stdout_fd))
    async with stdin, stdout, trio.open_nursery() as nursery:

        async def outbound() -> None:
            while chunk := await stdin.receive_some(bufsize):
                await stream.send_all(chunk)
            await stream.send_eof()

        nursery.start_soon(outbound)
        try:
            while chunk := await stream.receive_some(bufsize):
                await stdout.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the reader of stdout went away (ssh exited): nothing left to carry
        nursery.cancel_scope.cancel()


async def serve_stdio(
    profile: Profile,
    clients: ApiClients,
    store: StateStore,
    reporter: Reporter,
    settings: Settings,
) -> int:
    """Relay stdin/stdout through a proxy of ``profile`` until the service closes its
    side or a stop signal comes; the proxy is stopped (or left recorded) before return."""
    state = new_state(profile, clients, f"{profile.name}.stdio-{os.getpid()}", addresses=["stdio"])
    trusted = TrustedUrls(settings)
    claim = Claim(
        store, state, clients, reporter, stop_timeout=settings.stop_timeout, trusted=trusted
    )

    def record() -> None:
        state.proxies = upstream.open_ids
        state.upstream = upstream.proxy
        claim.record()

    upstream = Upstream(
        profile,
        clients.client(account_of(state)),
        reporter,
        stop_timeout=settings.stop_timeout,
        on_change=record,
    )
    await cleanup_orphans(
        store, clients, reporter, stop_timeout=settings.stop_timeout, trusted=trusted
    )
    # teardown inside the watcher: a second Ctrl-C during it is a forced exit that leaves
    # the state file as it is, never an interruption that loses a proxy's record
    async with claim, stop_on_signals(reporter) as stop:
        try:
            deadline = trio.current_time() + max(settings.start_timeout, profile.hold_timeout)
            lease, sock = await upstream.connect(deadline)
            try:
                if sock is None:
                    raise RittunnelError(
                        f"{profile.name}: service {profile.service} is an HTTP(S) service "
                        f"(reverse proxy {lease.connection.proxy}); stdio needs a port: "
                        "set proxy: port in the profile"
                    )
                with sock:
                    reporter.debug(f"{profile.name}: relaying stdio via {lease.connection.proxy}")
                    await pump_stdio(sock)
            finally:
                await upstream.release(lease)
        finally:
            stopped = await upstream.stop_proxies()
            state.proxies = upstream.open_ids
            stop.settled = True  # stopped, or recorded for cleanup: nothing to force
    return 0 if stopped else 1  # 1: a proxy may still be open (recorded for cleanup)
