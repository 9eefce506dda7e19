from __future__ import annotations

import socket

import trio

from rittunnel.tunnel.redirect import redirect_target, serve_redirect


def test_redirect_target_keeps_path_and_query() -> None:
    url = "https://abc.p18.rt3.io"
    assert redirect_target(url, b"/x/y?q=1") == "https://abc.p18.rt3.io/x/y?q=1"
    assert redirect_target(url + "/", b"/") == "https://abc.p18.rt3.io/"
    assert redirect_target(url, b"http://localhost:8080/p?a") == "https://abc.p18.rt3.io/p?a"
    assert redirect_target(url, b"localhost:8080") == "https://abc.p18.rt3.io/"


async def test_keep_alive_requests_each_get_a_redirect(nursery: trio.Nursery) -> None:
    with trio.fail_after(10):
        a, b = socket.socketpair()
        a.setblocking(False)
        nursery.start_soon(serve_redirect, a, "https://abc.p18.rt3.io")
        b.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nHEAD /two?z HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        b.setblocking(False)
        while got.count(b"HTTP/1.1 307 Temporary Redirect\r\n") < 2:
            await trio.lowlevel.wait_readable(b)
            got += b.recv(65536)
        assert b"location: https://abc.p18.rt3.io/one" in got
        assert b"location: https://abc.p18.rt3.io/two?z" in got
        b.close()


async def test_garbage_is_dropped(nursery: trio.Nursery) -> None:
    with trio.fail_after(10):
        a, b = socket.socketpair()
        a.setblocking(False)
        done = trio.Event()

        async def run() -> None:
            await serve_redirect(a, "https://abc.p18.rt3.io")
            done.set()

        nursery.start_soon(run)
        b.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        await done.wait()  # it returned: no waiting for more from a client that is not HTTP
        a.close()
        b.settimeout(5)
        answer = b""
        while chunk := b.recv(65536):  # what it sent, then the end: a.close() above
            answer += chunk
        b.close()
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer  # a 400, and no redirect
        assert b"location" not in answer.lower()
        assert answer.endswith(b"\r\n\r\n")  # a whole answer: no body to wait for
