"""The relay with real sockets on 127.0.0.1: exactness, half-close, concurrency, resets."""

from __future__ import annotations

import os
import socket
from functools import partial

import pytest
import trio

from rittunnel.fake.target import roundtrip, serve_echo
from rittunnel.relay import _SPLICE, BufferPool, Traffic, open_tcp, relay, tune

MODES = [False, True] if _SPLICE else [False]


async def relay_server(
    target: tuple[str, int], traffic: Traffic, splice: bool, nursery: trio.Nursery
) -> int:
    """A minimal relay front: accept on 127.0.0.1:0 and relay each client to target."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.setblocking(False)

    async def one(client: socket.socket) -> None:
        with client:
            upstream = await open_tcp(*target)
            with upstream:
                await relay(client, upstream, traffic, splice=splice, pool=BufferPool(64 * 1024))

    async def accept() -> None:
        with listener:
            while True:
                await trio.lowlevel.wait_readable(listener)
                try:
                    client, _ = listener.accept()
                except BlockingIOError:
                    continue
                client.setblocking(False)
                tune(client)
                nursery.start_soon(one, client)

    nursery.start_soon(accept)
    port: int = listener.getsockname()[1]
    return port


@pytest.mark.parametrize("splice", MODES)
async def test_8_mib_byte_exact_both_ways(nursery: trio.Nursery, splice: bool) -> None:
    with trio.fail_after(30):
        echo = await nursery.start(serve_echo)
        traffic = Traffic()
        port = await relay_server(echo, traffic, splice, nursery)
        payload = os.urandom(8 * 1024 * 1024)
        assert await roundtrip(port, payload) == payload
        assert traffic.up == traffic.down == len(payload)


@pytest.mark.parametrize("splice", MODES)
async def test_50_concurrent_connections(nursery: trio.Nursery, splice: bool) -> None:
    with trio.fail_after(30):
        echo = await nursery.start(serve_echo)
        port = await relay_server(echo, Traffic(), splice, nursery)
        ok: list[bool] = []

        async def one(i: int) -> None:
            data = os.urandom(100_000 + i * 7)
            ok.append(await roundtrip(port, data) == data)

        async with trio.open_nursery() as n:
            for i in range(50):
                n.start_soon(one, i)
        assert ok == [True] * 50


@pytest.mark.parametrize("splice", MODES)
async def test_half_close_keeps_the_other_direction_open(
    nursery: trio.Nursery, splice: bool
) -> None:
    """A server that reads until EOF and only then answers (like `nc -N` or a request/EOF
    protocol) must still be able to answer after the client half-closed."""
    with trio.fail_after(30):

        async def answer_after_eof(stream: trio.SocketStream) -> None:
            got = b""
            while chunk := await stream.receive_some(65536):
                got += chunk
            await stream.send_all(b"got %d bytes" % len(got))
            await stream.aclose()

        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        target = listeners[0].socket.getsockname()
        nursery.start_soon(trio.serve_listeners, answer_after_eof, listeners)
        port = await relay_server(target, Traffic(), splice, nursery)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"x" * 300_000)
        await stream.send_eof()
        reply = b""
        while chunk := await stream.receive_some(65536):
            reply += chunk
        assert reply == b"got 300000 bytes"


def two_pairs() -> tuple[tuple[socket.socket, socket.socket], tuple[socket.socket, socket.socket]]:
    """Two connected non-blocking socket pairs: relay(a2, b1) joins a1 to b2."""
    pairs = (socket.socketpair(), socket.socketpair())
    for pair in pairs:
        for s in pair:
            s.setblocking(False)
    return pairs


async def test_reset_on_one_side_ends_the_relay(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        done = trio.Event()

        async def run() -> None:
            await relay(a2, b1)
            done.set()

        nursery.start_soon(run)
        a1.send(b"hello")
        await trio.sleep(0.05)
        assert b2.recv(10) == b"hello"
        b2.close()  # the far side vanishes
        a1.send(b"more")
        await done.wait()  # returns instead of hanging on the live side
        for s in (a1, a2, b1):
            s.close()


async def test_backpressure_holds_at_most_one_buffer(nursery: trio.Nursery) -> None:
    """A reader that never reads: the relay stops reading too instead of buffering."""
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        pool = BufferPool(64 * 1024)
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, pool=pool, splice=False))
            sent = 0
            with trio.move_on_after(1):
                while True:
                    try:
                        sent += a1.send(b"z" * 65536)
                    except BlockingIOError:
                        await trio.sleep(0.01)
            n.cancel_scope.cancel()
        # what was sent sits in kernel buffers, not in the relay: it stopped reading, and
        # never held more than one buffer per direction
        assert sent < 64 * 1024 * 1024
        assert pool.allocated <= 2
        for s in (a1, a2, b1, b2):
            s.close()


async def test_open_tcp_refused() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with trio.fail_after(10), pytest.raises(OSError):
        await open_tcp("127.0.0.1", port)


async def test_upstream_sockets_have_keepalive_and_nodelay(nursery: trio.Nursery) -> None:
    with trio.fail_after(10):
        echo = await nursery.start(serve_echo)
        sock = await open_tcp(*echo)
        with sock:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            if hasattr(socket, "TCP_KEEPIDLE"):
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60


def test_raise_fd_limit_lifts_the_soft_limit() -> None:
    import resource

    from rittunnel.relay import raise_fd_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        got = raise_fd_limit(cap=1024)
        assert got == min(1024, hard) if hard != resource.RLIM_INFINITY else got == 1024
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == got
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
