"""A tunnel's state file from claim to release, and what it records; orphans and whom
their cleanup sends credentials to. Real files under tmp_path, in-memory APIs for the
proxies of dead holders."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import trio

from rittunnel.errors import ApiRefused, ApiUnavailable, RittunnelError, TwoFactorError
from rittunnel.profiles import Profile, ProxyKind
from rittunnel.remoteit.accounts import Account
from rittunnel.report import Reporter
from rittunnel.settings import Settings
from rittunnel.tunnel.claims import Claim, cleanup_orphans, new_state
from rittunnel.tunnel.procs import process_start_time
from rittunnel.tunnel.state import TunnelState
from rittunnel.tunnel.store import StateStore
from rittunnel.tunnel.trust import TrustedUrls

from .conftest import MemoryApi, MemoryClients, dead_pid

DEADLINE = 10


def reporter() -> tuple[Reporter, io.StringIO]:
    err = io.StringIO()
    return Reporter(out=io.StringIO(), err=err), err


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
    pid = os.getpid() if pid is None else pid
    return TunnelState(
        name=name,
        pid=pid,
        pid_started=(process_start_time(pid) or 0.0) if pid == os.getpid() else 0.0,
        api_url="http://a",
        service="s",
        proxies=proxies or [],
    )


def claim_of(store: StateStore, state: TunnelState, api: MemoryApi) -> Claim:
    quiet = Reporter(quiet=True, err=open(os.devnull, "w"))  # noqa: SIM115
    return Claim(store, state, MemoryClients({"a": api}), quiet, trusted=lambda url: True)


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
    dead = state_of("t", pid=dead_pid(), proxies=["OLD"])
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


class ScriptedStops:
    """An API whose next stops fail with ``failures`` (in order), then work."""

    host = "scripted"

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[str] = []
        self.stopped: list[str] = []

    async def stop(self, service: str, cid: str) -> None:
        self.calls.append(cid)
        if self.failures:
            raise self.failures.pop(0)
        self.stopped.append(cid)


class OneApi:
    """``ApiClients`` with one API for every account; notes the accounts asked for."""

    def __init__(self, api: ScriptedStops) -> None:
        self.api = api
        self.accounts: list[Account] = []

    def locate(self, profile: Profile) -> Account:
        return Account("http://a", "")

    def client(self, account: Account) -> Any:
        self.accounts.append(account)
        return self.api


def outage() -> ApiUnavailable:
    return ApiUnavailable("stop: the remote.it API answered HTTP 502 with an HTML page")


async def test_an_orphan_whose_stop_fails_keeps_its_record_beside_the_new_claim(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    dead = state_of("t", pid=dead_pid(), proxies=["OLD"])
    store.write(dead)
    api = ScriptedStops(outage())
    r, err = reporter()
    with trio.fail_after(DEADLINE):
        async with Claim(store, state_of("t"), OneApi(api), r, trusted=lambda url: True):
            assert api.calls == ["OLD"] and api.stopped == []
            mine = store.get("t")
            assert mine is not None and mine.pid == os.getpid()
            kept = store.get(f"t.orphan-{dead.pid}")
            assert kept is not None and kept.proxies == ["OLD"] and kept.pid == dead.pid
        # the next cleanup (the API is back) stops it and forgets it
        assert await cleanup_orphans(store, OneApi(api), r, trusted=lambda url: True) == 1
    assert api.stopped == ["OLD"] and [p.name for p, _ in store.all()] == []
    assert "could not stop proxy OLD of t.orphan-" in err.getvalue()


class FailingWrites(StateStore):
    """A state directory whose writes fail while ``error`` is set (a full disk)."""

    error: OSError | None = None

    def write(self, state: TunnelState, *, durable: bool = True) -> None:
        if self.error is not None:
            raise self.error
        super().write(state, durable=durable)


async def test_record_survives_failing_writes_says_so_once_and_recovers(
    tmp_path: Path,
) -> None:
    store = FailingWrites(tmp_path)
    state = state_of("t")
    r, err = reporter()
    with trio.fail_after(DEADLINE):
        async with Claim(store, state, OneApi(ScriptedStops()), r) as claim:
            store.error = OSError(errno.ENOSPC, "No space left on device")
            for n in range(3):
                state.connections = n + 1
                claim.record(durable=False)
            said = err.getvalue()
            assert said.count("warning") == 1
            assert "t: cannot write its state file: No space left on device" in said
            got = store.get("t")
            assert got is not None and got.connections == 0  # the last write that worked
            store.error = None
            claim.record()
            got = store.get("t")
            assert got is not None and got.connections == 3
            assert err.getvalue().count("its state file is written again") == 1
            claim.record()
            assert err.getvalue().count("written again") == 1
            state.proxies = ["C1"]
            store.error = OSError(errno.EROFS, "Read-only file system")
    # release cannot record the proxy either: said, not raised
    assert "t: cannot update its state file: Read-only file system; proxies C1 stay open" in (
        err.getvalue()
    )


def plant(store: StateStore, stem: str, **fields: object) -> Path:
    """A dead tunnel's state file ``STEM.json``, written as a hostile or broken one
    might be."""
    data: dict[str, object] = {
        "name": stem,
        "pid": dead_pid(),
        "pid_started": 1.0,
        "api_url": "http://a",
        "service": "svc",
        "proxies": ["C1"],
    }
    data.update(fields)
    store.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = store.directory / f"{stem}.json"
    path.write_text(json.dumps(data))
    return path


async def test_cleanup_sends_no_credentials_to_an_api_url_nobody_configured(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    evil = plant(store, "evil", api_url="http://u:pw@evil.example/apv/v27", proxies=["E1"])
    ours = plant(store, "ours", api_url="https://api.remot3.it/apv/v27/", proxies=["O1"])
    settings = Settings(state_dir=tmp_path, cache_dir=tmp_path / "cache")
    clients = OneApi(ScriptedStops())
    r, err = reporter()
    with trio.fail_after(DEADLINE):
        stopped = await cleanup_orphans(store, clients, r, trusted=TrustedUrls(settings))
    assert stopped == 1 and clients.api.stopped == ["O1"]  # remote.it's own URL is trusted
    assert [a.url for a in clients.accounts] == ["https://api.remot3.it/apv/v27/"]
    assert (
        "proxy E1 of evil was made through API URL http://***@evil.example/apv/v27, which none "
        f"of your settings name; not sending credentials there; remove {evil} if it is not "
        "yours"
    ) in err.getvalue()
    assert evil.exists() and not ours.exists()


async def test_without_a_trust_given_only_the_clients_settings_are_trusted(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    plant(store, "evil", api_url="http://evil.example")
    clients = OneApi(ScriptedStops())  # no settings: nothing is trusted
    r, _ = reporter()
    with trio.fail_after(DEADLINE):
        assert await cleanup_orphans(store, clients, r) == 0
    assert clients.accounts == [] and [p.name for p, _ in store.all()] == ["evil.json"]


async def test_a_name_that_climbs_out_of_the_state_directory_writes_nothing_there(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "a" / "b" / "state")
    path = plant(store, "evil", name="../../escape")
    api = ScriptedStops(outage())  # a stop that fails makes cleanup write the file back
    r, err = reporter()
    with trio.fail_after(DEADLINE):
        await cleanup_orphans(store, OneApi(api), r, trusted=lambda url: True)
    assert api.calls == []  # not a state file rittunnel wrote: nothing to act on
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == []
    assert path.with_name("evil.json.bad").exists()
    assert f"state file {path}: name: '../../escape' is not " in err.getvalue()


async def test_a_proxy_the_api_no_longer_knows_counts_as_gone_quietly(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    plant(store, "rest", proxies=["R1"])
    plant(store, "gql", proxies=["G1"], api="graphql")
    api = ScriptedStops(
        ApiRefused("stop: remote.it said no: [0212] connectionid incorrect or missing", "[0212]"),
        ApiRefused("stop: remote.it said no: Connection not found: G1", "Connection not found"),
    )
    r, err = reporter()
    with trio.fail_after(DEADLINE):
        assert await cleanup_orphans(store, OneApi(api), r, trusted=lambda url: True) == 0
    assert sorted(api.calls) == ["G1", "R1"] and list(store.all()) == []
    assert err.getvalue() == ""  # debug only


async def test_cleanup_removes_stale_stop_requests(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    live = state_of("live", pid=os.getpid())
    live.pid_started = process_start_time(os.getpid()) or 0.0
    store.write(live)
    store.request_stop("live")  # for this live process: kept
    store.request_stop("gone", pid=dead_pid())  # no such tunnel any more
    store.request_stop("other")  # a live tunnel of that name is not there
    r, _ = reporter()
    with trio.fail_after(DEADLINE):
        await cleanup_orphans(store, OneApi(ScriptedStops()), r, trusted=lambda url: True)
    assert sorted(p.name for p in tmp_path.glob("*.stop")) == ["live.stop"]


@pytest.mark.parametrize(
    ("proxy", "reverse"), [("reverse", True), ("port", False), ("auto", False)]
)
def test_a_tunnel_asking_for_a_reverse_proxy_is_recorded_so_before_it_has_one(
    proxy: ProxyKind, reverse: bool
) -> None:
    profile = Profile(name="web", source="web.yaml", service="80:01", local_port=8080, proxy=proxy)
    assert new_state(profile, TwoAccounts(), "web").reverse is reverse


class HangingStops(ScriptedStops):
    """Stop calls that never answer."""

    async def stop(self, service: str, cid: str) -> None:
        self.calls.append(cid)
        await trio.sleep_forever()


async def test_a_stop_that_times_out_says_why_and_keeps_the_orphan(
    tmp_path: Path, autojump_clock: Any
) -> None:
    store = StateStore(tmp_path)
    plant(store, "t", proxies=["OLD"])
    api = HangingStops()
    r, err = reporter()
    stopped = await cleanup_orphans(store, OneApi(api), r, stop_timeout=3, trusted=lambda url: True)
    assert stopped == 0 and api.calls == ["OLD"]
    said = "could not stop proxy OLD of t: no answer to the stop call within 3s"
    assert said in err.getvalue()  # not an empty reason after the colon
    kept = store.get("t")
    assert kept is not None and kept.proxies == ["OLD"]


async def test_a_stop_refused_for_credentials_keeps_the_orphan(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    plant(store, "t", proxies=["OLD"])
    api = ScriptedStops(TwoFactorError("this account now signs in with two-factor"))
    r, err = reporter()
    with trio.fail_after(DEADLINE):
        assert await cleanup_orphans(store, OneApi(api), r, trusted=lambda url: True) == 0
    assert "could not stop proxy OLD of t: this account now signs in" in err.getvalue()
    kept = store.get("t")
    assert kept is not None and kept.proxies == ["OLD"]
