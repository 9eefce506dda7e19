"""The API client against the fake: every failure maps to our error tree."""

from __future__ import annotations

import base64
import io

import pytest
import trio

from rittunnel.errors import ApiRefused, ApiUnavailable, AuthError, CredentialsError
from rittunnel.fake import ACCESS_KEY_ID, ACCESS_SECRET, DEVELOPER_KEY, PASSWORD, USERNAME
from rittunnel.remoteit.credentials import AccessKey, Credentials
from rittunnel.remoteit.protocol import PortProxy, is_gone
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
            with pytest.raises(ApiRefused, match="connectionid or deviceaddress incorrect") as e:
                await api.stop(SSH_ID, "nope")
        assert is_gone(e.value)


KEYED = Credentials(
    DEVELOPER_KEY,
    access_key=AccessKey(ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET), ACCESS_SECRET, "KEYS"),
)


@pytest.mark.parametrize(
    ("failure", "said"),
    [("http401", "(HTTP 401): Unauthorized"), ("http403", "(HTTP 403): Forbidden")],
)
async def test_a_gateway_refusal_is_the_access_keys_fault_at_once(
    world: World, failure: str, said: str
) -> None:
    with trio.fail_after(20):
        async with RestClient(world.api_url, KEYED) as api:
            world.fake.fail_next("connect", failure)
            with pytest.raises(AuthError) as info:
                await api.connect(SSH_ID, "latching", None)
        assert said in str(info.value) and str(info.value).endswith("check the access key (KEYS)")
        assert len(world.fake.calls_to("connect")) == 1


async def test_a_password_session_refused_by_the_gateway_logs_in_again_once(world: World) -> None:
    with trio.fail_after(20):
        async with RestClient(world.api_url, CREDS) as api:
            world.fake.fail_next("connect", "http401", "http401")
            with pytest.raises(AuthError, match=r"\(HTTP 401\): Unauthorized"):
                await api.connect(SSH_ID, "latching", None)
        assert len(world.fake.calls_to("login")) == 2  # once more, then it is refused


async def test_a_rest_429_waits_what_retry_after_asks(world: World) -> None:
    err = io.StringIO()
    with trio.fail_after(20):
        async with RestClient(world.api_url, CREDS, reporter=Reporter(err=err)) as api:
            world.fake.fail_next("connect", "http429:0.5", "http429")
            before = trio.current_time()
            conn = await api.connect(SSH_ID, "latching", None)
            assert trio.current_time() - before >= 1.5  # 0.5 asked, then 1 s backoff
            await api.stop(SSH_ID, conn.connection_id)
            world.fake.fail_next("list", *["http429:60"])  # longer than one call waits
            with pytest.raises(ApiUnavailable) as info:
                await api.list_services()
        assert info.value.retry_after == 60.0  # for the caller's deadline to judge
    assert "connect: throttled by remote.it; waiting 0.5s" in err.getvalue()


async def test_a_wrong_password_names_what_to_check(world: World) -> None:
    with trio.fail_after(20):
        creds = Credentials(DEVELOPER_KEY, USERNAME, "wrong")
        async with RestClient(world.api_url, creds) as api:
            with pytest.raises(AuthError) as info:
                await api.connect(SSH_ID, "latching", None)
    assert "[0102] The username or password is invalid" in str(info.value)
    assert "check REMOTEIT_USERNAME, REMOTEIT_PASSWORD" in str(info.value)
