"""The fake remote.it must behave like the reference pages say; raw HTTP, no client code."""

from __future__ import annotations

import json

import httpx
import trio

from rittunnel.fake import DEVELOPER_KEY, PASSWORD, USERNAME

from .conftest import SSH_ID, WEB_ID, World

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


async def test_connect_answer_matches_the_pages(world: World) -> None:
    with trio.fail_after(DEADLINE):
        async with httpx.AsyncClient() as c:
            token = await login(c, world.api_url)
            h = {"developerkey": DEVELOPER_KEY, "token": token}
            # no Content-Type, like the docs' curl example
            r = await c.post(
                f"{world.api_url}/device/connect",
                headers=h,
                content=json.dumps(
                    {"deviceaddress": SSH_ID, "wait": "true", "hostip": "255.255.255.255"}
                ),
            )
            assert r.status_code == 200
            assert b'"proxy": "http:\\/\\/127.0.0.1:' in r.content  # escaped slashes
            conn = r.json()["connection"]
            assert r.json()["status"] == "true"
            assert isinstance(conn["expirationsec"], str) and conn["expirationsec"].isdigit()
            assert {"proxyserver", "proxyport", "latchedIP", "proxyExpirationSec"} <= set(conn)

            r = await c.post(
                f"{world.api_url}/device/connect",
                headers=h,
                json={"deviceaddress": WEB_ID, "wait": "true"},
            )
            assert r.json()["connection"]["proxy"].endswith(".p18.rt3.io")

            # stop: 200 on success, 401 with a reason on a bad id
            r = await c.post(
                f"{world.api_url}/device/connect/stop",
                headers=h,
                json={"deviceaddress": SSH_ID, "connectionid": conn["connectionid"]},
            )
            assert r.status_code == 200 and r.json() == {
                "status": "true",
                "connectionid": conn["connectionid"],
            }
            r = await c.post(
                f"{world.api_url}/device/connect/stop",
                headers=h,
                json={"deviceaddress": SSH_ID, "connectionid": "nope"},
            )
            assert r.status_code == 401 and r.json()["status"] == "false" and r.json()["reason"]


async def test_errors_are_http_200_status_false(world: World) -> None:
    with trio.fail_after(DEADLINE):
        async with httpx.AsyncClient() as c:
            r = await c.post(
                f"{world.api_url}/user/login",
                headers={"developerkey": DEVELOPER_KEY},
                json={"username": USERNAME, "password": "bad"},
            )
            assert r.status_code == 200
            assert r.json() == {
                "status": "false",
                "reason": "[0102] The username or password is invalid",
            }
            r = await c.post(
                f"{world.api_url}/device/connect",
                headers={"developerkey": DEVELOPER_KEY, "token": "bogus"},
                json={"deviceaddress": SSH_ID, "wait": "true"},
            )
            assert r.status_code == 200 and r.json()["status"] == "false"


async def test_list_all(world: World) -> None:
    with trio.fail_after(DEADLINE):
        async with httpx.AsyncClient() as c:
            token = await login(c, world.api_url)
            r = await c.get(
                f"{world.api_url}/device/list/all",
                headers={"developerkey": DEVELOPER_KEY, "token": token},
            )
            devices = r.json()["devices"]
            assert {d["devicealias"] for d in devices} == {"pi-ssh", "pi-web", "pi-off"}
            assert {"deviceaddress", "servicetitle", "devicestate"} <= set(devices[0])


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


async def test_latching_lets_only_the_first_ip_in(world: World) -> None:
    with trio.fail_after(DEADLINE):
        _, port = await connect_proxy(world, "255.255.255.255")
        assert await talk(port, "127.0.0.1") == b"hi"
        assert await talk(port, "127.0.0.2") == b""  # another IP is refused
        assert await talk(port, "127.0.0.1") == b"hi"


async def test_restricted_and_public(world: World) -> None:
    with trio.fail_after(DEADLINE):
        _, port = await connect_proxy(world, None)  # the caller's IP: 127.0.0.1
        assert await talk(port, "127.0.0.2") == b""
        assert await talk(port, "127.0.0.1") == b"hi"
        _, port = await connect_proxy(world, "203.0.113.7")
        assert await talk(port, "127.0.0.1") == b""
        _, port = await connect_proxy(world, "0.0.0.0")
        assert await talk(port, "127.0.0.3") == b"hi"
        assert await talk(port, "127.0.0.1") == b"hi"


async def test_expiry_and_kill_close_the_listener(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.knobs.expirationsec = 1
        cid, port = await connect_proxy(world, "0.0.0.0")
        assert await talk(port) == b"hi"
        await trio.sleep(1.5)
        assert world.fake.proxies[cid].ended == "expired"
        try:
            await talk(port)
            raise AssertionError("connected to an expired proxy")
        except OSError:
            pass
        world.fake.knobs.expirationsec = 100
        cid, port = await connect_proxy(world, "0.0.0.0")
        assert world.fake.kill_proxy(cid) == 1
        await trio.sleep(0.1)
        assert world.fake.proxies[cid].ended == "killed"


async def test_knobs_over_http(world: World) -> None:
    with trio.fail_after(DEADLINE):
        base = world.api_url.rsplit("/apv/", 1)[0]
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{base}/_fake/control", json={"fail": {"login": ["html502"]}})
            assert r.json()["ok"]
            r = await c.post(f"{world.api_url}/user/login", json={})
            assert r.status_code == 502 and b"502 Bad Gateway" in r.content
            state = (await c.get(f"{base}/_fake/state")).json()
            assert state["calls"][-1]["http_status"] == 502


async def test_fake_verifies_request_signatures(world: World) -> None:
    import base64

    import httpx

    from rittunnel.fake import ACCESS_KEY_ID, ACCESS_SECRET
    from rittunnel.remoteit.signing import SigningAuth

    good = SigningAuth(ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET))
    wrong = SigningAuth(ACCESS_KEY_ID, b"not the secret")
    url = world.api_url + "/device/connect"
    body = {"deviceaddress": SSH_ID, "wait": "true", "hostip": "255.255.255.255"}

    class Tamper(httpx.Auth):
        """Signs, then changes the body (and its Content-Length, or HTTP framing would
        break) as a man in the middle would. The scheme signs Content-Length, not the
        body bytes, so this is what a server can catch."""

        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            request = next(good.auth_flow(request))
            tampered = request.content.replace(b"255.255.255.255", b"0.0.0.0")
            headers = httpx.Headers(request.headers)
            headers["content-length"] = str(len(tampered))
            yield httpx.Request(request.method, request.url, headers=headers, content=tampered)

    class Stale(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            signed = next(good.auth_flow(request))
            signed.headers["date"] = "Sun, 22 Nov 2026 08:00:00 GMT"  # hours off, signed anew
            from rittunnel.remoteit.signing import authorization

            headers = {k.lower(): v for k, v in signed.headers.items()}
            signed.headers["authorization"] = authorization(
                ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET), "POST",
                signed.url.raw_path.decode(), headers,
            )  # fmt: skip
            yield signed

    async with httpx.AsyncClient() as client:
        ok = await client.post(url, json=body, auth=good)
        assert ok.status_code == 200 and ok.json()["status"] == "true"
        for auth, why in (
            (wrong, "signature does not match"),
            (Tamper(), "signature does not match"),
            (Stale(), "Date header too far"),
        ):
            bad = await client.post(url, json=body, auth=auth)
            assert bad.status_code == 401, (why, bad.text, auth)
            assert why in bad.json()["reason"]
    world.fake.kill_proxy()
