"""Accounts: one API client per (API URL, credentials section); which section a profile
uses; credential problems named after the profile that asked for the section."""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path

import pytest

from rittunnel.errors import ApiUnavailable, CredentialsError, ProfileError
from rittunnel.profiles import Profile
from rittunnel.remoteit.accounts import (
    Account,
    Accounts,
    api_url_for,
    choose_api,
    graphql_url_for,
    url_setting,
)
from rittunnel.remoteit.credentials import credentials_from_env
from rittunnel.remoteit.rest import RestClient
from rittunnel.report import Reporter
from rittunnel.settings import Api, Settings

SECRET = base64.b64encode(b"s" * 32).decode()
GRAPHQL = "https://api.remote.it/graphql/v1"


def accounts(tmp_path: Path, **extra: str) -> Accounts:
    keys = tmp_path / ".remoteit" / "credentials"
    keys.parent.mkdir(exist_ok=True)
    keys.write_text(
        f"[DEFAULT]\nR3_ACCESS_KEY_ID = AK1\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
        f"[work]\nR3_ACCESS_KEY_ID = AK2\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
    )
    keys.chmod(0o600)
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}
    return Accounts(Settings.from_env(env), Reporter(quiet=True, err=open(os.devnull, "w")))


def profile(credentials: str | None = None, api_url: str | None = None) -> Profile:
    return Profile(
        name="p",
        source="p.yaml",
        service="x",
        local_port=1,
        credentials=credentials,
        api_url=api_url,
    )


async def test_one_client_per_url_and_section(tmp_path: Path) -> None:
    a = accounts(tmp_path)
    try:
        # access keys without a developer key: GraphQL (REST would refuse them)
        assert a.locate(profile()) == (GRAPHQL, "", "graphql")
        # pointed at another host for REST: GraphQL goes to that host too, never ours
        assert a.locate(profile("work", "http://x/")) == ("http://x/graphql/v1", "work", "graphql")
        default, work = a.client(Account("http://x", "")), a.client(Account("http://x", "work"))
        assert default is a.client(Account("http://x", "")) and default is not work
        assert isinstance(default, RestClient) and isinstance(work, RestClient)
        assert default.credentials.access_key is not None
        assert default.credentials.access_key.key_id == "AK1"
        assert work.credentials.access_key is not None
        assert work.credentials.access_key.key_id == "AK2"
    finally:
        await a.aclose()


def test_r3_profile_is_the_section_when_the_profile_names_none(tmp_path: Path) -> None:
    a = accounts(tmp_path, R3_PROFILE="work")
    assert a.locate(profile()) == (GRAPHQL, "work", "graphql")
    assert a.default_account() == (GRAPHQL, "work", "graphql")


def test_a_missing_section_names_the_profile_file(tmp_path: Path) -> None:
    a = accounts(tmp_path)
    with pytest.raises(CredentialsError) as info:
        a.locate(profile("nope"))
    assert str(info.value).startswith("p.yaml: credentials: ")
    assert r"no section [nope] (it has: DEFAULT, work)" in str(info.value)
    with pytest.raises(CredentialsError, match=r"no section \[other\]"):
        a.default_account("other")


def test_api_url_env_beats_profile() -> None:
    assert api_url_for(profile(api_url="http://p"), Settings.from_env({})) == "http://p"
    env = Settings.from_env({"RITTUNNEL_API_URL": "http://e/"})
    assert api_url_for(profile(api_url="http://p"), env) == ("http://e")


@pytest.mark.parametrize(
    ("env", "api_url", "api", "want"),
    [
        ({}, None, "rest", "RITTUNNEL_API_URL"),  # remote.it's: what would change it
        ({}, "http://p", "rest", "api_url in p.yaml"),
        ({"RITTUNNEL_API_URL": "http://e"}, "http://p", "rest", "RITTUNNEL_API_URL"),
        ({}, None, "graphql", "RITTUNNEL_GRAPHQL_URL"),
        ({}, "http://p", "graphql", "api_url in p.yaml"),  # GraphQL on the profile's host
        ({"RITTUNNEL_API_URL": "http://e"}, None, "graphql", "RITTUNNEL_API_URL"),
        ({"RITTUNNEL_GRAPHQL_URL": "http://g"}, "http://p", "graphql", "RITTUNNEL_GRAPHQL_URL"),
    ],
)
def test_hints_name_where_the_url_was_set(
    env: dict[str, str], api_url: str | None, api: Api, want: str
) -> None:
    assert url_setting(profile(api_url=api_url), Settings.from_env(env), api) == want


async def test_a_profiles_unreachable_api_url_is_named_in_the_error(tmp_path: Path) -> None:
    a = accounts(tmp_path, **LOGIN)
    account = a.locate(profile(api_url="http://127.0.0.1:9/apv/v27"))
    try:
        with pytest.raises(ApiUnavailable) as info:
            await a.client(account).list_services()
        assert str(info.value).endswith("check your network or api_url in p.yaml")
    finally:
        await a.aclose()


def test_hints_for_an_account_no_profile_located_and_one_shared_by_two(
    tmp_path: Path,
) -> None:
    a = accounts(tmp_path, **LOGIN)
    # cleanup makes accounts from state files: the variable that names the URL, if any
    assert a.url_setting(Account("https://api.remote.it/apv/v27", "")) == "RITTUNNEL_API_URL"
    assert a.url_setting(Account("http://elsewhere/x", "")) == (
        "RITTUNNEL_API_URL, RITTUNNEL_GRAPHQL_URL or a profile's api_url"
    )
    # two profiles with the same api_url share one account (and client): both are named
    first = a.locate(profile(api_url="http://p.example/apv/v27"))
    second = a.locate(
        dataclasses.replace(profile(api_url="http://p.example/apv/v27/"), source="q.yaml")
    )
    assert first == second
    assert a.url_setting(first) == "api_url in p.yaml or api_url in q.yaml"
    pointed = accounts(tmp_path, RITTUNNEL_API_URL="http://e:9/apv/v27", **LOGIN)
    assert pointed.url_setting(Account("http://e:9/graphql/v1", "", "graphql")) == (
        "RITTUNNEL_API_URL"
    )


KEY = {"R3_ACCESS_KEY_ID": "AK", "R3_SECRET_ACCESS_KEY": SECRET}
LOGIN = {"REMOTEIT_DEVELOPER_KEY": "dev", "REMOTEIT_USERNAME": "u", "REMOTEIT_PASSWORD": "p"}


@pytest.mark.parametrize(
    ("env", "api", "want"),
    [
        (LOGIN, None, "rest"),  # a password login has only REST
        ({"REMOTEIT_DEVELOPER_KEY": "dev", "REMOTEIT_TOKEN": "t"}, None, "rest"),
        (KEY, None, "graphql"),  # an access key alone: REST would refuse it
        ({**KEY, "R3_DEVELOPER_API_KEY": "dev"}, None, "rest"),  # the seeds' API
        ({**KEY, "R3_DEVELOPER_API_KEY": "dev"}, "graphql", "graphql"),
        ({**KEY, "R3_DEVELOPER_API_KEY": "dev", "RITTUNNEL_API": "graphql"}, "rest", "graphql"),
    ],
)
def test_which_api(tmp_path: Path, env: dict[str, str], api: str | None, want: str) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path), **env})
    creds = credentials_from_env(settings.env)
    p = dataclasses.replace(profile(), api=api)  # type: ignore[arg-type]
    assert choose_api(p, settings, creds) == want


@pytest.mark.parametrize(
    ("env", "api", "message"),
    [
        (LOGIN, "graphql", "p.yaml: api: graphql needs an access key"),
        ({**LOGIN, "RITTUNNEL_API": "graphql"}, None, "RITTUNNEL_API: graphql needs an access"),
        (KEY, "rest", "p.yaml: api: rest with an access key needs a developer key too"),
    ],
)
def test_an_api_the_credentials_cannot_use_is_an_error(
    tmp_path: Path, env: dict[str, str], api: str | None, message: str
) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path), **env})
    creds = credentials_from_env(settings.env)
    p = dataclasses.replace(profile(), api=api)  # type: ignore[arg-type]
    with pytest.raises(CredentialsError, match=f"^{message}"):
        choose_api(p, settings, creds)


def test_restricted_without_hostip_over_graphql_is_said_before_any_io(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path), **KEY})
    creds = credentials_from_env(settings.env)
    p = dataclasses.replace(profile(), mode="restricted")
    with pytest.raises(ProfileError, match=r"^p.yaml: mode: restricted without hostip"):
        choose_api(p, settings, creds)
    with_ip = dataclasses.replace(p, hostip="203.0.113.9")
    assert choose_api(with_ip, settings, creds) == "graphql"


def test_graphql_goes_only_where_the_user_pointed_the_api(tmp_path: Path) -> None:
    mine = Settings.from_env(
        {"HOME": str(tmp_path), "RITTUNNEL_API_URL": "http://127.0.0.1:9/apv/v27"}
    )
    assert graphql_url_for(None, mine) == "http://127.0.0.1:9/graphql/v1"
    both = mine.replace(graphql_url="http://127.0.0.1:7/gql")
    assert graphql_url_for(None, both) == "http://127.0.0.1:7/gql"
    default = Settings.from_env({"HOME": str(tmp_path)})
    assert graphql_url_for(None, default) == GRAPHQL
