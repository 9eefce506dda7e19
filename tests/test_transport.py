"""The HTTP transport both API clients share: here, what an answer's ``X-R3-Warning``
header makes rittunnel say (the fake sends one when its ``warning`` knob is set)."""

from __future__ import annotations

import base64
import io

import pytest
import trio

from rittunnel.fake import ACCESS_KEY_ID, ACCESS_SECRET, DEVELOPER_KEY, PASSWORD, USERNAME
from rittunnel.remoteit.accounts import Accounts
from rittunnel.remoteit.credentials import AccessKey, Credentials
from rittunnel.remoteit.graphql import GraphQLClient
from rittunnel.remoteit.rest import RestClient
from rittunnel.remoteit.transport import MAX_WARNINGS, r3_warning
from rittunnel.report import Reporter
from rittunnel.settings import Settings

from .conftest import SSH_ID, World

DEPRECATED = "121 - this client is deprecated"


def test_a_121_says_the_client_is_deprecated() -> None:
    said = r3_warning(f" {DEPRECATED} ", "api.remote.it")
    assert said.startswith("remote.it at api.remote.it says this client is deprecated")
    assert f"(X-R3-Warning: {DEPRECATED})" in said and "newer rittunnel" in said


def test_another_warning_is_said_escaped_and_bounded() -> None:
    said = r3_warning("299 \x1b[31mplanned\nmaintenance" + "x" * 500, "h")
    assert said.startswith("remote.it at h warns: 299 ")
    assert "\x1b" not in said and "\n" not in said and len(said) < 300


async def test_rest_says_a_warning_once_however_many_answers_carry_it(world: World) -> None:
    err = io.StringIO()
    world.fake.knobs.warning = DEPRECATED
    with trio.fail_after(20):
        creds = Credentials(DEVELOPER_KEY, USERNAME, PASSWORD)
        async with RestClient(world.api_url, creds, reporter=Reporter(err=err)) as api:
            conn = await api.connect(SSH_ID, "latching", None)  # login and connect
            await api.stop(SSH_ID, conn.connection_id)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "says this client is deprecated" in lines[0], lines
    assert world.fake.open_proxies == []  # the calls went on


async def test_graphql_says_a_warning_too(world: World) -> None:
    err = io.StringIO()
    world.fake.knobs.warning = DEPRECATED
    creds = Credentials("", access_key=AccessKey(ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET)))
    with trio.fail_after(20):
        url = world.fake.graphql_url
        async with GraphQLClient(url, creds, reporter=Reporter(err=err)) as api:
            services = await api.list_services()
            await api.list_services()
    assert services and err.getvalue().count("says this client is deprecated") == 1


@pytest.mark.parametrize("distinct", [2, MAX_WARNINGS + 3])
async def test_distinct_warnings_are_each_said_up_to_a_bound(world: World, distinct: int) -> None:
    err = io.StringIO()
    with trio.fail_after(20):
        creds = Credentials(DEVELOPER_KEY, USERNAME, PASSWORD)
        async with RestClient(world.api_url, creds, reporter=Reporter(err=err)) as api:
            for i in range(distinct):
                world.fake.knobs.warning = f"299 notice {i}"
                await api.list_services()
                await api.list_services()
    assert err.getvalue().count("warns: 299 notice") == min(distinct, MAX_WARNINGS)


async def test_one_command_says_a_warning_once_whatever_its_clients(world: World) -> None:
    """``stdio --service NAME`` closes its clients after the name lookup and makes new
    ones for the connect: the warning is still said once."""
    err = io.StringIO()
    world.fake.knobs.warning = DEPRECATED
    accounts = Accounts(Settings.from_env(world.env), Reporter(err=err))
    account = accounts.default_account()
    with trio.fail_after(20):
        for _ in range(2):
            await accounts.client(account).list_services()
            await accounts.aclose()
    assert err.getvalue().count("says this client is deprecated") == 1
