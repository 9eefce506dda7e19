"""An upstream: connecting through the keeper's proxy, and teardown (its stop calls),
against a small in-memory API fake."""

from __future__ import annotations

import errno
import io
import socket
from typing import Any

import pytest
import trio
import trio.testing

from rittunnel.errors import ApiRefused, ApiUnavailable, LocalResourceError, TwoFactorError
from rittunnel.profiles import Profile
from rittunnel.report import Reporter
from rittunnel.settings import STOP_TIMEOUT
from rittunnel.tunnel import upstream as upstream_module
from rittunnel.tunnel.upstream import Upstream

from .conftest import MemoryApi


def upstream(api: MemoryApi, hold: float = 30.0, err: io.StringIO | None = None) -> Upstream:
    profile = Profile(name="p", source="p.yaml", service="s", local_port=1, hold_timeout=hold)
    reporter = Reporter(quiet=True, err=err or io.StringIO())
    return Upstream(profile, api, reporter)  # type: ignore[arg-type]


async def test_a_stop_that_hangs_keeps_the_proxy_recorded(autojump_clock: Any) -> None:
    api = MemoryApi(latency=0)
    up = upstream(api)
    await up.warm(trio.current_time() + 30)
    api.stop_hangs = True
    start = trio.current_time()
    assert await up.stop_proxies() is False
    assert up.open_ids == ["C1"]  # may still be open: kept for cleanup
    assert trio.current_time() - start <= STOP_TIMEOUT + 0.1


async def test_a_connect_in_flight_when_cancelled_is_recorded_then_stopped(
    autojump_clock: Any,
) -> None:
    api = MemoryApi(latency=5)
    up = upstream(api)
    recorded: list[list[str]] = []
    up.keeper.on_change = lambda ids: recorded.append(ids)
    with trio.move_on_after(1):  # Ctrl-C while remote.it is still answering
        await up.warm(trio.current_time() + 30)
    assert up.open_ids == ["C1"] and recorded == [["C1"]]  # its answer was awaited
    assert await up.stop_proxies() and api.stopped == ["C1"]


GONE = "[0212] connectionid incorrect or missing"
DENIED = "[0403] Access denied for this user"


@pytest.mark.parametrize(
    ("refusal", "done"),
    [
        pytest.param(ApiRefused(f"stop: remote.it said no: {GONE}", GONE), True, id="gone"),
        pytest.param(ApiRefused(f"stop: remote.it said no: {DENIED}", DENIED), False, id="denied"),
        pytest.param(TwoFactorError("this account now signs in with two-factor"), False, id="2fa"),
    ],
)
async def test_a_refused_stop_counts_as_done_only_when_the_proxy_is_gone(
    refusal: Exception, done: bool
) -> None:
    """A proxy the API no longer knows is stopped; any other refusal (another reason,
    credentials that now need two-factor) keeps it recorded and says so."""
    api = MemoryApi(latency=0)
    err = io.StringIO()
    up = upstream(api, err=err)
    await up.warm(trio.current_time() + 30)

    async def refuse(service: str, cid: str) -> None:
        raise refusal

    api.stop = refuse  # type: ignore[method-assign]
    assert await up.stop_proxies() is done
    assert up.open_ids == ([] if done else ["C1"])
    assert ("C1 may still be open" in err.getvalue()) is not done


async def test_proxies_that_refuse_at_once_are_replaced_with_backoff(
    loopback_clock: trio.testing.MockClock,
) -> None:
    api = MemoryApi(latency=0)
    api.proxy_host = "127.0.0.1"
    with socket.socket() as s:  # ports nobody listens on: every proxy refuses
        s.bind(("127.0.0.1", 0))
        api.connects = first = s.getsockname()[1] - 1
    up = upstream(api, hold=3)
    with trio.fail_after(10), pytest.raises(ApiUnavailable):
        await up.connect(trio.current_time() + 3)
    made = api.connects - first
    assert 2 <= made <= 4, made  # 0, 0.5, 1, 2 s apart: not thousands
    assert len(api.stopped) == made  # each stopped once it refused


async def test_a_replacement_does_not_wait_for_the_old_proxys_stop(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=10, latency=0)
    up = upstream(api)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        await up.warm(trio.current_time() + 30)
        api.stop_hangs = True
        await trio.sleep(20)  # expired
        start = trio.current_time()
        lease = await up.keeper.acquire(trio.current_time() + 30)
        assert lease.connection_id == "C2" and trio.current_time() - start < 1
        nursery.cancel_scope.cancel()
    assert set(up.open_ids) == {"C1", "C2"}  # the hanging stop left C1 recorded


async def test_out_of_fds_is_not_the_proxys_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    api = MemoryApi(latency=0)
    up = upstream(api)

    async def no_fds(host: str, port: int) -> socket.socket:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(upstream_module, "open_tcp", no_fds)
    with pytest.raises(LocalResourceError, match="out of file descriptors"):
        await up.connect(trio.current_time() + 30)
    assert up.current is not None and api.stopped == []  # the proxy is kept
