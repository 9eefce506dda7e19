"""Raw-HTTP helpers of the fake's tests (``tests/test_fake*.py``): log in, connect over
REST, talk through a proxy."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from rittunnel.fake import DEVELOPER_KEY, PASSWORD, USERNAME

from .conftest import SSH_ID, World

DEADLINE = 30


async def login(c: httpx.AsyncClient, url: str) -> str:
    r = await c.post(
        f"{url}/user/login",
        headers={"developerkey": DEVELOPER_KEY},
        content=json.dumps({"username": USERNAME, "password": PASSWORD}),
    )
    data = r.json()
    assert r.status_code == 200 and data["status"] == "true"
    assert {"token", "email", "service_authhash", "auth_token", "auth_expiration"} <= set(data)
    token: str = data["token"]
    return token


async def connect_proxy(world: World, hostip: str | None) -> tuple[str, int]:
    async with httpx.AsyncClient() as c:
        token = await login(c, world.api_url)
        body = {"deviceaddress": SSH_ID, "wait": "true"}
        if hostip is not None:
            body["hostip"] = hostip
        r = await c.post(
            f"{world.api_url}/device/connect",
            headers={"developerkey": DEVELOPER_KEY, "token": token},
            json=body,
        )
        conn = r.json()["connection"]
        return conn["connectionid"], int(conn["proxyport"])


async def talk(port: int, source: str = "127.0.0.1") -> bytes:
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    out = b""
    async with stream:
        try:  # a refused client is closed at once: its writes may fail
            await stream.send_all(b"hi")
            await stream.send_eof()
            while chunk := await stream.receive_some(100):
                out += chunk
        except trio.BrokenResourceError:
            pass
    return out


async def rest_connect(world: World, **fields: object) -> dict[str, Any]:
    """A password-login connect of ``fields`` (``deviceaddress`` defaults to SSH_ID)."""
    async with httpx.AsyncClient() as c:
        token = await login(c, world.api_url)
        r = await c.post(
            f"{world.api_url}/device/connect",
            headers={"developerkey": DEVELOPER_KEY, "token": token},
            json={"deviceaddress": SSH_ID, "wait": "true", "hostip": "0.0.0.0", **fields},
        )
    data: dict[str, Any] = r.json()
    assert r.status_code == 200 and data["status"] == "true", data
    conn: dict[str, Any] = data["connection"]
    return conn


async def refused(port: int, within: float = 5) -> None:
    """Wait until nothing listens on ``port`` any more (fails after ``within`` s)."""
    with trio.fail_after(within):
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                return
            await stream.aclose()
            await trio.sleep(0.05)


async def cut(stream: trio.SocketStream) -> bool:
    """Whether the peer ended ``stream`` (EOF or reset) instead of echoing."""
    try:
        await stream.send_all(b"more")
        return await stream.receive_some(100) == b""
    except trio.BrokenResourceError:
        return True


async def password_login(url: str, password: str = PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient() as c:
        return await c.post(
            f"{url}/user/login",
            headers={"developerkey": DEVELOPER_KEY},
            json={"username": USERNAME, "password": password},
        )
