"""The fake's HTTP framing: an h11 server loop on trio that reads each request, hands it
to a dispatch function and writes the :class:`~.answers.Answer` back (keep-alive as the
client asks). A dispatch that raises :class:`Reset` has the connection reset instead."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import h11
import trio

from .answers import Answer


class Reset(Exception):
    """Answer by resetting the connection."""


@dataclass(frozen=True)
class Request:
    method: str
    #: the request target as sent (path and query)
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: the caller's IP
    peer: str

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


Dispatch = Callable[[Request], Awaitable[Answer]]
#: headers added to every answer (looked up per answer, so a knob can change them)
ExtraHeaders = Callable[[], list[tuple[str, str]]]

_LINGER_ZERO = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close sends RST


async def serve_http(
    host: str,
    port: int,
    dispatch: Dispatch,
    extra_headers: ExtraHeaders,
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve HTTP/1.1 on ``host``:``port`` (0: any); ``task_status.started((host, port))``
    with the address bound once listening."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    addr = listeners[0].socket.getsockname()

    async def connection(stream: trio.SocketStream) -> None:
        await _serve_connection(stream, dispatch, extra_headers)

    async with trio.open_nursery() as nursery:
        task_status.started((addr[0], addr[1]))
        await trio.serve_listeners(connection, listeners, handler_nursery=nursery)


async def _serve_connection(
    stream: trio.SocketStream, dispatch: Dispatch, extra_headers: ExtraHeaders
) -> None:
    peer = stream.socket.getpeername()[0]
    conn = h11.Connection(h11.SERVER)
    try:
        async with stream:
            while True:
                request, body = await _read_request(stream, conn)
                if request is None:
                    return
                try:
                    answer = await dispatch(_request(request, body, peer))
                except Reset:
                    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
                    return
                await stream.send_all(_response(conn, answer, extra_headers()))
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        return


def _request(request: h11.Request, body: bytes, peer: str) -> Request:
    headers = tuple((k.decode(), v.decode("latin-1")) for k, v in request.headers)
    return Request(request.method.decode(), request.target.decode("latin-1"), headers, body, peer)


def _response(conn: h11.Connection, answer: Answer, extra: list[tuple[str, str]]) -> bytes:
    headers = [
        ("content-type", answer.ctype),
        ("content-length", str(len(answer.body))),
        ("server", "fake-remote.it"),
        *answer.headers,
        *extra,
    ]
    data = conn.send(h11.Response(status_code=answer.status, headers=headers)) or b""
    data += conn.send(h11.Data(data=answer.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    return data


async def _read_request(
    stream: trio.SocketStream, conn: h11.Connection
) -> tuple[h11.Request | None, bytes]:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return request, bytes(body)
        else:  # ConnectionClosed or PAUSED
            return None, b""
