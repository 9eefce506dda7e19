"""The proxy keeper's decisions, fast-forwarded with autojump_clock, against a small
in-memory API fake (no sockets: only timing and counting are under test)."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
import trio

from rittunnel.errors import ApiRefused, ApiUnavailable, TwoFactorError
from rittunnel.profiles import Profile
from rittunnel.report import Reporter
from rittunnel.tunnel.keeper import ProxyKeeper
from rittunnel.tunnel.lease import usable_until
from rittunnel.tunnel.upstream import Upstream

from .conftest import MemoryApi


def keeper(api: MemoryApi, err: io.StringIO | None = None) -> ProxyKeeper:
    profile = Profile(name="p", source="p.yaml", service="s", local_port=1)
    reporter = Reporter(quiet=True, err=err or io.StringIO())
    return ProxyKeeper(api, profile, reporter)  # type: ignore[arg-type]


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
    # no retry begins that could not end by the deadline (each connect takes 1 s)
    assert trio.current_time() - start <= 15
    assert len(api.failures) > 1000 - 15  # bounded: backoff, not a hot loop


async def test_retries_never_outlast_the_deadline(autojump_clock: Any) -> None:
    for _ in range(50):  # the backoff is jittered: many draws, none may overshoot
        api = MemoryApi(latency=0.7)
        api.failures = [ApiUnavailable("502")] * 1000
        start = trio.current_time()
        with pytest.raises(ApiUnavailable):
            await keeper(api).acquire(start + 9.3)
        assert trio.current_time() - start <= 9.3


class Paced(MemoryApi):
    """A MemoryApi whose connects take ``paces`` seconds, in turn (then its latency)."""

    def __init__(self, paces: list[float], **kw: Any) -> None:
        super().__init__(**kw)
        self.paces = paces

    async def connect(self, *args: Any, **kw: Any) -> Any:
        if self.paces:
            self.latency = self.paces.pop(0)
        return await super().connect(*args, **kw)


async def test_one_slow_failure_does_not_end_a_wait_recent_connects_fit_in(
    autojump_clock: Any,
) -> None:
    api = Paced([1.0, 8.0, 1.0], expires_in=5)
    k = keeper(api)
    await k.release(await k.acquire(trio.current_time() + 30))  # C1 in 1 s
    await trio.sleep(10)  # expired
    api.failures = [ApiUnavailable("502 after 8 s")]
    start = trio.current_time()
    lease = await k.acquire(start + 12)  # 8 s failed; 1 s connects fit in what is left
    assert lease.connection_id == "C2" and trio.current_time() - start <= 12


async def test_permanent_failure_is_not_retried(autojump_clock: Any) -> None:
    api = MemoryApi()
    api.failures = [ApiRefused("no such service", "no such service")]
    k = keeper(api)
    with pytest.raises(ApiRefused):
        await k.acquire(trio.current_time() + 30)
    assert api.connects == 0 and api.failures == []


def offline() -> ApiRefused:
    reason = "[0212] Device is not responding"
    return ApiRefused(f"connect: remote.it said no: {reason}", reason, offline=True)


async def test_a_device_not_responding_twice_then_up_gets_its_proxy(autojump_clock: Any) -> None:
    api = MemoryApi()
    api.failures = [offline(), offline()]
    lease = await keeper(api).acquire(trio.current_time() + 15)
    assert lease.connection_id == "C1" and api.failures == []


async def test_a_device_that_stays_offline_is_said_to_be(autojump_clock: Any) -> None:
    api = MemoryApi()
    api.failures = [offline()] * 1000
    start = trio.current_time()
    with pytest.raises(ApiRefused, match=r"^p: the device seems offline or not responding"):
        await keeper(api).acquire(start + 15)
    # no retry starts that could not end by the deadline (a connect takes 1 s here)
    assert trio.current_time() - start <= 15 and len(api.failures) > 1000 - 15


async def test_a_retry_after_is_waited_for(autojump_clock: Any) -> None:
    api = MemoryApi(latency=0)
    api.failures = [ApiUnavailable("connect: throttled (HTTP 429)", retry_after=7)]
    start = trio.current_time()
    await keeper(api).acquire(start + 30)
    assert trio.current_time() - start >= 7  # not the first backoff step (0.5 s)


async def test_a_connect_that_replaced_a_proxy_warns_which() -> None:
    api = MemoryApi(latency=0)
    api.replaced = "http://proxy17.rt3.io:32192"
    err = io.StringIO()
    await keeper(api, err).acquire(trio.current_time() + 30)
    assert err.getvalue() == (
        "rittunnel: warning: p: remote.it replaced an earlier proxy of this service "
        "(http://proxy17.rt3.io:32192); connections through it were cut\n"
    )


# -- zero wait: renewal before expiry, idle drops, warm (issue 17) ---------------------


def served(api: MemoryApi, *, warm: bool = False, err: io.StringIO | None = None) -> Upstream:
    profile = Profile(name="p", source="p.yaml", service="s", local_port=1, warm=warm)
    reporter = Reporter(err=err or io.StringIO())
    return Upstream(profile, api, reporter)  # type: ignore[arg-type]


async def clients_every(
    up: Upstream, interval: float, until: float, hold: float = 0.1
) -> list[tuple[float, str]]:
    """A client every ``interval`` s until trio time ``until``, each holding its proxy for
    ``hold`` s: (how long it waited for a proxy, which proxy) per client."""
    got: list[tuple[float, str]] = []

    async def one() -> None:
        start = trio.current_time()
        lease = await up.keeper.acquire(start + 30)
        got.append((trio.current_time() - start, lease.connection_id))
        await trio.sleep(hold)
        await up.keeper.release(lease)

    async with trio.open_nursery() as nursery:
        while trio.current_time() < until:
            nursery.start_soon(one)
            await trio.sleep(interval)
    return got


async def test_a_tunnel_in_use_never_waits_across_expiries(autojump_clock: Any) -> None:
    # the simulator: connects answered in 1.2 s, 10 s proxies, a client every 0.5 s
    api = MemoryApi(expires_in=10, latency=1.2)
    up = served(api)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        await up.warm(trio.current_time() + 30)  # `up`: ready once its first proxy is
        got = await clients_every(up, 0.5, trio.current_time() + 35)
        nursery.cancel_scope.cancel()
    waits = [w for w, _ in got]
    assert max(waits) == 0.0, waits
    assert len({cid for _, cid in got}) >= 4  # three expiries crossed, each on a new proxy
    # renewed once per lifetime, never more than once per half-lifetime
    gaps = [b - a for a, b in itertools.pairwise(api.connect_times)]
    assert all(5.0 <= gap < 10.0 for gap in gaps), gaps
    # every replaced proxy was stopped once its clients were done
    assert set(api.stopped) >= {f"C{i}" for i in range(1, api.connects - 1)}


async def test_renewal_starts_early_enough_for_a_slow_connect(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=20, latency=3.0)
    up = served(api)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        await up.warm(trio.current_time() + 30)
        got = await clients_every(up, 0.5, trio.current_time() + 45)
        nursery.cancel_scope.cancel()
    assert max(w for w, _ in got) == 0.0
    assert api.connects >= 3


async def test_an_unused_tunnel_lets_its_proxy_lapse(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=10, latency=1.0)
    up = served(api)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        await up.warm(trio.current_time() + 30)  # start-up: not a use
        await trio.sleep(60)
        assert api.connects == 1  # no renewal for nobody
        assert api.stopped == ["C1"] and up.current is None  # retired when it expired
        start = trio.current_time()
        lease, _ = await up.keeper.acquire(start + 30), None
        assert lease.connection_id == "C2"
        assert trio.current_time() - start == pytest.approx(1.0)  # on demand, as before
        await up.keeper.release(lease)
        nursery.cancel_scope.cancel()


async def test_a_proxy_dropped_for_idleness_is_never_handed_out(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=28800, latency=1.0)
    api.idle_left = 60.0
    err = io.StringIO()
    up = served(api, err=err)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        lease = await up.keeper.acquire(trio.current_time() + 30)
        await up.keeper.release(lease)
        await trio.sleep(61)  # remote.it dropped it 60 s after its last connection closed
        assert api.stopped == ["C1"] and up.current is None
        nxt = await up.keeper.acquire(trio.current_time() + 30)
        assert nxt.connection_id == "C2"  # not C1, which would refuse the client
        await up.keeper.release(nxt)
        nursery.cancel_scope.cancel()
    assert "h:1 has had no connection for 1m00s, after which remote.it drops it" in err.getvalue()


async def test_a_proxy_in_use_is_not_dropped(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=28800, latency=1.0)
    api.idle_left = 60.0
    up = served(api)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        lease = await up.keeper.acquire(trio.current_time() + 30)
        await trio.sleep(600)  # a long ssh session: remote.it's idle timer does not run
        assert api.stopped == [] and up.current is lease
        await up.keeper.release(lease)
        nursery.cancel_scope.cancel()


async def test_warm_replaces_an_idle_proxy_before_it_is_dropped(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=28800, latency=1.0)
    api.idle_left = 60.0
    up = served(api, warm=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        await up.warm(trio.current_time() + 30)
        await trio.sleep(600)  # ten idle periods
        # one connect per idle period: made 5 s (margin) + 3 s (lead) early, 1 s long
        assert 10 <= api.connects <= 600 / (60 - 5 - 3) + 1
        assert len(up.open_ids) == 1  # each idle one stopped once replaced
        start = trio.current_time()
        lease = await up.keeper.acquire(start + 30)
        assert trio.current_time() == start  # the first client after a break does not wait
        await up.keeper.release(lease)
        nursery.cancel_scope.cancel()


async def test_warm_renews_an_unused_proxy_before_it_expires(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=10, latency=1.0)
    up = served(api, warm=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        await up.warm(trio.current_time() + 30)
        await trio.sleep(30)
        start = trio.current_time()
        lease = await up.keeper.acquire(start + 30)
        assert trio.current_time() == start
        assert api.connects >= 4
        await up.keeper.release(lease)
        nursery.cancel_scope.cancel()


async def test_a_renewed_proxy_keeps_its_connection_until_it_expires(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=10, latency=1.0)
    up = served(api)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        long_session = await up.keeper.acquire(trio.current_time() + 30)  # C1, at t=1
        await trio.sleep(7)  # renewed meanwhile (C2): new clients go there
        newcomer = await up.keeper.acquire(trio.current_time() + 30)
        assert newcomer.connection_id == "C2" and api.stopped == []
        await up.keeper.release(newcomer)
        assert long_session.expires_at is not None
        await trio.sleep_until(long_session.expires_at + 0.01)
        assert "C1" in api.stopped  # stopped when it expired, its session with it
        await up.keeper.release(long_session)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "failure",
    [
        ApiRefused("service not found", "not found"),  # permanent
        TwoFactorError("this account now signs in with two-factor"),  # credentials
    ],
)
async def test_a_renewal_that_fails_is_said_retried_and_not_fatal(
    autojump_clock: Any, failure: Exception
) -> None:
    api = MemoryApi(expires_in=10, latency=1.0)
    err = io.StringIO()
    up = served(api, err=err)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        lease = await up.keeper.acquire(trio.current_time() + 30)
        api.failures = [failure]  # once
        await trio.sleep(20)
        said = f"could not make the next proxy ahead of time: {failure}; trying again in"
        assert said in err.getvalue()
        assert api.connects >= 2 and up.current is not None
        assert up.current.connection_id != "C1"  # tried again, and made it
        await up.keeper.release(lease)
        nursery.cancel_scope.cancel()


async def test_a_renewal_retries_while_a_backoff_step_fits(autojump_clock: Any) -> None:
    # 1 s connects: the renewal starts 3 s before the proxy stops being usable; its
    # first try fails after 1.8 s, and the retry (0.5 s) still makes it in time. Nobody
    # waits for a renewal, so it is not cut short by the pace of the failed try.
    api = Paced([1.0, 1.8, 0.5], expires_in=10)
    err = io.StringIO()
    up = served(api, err=err)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        lease = await up.keeper.acquire(trio.current_time() + 30)
        api.failures = [ApiUnavailable("502")]
        while api.connects < 2:
            await trio.sleep(0.1)
        assert up.current is not None and up.current.connection_id == "C2"
        assert "ahead of time" not in err.getvalue()
        assert api.connect_times[1] < usable_until(lease)
        await up.keeper.release(lease)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("offset", [50.0, 51.5, 52.0, 52.5, 53.0, 54.0, 54.9, 55.5, 57.0])
async def test_warm_never_makes_a_client_wait_around_the_idle_drop(
    autojump_clock: Any, offset: float
) -> None:
    """A client arriving at any moment around the idle drop (before, during and after
    the replacement's connect) gets a proxy at once."""
    api = MemoryApi(expires_in=28800, latency=1.0)
    api.idle_left = 60.0
    up = served(api, warm=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        await up.warm(trio.current_time() + 30)
        await trio.sleep(offset)
        start = trio.current_time()
        lease = await up.keeper.acquire(start + 30)
        assert trio.current_time() == start, offset
        await up.keeper.release(lease)
        nursery.cancel_scope.cancel()


async def test_the_idle_policy_overtaking_a_renewal_stops_it_too(autojump_clock: Any) -> None:
    """idle_timeout stopped the proxy while a renewal's connect was under way: the new
    proxy is stopped as soon as it is made, and the tunnel is not renewed again."""
    api = MemoryApi(expires_in=6, latency=1.0)
    up = served(api)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        lease = await up.keeper.acquire(trio.current_time() + 30)  # C1 at t=1
        await up.keeper.release(lease)
        await trio.sleep(3.2)  # the renewal (from t=4) is connecting
        assert up.keeper._making is not None
        await up.drop("no local connection for 3s")
        await trio.sleep(1)  # the renewal's answer came: stopped at once
        assert api.connects == 2 and up.open_ids == [] and up.current is None
        await trio.sleep(30)
        assert api.connects == 2  # and no renewal for an unused tunnel
        nursery.cancel_scope.cancel()


async def test_over_graphql_a_connect_that_cuts_live_connections_is_said_once(
    autojump_clock: Any,
) -> None:
    """A renewal with a connection open through the current proxy (it waited as long as
    the plan allows); the connection ends right after the connect, as when remote.it
    replaced the proxy: said once, naming the proxy. A later renewal, cut too, is not
    said again."""
    api = MemoryApi(expires_in=100, latency=1.0)
    api.replacement_unknown = True
    err = io.StringIO()
    up = served(api, err=err)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        for generation in (1, 2):
            lease = await up.keeper.acquire(trio.current_time() + 30)
            while api.connects == generation:  # held through the renewal
                await trio.sleep(0.1)
            await trio.sleep(0.5)
            await up.keeper.release(lease)  # cut right after the connect
        nursery.cancel_scope.cancel()
    said = [line for line in err.getvalue().splitlines() if "previous proxy" in line]
    assert len(said) == 1, err.getvalue()
    assert "h:1 ended as the next proxy was made" in said[0]
    assert "GraphQL connect" in said[0]
    # the renewal with a live connection came late (about 100 - 5 - lead), not at half
    assert api.connect_times[1] - api.connect_times[0] > 90


async def test_over_graphql_a_connection_ending_later_is_no_cut(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=100, latency=1.0)
    api.replacement_unknown = True
    err = io.StringIO()
    up = served(api, err=err)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        lease = await up.keeper.acquire(trio.current_time() + 30)
        while api.connects == 1:
            await trio.sleep(0.1)
        await trio.sleep(10)  # ended on its own time
        await up.keeper.release(lease)
        nursery.cancel_scope.cancel()
    assert "previous proxy" not in err.getvalue()


async def test_over_graphql_an_idle_moment_after_half_life_renews(autojump_clock: Any) -> None:
    api = MemoryApi(expires_in=100, latency=1.0)
    api.replacement_unknown = True
    up = served(api)
    async with trio.open_nursery() as nursery:
        await nursery.start(up.serve)
        lease = await up.keeper.acquire(trio.current_time() + 30)
        await trio.sleep(60)  # past half its lifetime, in use: no renewal yet
        assert api.connects == 1
        await up.keeper.release(lease)  # no live connection: renewing cuts nobody
        await trio.sleep(5)
        assert api.connects == 2
        nursery.cancel_scope.cancel()
