"""The local side of a reverse proxy: answer HTTP with a redirect to the proxy's URL.

remote.it serves http/https services through a public HTTPS URL that changes with every
connect; the stable ``http://localhost:PORT/path?q`` answers ``307 Temporary Redirect`` to
``https://xyz.p18.rt3.io/path?q`` so it works as a bookmark.
"""

from __future__ import annotations

import contextlib
import socket

import h11
import trio

MAX_HEAD = 64 * 1024
READ_TIMEOUT = 30.0
#: h11 sends no reason phrase unless given one; clients and people show it
REDIRECT = b"Temporary Redirect"
BAD_REQUEST = h11.Response(
    status_code=400,
    headers=[("content-length", "0"), ("connection", "close")],
    reason=b"Bad Request",
)


def redirect_target(url: str, target: bytes) -> str:
    """Join the proxy URL with the request target (path and query), keeping both."""
    path = target.decode("latin-1") or "/"
    if not path.startswith("/"):  # absolute-form or authority-form: keep only the path
        rest = path.split("://", 1)[-1]
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return url.rstrip("/") + path


async def _recv(sock: socket.socket) -> bytes:
    while True:
        try:
            return sock.recv(MAX_HEAD)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)


async def _send(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)


async def serve_redirect(sock: socket.socket, url: str) -> None:
    """Answer every request on this connection with a redirect; returns when the client
    is done or sends something that is not HTTP. The caller closes the socket."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    with trio.move_on_after(READ_TIMEOUT):
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                # not HTTP (a TLS hello, ssh, garbage): answer 400 where we can, then close
                with contextlib.suppress(OSError, h11.LocalProtocolError):
                    out = conn.send(BAD_REQUEST) or b""
                    await _send(sock, out + (conn.send(h11.EndOfMessage()) or b""))
                return
            if event is h11.NEED_DATA:
                try:
                    data = await _recv(sock)
                except OSError:
                    return
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                location = redirect_target(url, event.target)
                body = f"Moved to {location}\n".encode()
                headers = [
                    ("location", location),
                    ("content-type", "text/plain; charset=utf-8"),
                    ("content-length", str(len(body))),
                    ("cache-control", "no-store"),
                ]
                try:
                    answer = h11.Response(status_code=307, headers=headers, reason=REDIRECT)
                    out = conn.send(answer) or b""
                    if event.method != b"HEAD":  # a HEAD answer has headers only
                        out += conn.send(h11.Data(data=body)) or b""
                    out += conn.send(h11.EndOfMessage()) or b""
                    await _send(sock, out)
                except (OSError, h11.LocalProtocolError):
                    return
                continue
            if isinstance(event, h11.EndOfMessage | h11.Data):
                continue
            if event is h11.PAUSED and conn.our_state is h11.DONE:
                try:
                    conn.start_next_cycle()
                except h11.LocalProtocolError:
                    return
                continue
            return  # ConnectionClosed, or a state we do not continue from
