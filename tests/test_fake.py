"""The fake remote.it must behave like the reference pages say; raw HTTP, no client code."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from rittunnel.fake import (
    ACCESS_KEY_ID,
    ACCESS_SECRET,
    DEVELOPER_KEY,
    PASSWORD,
    USERNAME,
    FakeRemoteIt,
    FakeService,
    client_env,
)
from rittunnel.remoteit.signing import SigningAuth

from .conftest import OFFLINE_ID, SSH_ID, WEB_ID, World

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

    key = {"DeveloperKey": DEVELOPER_KEY}  # signed REST still needs the developer key
    async with httpx.AsyncClient() as client:
        ok = await client.post(url, json=body, auth=good, headers=key)
        assert ok.status_code == 200 and ok.json()["status"] == "true"
        for auth, why in (
            (wrong, "signature does not match"),
            (Tamper(), "signature does not match"),
            (Stale(), "Date header too far"),
        ):
            bad = await client.post(url, json=body, auth=auth, headers=key)
            assert bad.status_code == 401, (why, bad.text, auth)
            assert why in bad.json()["reason"]
    world.fake.kill_proxy()


# -- a second connect replaces the first (API-NOTES, "Lifetime") ------------------------


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


async def test_second_connect_replaces_the_open_proxy(world: World) -> None:
    with trio.fail_after(DEADLINE):
        first = await rest_connect(world)
        assert "connectionOverridden" not in first and "previousConnection" not in first
        old_port = int(first["proxyport"])
        live = await trio.open_tcp_stream("127.0.0.1", old_port)
        async with live:
            await live.send_all(b"ping")
            assert await live.receive_some(100) == b"ping"
            second = await rest_connect(world)
            assert second["connectionOverridden"] == "true"
            assert second["previousConnection"] == f"http://127.0.0.1:{old_port}"
            assert second["connectionid"] != first["connectionid"]
            with trio.fail_after(5):
                assert await cut(live)  # the old proxy's live connection is cut
        await refused(old_port)  # and it accepts no more
        assert world.fake.proxies[first["connectionid"]].ended == "replaced"
        assert await talk(int(second["proxyport"])) == b"hi"
        assert [p.connection_id for p in world.fake.open_proxies] == [second["connectionid"]]


async def test_a_replaced_reverse_proxy_is_named_by_its_url(world: World) -> None:
    with trio.fail_after(DEADLINE):
        first = await rest_connect(world, deviceaddress=WEB_ID)
        second = await rest_connect(world, deviceaddress=WEB_ID)
        assert second["previousConnection"] == first["proxy"]
        assert first["proxy"].startswith("https://")


async def test_concurrent_connects_keep_both_proxies(world: World) -> None:
    with trio.fail_after(DEADLINE):
        first = await rest_connect(world)
        second = await rest_connect(world, concurrent=True)
        third = await rest_connect(world, concurrent="true")
        for conn in (second, third):
            assert "connectionOverridden" not in conn and "previousConnection" not in conn
        for conn in (first, second, third):
            assert await talk(int(conn["proxyport"])) == b"hi"
        assert len(world.fake.open_proxies) == 3
        fourth = await rest_connect(world)  # not concurrent: every other one goes
        assert fourth["previousConnection"] == third["proxy"]
        assert [p.connection_id for p in world.fake.open_proxies] == [fourth["connectionid"]]


async def test_proxy_type_port_gives_a_web_service_a_port_proxy(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_service(FakeService(WEB_ID, "pi-web", "HTTP", target=world.echo))
        reverse = await rest_connect(world, deviceaddress=WEB_ID)
        assert reverse["proxy"].endswith(".p18.rt3.io") and "proxyport" not in reverse
        port = await rest_connect(world, deviceaddress=WEB_ID, proxyType="port")
        assert port["proxy"] == f"http://127.0.0.1:{port['proxyport']}"
        assert await talk(int(port["proxyport"])) == b"hi"


# -- signed REST needs the developer key --------------------------------------------------


async def test_signed_rest_needs_the_developer_key(world: World) -> None:
    with trio.fail_after(DEADLINE):
        auth = SigningAuth(ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET))
        body = {"deviceaddress": SSH_ID, "wait": "true", "hostip": "0.0.0.0"}
        missing = "[0401] Missing or invalid developer key"
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{world.api_url}/device/connect", json=body, auth=auth)
            assert r.status_code == 200 and r.json() == {"status": "false", "reason": missing}
            r = await c.get(f"{world.api_url}/device/list/all", auth=auth)
            assert r.status_code == 200 and r.json()["reason"] == missing
            stop = {"deviceaddress": SSH_ID, "connectionid": "X"}
            r = await c.post(f"{world.api_url}/device/connect/stop", json=stop, auth=auth)
            assert r.status_code == 401 and r.json()["reason"] == missing
            assert world.fake.open_proxies == []
            key = {"DeveloperKey": DEVELOPER_KEY}  # header names are case-insensitive
            r = await c.post(f"{world.api_url}/device/connect", json=body, auth=auth, headers=key)
            assert r.status_code == 200 and r.json()["status"] == "true"
            cid = r.json()["connection"]["connectionid"]
            r = await c.get(f"{world.api_url}/device/list/all", auth=auth, headers=key)
            assert r.json()["status"] == "true"
            stop["connectionid"] = cid
            wrong = {"DEVELOPERKEY": "not-the-key"}
            r = await c.post(
                f"{world.api_url}/device/connect/stop", json=stop, auth=auth, headers=wrong
            )
            assert r.status_code == 401 and r.json()["reason"] == missing
            r = await c.post(
                f"{world.api_url}/device/connect/stop", json=stop, auth=auth, headers=key
            )
            assert r.status_code == 200 and r.json() == {"status": "true", "connectionid": cid}


# -- two-factor accounts --------------------------------------------------------------------


async def password_login(url: str, password: str = PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient() as c:
        return await c.post(
            f"{url}/user/login",
            headers={"developerkey": DEVELOPER_KEY},
            json={"username": USERNAME, "password": password},
        )


@pytest.mark.parametrize("code", ["SMS_MFA", "SOFTWARE_TOKEN_MFA", "MFA_SETUP"])
async def test_two_factor_login_answers_a_code_and_no_token(
    nursery: trio.Nursery, code: str
) -> None:
    with trio.fail_after(DEADLINE):
        fake = FakeRemoteIt([], mfa=code)
        url = await nursery.start(fake.serve)
        r = await password_login(url)
        data = r.json()
        assert r.status_code == 200 and data["status"] == "false" and data["code"] == code
        assert data["reason"] and "token" not in data and not fake.tokens
        bad = (await password_login(url, "wrong")).json()
        assert bad == {"status": "false", "reason": "[0102] The username or password is invalid"}


async def test_two_factor_answer_without_reason_and_over_control(nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        fake = FakeRemoteIt([], mfa="SMS_MFA", mfa_reason=False)
        url = await nursery.start(fake.serve)
        assert (await password_login(url)).json() == {"status": "false", "code": "SMS_MFA"}
        base = url.rsplit("/apv/", 1)[0]
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{base}/_fake/control", json={"mfa": None})
            assert r.json()["ok"]
            assert (await password_login(url)).json()["status"] == "true"
            r = await c.post(f"{base}/_fake/control", json={"mfa": "MFA_SETUP", "mfa_reason": True})
            data = (await password_login(url)).json()
            assert data["code"] == "MFA_SETUP" and data["reason"]
            r = await c.post(f"{base}/_fake/control", json={"mfa": "EMAIL_MFA"})
            assert r.status_code == 400 and not r.json()["ok"]
        with pytest.raises(ValueError, match="mfa"):
            FakeRemoteIt([], mfa="EMAIL_MFA")


# -- offline devices ----------------------------------------------------------------------


async def test_offline_and_not_responding_devices(world: World) -> None:
    with trio.fail_after(DEADLINE):
        async with httpx.AsyncClient() as c:
            token = await login(c, world.api_url)
            h = {"developerkey": DEVELOPER_KEY, "token": token}
            r = await c.post(
                f"{world.api_url}/device/connect", headers=h, json={"deviceaddress": OFFLINE_ID}
            )
            assert r.status_code == 200 and r.json() == {
                "status": "false",
                "reason": f"[0211] Device {OFFLINE_ID} is not active",
            }
            world.fake.fail_next("connect", "status_false:[0212] Device is not responding")
            r = await c.post(
                f"{world.api_url}/device/connect", headers=h, json={"deviceaddress": SSH_ID}
            )
            assert r.json() == {"status": "false", "reason": "[0212] Device is not responding"}
            assert [c.status for c in world.fake.calls_to("connect")] == ["false", "false"]
        assert world.fake.open_proxies == []


def test_fail_next_refuses_unknown_failures() -> None:
    fake = FakeRemoteIt([])
    for endpoint, failure in (
        ("connect", "http429"),  # GraphQL only
        ("gql_connect", "status_false:x"),  # REST only
        ("login", "explode"),
        ("connect", "hang:soon"),
    ):
        with pytest.raises(ValueError):
            fake.fail_next(endpoint, failure)
    fake.fail_next("gql_devices", "http429:3", "errors:boom", "reset", "delay:0.1")
    assert fake.knobs.failures == {
        "gql_devices": ["http429:3", "errors:boom", "reset", "delay:0.1"]
    }


def test_client_env_names_both_apis() -> None:
    env = client_env("http://127.0.0.1:4567/apv/v27", Path("/tmp/x"))
    assert env["RITTUNNEL_API_URL"] == "http://127.0.0.1:4567/apv/v27"
    assert env["RITTUNNEL_GRAPHQL_URL"] == "http://127.0.0.1:4567/graphql/v1"
    assert {"REMOTEIT_DEVELOPER_KEY", "REMOTEIT_USERNAME", "REMOTEIT_PASSWORD"} <= set(env)


async def test_scripted_nonsense_in_a_good_connect_answer(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.answer_next_connect(proxy="http://127.0.0.1:99999", expirationsec="inf")
        async with httpx.AsyncClient() as http:
            r = await http.post(
                world.api_url + "/user/login",
                json={"username": USERNAME, "password": PASSWORD},
                headers={"developerkey": DEVELOPER_KEY},
            )
            token = r.json()["token"]
            headers = {"developerkey": DEVELOPER_KEY, "token": token}
            body = {"deviceaddress": SSH_ID, "wait": "true", "concurrent": True}
            r = await http.post(world.api_url + "/device/connect", json=body, headers=headers)
            conn = r.json()["connection"]
            assert conn["proxy"] == "http://127.0.0.1:99999" and conn["expirationsec"] == "inf"
            assert len(world.fake.open_proxies) == 1  # the connection exists all the same
            stop = {"deviceaddress": SSH_ID, "connectionid": conn["connectionid"]}
            r = await http.post(world.api_url + "/device/connect/stop", json=stop, headers=headers)
            assert r.status_code == 200
            # stopped (or expired, or killed): a second stop is refused, it is gone
            r = await http.post(world.api_url + "/device/connect/stop", json=stop, headers=headers)
            assert r.status_code == 401 and "connectionid" in r.json()["reason"]
            world.fake.fail_next("list", "huge:3000000")
            r = await http.get(world.api_url + "/device/list/all", headers=headers)
            assert len(r.content) == 3000000


async def test_an_empty_fail_list_clears_what_is_queued(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.fail_next("gql_connect", "http429:5", "http429:5")
        async with httpx.AsyncClient() as http:
            r = await http.post(world.api_url.replace("/apv/v27", "") + "/_fake/control",
                                json={"fail": {"gql_connect": []}})  # fmt: skip
            assert r.status_code == 200
        assert world.fake.knobs.failures.get("gql_connect", []) == []


# -- connect_delay: connects take seconds, nothing else does ----------------------------


async def test_connect_delay_slows_connects_only(world: World) -> None:
    with trio.fail_after(DEADLINE):
        base = world.api_url.rsplit("/apv/", 1)[0]
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{base}/_fake/control", json={"connect_delay": 1.5})
            assert r.json()["ok"] and world.fake.knobs.connect_delay == 1.5
            start = trio.current_time()
            token = await login(c, world.api_url)
            h = {"developerkey": DEVELOPER_KEY, "token": token}
            r = await c.get(f"{world.api_url}/device/list/all", headers=h)
            assert r.json()["status"] == "true"
            assert trio.current_time() - start < 1  # login and listing do not wait
            answers: list[dict[str, Any]] = []

            async def connect() -> None:
                body = {"deviceaddress": SSH_ID, "wait": "true", "hostip": "0.0.0.0"}
                r = await c.post(f"{world.api_url}/device/connect", headers=h, json=body)
                answers.append(r.json())

            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(connect)
                await trio.sleep(0.3)
                assert world.fake.open_proxies == []  # no proxy before the answer
            assert trio.current_time() - start >= 1.5
            assert answers[0]["status"] == "true" and len(world.fake.open_proxies) == 1
            # a refused connect (unknown service) opens nothing and does not wait
            start = trio.current_time()
            r = await c.post(
                f"{world.api_url}/device/connect", headers=h, json={"deviceaddress": "nope"}
            )
            assert r.json()["status"] == "false" and trio.current_time() - start < 1


async def test_connect_delay_over_control_refuses_nonsense(world: World) -> None:
    with trio.fail_after(DEADLINE):
        base = world.api_url.rsplit("/apv/", 1)[0]
        async with httpx.AsyncClient() as c:
            for bad in (-1, "1", None, True):
                r = await c.post(f"{base}/_fake/control", json={"connect_delay": bad})
                assert r.status_code == 400 and "connect_delay" in r.json()["error"], bad
            r = await c.post(f"{base}/_fake/control", json={"connect_delay": 0})
            assert r.json()["ok"]
            state = (await c.get(f"{base}/_fake/state")).json()
        assert state["knobs"]["connect_delay"] == 0


def test_fake_api_command_line_sets_lifetime_idle_drop_and_connect_delay() -> None:
    from rittunnel.cli import build_parser
    from rittunnel.fake.cli import knobs_from

    parser = build_parser()
    argv = ["fake-api", "--expirationsec", "8", "--idle-sec", "3", "--connect-delay", "1.2"]
    knobs = knobs_from(parser.parse_args(argv))
    assert (knobs.expirationsec, knobs.idle_sec, knobs.connect_delay) == (8, 3.0, 1.2)
    knobs = knobs_from(parser.parse_args(["fake-api"]))
    assert (knobs.idle_sec, knobs.connect_delay) == (900.0, 0.0)
    for bad in ("-1", "soon", "nan", "inf"):
        with pytest.raises(SystemExit):
            parser.parse_args(["fake-api", "--connect-delay", bad])
        with pytest.raises(SystemExit):
            parser.parse_args(["fake-api", "--idle-sec", bad])
