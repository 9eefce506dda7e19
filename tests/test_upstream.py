"""The proxy keeper's decisions, fast-forwarded with autojump_clock, against a small
in-memory API fake (no sockets: only timing and counting are under test)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from rittunnel.errors import ApiRefused, ApiUnavailable
from rittunnel.profiles import Profile
from rittunnel.report import Reporter
from rittunnel.tunnel.upstream import ProxyKeeper

from .conftest import MemoryApi


def keeper(api: MemoryApi) -> ProxyKeeper:
    profile = Profile(name="p", source="p.yaml", service="s", local_port=1)
    quiet = Reporter(quiet=True, err=open("/dev/null", "w"))  # noqa: SIM115
    return ProxyKeeper(api, profile, quiet)  # type: ignore[arg-type]


async def test_one_creation_for_many_waiting_clients(autojump_clock: Any) -> None:
    api = MemoryApi()
    k = keeper(api)
    got: list[str] = []

    async def client() -> None:
        lease = await k.acquire(trio.current_time() + 30)
        got.append(lease.connection_id)

    async with trio.open_nursery() as n:
        for _ in range(20):
            n.start_soon(client)
    assert api.connects == 1 and set(got) == {"C1"}


async def test_expired_proxy_is_replaced_and_stopped_when_unused(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=10)
    k = keeper(api)
    first = await k.acquire(trio.current_time() + 30)
    await trio.sleep(20)
    second = await k.acquire(trio.current_time() + 30)
    assert second.connection_id == "C2"
    assert api.stopped == []  # C1 still has a user: a live connection is never cut
    await k.release(first)
    assert api.stopped == ["C1"]
    await k.release(second)
    await k.stop_all()
    assert api.stopped == ["C1", "C2"] and k.open_ids == []


async def test_failed_proxy_is_replaced(autojump_clock: Any) -> None:
    api = MemoryApi()
    k = keeper(api)
    lease = await k.acquire(trio.current_time() + 30)
    await k.release(lease)
    await k.fail(lease, "refused")
    assert api.stopped == ["C1"]
    assert (await k.acquire(trio.current_time() + 30)).connection_id == "C2"


async def test_transient_failures_back_off_then_succeed(autojump_clock: Any) -> None:
    api = MemoryApi()
    api.failures = [ApiUnavailable("502")] * 3
    k = keeper(api)
    start = trio.current_time()
    lease = await k.acquire(start + 30)
    assert lease.connection_id == "C1"
    # three failures with backoff 0.5, 1, 2 (jittered to at least half) plus latency
    assert 4 + 1.75 <= trio.current_time() - start <= 4 + 3.5


async def test_transient_failures_give_up_at_the_deadline(autojump_clock: Any) -> None:
    api = MemoryApi()
    api.failures = [ApiUnavailable("502")] * 1000
    k = keeper(api)
    start = trio.current_time()
    with pytest.raises(ApiUnavailable):
        await k.acquire(start + 15)
    assert trio.current_time() - start <= 15.5
    assert len(api.failures) > 1000 - 15  # bounded: backoff, not a hot loop


async def test_permanent_failure_is_not_retried(autojump_clock: Any) -> None:
    api = MemoryApi()
    api.failures = [ApiRefused("no such service", "no such service")]
    k = keeper(api)
    with pytest.raises(ApiRefused):
        await k.acquire(trio.current_time() + 30)
    assert api.connects == 0 and api.failures == []
