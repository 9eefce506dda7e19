"""The GraphQL client against the fake: signed calls, paging, throttling, refusals, and
every failure mapped to our error tree."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
import trio

from rittunnel.errors import (
    ApiRefused,
    ApiUnavailable,
    AuthError,
    ConnectionGone,
    CredentialsError,
)
from rittunnel.fake import ACCESS_KEY_ID, ACCESS_SECRET, DEVELOPER_KEY, FakeService
from rittunnel.fake.target import roundtrip
from rittunnel.remoteit import queries
from rittunnel.remoteit.credentials import AccessKey, Credentials
from rittunnel.remoteit.graphql import GraphQLClient
from rittunnel.remoteit.protocol import PortProxy, ReverseProxy, is_gone
from rittunnel.report import Reporter

from .conftest import OFFLINE_ID, SSH_ID, WEB_ID, World

KEY = Credentials("", access_key=AccessKey(ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET)))
DEADLINE = 20


def client(world: World, creds: Credentials = KEY, **kw: object) -> GraphQLClient:
    return GraphQLClient(world.fake.graphql_url, creds, **kw)  # type: ignore[arg-type]


async def test_connect_relay_and_disconnect(world: World) -> None:
    with trio.fail_after(DEADLINE):
        async with client(world) as api:
            conn = await api.connect(SSH_ID, "latching", None)
            assert isinstance(conn.proxy, PortProxy) and conn.expires_in is not None
            assert conn.service == SSH_ID
            with trio.socket.socket() as probe:
                await probe.connect((conn.proxy.host, conn.proxy.port))
            await api.stop(SSH_ID, conn.connection_id)
        assert world.fake.open_proxies == []
        [call] = world.fake.calls_to("gql_connect")
        assert call.headers["authorization"].startswith(f'Signature keyId="{ACCESS_KEY_ID}"')


async def test_a_web_service_gives_a_reverse_proxy_unless_a_port_is_asked(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_service(
            FakeService("80:00:00:00:00:00:0c:02", "w", "HTTP", target=world.echo)
        )
        async with client(world) as api:
            conn = await api.connect(WEB_ID, "latching", None)
            assert isinstance(conn.proxy, ReverseProxy)
            assert conn.proxy.url.startswith("https://")
            port = await api.connect("80:00:00:00:00:00:0c:02", "latching", None, "port")
            assert isinstance(port.proxy, PortProxy)
            assert await roundtrip(port.proxy.port, b"web bytes") == b"web bytes"
            for c in (conn, port):
                await api.stop(c.service, c.connection_id)


async def test_services_of_every_page(world: World) -> None:
    with trio.fail_after(DEADLINE):
        for i in range(7):
            world.fake.add_service(FakeService(f"80:00:00:00:00:00:0d:{i:02x}", f"extra-{i}"))
        world.fake.knobs.page_max = 3  # fewer than asked for: page by what came
        async with client(world, page_size=1000) as api:
            services = await api.list_services()
        addresses = [s.address for s in services]
        assert len(addresses) == len(set(addresses)) == len(world.fake.services)
        assert len(world.fake.calls_to("gql_devices")) == 4  # 10 devices, 3 a page
        ssh = next(s for s in services if s.address == SSH_ID)
        assert (ssh.name, ssh.type, ssh.state) == ("pi-ssh", "SSH", "active")


async def test_throttling_is_waited_out_then_given_up(world: World, autojump_clock: object) -> None:
    err = io.StringIO()
    with trio.fail_after(DEADLINE):
        world.fake.fail_next("gql_connect", "http429:2", "http429")
        async with client(world, reporter=Reporter(err=err, verbose=True)) as api:
            conn = await api.connect(SSH_ID, "latching", None)
            await api.stop(SSH_ID, conn.connection_id)
            world.fake.fail_next("gql_devices", *["http429:1"] * 10)
            with pytest.raises(ApiUnavailable, match="HTTP 429") as info:
                await api.list_services()
            assert info.value.retry_after == 1.0
        assert len(world.fake.calls_to("gql_connect")) == 3
        assert "throttled by remote.it; waiting 2s" in err.getvalue()


async def test_refusals_and_auth(world: World) -> None:
    with trio.fail_after(DEADLINE):
        async with client(world) as api:
            with pytest.raises(ApiRefused) as info:
                await api.connect("80:00:00:00:00:00:99:99", "latching", None)
            assert not info.value.transient
            with pytest.raises(ApiRefused) as info:
                await api.connect(OFFLINE_ID, "latching", None)
            assert info.value.offline and info.value.transient
            world.fake.fail_next("gql_connect", "http401")
            with pytest.raises(AuthError, match="check the access key"):
                await api.connect(SSH_ID, "latching", None)
        wrong = AccessKey(ACCESS_KEY_ID, b"not the secret", source="test key")
        async with client(world, Credentials("", access_key=wrong)) as api:
            with pytest.raises(AuthError, match=r"check the access key \(test key\)"):
                await api.connect(SSH_ID, "latching", None)


def test_graphql_needs_an_access_key() -> None:
    with pytest.raises(CredentialsError, match="needs an access key"):
        GraphQLClient("http://127.0.0.1:9/graphql/v1", Credentials(DEVELOPER_KEY, "u", "p"))


class Scripted(GraphQLClient):
    """A client whose answers are scripted (per operation), to try shapes the fake does
    not give."""

    def __init__(self, answers: dict[str, list[object]]) -> None:
        super().__init__("http://127.0.0.1:9/graphql/v1", KEY)
        self.answers = answers
        self.asked: list[dict[str, object]] = []

    async def _call(
        self,
        document: str,
        variables: dict[str, Any],
        what: str,
        op: str,
        partial: list[dict[str, Any]] | None = None,
    ) -> Any:
        if document == queries.ORGANIZATIONS:
            return {"membership": []}
        self.asked.append(variables)
        return self.answers[op].pop(0)


def page(*ids: str, more: bool = True) -> dict[str, object]:
    items = [{"id": i, "name": i, "state": "active", "services": [{"id": i, "name": i}]}
             for i in ids]  # fmt: skip
    return {"devices": {"total": 1, "hasMore": more, "items": items}}


async def test_a_server_that_always_says_has_more_is_not_followed_forever() -> None:
    api = Scripted({"login": [page("a", "b"), page("c"), page("c"), page("c")]})
    services = await api.list_services()
    assert [s.address for s in services] == ["a", "b", "c"]  # each once
    assert [v["from"] for v in api.asked] == [0, 2, 3]  # stopped at a page of no new device
    await api.aclose()


async def test_paging_follows_has_more_past_devices_without_services() -> None:
    """A page of devices without services brings no new service; the next page's
    services are listed all the same (paging follows ``hasMore``)."""
    bare = {"devices": {"hasMore": True, "items": [{"id": "d1", "services": []}]}}
    api = Scripted({"login": [bare, page("s", more=False)]})
    services = await api.list_services()
    assert [s.address for s in services] == ["s"]
    assert [v["from"] for v in api.asked] == [0, 1]
    await api.aclose()


async def test_services_of_organisations_are_listed_and_marked(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_organization("ORG-1", "Acme")
        world.fake.add_organization("ORG-2", "Globex")
        world.fake.add_service(FakeService("80:00:00:00:00:00:0e:01", "db", org="ORG-1"))
        world.fake.add_service(FakeService("80:00:00:00:00:00:0e:02", "pi-ssh", org="ORG-2"))
        world.fake.knobs.page_max = 1
        async with client(world) as api:
            services = await api.list_services()
        accounts = {s.address: s.account for s in services}
        assert accounts["80:00:00:00:00:00:0e:01"] == "Acme"
        assert accounts["80:00:00:00:00:00:0e:02"] == "Globex"
        assert accounts[SSH_ID] == ""
        assert len(services) == len(world.fake.services)
        # one call for the organisations; a page a device (page_max 1) of each account
        assert len(world.fake.calls_to("gql_membership")) == 1
        assert len(world.fake.calls_to("gql_devices")) == 3 + 1 + 1


async def test_a_partial_answer_lists_the_rest_and_names_the_device(world: World) -> None:
    err = io.StringIO()
    with trio.fail_after(DEADLINE):
        world.fake.knobs.broken_devices = ["pi-web"]
        world.fake.add_organization("ORG-1", "Acme")
        async with client(world, reporter=Reporter(err=err)) as api:
            world.fake.fail_next("gql_devices", "pass", "errors:not a member")
            services = await api.list_services()
        assert {s.name for s in services} == {"pi-ssh", "pi-off"}
        said = err.getvalue()
        assert "did not give the services of device 'pi-web'" in said
        assert "Could not load the services" in said
        assert "organisation 'Acme' are not listed: " in said and "not a member" in said
        assert "access key" not in said


async def test_a_disconnect_that_says_false_means_the_connection_is_gone() -> None:
    api = Scripted({"disconnect": [False, "maybe"]})
    with pytest.raises(ConnectionGone, match="no longer has connection c1") as gone:
        await api.stop(SSH_ID, "c1")
    assert is_gone(gone.value)  # counts as stopped: nothing is left for cleanup
    with pytest.raises(ApiRefused, match="disconnect 'maybe'") as info:
        await api.stop(SSH_ID, "c1")
    assert info.value.transient and not is_gone(info.value)  # kept, tried again by cleanup
    await api.aclose()
