"""The fake remote.it's REST API (``rittunnel.fake.rest``) must behave as
``docs/remoteit-api.md`` describes the real one; raw HTTP, no client code."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import trio

from rittunnel.fake import (
    DEVELOPER_KEY,
    PASSWORD,
    USERNAME,
    FakeService,
    client_env,
)

from .conftest import OFFLINE_ID, SSH_ID, WEB_ID, World
from .fake_client import (
    DEADLINE,
    login,
    rest_connect,
    talk,
)


async def test_connect_answer_matches_the_pages(world: World) -> None:
    with trio.fail_after(DEADLINE):
        async with httpx.AsyncClient() as c:
            token = await login(c, world.api_url)
            h = {"developerkey": DEVELOPER_KEY, "token": token}
            # no Content-Type, like remote.it's curl example (docs/remoteit-api.md#content-type)
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
            services = [d for d in devices if d["servicetitle"] != "Bulk Service"]
            assert {d["devicealias"] for d in services} == {"pi-ssh", "pi-web", "pi-off"}
            assert {"deviceaddress", "servicetitle", "devicestate"} <= set(devices[0])
            # each service is a device of its own here: one device entry before each,
            # named as the device (= the service), with the device's address
            entries = [d for d in devices if d["servicetitle"] == "Bulk Service"]
            assert [d["devicealias"] for d in entries] == [d["devicealias"] for d in services]
            addresses = {d["deviceaddress"] for d in services}
            assert not {d["deviceaddress"] for d in entries} & addresses
            assert devices[0]["servicetitle"] == "Bulk Service"


async def test_proxy_type_port_gives_a_web_service_a_port_proxy(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_service(FakeService(WEB_ID, "pi-web", "HTTP", target=world.echo))
        reverse = await rest_connect(world, deviceaddress=WEB_ID)
        assert reverse["proxy"].endswith(".p18.rt3.io") and "proxyport" not in reverse
        port = await rest_connect(world, deviceaddress=WEB_ID, proxyType="port")
        assert port["proxy"] == f"http://127.0.0.1:{port['proxyport']}"
        assert await talk(int(port["proxyport"])) == b"hi"


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


def test_client_env_names_both_apis() -> None:
    env = client_env("http://127.0.0.1:4567/apv/v27", Path("/tmp/x"))
    assert env["RITTUNNEL_API_URL"] == "http://127.0.0.1:4567/apv/v27"
    assert env["RITTUNNEL_GRAPHQL_URL"] == "http://127.0.0.1:4567/graphql/v1"
    assert {"REMOTEIT_DEVELOPER_KEY", "REMOTEIT_USERNAME", "REMOTEIT_PASSWORD"} <= set(env)
