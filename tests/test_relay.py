"""The relay with real sockets on 127.0.0.1: exactness, half-close, concurrency, resets,
backpressure, per-connection counts, in each mode (trio copy, relay thread, and moving
a connection between trio and a thread)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import pytest
import trio

from rittunnel import relay as relay_module
from rittunnel.fake.target import roundtrip, serve_echo
from rittunnel.net import open_tcp, tune
from rittunnel.relay import BufferPool, Counts, Limits, Relayer, relay
from rittunnel.relay import buffers as buffers_module
from rittunnel.relay import pump as pump_module
from rittunnel.relay import threads as threads_module

#: the default limits, and promoting a connection to threads at its first wakeup
DEFAULT, AT_ONCE = Limits(), Limits(promote_after=1)


def busy(relayer: Relayer) -> int:
    """Connections ``relayer`` has in threads now (a call: mypy would take a property
    read before an ``await`` to hold after it)."""
    return relayer.busy


@dataclass
class Mode:
    """How a test's relays run: ``copy`` trio only, ``thread`` a thread from the first
    wakeup on, ``auto`` the default (a thread once busy: the move happens mid-stream,
    with bytes in flight both ways)."""

    name: str
    relayer: Relayer

    @classmethod
    def make(cls, name: str, limits: Limits = DEFAULT, pool_size: int = 64 * 1024) -> Mode:
        if name == "thread":
            limits = replace(limits, promote_after=1)
        return cls(name, Relayer(limits, BufferPool(pool_size)))

    async def relay(self, a: socket.socket, b: socket.socket, counts: Counts | None = None) -> None:
        await self.relayer.relay(a, b, counts, threads=self.name != "copy")


@pytest.fixture(params=["copy", "thread", "auto"])
def mode(request: pytest.FixtureRequest) -> Mode:
    return Mode.make(str(request.param))


async def relay_server(
    target: tuple[str, int], mode: Mode, nursery: trio.Nursery, counts: list[Counts] | None = None
) -> int:
    """A minimal relay front: accept on 127.0.0.1:0 and relay each client to target,
    each connection counted into a new :class:`Counts` appended to ``counts``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.setblocking(False)

    async def one(client: socket.socket) -> None:
        with client:
            upstream = await open_tcp(*target)
            with upstream:
                c = Counts()
                if counts is not None:
                    counts.append(c)
                await mode.relay(client, upstream, c)

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


async def test_8_mib_byte_exact_both_ways(nursery: trio.Nursery, mode: Mode) -> None:
    with trio.fail_after(30):
        echo = await nursery.start(serve_echo)
        counts: list[Counts] = []
        port = await relay_server(echo, mode, nursery, counts)
        payload = os.urandom(8 * 1024 * 1024)
        assert await roundtrip(port, payload) == payload
        assert sum(c.up for c in counts) == sum(c.down for c in counts) == len(payload)


async def test_50_concurrent_connections(nursery: trio.Nursery, mode: Mode) -> None:
    with trio.fail_after(30):
        echo = await nursery.start(serve_echo)
        port = await relay_server(echo, mode, nursery)
        ok: list[bool] = []

        async def one(i: int) -> None:
            data = os.urandom(100_000 + i * 7)
            ok.append(await roundtrip(port, data) == data)

        async with trio.open_nursery() as n:
            for i in range(50):
                n.start_soon(one, i)
        assert ok == [True] * 50


async def test_half_close_keeps_the_other_direction_open(nursery: trio.Nursery, mode: Mode) -> None:
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
        port = await relay_server(target, mode, nursery)
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


async def test_reset_on_one_side_ends_the_relay(nursery: trio.Nursery, mode: Mode) -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        done = trio.Event()

        async def run() -> None:
            await mode.relay(a2, b1)
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
    nursery: trio.Nursery, threads: bool
) -> None:
    """A reader that never reads: the relay stops reading too instead of buffering. In
    trio a direction holds one buffer; in a thread, one being sent and one filled."""
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        pool = BufferPool(64 * 1024)
        relayer = Relayer(AT_ONCE, pool)
        async with trio.open_nursery() as n:
            n.start_soon(partial(relayer.relay, a2, b1, threads=threads))
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
        assert pool.allocated == (threads_module.LANE_BUFFERS if threads else 1)
        assert busy(relayer) == 0
        assert relay_threads() == []
        for s in (a1, a2, b1, b2):
            s.close()


def relay_threads() -> list[str]:
    """The relay's own threads still alive (readers and writers of thread mode)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("rittunnel-")]


async def echo_client(
    nursery: trio.Nursery, mode: Mode, counts: list[Counts] | None = None
) -> socket.socket:
    """A non-blocking client socket connected through a ``mode`` relay to an echo service."""
    echo = await nursery.start(serve_echo)
    port = await relay_server(echo, mode, nursery, counts)
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
        mode = Mode.make("auto")
        counts: list[Counts] = []
        client = await echo_client(nursery, mode, counts)
        few, many = DEFAULT.promote_after // 2 - 2, DEFAULT.promote_after + 10
        await ping_pong(client, few)
        assert busy(mode.relayer) == 0  # a few exchanges: still in trio
        await ping_pong(client, many)
        assert busy(mode.relayer) == 1
        client.close()
        while busy(mode.relayer):
            await trio.sleep(0.01)
        [c] = counts
        assert c.up == c.down == 64 * (few + many)


async def test_an_idle_thread_hands_back_and_the_connection_still_works(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        mode = Mode.make("thread", Limits(thread_idle=0.1))
        client = await echo_client(nursery, mode)
        with client:
            await ping_pong(client, 5)
            assert busy(mode.relayer) == 1
            while busy(mode.relayer):  # idle: back to trio
                await trio.sleep(0.02)
            await ping_pong(client, 5, size=100_000)  # and in a thread again
            assert busy(mode.relayer) == 1


async def test_cancelling_a_threaded_relay_returns_and_leaves_the_sockets_open() -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        relayer = Relayer(AT_ONCE)
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, relayer=relayer))
            a1.send(b"in a thread")
            while busy(relayer) == 0:
                await trio.sleep(0.01)
            n.cancel_scope.cancel()
        assert busy(relayer) == 0
        assert a2.fileno() != -1 and b1.fileno() != -1  # the caller owns them
        assert b2.recv(100) == b"in a thread"
        for s in (a1, a2, b1, b2):
            s.close()


async def test_no_thread_when_the_limit_is_zero(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        mode = Mode.make("thread", Limits(max_threads=0))
        client = await echo_client(nursery, mode)
        with client:
            await ping_pong(client, 10)
            assert busy(mode.relayer) == 0


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


async def upload(payload: bytes, relayer: Relayer) -> tuple[bytes, bool]:
    """Send ``payload`` one way through a relay and EOF; what arrived, and whether the
    relay was in threads at some point."""
    (a1, a2), (b1, b2) = two_pairs()
    seen_thread = False
    async with trio.open_nursery() as n:
        n.start_soon(relayer.relay, a2, b1)
        src = trio.SocketStream(trio.socket.from_stdlib_socket(a1))
        dst = trio.SocketStream(trio.socket.from_stdlib_socket(b2))

        async def send() -> None:
            await src.send_all(payload)
            await src.send_eof()

        n.start_soon(send)
        got = bytearray()
        while chunk := await dst.receive_some(1 << 20):
            got += chunk
            seen_thread = seen_thread or busy(relayer) == 1
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
        relayer = Relayer(pool=BufferPool(64 * 1024))
        got, seen_thread = await upload(payload, relayer)
        assert got == payload
        assert seen_thread and busy(relayer) == 0


def test_pool_buffers_start_on_a_page_boundary() -> None:
    """The kernel copies into and out of a misaligned buffer cost ~1.6x as much
    (docs/PERFORMANCE.md); a ``bytearray`` would start 16 bytes past a page."""
    import ctypes
    import mmap

    pool = BufferPool()
    bufs = [pool.acquire() for _ in range(3)]
    for buf in bufs:
        assert len(buf) == buffers_module.BUFFER_SIZE
        assert ctypes.addressof(ctypes.c_char.from_buffer(buf)) % mmap.PAGESIZE == 0
    for buf in bufs:
        pool.release(buf)
    assert pool.acquire() is bufs[-1]  # reused, not reallocated
    assert pool.allocated == 3


async def fill_until_stuck(a1: socket.socket, b2: socket.socket, relayer: Relayer) -> int:
    """Get the relay between ``a1`` and ``b2`` into a thread (a first read of bulk size:
    small ones go to the hub), then send into ``a1`` until the relay and every kernel
    buffer on the way are full (``b2`` never reads); returns how much was sent after the
    move."""
    move = b"m" * pump_module.BULK_READ
    a1.sendall(move)
    while relayer.threaded == 0:
        await trio.sleep(0.01)
    got = b""
    while len(got) < len(move):
        try:
            got += b2.recv(len(move) - len(got))
        except BlockingIOError:
            await trio.sleep(0.01)
    assert got == move
    sent, stalled = 0, 0
    while stalled < 20:
        try:
            sent += a1.send(b"w" * 65536)
            stalled = 0
        except BlockingIOError:
            stalled += 1
            await trio.sleep(0.01)
    return sent


def threaded(limits: Limits = AT_ONCE) -> Relayer:
    """A relayer moving a connection to threads at its first wakeup, with 256 KiB
    buffers (a full one is a large chunk: its writer sends it)."""
    return Relayer(limits, BufferPool(256 * 1024))


@pytest.fixture
def writers(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records each writer thread the relay starts."""
    made: list[object] = []

    class Recorded(threads_module._Writer):
        def __init__(self, *args: Any) -> None:
            made.append(self)
            super().__init__(*args)

    monkeypatch.setattr(threads_module, "_Writer", Recorded)
    return made


async def both_ways(
    a1: socket.socket, b2: socket.socket, up: bytes, down: bytes
) -> tuple[bytes, bytes]:
    """Send ``up`` into ``a1`` and ``down`` into ``b2`` at once, each followed by EOF, and
    read both ends to EOF: what arrived at ``b2`` and at ``a1``."""
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
    return bytes(got_up), bytes(got_down)


async def test_bulk_in_a_thread_goes_through_a_writer_byte_exact(writers: list[object]) -> None:
    """Large chunks are sent by a writer thread while the next one is read: both ways
    at once, every byte in order, and no thread left behind."""
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        up, down = os.urandom(12 * 1024 * 1024), os.urandom(9 * 1024 * 1024)
        relayer = threaded()
        counts = Counts()
        async with trio.open_nursery() as n:
            n.start_soon(relayer.relay, a2, b1, counts)
            got_up, got_down = await both_ways(a1, b2, up, down)
        assert got_up == up and got_down == down
        assert counts.up == len(up) and counts.down == len(down)
        assert len(writers) >= 2  # one per direction
        assert busy(relayer) == 0 and relay_threads() == []
        for s in (a1, a2, b1, b2):
            s.close()


async def test_each_connection_counts_its_own_bytes(mode: Mode) -> None:
    """Two connections at once through one relayer, each with its own Counts: each
    counts exactly its own bytes, both ways (in thread mode, by its reader threads)."""
    with trio.fail_after(30):
        sizes = [(3 << 20, (1 << 20) + 7), ((2 << 20) + 3, (5 << 20) + 11)]
        conns = [two_pairs() for _ in sizes]
        counts = [Counts() for _ in sizes]
        peak = 0

        async def exchange(a1: socket.socket, b2: socket.socket, up: int, down: int) -> None:
            data_up, data_down = os.urandom(up), os.urandom(down)
            got = await both_ways(a1, b2, data_up, data_down)
            assert got == (data_up, data_down)

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, busy(mode.relayer))
                await trio.sleep(0.001)

        async with trio.open_nursery() as n:
            n.start_soon(watch)
            async with trio.open_nursery() as conn:
                for ((a1, a2), (b1, b2)), c, (up, down) in zip(conns, counts, sizes, strict=True):
                    conn.start_soon(mode.relay, a2, b1, c)
                    conn.start_soon(exchange, a1, b2, up, down)
            n.cancel_scope.cancel()
        assert [(c.up, c.down) for c in counts] == sizes
        if mode.name == "thread":
            assert peak == 2  # both connections were in threads at once
        assert busy(mode.relayer) == 0 and relay_threads() == []
        for pairs in conns:
            for pair in pairs:
                for s in pair:
                    s.close()


async def test_cancelling_while_a_writer_waits_on_a_stuck_reader(writers: list[object]) -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        relayer = threaded()
        async with trio.open_nursery() as n:
            n.start_soon(relayer.relay, a2, b1)
            await fill_until_stuck(a1, b2, relayer)
            assert writers and busy(relayer) == 1
            n.cancel_scope.cancel()
        assert busy(relayer) == 0 and relay_threads() == []
        for s in (a1, a2, b1, b2):
            s.close()


async def test_a_reset_while_a_writer_waits_ends_the_relay(writers: list[object]) -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        relayer = threaded()
        async with trio.open_nursery() as n:
            n.start_soon(relayer.relay, a2, b1)
            await fill_until_stuck(a1, b2, relayer)
            assert writers
            b2.close()  # the far side goes away with bytes unread
        # the relay returned by itself: the nursery waited for it
        assert busy(relayer) == 0 and relay_threads() == []
        for s in (a1, a2, b1):
            s.close()


async def test_no_idle_handback_while_a_writer_holds_bytes(writers: list[object]) -> None:
    """Nothing read for longer than thread_idle, but bytes still wait to be sent: the
    thread keeps the connection, both ways, until they are delivered, then hands it
    back."""
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        relayer = threaded(replace(AT_ONCE, thread_idle=0.1))
        async with trio.open_nursery() as n:
            n.start_soon(relayer.relay, a2, b1)
            sent = await fill_until_stuck(a1, b2, relayer)
            await trio.sleep(0.5)  # five idle periods, no reads either way
            assert busy(relayer) == 1
            b2.send(b"the other way")  # still relayed while the first way is stuck
            with trio.fail_after(2):
                while True:
                    try:
                        assert a1.recv(100) == b"the other way"
                        break
                    except BlockingIOError:
                        await trio.sleep(0.01)
            got = 0
            while busy(relayer) or got < sent:
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
            relayer = threaded()
            async with trio.open_nursery() as n:
                n.start_soon(relayer.relay, a2, b1)
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
                while busy(relayer) or relay_threads():
                    await trio.sleep(0.01)
                a2.close()  # the pour task sees the end
            for s in (a1, b1):
                s.close()


class NoThread(RuntimeError):
    """What ``Thread.start`` raises at a process or system thread limit."""

    def __init__(self) -> None:
        super().__init__("can't start new thread")


async def test_without_a_writer_thread_the_connection_stays_in_trio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first large chunk in a thread needs a writer, which cannot be had: the reader
    sends that chunk itself, the connection goes back to trio and stays there."""
    refused: list[object] = []

    class Refused:
        def __init__(self, *args: object) -> None:
            refused.append(self)
            raise NoThread

    monkeypatch.setattr(threads_module, "_Writer", Refused)
    outcomes: list[str] = []
    in_thread = threads_module.relay_in_thread

    async def recorded(*args: Any) -> Any:
        outcomes.append(await in_thread(*args))
        return outcomes[-1]

    monkeypatch.setattr(relay_module, "relay_in_thread", recorded)
    with trio.fail_after(30):
        payload = os.urandom(6 * 1024 * 1024)
        relayer = threaded()
        got, _ = await upload(payload, relayer)
        assert got == payload
        # a relay thread ran (only one asks for a writer), gave up once, and the rest of
        # the upload (MiBs) went through trio: never promoted again
        assert len(refused) == 1 and outcomes == ["no thread"]
        assert busy(relayer) == 0 and relay_threads() == []


async def test_without_a_second_reader_thread_the_connection_stays_in_trio(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[str] = []

    class Limited(threading.Thread):
        def start(self) -> None:
            if self.name == "rittunnel-relay":
                refused.append(self.name)
                raise NoThread
            super().start()

    monkeypatch.setattr(threading, "Thread", Limited)
    with trio.fail_after(30):
        mode = Mode.make("thread")
        client = await echo_client(nursery, mode)
        with client:
            await ping_pong(client, 40)
            await ping_pong(client, 3, size=300_000)
            assert refused == ["rittunnel-relay"]  # tried once, then left in trio
            assert busy(mode.relayer) == 0


async def test_without_a_trio_worker_thread_the_connection_stays_in_trio(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[object] = []
    run_sync = trio.to_thread.run_sync

    async def limited(fn: Any, *args: Any, **kwargs: Any) -> Any:
        # trio raises what Thread.start raised before the function runs
        if fn.__module__ == threads_module.__name__:  # the relay's worker, not getaddrinfo
            refused.append(fn)
            raise NoThread
        return await run_sync(fn, *args, **kwargs)

    monkeypatch.setattr(trio.to_thread, "run_sync", limited)
    with trio.fail_after(30):
        mode = Mode.make("thread")
        client = await echo_client(nursery, mode)
        with client:
            await ping_pong(client, 40)
            await ping_pong(client, 3, size=300_000)
            assert len(refused) == 1  # tried once, then left in trio
            assert busy(mode.relayer) == 0


# -- the hub: busy connections of small messages, all in one epoll thread per hub --------


async def until(predicate: Any, timeout: float = 10) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


def hub_threads() -> int:
    return sum(t.name == "rittunnel-hub" for t in threading.enumerate())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_many_small_message_connections_share_the_hub(nursery: trio.Nursery) -> None:
    """30 connections ping-ponging at once are relayed by the hub (no relay threads),
    byte exact, and the hub threads end with the last connection, leaving no fd open."""
    with trio.fail_after(60):
        mode = Mode.make("thread")
        echo = await nursery.start(serve_echo)
        port = await relay_server(echo, mode, nursery)
        fds = open_fds()
        peak = [0]

        async def one() -> None:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setblocking(False)
            with sock:
                await ping_pong(sock, 60)
                peak[0] = max(peak[0], busy(mode.relayer))
                assert mode.relayer.threaded == 0

        async with trio.open_nursery() as n:
            for _ in range(30):
                n.start_soon(one)
        assert peak[0] > 1
        await until(lambda: busy(mode.relayer) == 0 and hub_threads() == 0)
        await until(lambda: open_fds() <= fds)


async def test_half_close_in_the_hub_both_ways() -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        relayer = Relayer(AT_ONCE)
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, relayer=relayer))
            a1.send(b"question")
            await until(lambda: busy(relayer) == 1)
            a1.send(b" and more")
            a1.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                try:
                    chunk = b2.recv(100)
                except BlockingIOError:
                    await trio.sleep(0.01)
                    continue
                if not chunk:
                    break
                got += chunk
            assert got == b"question and more"  # then EOF, passed on
            b2.send(b"answer")  # the other way still works
            b2.shutdown(socket.SHUT_WR)
            back = b""
            while True:
                try:
                    chunk = a1.recv(100)
                except BlockingIOError:
                    await trio.sleep(0.01)
                    continue
                if not chunk:
                    break
                back += chunk
            assert back == b"answer"
        # both ways at EOF: the relay returned by itself
        assert busy(relayer) == 0
        for s in (a1, a2, b1, b2):
            s.close()


async def test_cancelling_a_relay_in_the_hub_lets_go_of_the_sockets() -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        relayer = Relayer(AT_ONCE)
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, relayer=relayer))
            a1.send(b"to the hub")
            await until(lambda: busy(relayer) == 1)
            a1.send(b" again")
            await trio.sleep(0.05)
            n.cancel_scope.cancel()
        assert busy(relayer) == 0 and relayer.threaded == 0
        assert a2.fileno() != -1 and b1.fileno() != -1  # the caller owns them
        assert b2.recv(100) == b"to the hub again"
        await until(lambda: hub_threads() == 0)
        for s in (a1, a2, b1, b2):
            s.close()


async def test_a_reset_in_the_hub_ends_the_relay() -> None:
    with trio.fail_after(30):
        (a1, a2), (b1, b2) = two_pairs()
        relayer = Relayer(AT_ONCE)
        async with trio.open_nursery() as n:
            n.start_soon(partial(relay, a2, b1, relayer=relayer))
            a1.send(b"x")
            await until(lambda: busy(relayer) == 1)
            b2.close()
            a1.send(b"more")  # the hub's send fails: the relay aborts both and returns
        assert busy(relayer) == 0
        for s in (a1, a2, b1):
            s.close()


async def test_an_idle_connection_leaves_the_hub_and_comes_back(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        mode = Mode.make("thread", Limits(thread_idle=0.1))
        client = await echo_client(nursery, mode)
        with client:
            await ping_pong(client, 5)
            assert busy(mode.relayer) == 1 and mode.relayer.threaded == 0
            await until(lambda: busy(mode.relayer) == 0 and hub_threads() == 0)
            await ping_pong(client, 5)  # back in the hub
            assert busy(mode.relayer) == 1


async def test_bulk_in_the_hub_moves_to_relay_threads(nursery: trio.Nursery) -> None:
    """Small messages first (the hub), then large ones: the connection moves on to relay
    threads, byte exact."""
    with trio.fail_after(30):
        mode = Mode.make("thread")
        client = await echo_client(nursery, mode)
        with client:
            await ping_pong(client, 10)
            assert mode.relayer.threaded == 0
            await ping_pong(client, 4, size=1_000_000)
            assert mode.relayer.threaded == 1
