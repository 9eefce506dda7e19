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
