"""The relay with real sockets on 127.0.0.1: exactness, half-close, concurrency, resets,
backpressure, in each mode (trio copy, relay thread, splice), and moving a connection
between trio and a thread."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from functools import partial
from typing import Any

import pytest
import trio

from rittunnel import relay as relay_module
from rittunnel.fake.target import roundtrip, serve_echo
from rittunnel.net import open_tcp, tune
from rittunnel.relay import _SPLICE, BufferPool, Traffic, relay

MODES = ["copy", "thread", "auto", "splice"] if _SPLICE else ["copy", "thread", "auto"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which relay runs: trio only, a thread from the first wakeup on, the default (a
    thread once busy: the move happens mid-stream, with bytes in flight both ways), or
    splice."""
    if request.param == "thread":
        monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)
    return str(request.param)


def busy() -> int:
    """Connections relayed by a thread right now."""
    return relay_module._threads_busy


async def relay_in(mode: str, a: socket.socket, b: socket.socket, **kw: Any) -> None:
    """``relay`` in ``mode``; ``auto`` is the default: a thread once the connection is busy."""
    await relay(a, b, splice=mode == "splice", threads=mode in ("thread", "auto"), **kw)


async def relay_server(
    target: tuple[str, int], traffic: Traffic, mode: str, nursery: trio.Nursery
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
                await relay_in(mode, client, upstream, traffic=traffic, pool=BufferPool(64 * 1024))

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


async def test_8_mib_byte_exact_both_ways(nursery: trio.Nursery, mode: str) -> None:
    with trio.fail_after(30):
        echo = await nursery.start(serve_echo)
        traffic = Traffic()
        port = await relay_server(echo, traffic, mode, nursery)
        payload = os.urandom(8 * 1024 * 1024)
        assert await roundtrip(port, payload) == payload
        assert traffic.up == traffic.down == len(payload)


async def test_50_concurrent_connections(nursery: trio.Nursery, mode: str) -> None:
    with trio.fail_after(30):
        echo = await nursery.start(serve_echo)
        port = await relay_server(echo, Traffic(), mode, nursery)
        ok: list[bool] = []

        async def one(i: int) -> None:
            data = os.urandom(100_000 + i * 7)
            ok.append(await roundtrip(port, data) == data)

        async with trio.open_nursery() as n:
            for i in range(50):
                n.start_soon(one, i)
        assert ok == [True] * 50


async def test_half_close_keeps_the_other_direction_open(nursery: trio.Nursery, mode: str) -> None:
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
        port = await relay_server(target, Traffic(), mode, nursery)
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


async def test_reset_on_one_side_ends_the_relay(nursery: trio.Nursery, mode: str) -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        done = trio.Event()

        async def run() -> None:
            await relay_in(mode, a2, b1)
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


@pytest.mark.parametrize("threads", [False, True])
async def test_backpressure_holds_a_bounded_number_of_buffers(
    nursery: trio.Nursery, threads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that never reads: the relay stops reading too instead of buffering. In
    trio a direction holds one buffer; in a thread, one being sent and one filled."""
    monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        pool = BufferPool(64 * 1024)
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, pool=pool, splice=False, threads=threads))
            sent = 0
            with trio.move_on_after(1):
                while True:
                    try:
                        sent += a1.send(b"z" * 65536)
                    except BlockingIOError:
                        await trio.sleep(0.01)
            n.cancel_scope.cancel()
        # what was sent sits in kernel buffers, not in the relay: it stopped reading, and
        # held no more buffers than that (the other direction never had data)
        assert sent < 64 * 1024 * 1024
        assert pool.allocated == (relay_module.LANE_BUFFERS if threads else 1)
        assert busy() == 0
        assert relay_threads() == []
        for s in (a1, a2, b1, b2):
            s.close()


def relay_threads() -> list[str]:
    """The relay's own threads still alive (readers and writers of thread mode)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("rittunnel-")]


async def echo_client(
    nursery: trio.Nursery, mode: str, traffic: Traffic | None = None
) -> socket.socket:
    """A non-blocking client socket connected through a ``mode`` relay to an echo service."""
    echo = await nursery.start(serve_echo)
    port = await relay_server(echo, traffic or Traffic(), mode, nursery)
    client = socket.create_connection(("127.0.0.1", port))
    client.setblocking(False)
    return client


async def ping_pong(sock: socket.socket, count: int, size: int = 64) -> None:
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    for i in range(count):
        msg = bytes([i % 256]) * size
        await stream.send_all(msg)
        got = b""
        while len(got) < size:
            got += await stream.receive_some(size - len(got))
        assert got == msg


async def test_a_busy_connection_moves_to_a_thread_and_gives_it_back(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        traffic = Traffic()
        client = await echo_client(nursery, "auto", traffic)
        few, many = relay_module.PROMOTE_AFTER // 2 - 2, relay_module.PROMOTE_AFTER + 10
        await ping_pong(client, few)
        assert busy() == 0  # a few exchanges: still in trio
        await ping_pong(client, many)
        assert busy() == 1
        client.close()
        while busy():
            await trio.sleep(0.01)
        assert traffic.up == traffic.down == 64 * (few + many)


async def test_an_idle_thread_hands_back_and_the_connection_still_works(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)
    monkeypatch.setattr(relay_module, "THREAD_IDLE", 0.1)
    with trio.fail_after(30):
        client = await echo_client(nursery, "thread")
        with client:
            await ping_pong(client, 5)
            assert busy() == 1
            while busy():  # idle: back to trio
                await trio.sleep(0.02)
            await ping_pong(client, 5, size=100_000)  # and in a thread again
            assert busy() == 1


async def test_cancelling_a_threaded_relay_returns_and_leaves_the_sockets_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        async with trio.open_nursery() as n:
            n.start_soon(relay, a2, b1)
            a1.send(b"in a thread")
            while busy() == 0:
                await trio.sleep(0.01)
            n.cancel_scope.cancel()
        assert busy() == 0
        assert a2.fileno() != -1 and b1.fileno() != -1  # the caller owns them
        assert b2.recv(100) == b"in a thread"
        for s in (a1, a2, b1, b2):
            s.close()


async def test_no_thread_when_the_limit_is_zero(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)
    monkeypatch.setattr(relay_module, "MAX_THREADS", 0)
    with trio.fail_after(30):
        client = await echo_client(nursery, "thread")
        with client:
            await ping_pong(client, 10)
            assert busy() == 0


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

    from rittunnel.net import raise_fd_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        got = raise_fd_limit(cap=1024)
        assert got == min(1024, hard) if hard != resource.RLIM_INFINITY else got == 1024
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == got
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def upload(payload: bytes, pool: BufferPool) -> tuple[bytes, bool]:
    """Send ``payload`` one way through a relay and EOF; what arrived, and whether the
    relay was in threads at some point."""
    (a1, a2), (b1, b2) = two_pairs()
    seen_thread = False
    async with trio.open_nursery() as n:
        n.start_soon(partial(relay, a2, b1, pool=pool))
        src = trio.SocketStream(trio.socket.from_stdlib_socket(a1))
        dst = trio.SocketStream(trio.socket.from_stdlib_socket(b2))

        async def send() -> None:
            await src.send_all(payload)
            await src.send_eof()

        n.start_soon(send)
        got = bytearray()
        while chunk := await dst.receive_some(1 << 20):
            got += chunk
            seen_thread = seen_thread or busy() == 1
        await src.aclose()
        await dst.aclose()
    a2.close()
    b1.close()
    return bytes(got), seen_thread


async def test_one_way_bulk_moves_to_a_thread_while_the_other_way_is_idle() -> None:
    """The return direction never wakes (a plain upload): the handoff must still happen,
    and every byte arrive in order."""
    with trio.fail_after(30):
        payload = os.urandom(16 * 1024 * 1024)
        got, seen_thread = await upload(payload, BufferPool(64 * 1024))
        assert got == payload
        assert seen_thread and busy() == 0


def test_pool_buffers_start_on_a_page_boundary() -> None:
    """The kernel copies into and out of a misaligned buffer cost ~1.6x as much
    (docs/PERFORMANCE.md); a ``bytearray`` would start 16 bytes past a page."""
    import ctypes
    import mmap

    pool = BufferPool()
    bufs = [pool.acquire() for _ in range(3)]
    for buf in bufs:
        assert len(buf) == relay_module.BUFFER_SIZE
        assert ctypes.addressof(ctypes.c_char.from_buffer(buf)) % mmap.PAGESIZE == 0
    for buf in bufs:
        pool.release(buf)
    assert pool.acquire() is bufs[-1]  # reused, not reallocated
    assert pool.allocated == 3


async def fill_until_stuck(a1: socket.socket, b2: socket.socket) -> int:
    """Get the relay between ``a1`` and ``b2`` into a thread, then send into ``a1`` until
    the relay and every kernel buffer on the way are full (``b2`` never reads); returns
    how much was sent after the move."""
    a1.send(b"move")
    while busy() == 0:
        await trio.sleep(0.01)
    while True:
        try:
            assert b2.recv(10) == b"move"
            break
        except BlockingIOError:
            await trio.sleep(0.01)
    sent, stalled = 0, 0
    while stalled < 20:
        try:
            sent += a1.send(b"w" * 65536)
            stalled = 0
        except BlockingIOError:
            stalled += 1
            await trio.sleep(0.01)
    return sent


@pytest.fixture
def writers(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Thread mode from the first wakeup; records each writer thread the relay starts."""
    monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)
    made: list[object] = []

    class Recorded(relay_module._Writer):
        def __init__(self, *args: Any) -> None:
            made.append(self)
            super().__init__(*args)

    monkeypatch.setattr(relay_module, "_Writer", Recorded)
    return made


async def test_bulk_in_a_thread_goes_through_a_writer_byte_exact(writers: list[object]) -> None:
    """Large chunks are sent by a writer thread while the next one is read: both ways
    at once, every byte in order, and no thread left behind."""
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        up, down = os.urandom(12 * 1024 * 1024), os.urandom(9 * 1024 * 1024)
        traffic = Traffic()
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, traffic, pool=BufferPool(256 * 1024)))
            ends = [trio.SocketStream(trio.socket.from_stdlib_socket(s)) for s in (a1, b2)]

            async def send(stream: trio.SocketStream, data: bytes) -> None:
                await stream.send_all(data)
                await stream.send_eof()

            async def receive(stream: trio.SocketStream, into: bytearray) -> None:
                while chunk := await stream.receive_some(1 << 20):
                    into += chunk

            got_up, got_down = bytearray(), bytearray()
            async with trio.open_nursery() as io:
                io.start_soon(send, ends[0], up)
                io.start_soon(send, ends[1], down)
                io.start_soon(receive, ends[1], got_up)
                io.start_soon(receive, ends[0], got_down)
        assert bytes(got_up) == up and bytes(got_down) == down
        assert traffic.up == len(up) and traffic.down == len(down)
        assert len(writers) >= 2  # one per direction
        assert busy() == 0 and relay_threads() == []
        for s in (a1, a2, b1, b2):
            s.close()


async def test_cancelling_while_a_writer_waits_on_a_stuck_reader(writers: list[object]) -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, pool=BufferPool(256 * 1024)))
            await fill_until_stuck(a1, b2)
            assert writers and busy() == 1
            n.cancel_scope.cancel()
        assert busy() == 0 and relay_threads() == []
        for s in (a1, a2, b1, b2):
            s.close()


async def test_a_reset_while_a_writer_waits_ends_the_relay(writers: list[object]) -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, pool=BufferPool(256 * 1024)))
            await fill_until_stuck(a1, b2)
            assert writers
            b2.close()  # the far side goes away with bytes unread
        # the relay returned by itself: the nursery waited for it
        assert busy() == 0 and relay_threads() == []
        for s in (a1, a2, b1):
            s.close()


async def test_no_idle_handback_while_a_writer_holds_bytes(
    writers: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing read for longer than THREAD_IDLE, but bytes still wait to be sent: the
    thread keeps the connection, both ways, until they are delivered, then hands it
    back."""
    monkeypatch.setattr(relay_module, "THREAD_IDLE", 0.1)
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, pool=BufferPool(256 * 1024)))
            sent = await fill_until_stuck(a1, b2)
            await trio.sleep(0.5)  # five idle periods, no reads either way
            assert busy() == 1
            b2.send(b"the other way")  # still relayed while the first way is stuck
            with trio.fail_after(2):
                while True:
                    try:
                        assert a1.recv(100) == b"the other way"
                        break
                    except BlockingIOError:
                        await trio.sleep(0.01)
            got = 0
            while busy() or got < sent:
                try:
                    got += len(b2.recv(1 << 20))
                except BlockingIOError:
                    await trio.sleep(0.01)
            assert got == sent
            assert relay_threads() == []  # handed back to trio
            a1.send(b"still relayed")
            await trio.sleep(0.1)
            assert b2.recv(100) == b"still relayed"
            n.cancel_scope.cancel()
        for s in (a1, a2, b1, b2):
            s.close()


async def test_the_far_side_closing_mid_bulk_ends_the_relay(writers: list[object]) -> None:
    """The receiver goes away while bulk is flowing and the reader is busy: the writer's
    failed send ends the relay, wherever the reader is waiting (a race: a few rounds)."""
    for _ in range(5):
        with trio.fail_after(30):
            (a1, a2), (b1, b2) = two_pairs()
            async with trio.open_nursery() as n:
                n.start_soon(partial(relay, a2, b1, pool=BufferPool(256 * 1024)))
                src = trio.SocketStream(trio.socket.from_stdlib_socket(a1))

                async def pour(src: trio.SocketStream) -> None:
                    with contextlib.suppress(trio.BrokenResourceError):
                        while True:
                            await src.send_all(b"p" * (1 << 20))

                n.start_soon(pour, src)
                got = 0
                while got < 8 << 20:
                    try:
                        got += len(b2.recv(1 << 20))
                    except BlockingIOError:
                        await trio.sleep(0)
                assert writers
                b2.close()
                while busy() or relay_threads():
                    await trio.sleep(0.01)
                a2.close()  # the pour task sees the end
            for s in (a1, b1):
                s.close()


class NoThread(RuntimeError):
    """What ``Thread.start`` raises at a process or system thread limit."""

    def __init__(self) -> None:
        super().__init__("can't start new thread")


async def test_without_a_writer_thread_the_reader_sends_large_chunks_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)

    class Refused:
        def __init__(self, *args: object) -> None:
            raise NoThread

    monkeypatch.setattr(relay_module, "_Writer", Refused)
    with trio.fail_after(30):
        payload = os.urandom(6 * 1024 * 1024)
        got, seen_thread = await upload(payload, BufferPool(256 * 1024))
        assert got == payload and seen_thread
        assert busy() == 0 and relay_threads() == []


async def test_without_a_second_reader_thread_the_connection_stays_in_trio(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)
    refused: list[str] = []

    class Limited(threading.Thread):
        def start(self) -> None:
            if self.name == "rittunnel-relay":
                refused.append(self.name)
                raise NoThread
            super().start()

    monkeypatch.setattr(threading, "Thread", Limited)
    with trio.fail_after(30):
        client = await echo_client(nursery, "thread")
        with client:
            await ping_pong(client, 40)
            await ping_pong(client, 3, size=300_000)
            assert refused == ["rittunnel-relay"]  # tried once, then left in trio
            assert busy() == 0


async def test_without_a_trio_worker_thread_the_connection_stays_in_trio(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "PROMOTE_AFTER", 1)
    refused: list[object] = []
    run_sync = trio.to_thread.run_sync

    async def limited(fn: Any, *args: Any, **kwargs: Any) -> Any:
        # trio raises what Thread.start raised before the function runs
        if fn.__module__ == relay_module.__name__:  # the relay's worker, not getaddrinfo
            refused.append(fn)
            raise NoThread
        return await run_sync(fn, *args, **kwargs)

    monkeypatch.setattr(trio.to_thread, "run_sync", limited)
    with trio.fail_after(30):
        client = await echo_client(nursery, "thread")
        with client:
            await ping_pong(client, 40)
            await ping_pong(client, 3, size=300_000)
            assert len(refused) == 1  # tried once, then left in trio
            assert busy() == 0
