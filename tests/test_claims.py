"""A tunnel's state file from claim to release, and what it records; real files under
tmp_path, an in-memory API for the proxies of a dead holder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rittunnel.errors import RittunnelError
from rittunnel.profiles import Profile
from rittunnel.remoteit.accounts import Account
from rittunnel.report import Reporter
from rittunnel.tunnel.claims import Claim, new_state
from rittunnel.tunnel.state import StateStore, TunnelState, process_start_time

from .conftest import MemoryApi, MemoryClients


class TwoAccounts:
    """Profiles named "work-…" use the "work" credentials section at another API."""

    def locate(self, profile: Profile) -> Account:
        if profile.name.startswith("work-"):
            return Account("https://api.work.example/", "work", "graphql")
        return Account("https://api.example/", "")

    def client(self, account: Account) -> Any:
        raise AssertionError("new_state needs no client")


def test_new_state_names_the_account_service_and_this_process() -> None:
    profile = Profile(
        name="work-db",
        source="work-db.yaml",
        service="80:01",
        local_port=5432,
        mode="public",
        service_name="db",
    )
    state = new_state(profile, TwoAccounts(), "work-db.stdio-7", addresses=["stdio"])
    assert (state.name, state.pid, state.api_url, state.credentials) == (
        "work-db.stdio-7",
        os.getpid(),
        "https://api.work.example/",
        "work",
    )
    assert state.api == "graphql"  # cleanup stops its proxies the way they were made
    assert (state.service, state.service_name, state.mode, state.source) == (
        "80:01",
        "db",
        "public",
        "work-db.yaml",
    )
    assert state.pid_started > 0 and state.addresses == ["stdio"] and state.proxies == []


def state_of(name: str, *, pid: int | None = None, proxies: list[str] | None = None) -> TunnelState:
    return TunnelState(
        name=name,
        pid=os.getpid() if pid is None else pid,
        pid_started=0.0,
        api_url="http://a",
        service="s",
        proxies=proxies or [],
    )


def claim_of(store: StateStore, state: TunnelState, api: MemoryApi) -> Claim:
    quiet = Reporter(quiet=True, err=open(os.devnull, "w"))  # noqa: SIM115
    return Claim(store, state, MemoryClients({"a": api}), quiet)


async def test_a_claim_records_and_is_removed_when_no_proxy_is_left(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    state = state_of("t")
    async with claim_of(store, state, MemoryApi(latency=0)) as claim:
        assert store.get("t") is not None
        state.proxies, state.upstream = ["C1"], "h:1"
        claim.record()
        got = store.get("t")
        assert got is not None and got.proxies == ["C1"] and got.upstream == "h:1"
        state.proxies = []
    assert store.get("t") is None


async def test_a_claim_with_open_proxies_stays_for_cleanup(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    state = state_of("t")
    with pytest.raises(RuntimeError):
        async with claim_of(store, state, MemoryApi(latency=0)):
            state.proxies = ["C7"]
            raise RuntimeError("the tunnel crashed")
    left = store.get("t")
    assert left is not None and left.proxies == ["C7"]


async def test_a_dead_holders_proxies_are_stopped_before_the_claim(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    dead = state_of("t", pid=2**22 + 7, proxies=["OLD"])  # no such process
    store.write(dead)
    api = MemoryApi(latency=0)
    async with claim_of(store, state_of("t"), api):
        assert api.stopped == ["OLD"]
        got = store.get("t")
        assert got is not None and got.pid == os.getpid() and got.proxies == []


async def test_a_live_holder_keeps_its_claim(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    live = state_of("t", pid=os.getppid())  # alive: the process that started pytest
    live.pid_started = process_start_time(live.pid) or 0.0
    store.write(live)
    with pytest.raises(RittunnelError, match="already running"):
        async with claim_of(store, state_of("t"), MemoryApi(latency=0)):
            raise AssertionError("claimed a live process's tunnel")
    got = store.get("t")
    assert got is not None and got.pid == os.getppid()
