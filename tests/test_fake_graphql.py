"""The fake remote.it's GraphQL API (``POST /graphql/v1``) must behave as
``docs/remoteit-api.md#graphql`` says: signed requests only, only the fields asked for,
refusals in ``errors``, 400 for what the schema lacks, 401/403/429 as text. Real HTTP
against the fake, no client code."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from rittunnel.fake import (
    ACCESS_KEY_ID,
    ACCESS_SECRET,
    DEVELOPER_KEY,
    FakeRemoteIt,
    FakeService,
    Knobs,
)
from rittunnel.fake.target import roundtrip
from rittunnel.remoteit.queries import DEVICES, DISCONNECT
from rittunnel.remoteit.signing import SigningAuth

from .conftest import OFFLINE_ID, SSH_ID, WEB_ID, World

DEADLINE = 30
LATCH = "255.255.255.255"
AUTH = SigningAuth(ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET))

CONNECT = """mutation Connect($serviceId: String!, $hostIP: String!, $type: ProxyType!) {
  connect(serviceId: $serviceId, hostIP: $hostIP, type: $type) {
    id host port reverseProxy url created timeout session { id }
  }
}"""
#: what remote.it's desktop sends (docs/remoteit-api.md#graphql-connect): no type, a nullable
#: hostIP
DESKTOP_CONNECT = """mutation Connect($serviceId: String!, $hostIP: String) {
  connect(serviceId: $serviceId, hostIP: $hostIP) { id created host port reverseProxy timeout }
}"""
# the client's own documents: the fake must take what rittunnel sends
CONNECTION_FIELDS = {"id", "host", "port", "reverseProxy", "url", "created", "timeout", "session"}


async def gql(
    fake: FakeRemoteIt,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    auth: httpx.Auth | None = AUTH,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    async with httpx.AsyncClient() as c:
        chosen = httpx.USE_CLIENT_DEFAULT if auth is None else auth
        return await c.post(fake.graphql_url, json=body, auth=chosen, headers=headers)


async def connect(
    fake: FakeRemoteIt, service: str, type_: str = "AUTO_PROXY", hostip: str = "0.0.0.0"
) -> dict[str, Any]:
    r = await gql(fake, CONNECT, {"serviceId": service, "hostIP": hostip, "type": type_})
    assert r.status_code == 200, r.text
    data = r.json()
    assert "errors" not in data, data
    conn: dict[str, Any] = data["data"]["connect"]
    return conn


async def echoes(port: int) -> bool:
    try:
        return await roundtrip(port, b"x" * 1000) == b"x" * 1000
    except OSError:
        return False


async def test_graphql_url_sits_beside_the_rest_base(world: World) -> None:
    origin = world.api_url.removesuffix("/apv/v27")
    assert world.fake.graphql_url == origin + "/graphql/v1"
    assert world.env["RITTUNNEL_GRAPHQL_URL"] == world.fake.graphql_url


async def test_connect_opens_a_real_port_proxy(world: World) -> None:
    with trio.fail_after(DEADLINE):
        conn = await connect(world.fake, SSH_ID, hostip="255.255.255.255")
        assert set(conn) == CONNECTION_FIELDS
        assert conn["host"] == "127.0.0.1" and isinstance(conn["port"], int)
        assert conn["reverseProxy"] is False
        assert conn["url"] == f"http://127.0.0.1:{conn['port']}"
        assert conn["timeout"] == world.fake.knobs.expirationsec
        assert conn["created"].endswith("Z") and conn["session"]["id"]
        assert await echoes(conn["port"])
        proxy = world.fake.proxies[conn["id"]]
        assert proxy.hostip == "255.255.255.255" and proxy.latched_ip == "127.0.0.1"
        assert len(world.fake.calls_to("gql_connect")) == 1


async def test_connect_delay_slows_connect_not_devices(
    world: World, loopback_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.knobs.connect_delay = 3  # far from what the rest takes, loaded or not
        start = trio.current_time()
        r = await gql(world.fake, DEVICES, {})
        assert r.json()["data"]["login"]["devices"]["total"] == 3
        assert trio.current_time() - start < 2.5
        answers: list[dict[str, Any]] = []

        async def connect_one() -> None:
            answers.append(await connect(world.fake, SSH_ID))

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connect_one)
            await trio.sleep(0.3)
            assert world.fake.open_proxies == []  # no proxy before the answer
        assert trio.current_time() - start >= 3
        assert await echoes(answers[0]["port"])


async def test_only_the_fields_asked_for_are_answered(world: World) -> None:
    with trio.fail_after(DEADLINE):
        r = await gql(world.fake, DESKTOP_CONNECT, {"serviceId": SSH_ID})
        assert set(r.json()["data"]["connect"]) == CONNECTION_FIELDS - {"url", "session"}
        proxy = world.fake.proxies[r.json()["data"]["connect"]["id"]]
        assert proxy.hostip == "255.255.255.255"  # the schema's default
        literal = f'mutation {{ c: connect(serviceId: "{SSH_ID}", type: PORT_PROXY) {{ port }} }}'
        r = await gql(world.fake, literal)
        assert list(r.json()["data"]) == ["c"] and list(r.json()["data"]["c"]) == ["port"]
        r = await gql(world.fake, "{ login { __typename devices(size: 1) { total } } }")
        assert r.json() == {"data": {"login": {"__typename": "User", "devices": {"total": 3}}}}


async def test_a_graphql_connect_does_not_replace_unless_told(world: World) -> None:
    with trio.fail_after(DEADLINE):
        first = await connect(world.fake, SSH_ID)
        second = await connect(world.fake, SSH_ID)
        assert await echoes(first["port"]) and await echoes(second["port"])
        world.fake.knobs.gql_connect_replaces = True
        third = await connect(world.fake, SSH_ID)
        assert await echoes(third["port"])
        assert not await echoes(first["port"]) and not await echoes(second["port"])
        assert world.fake.proxies[first["id"]].ended == "replaced"


async def test_web_services_get_reverse_proxies_unless_port_is_asked(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_service(FakeService(WEB_ID, "pi-web", "HTTPS", target=world.echo))
        for type_ in ("AUTO_PROXY", "REVERSE_PROXY"):
            conn = await connect(world.fake, WEB_ID, type_)
            assert conn["reverseProxy"] is True and conn["port"] is None
            assert conn["host"].endswith(".p18.rt3.io")
            assert conn["url"] == f"https://{conn['host']}"
        conn = await connect(world.fake, WEB_ID, "PORT_PROXY")
        assert conn["reverseProxy"] is False and conn["host"] == "127.0.0.1"
        assert await echoes(conn["port"])
        r = await gql(
            world.fake, CONNECT, {"serviceId": SSH_ID, "hostIP": "0.0.0.0", "type": "REVERSE_PROXY"}
        )
        assert r.json()["data"] == {"connect": None} and r.json()["errors"][0]["message"]


async def test_disconnect_ends_the_proxy(world: World) -> None:
    with trio.fail_after(DEADLINE):
        conn = await connect(world.fake, SSH_ID)
        assert await echoes(conn["port"])
        r = await gql(world.fake, DISCONNECT, {"connectionId": conn["id"], "serviceId": SSH_ID})
        assert r.status_code == 200 and r.json() == {"data": {"disconnect": True}}
        assert world.fake.proxies[conn["id"]].ended == "stopped"
        with trio.fail_after(5):
            while await echoes(conn["port"]):
                await trio.sleep(0.05)
        r = await gql(world.fake, DISCONNECT, {"connectionId": "NOPE"})
        assert r.status_code == 200  # a connection it no longer has: false, no error
        assert r.json() == {"data": {"disconnect": False}}
        r = await gql(world.fake, DISCONNECT, {"connectionId": conn["id"]})
        assert r.json() == {"data": {"disconnect": False}}  # stopped already
        assert len(world.fake.calls_to("gql_disconnect")) == 3


async def test_refusals_are_errors_with_a_null_result(world: World) -> None:
    with trio.fail_after(DEADLINE):
        for service, words in (
            ("80:00:00:00:DE:AD:BE:EF", "not found"),
            (OFFLINE_ID, "inactive"),
        ):
            r = await gql(
                world.fake, CONNECT, {"serviceId": service, "hostIP": LATCH, "type": "AUTO_PROXY"}
            )
            assert r.status_code == 200
            data = r.json()
            assert data["data"] == {"connect": None}
            [error] = data["errors"]
            assert words in error["message"] and error["path"] == ["connect"]
        assert world.fake.open_proxies == []


async def test_devices_pages_are_cut_to_page_max(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        services = [
            FakeService(f"80:00:00:00:00:00:01:{i:02X}", f"svc-{i}", device=f"dev-{i // 3}")
            for i in range(30)
        ] + [FakeService(f"80:00:00:00:00:00:02:{i:02X}", f"solo-{i}") for i in range(5)]
        fake = FakeRemoteIt(services, knobs=Knobs(page_max=4))
        await nursery.start(fake.serve)
        seen: list[str] = []
        start, pages = 0, 0
        while True:
            r = await gql(fake, DEVICES, {"size": 10, "from": start})
            devices = r.json()["data"]["login"]["devices"]
            assert devices["total"] == 15 and len(devices["items"]) <= 4
            for item in devices["items"]:
                seen += [s["id"] for s in item["services"]]
                assert {s["title"] for s in item["services"]} == {"SSH"}
            start += len(devices["items"])
            pages += 1
            if not devices["hasMore"]:
                break
        assert pages == 4 and sorted(seen) == sorted(s.address for s in services)
        first = (await gql(fake, DEVICES, {})).json()["data"]["login"]["devices"]
        assert [d["name"] for d in first["items"]] == ["dev-0", "dev-1", "dev-2", "dev-3"]
        assert len(first["items"][0]["services"]) == 3


async def test_devices_state_and_size_limit(world: World) -> None:
    with trio.fail_after(DEADLINE):
        r = await gql(world.fake, DEVICES, {})
        items = r.json()["data"]["login"]["devices"]["items"]
        states = {d["name"]: (d["state"], d["services"][0]["state"]) for d in items}
        assert states["pi-off"] == ("inactive", "inactive")
        assert states["pi-ssh"] == ("active", "active")
        r = await gql(world.fake, DEVICES, {"size": 1001})
        assert r.status_code == 200
        assert r.json()["data"] == {"login": {"devices": None}}
        assert r.json()["errors"][0]["path"] == ["login", "devices"]
        assert len(world.fake.calls_to("gql_devices")) == 2


async def test_unsigned_or_badly_signed_is_401_text(world: World) -> None:
    with trio.fail_after(DEADLINE):
        variables = {"serviceId": SSH_ID, "hostIP": LATCH, "type": "AUTO_PROXY"}
        wrong = SigningAuth(ACCESS_KEY_ID, b"not the secret")
        for auth, headers in ((None, {"developerkey": DEVELOPER_KEY}), (wrong, None)):
            r = await gql(world.fake, CONNECT, variables, auth=auth, headers=headers)
            assert r.status_code == 401
            assert r.headers["content-type"] == "text/plain" and r.text == "Unauthorized"
        assert world.fake.open_proxies == []
        # a developer key, even a wrong one, does not matter to GraphQL
        r = await gql(world.fake, CONNECT, variables, headers={"developerkey": "wrong"})
        assert r.status_code == 200 and r.json()["data"]["connect"]["id"]


async def test_scripted_throttling_and_auth_failures(world: World) -> None:
    with trio.fail_after(DEADLINE):
        variables = {"serviceId": SSH_ID, "hostIP": LATCH, "type": "AUTO_PROXY"}
        world.fake.fail_next("gql_connect", "http429:7", "http429", "http401", "http403")
        r = await gql(world.fake, CONNECT, variables)
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert r.text == "Your API usage has been throttled"
        r = await gql(world.fake, CONNECT, variables)
        assert r.status_code == 429 and "retry-after" not in r.headers
        r = await gql(world.fake, CONNECT, variables)
        assert (r.status_code, r.text) == (401, "Unauthorized")
        r = await gql(world.fake, CONNECT, variables)
        assert (r.status_code, r.text) == (403, "Forbidden")
        assert world.fake.open_proxies == []
        r = await gql(world.fake, CONNECT, variables)
        assert r.status_code == 200 and r.json()["data"]["connect"]["port"]
        assert [c.http_status for c in world.fake.calls_to("gql_connect")] == [
            429,
            429,
            401,
            403,
            200,
        ]


async def test_scripted_errors_and_outages(world: World) -> None:
    with trio.fail_after(DEADLINE):
        variables = {"serviceId": SSH_ID, "hostIP": LATCH, "type": "AUTO_PROXY"}
        world.fake.fail_next("gql_connect", "errors:Device is not responding", "html502")
        r = await gql(world.fake, CONNECT, variables)
        assert r.status_code == 200 and r.json() == {
            "data": {"connect": None},
            "errors": [{"message": "Device is not responding", "path": ["connect"]}],
        }
        r = await gql(world.fake, CONNECT, variables)
        assert r.status_code == 502 and b"Bad Gateway" in r.content
        world.fake.fail_next("gql_devices", "errors:busy", "reset")
        r = await gql(world.fake, DEVICES, {})
        assert r.json()["data"] == {"login": {"devices": None}}
        with pytest.raises(httpx.TransportError):
            await gql(world.fake, DEVICES, {})
        world.fake.fail_next("gql_disconnect", "delay:0.2")  # waits, then answers
        before = trio.current_time()
        r = await gql(world.fake, DISCONNECT, {"connectionId": "NOPE"})
        assert trio.current_time() - before >= 0.2 and r.json()["data"] == {"disconnect": False}
        assert world.fake.open_proxies == []


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            "mutation { connect(serviceId: $s) { id bogus } }",
            {},
            'Variable "$s" is not defined.',
        ),
        (
            'mutation { connect(serviceId: "x") { id bogus } }',
            {},
            'Cannot query field "bogus" on type "Connection".',
        ),
        (
            'mutation { connect(serviceId: "x") }',
            {},
            'Field "connect" of type "Connection!" must have a selection of subfields.',
        ),
        (
            'mutation { connect(serviceId: "x", ttl: 5) { id } }',
            {},
            'Unknown argument "ttl" on field "Mutation.connect".',
        ),
        (
            "mutation { connect { id } }",
            {},
            'Field "connect" argument "serviceId" of type "String!" is required',
        ),
        (
            'mutation { connect(serviceId: "x", type: "PORT_PROXY") { id } }',
            {},
            'Expected value of type "ProxyType!", found "PORT_PROXY".',
        ),
        (
            "mutation C($s: String) { connect(serviceId: $s) { id } }",
            {"s": SSH_ID},
            'Variable "$s" of type "String" used in position expecting type "String!".',
        ),
        (
            "mutation C($s: String!) { connect(serviceId: $s) { id } }",
            {},
            'Variable "$s" of required type "String!" was not provided.',
        ),
        (
            "mutation C($s: String!, $x: Int) { connect(serviceId: $s) { id } }",
            {"s": SSH_ID},
            'Variable "$x" is never used in operation "C".',
        ),
        (
            "{ login { devices(size: 10) { total items { id port } } } }",
            {},
            'Cannot query field "port" on type "Device".',
        ),
        ("{ login { devices { total { x } } } }", {}, "must not have a selection"),
        (
            "mutation C($s: String!) { connect(serviceId: [$s]) { id } }",
            {"s": SSH_ID},
            'Expected value of type "String!", found ["$s"].',
        ),
        (
            "mutation { connect(serviceId: PI) { id } }",
            {},
            'Expected value of type "String!", found PI.',
        ),
        ("{ login { devices { total } }", {}, "Syntax Error: Expected Name, found <EOF>."),
        ("{ login { ...F } }", {}, "Fragments are not supported"),
        ("{ login @include(if: true) { id } }", {}, "Directives are not supported"),
    ],
)
async def test_documents_the_schema_lacks_are_400(
    world: World, query: str, variables: dict[str, Any], message: str
) -> None:
    with trio.fail_after(DEADLINE):
        r = await gql(world.fake, query, variables)
        assert r.status_code == 400, r.text
        [error] = r.json()["errors"]
        assert message in error["message"]
        assert "data" not in r.json() and world.fake.open_proxies == []


async def test_warning_header_on_both_apis(world: World) -> None:
    with trio.fail_after(DEADLINE):
        r = await gql(world.fake, DEVICES, {})
        assert "x-r3-warning" not in r.headers
        world.fake.knobs.warning = "121 - this client is deprecated"
        r = await gql(world.fake, DEVICES, {})
        assert r.headers["x-r3-warning"] == "121 - this client is deprecated"
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{world.api_url}/user/login", json={})
        assert r.headers["x-r3-warning"].startswith("121")
