"""The API client against the fake: every failure maps to our error tree."""

from __future__ import annotations

import io

import pytest
import trio

from rittunnel.errors import ApiRefused, ApiUnavailable, AuthError, CredentialsError
from rittunnel.fake import DEVELOPER_KEY, PASSWORD, USERNAME
from rittunnel.remoteit.credentials import Credentials
from rittunnel.remoteit.protocol import PortProxy
from rittunnel.remoteit.rest import RestClient
from rittunnel.report import Reporter

from .conftest import SSH_ID, World

CREDS = Credentials(DEVELOPER_KEY, USERNAME, PASSWORD)


async def test_login_connect_stop(world: World) -> None:
    with trio.fail_after(20):
        tokens: list[str] = []
        async with RestClient(world.api_url, CREDS, on_token=lambda t, e: tokens.append(t)) as api:
            conn = await api.connect(SSH_ID, "latching", None)
            assert isinstance(conn.proxy, PortProxy) and conn.expires_in == 28797
            await api.stop(SSH_ID, conn.connection_id)
        assert len(tokens) == 1
        assert world.fake.open_proxies == []
        assert world.fake.calls_to("connect")[0].headers["token"] == tokens[0]


async def test_expired_token_logs_in_again_once(world: World) -> None:
    err = io.StringIO()
    with trio.fail_after(20):
        async with RestClient(world.api_url, CREDS, reporter=Reporter(err=err)) as api:
            await api.connect(SSH_ID, "latching", None)
            world.fake.expire_tokens()
            conn = await api.connect(SSH_ID, "latching", None)
            await api.stop(SSH_ID, conn.connection_id)
        assert len(world.fake.calls_to("login")) == 2
    # said through the reporter, like everything else rittunnel says
    assert err.getvalue() == "rittunnel: remote.it refused the session token; logging in again\n"


async def test_token_only_cannot_recover(world: World) -> None:
    with trio.fail_after(20):
        async with RestClient(world.api_url, Credentials(DEVELOPER_KEY, token="bogus")) as api:
            with pytest.raises(AuthError, match="Invalid or missing token"):
                await api.connect(SSH_ID, "latching", None)
        async with RestClient(world.api_url, Credentials(DEVELOPER_KEY, USERNAME, None)) as api:
            with pytest.raises(CredentialsError):
                await api.connect(SSH_ID, "latching", None)


@pytest.mark.parametrize(
    ("failure", "error", "text"),
    [
        ("html502", ApiUnavailable, "HTML page"),
        ("http500", ApiRefused, "Internal error"),
        ("reset", ApiUnavailable, "failed"),
        ("status_false:[0209] no such device", ApiRefused, "[0209] no such device"),
    ],
)
async def test_failures_map_to_errors(
    world: World, failure: str, error: type[Exception], text: str
) -> None:
    with trio.fail_after(20):
        async with RestClient(world.api_url, CREDS) as api:
            world.fake.fail_next("connect", failure)
            with pytest.raises(error, match=text.replace("[", r"\[")):
                await api.connect(SSH_ID, "latching", None)


async def test_timeout_and_unreachable(world: World) -> None:
    with trio.fail_after(20):
        async with RestClient(world.api_url, CREDS, timeout=0.5) as api:
            world.fake.fail_next("login", "hang:10")
            with pytest.raises(ApiUnavailable, match="no answer .* within 0.5s"):
                await api.connect(SSH_ID, "latching", None)
        async with RestClient("http://127.0.0.1:1/apv/v27", CREDS) as api:
            with pytest.raises(ApiUnavailable, match="cannot reach the remote.it API"):
                await api.connect(SSH_ID, "latching", None)


async def test_stop_401_is_refused_not_crash(world: World) -> None:
    with trio.fail_after(20):
        async with RestClient(world.api_url, CREDS) as api:
            with pytest.raises(ApiRefused, match="connectionid incorrect"):
                await api.stop(SSH_ID, "nope")
