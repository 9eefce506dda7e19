"""Small real TCP services for the demo, the tests and the benchmark (loopback only)."""

from __future__ import annotations

import trio


async def _echo(stream: trio.SocketStream) -> None:
    """Echo every byte back; on EOF from the client, half-close our side too."""
    try:
        async with stream:
            while True:
                data = await stream.receive_some(256 * 1024)
                if not data:
                    await stream.send_eof()
                    return
                await stream.send_all(data)
    except trio.BrokenResourceError:
        return


async def serve_echo(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """An echo service; ``task_status.started((host, port))`` once it listens."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()
    async with trio.open_nursery() as nursery:
        task_status.started((bound[0], bound[1]))
        await trio.serve_listeners(_echo, listeners, handler_nursery=nursery)


async def roundtrip(port: int, payload: bytes, host: str = "127.0.0.1") -> bytes:
    """Client side of an echo: send ``payload`` while reading, half-close, read to EOF;
    returns what came back."""
    stream = await trio.open_tcp_stream(host, port)
    received = bytearray()
    async with stream:

        async def send() -> None:
            view = memoryview(payload)
            for i in range(0, len(view), 1 << 20):
                await stream.send_all(view[i : i + (1 << 20)])
            await stream.send_eof()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            while chunk := await stream.receive_some(1 << 20):
                received += chunk
    return bytes(received)
