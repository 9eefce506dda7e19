"""Service names: matching (pure), the service-list cache, and resolving profiles
against the fake remote.it over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from rittunnel.errors import ServiceNameError
from rittunnel.fake import DEVELOPER_KEY, PASSWORD, USERNAME, FakeRemoteIt, FakeService
from rittunnel.profiles import Profile
from rittunnel.remoteit.accounts import Accounts
from rittunnel.remoteit.names import (
    ServiceCache,
    filter_services,
    match_service,
    resolve_services,
)
from rittunnel.remoteit.protocol import ServiceInfo
from rittunnel.report import Reporter
from rittunnel.settings import Settings

A = ServiceInfo("80:00:00:00:01:02:03:04", "pi-ssh", "SSH", "active")
B = ServiceInfo("80:00:00:00:01:02:03:05", "pi-ssh", "SSH", "inactive")
C = ServiceInfo("80:00:00:00:01:02:03:06", "pi-web", "HTTP", "active")
D = ServiceInfo("80:00:00:00:01:02:03:07", "NAS", "SMB", "active")


def test_a_unique_name_matches_exactly_then_ignoring_case() -> None:
    assert match_service("pi-web", [A, B, C, D]) == C
    assert match_service("nas", [A, B, C, D]) == D


def test_an_ambiguous_name_lists_every_candidate_never_picks() -> None:
    with pytest.raises(ServiceNameError) as info:
        match_service("pi-ssh", [A, B, C])
    message = str(info.value)
    assert "'pi-ssh' names 2 services" in message
    assert f"{A.address} (SSH, active)" in message
    assert f"{B.address} (SSH, inactive)" in message
    assert "service ID" in message and "\n" not in message


def test_a_name_in_two_accounts_is_ambiguous_and_names_both() -> None:
    org = ServiceInfo("80:00:00:00:0e:00:00:01", "pi-ssh", "SSH", "active", account="Acme")
    with pytest.raises(ServiceNameError) as info:
        match_service("pi-ssh", [A, org])
    message = str(info.value)
    assert f"{A.address} (SSH, active);" in message
    assert f"{org.address} (SSH, active, organisation Acme)" in message
    assert filter_services([A, org, C], "acme") == [org]


def test_no_match_lists_close_names_or_says_how_to_list() -> None:
    with pytest.raises(ServiceNameError, match="close names: pi-web, pi-ssh|close names: pi-ssh"):
        match_service("pi-sh", [A, C, D])
    with pytest.raises(ServiceNameError, match="run `rittunnel services`"):
        match_service("printer", [A, C, D])


def test_filter_matches_name_type_or_address_ignoring_case() -> None:
    assert filter_services([A, C, D], "WEB") == [C]
    assert filter_services([A, C, D], "smb") == [D]
    assert filter_services([A, C, D], "03:04") == [A]
    assert filter_services([A, C, D], "nothing") == []


def test_cache_keeps_lists_for_the_ttl_in_a_private_file(tmp_path: Path) -> None:
    cache = ServiceCache(tmp_path / "c" / "services.json", ttl=60)
    key = ServiceCache.account("http://api", "", "user:me")
    assert cache.get(key, 1000.0) is None
    cache.put(key, [A, C], 1000.0)
    assert cache.get(key, 1059.0) == [A, C]
    assert cache.get(key, 1060.0) is None  # expired
    assert cache.get(key, 999.0) is None  # from the future: the clock moved, refetch
    assert cache.get(ServiceCache.account("http://api", "work", "user:me"), 1001.0) is None
    assert os.stat(cache.path).st_mode & 0o777 == 0o600


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    cache = ServiceCache(path)
    for text in ("not json", "[]", '{"k": {"fetched": 1, "services": [{"bad": 1}]}}'):
        path.write_text(text)
        assert cache.get("k", 2.0) is None
    cache.put("k", [A], 2.0)
    assert cache.get("k", 3.0) == [A]


def profile(service: str, name: str = "p") -> Profile:
    return Profile(name=name, source=f"{name}.yaml", service=service, local_port=2222)


async def test_resolve_asks_the_api_once_then_uses_the_cache(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    fake = FakeRemoteIt([FakeService(A.address, "pi-ssh"), FakeService(C.address, "pi-web")])
    url = await nursery.start(fake.serve)
    env = {
        "HOME": str(tmp_path),
        "RITTUNNEL_API_URL": url,
        "REMOTEIT_DEVELOPER_KEY": DEVELOPER_KEY,
        "REMOTEIT_USERNAME": USERNAME,
        "REMOTEIT_PASSWORD": PASSWORD,
    }
    quiet = Reporter(quiet=True, err=open(os.devnull, "w"))  # noqa: SIM115
    accounts = Accounts(Settings.from_env(env), quiet)
    cache = ServiceCache(tmp_path / "services.json")
    now = [1000.0]
    try:
        with trio.fail_after(10):
            ids = [profile(A.address, "by-id")]
            assert await resolve_services(ids, accounts, cache, quiet) == ids  # no service_name
            assert fake.calls_to("list") == []  # an ID needs no lookup

            wanted = [profile("pi-ssh", "a"), profile("pi-web", "b")]
            got = await resolve_services(wanted, accounts, cache, quiet, clock=lambda: now[0])
            assert [p.service for p in got] == [A.address, C.address]
            assert [p.service_name for p in got] == ["pi-ssh", "pi-web"]
            assert len(fake.calls_to("list")) == 1  # the second name came from the cache

            # a service added since the list was cached is found by looking again
            fake.add_service(FakeService("80:00:00:00:01:02:03:09", "new-one"))
            [new] = await resolve_services(
                [profile("new-one")], accounts, cache, quiet, clock=lambda: now[0]
            )
            assert new.service == "80:00:00:00:01:02:03:09"
            assert len(fake.calls_to("list")) == 2

            fake.add_service(FakeService(B.address, "pi-ssh"))
            now[0] += 61  # past the TTL: the list is fetched again and is now ambiguous
            with pytest.raises(ServiceNameError) as info:
                await resolve_services(
                    [profile("pi-ssh")], accounts, cache, quiet, clock=lambda: now[0]
                )
            assert str(info.value).startswith("p.yaml: service: 'pi-ssh' names 2 services")
            assert len(fake.calls_to("list")) == 3
    finally:
        await accounts.aclose()
