from __future__ import annotations

import math
import random
from typing import Any

from rittunnel.remoteit.protocol import Connection, PortProxy
from rittunnel.tunnel.lease import (
    IDLE_WINDOW,
    REFUSAL_PAUSE_MAX,
    Lease,
    Plan,
    Use,
    backoff_delays,
    cut_by_connect,
    is_dropped,
    is_expired,
    lease_from,
    plan,
    refusal_pause,
    renew_at,
    renewal_lead,
    retry_delay,
    retry_pace,
)


def conn(expires_in: float | None) -> Connection:
    return Connection("c", "s", PortProxy("h", 1), expires_in)


def test_expiry_with_margin() -> None:
    lease = lease_from(conn(28800), now=100.0)
    assert not is_expired(lease, 100.0 + 28800 - 6)
    assert is_expired(lease, 100.0 + 28800 - 5)


def test_short_lived_proxy_is_not_expired_on_arrival() -> None:
    lease = lease_from(conn(3), now=0.0)
    assert not is_expired(lease, 0.0)
    assert not is_expired(lease, 2.6)
    assert is_expired(lease, 2.75)


def test_unknown_expiry_never_expires() -> None:
    assert not is_expired(lease_from(conn(None), 0.0), 1e12)


def test_backoff_grows_with_jitter_and_caps() -> None:
    delays = backoff_delays(base=1, factor=2, cap=8, rng=random.Random(1))
    got = [next(delays) for _ in range(6)]
    bounds = [1, 2, 4, 8, 8, 8]
    for d, b in zip(got, bounds, strict=True):
        assert b / 2 <= d <= b


# -- plan: renewal, idle drops, warm ---------------------------------------------------


def lease(expires_in: float | None = 100.0, idle: float | None = 60.0, at: float = 0.0) -> Lease:
    return lease_from(Connection("c", "s", PortProxy("h", 1), expires_in, idle_left=idle), at)


def test_the_idle_window_comes_from_the_api_or_is_fifteen_minutes() -> None:
    assert lease(idle=42).idle_window == 42
    assert lease(idle=None).idle_window == IDLE_WINDOW == 900


def test_a_proxy_is_dropped_an_idle_window_after_its_last_connection() -> None:
    one = lease(idle=60)
    assert not is_dropped(one, None, 1e9)  # in use: never
    assert not is_dropped(one, 10.0, 10 + 60 - 5.01)
    assert is_dropped(one, 10.0, 10 + 60 - 5)  # a margin before remote.it's timer


def test_renewal_leaves_room_for_a_connect_twice_as_slow_as_the_slowest() -> None:
    assert renewal_lead([]) == 1.0
    assert renewal_lead([0.5, 1.2, 0.8]) == 2 * 1.2 + 1
    one = lease(expires_in=28800, at=0.0)
    assert renew_at(one, renewal_lead([3.0])) == 28800 - 5 - 7
    # never before half the lifetime, however slow the connects were
    assert renew_at(lease(expires_in=10, at=0.0), 100.0) == 5.0
    assert renew_at(lease(expires_in=None), 1.0) == math.inf


def test_a_tunnel_in_use_renews_at_renewal_time() -> None:
    one = lease(expires_in=100, idle=60)
    busy = Use(users=1, idle_since=None, last_used=10.0)
    assert plan(one, busy, now=50.0, warm=False, lead=3.0) == Plan(wake_at=100 - 5 - 3)
    assert plan(one, busy, now=92.0, warm=False, lead=3.0) == Plan(make=True, why="renewal")


def test_when_a_connect_may_replace_renewal_waits_for_no_live_connection() -> None:
    """GraphQL: a renewal's connect may cut the proxy it renews. With a connection open
    it waits for the usual (late) renewal time; from half the lifetime on, a moment
    without connections renews at once."""
    one = lease(expires_in=100, idle=900)
    busy = Use(users=2, idle_since=None, last_used=60.0)
    quiet = Use(users=0, idle_since=59.0, last_used=59.0)

    def gql(use: Use, now: float) -> Plan:
        return plan(one, use, now=now, warm=False, lead=3.0, replace_unknown=True)

    assert gql(busy, 60.0) == Plan(wake_at=92.0)
    assert gql(quiet, 60.0) == Plan(make=True, why="renewal")
    assert gql(quiet, 40.0) == Plan(wake_at=50.0)
    assert gql(busy, 92.0) == Plan(make=True, why="renewal")
    # REST says when it replaced one (and is told not to): no earlier renewal
    assert plan(one, quiet, now=60.0, warm=False, lead=3.0) == Plan(wake_at=92.0)
    # a tunnel nobody used lately is not renewed at all
    lapsed = Use(users=0, idle_since=0.0, last_used=None)
    assert not gql(lapsed, 60.0).make


def test_a_cut_is_every_live_connection_ending_around_the_connect() -> None:
    assert cut_by_connect(2, 2, 0.5) and cut_by_connect(1, 1, None)
    assert not cut_by_connect(2, 1, 0.5)  # one of two: a coincidence
    assert not cut_by_connect(1, 1, 30.0)  # long after: ended on its own time
    assert not cut_by_connect(0, 0, 0.0)


def test_a_tunnel_used_within_the_idle_window_renews_too() -> None:
    one = lease(expires_in=100, idle=60)
    recent = Use(users=0, idle_since=80.0, last_used=80.0)
    assert plan(one, recent, now=92.0, warm=False, lead=3.0).make


def test_an_unused_tunnel_lets_its_proxy_lapse() -> None:
    one = lease(expires_in=100, idle=900)
    never = Use(users=0, idle_since=0.0, last_used=None)
    step = plan(one, never, now=92.0, warm=False, lead=3.0)
    assert not step.make and step.wake_at == 95.0  # look again when it stops being usable
    assert plan(one, never, now=95.0, warm=False, lead=3.0) == Plan(retire=True, why="expiring")
    # used long ago (more than an idle window): the same
    old = Use(users=0, idle_since=0.0, last_used=1.0)
    assert not plan(lease(expires_in=2000, idle=60), old, now=1990.0, warm=False, lead=3.0).make


def test_warm_renews_even_when_unused_and_replaces_a_dropped_proxy() -> None:
    one = lease(expires_in=100, idle=900)
    never = Use(users=0, idle_since=0.0, last_used=None)
    assert plan(one, never, now=92.0, warm=True, lead=3.0) == Plan(make=True, why="renewal")
    short = lease(expires_in=28800, idle=60)
    idle = Use(users=0, idle_since=100.0, last_used=100.0)
    # warm: replaced lead (3 s) before the drop (155), the idle one serving meanwhile
    assert plan(short, idle, now=151.0, warm=True, lead=3.0) == Plan(wake_at=152.0)
    assert plan(short, idle, now=152.0, warm=True, lead=3.0) == Plan(make=True, why="renewal")
    # and if that failed, retired at the drop and tried again
    assert plan(short, idle, now=155.0, warm=True, lead=3.0) == Plan(
        retire=True, make=True, why="idle"
    )
    assert plan(short, idle, now=155.0, warm=False, lead=3.0) == Plan(retire=True, why="idle")
    assert plan(None, Use(), now=0.0, warm=True, lead=3.0) == Plan(make=True, why="warm")
    assert plan(None, Use(), now=0.0, warm=False, lead=3.0) == Plan()


def test_an_idle_proxy_wakes_the_tunnel_when_it_will_be_dropped() -> None:
    short = lease(expires_in=28800, idle=60)
    idle = Use(users=0, idle_since=100.0, last_used=100.0)
    assert plan(short, idle, now=120.0, warm=False, lead=3.0).wake_at == 155.0


def test_a_late_renewal_at_expiry_retires_and_makes_the_next_at_once() -> None:
    one = lease(expires_in=100, idle=60)
    busy = Use(users=2, idle_since=None, last_used=94.0)
    assert plan(one, busy, now=96.0, warm=False, lead=3.0) == Plan(
        retire=True, make=True, why="expiring"
    )


def test_a_proxy_without_a_lifetime_is_never_renewed() -> None:
    one = lease(expires_in=None, idle=60)
    busy = Use(users=1, idle_since=None, last_used=0.0)
    assert plan(one, busy, now=1e9, warm=True, lead=3.0) == Plan()


def test_warm_replaces_no_earlier_than_half_the_idle_window() -> None:
    tiny = lease(expires_in=28800, idle=4)
    idle = Use(users=0, idle_since=0.0, last_used=0.0)
    # lead 3 s would mean 4 - 0.4 - 3 = 0.6 s: one connect a second; half the window is 2
    assert plan(tiny, idle, now=1.0, warm=True, lead=3.0) == Plan(wake_at=2.0)
    assert plan(tiny, idle, now=2.0, warm=True, lead=3.0).make


# -- retries: pure numbers, no clock -------------------------------------------------


def test_a_permanent_failure_is_not_retried() -> None:
    got = retry_delay(
        transient=False, step=0.5, retry_after=None, now=0.0, deadline=100.0, pace=1.0
    )
    assert got is None


def test_a_retry_waits_the_backoff_step_or_what_remote_it_asked() -> None:
    common: dict[str, Any] = {"transient": True, "now": 10.0, "deadline": 100.0, "pace": 1.0}
    assert retry_delay(step=0.7, retry_after=None, **common) == 0.7
    assert retry_delay(step=0.7, retry_after=7.0, **common) == 7.0  # HTTP 429 Retry-After
    assert retry_delay(step=3.0, retry_after=1.0, **common) == 3.0  # at least the step


def test_a_waited_retry_starts_only_if_it_can_end_by_the_deadline() -> None:
    # now 10, a 1 s pause and a connect at 2 s pace: ends at 13
    common: dict[str, Any] = {"transient": True, "step": 1.0, "retry_after": None, "now": 10.0}
    assert retry_delay(deadline=13.01, pace=2.0, **common) == 1.0
    assert retry_delay(deadline=13.0, pace=2.0, **common) is None
    # in the background (nobody waits) the pause alone must fit
    assert retry_delay(deadline=11.01, pace=None, **common) == 1.0
    assert retry_delay(deadline=11.0, pace=None, **common) is None


def test_the_pace_is_the_failed_attempts_or_a_faster_recent_connects() -> None:
    assert retry_pace(8.0, []) == 8.0  # nothing better known
    assert retry_pace(8.0, [1.0, 1.5]) == 1.5  # one slow failure: recent connects fit
    assert retry_pace(0.2, [1.0, 1.5]) == 0.2  # a quick failure: its own pace


def test_the_pause_after_refused_proxies_doubles_up_to_a_cap() -> None:
    assert [refusal_pause(n) for n in range(5)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert refusal_pause(100) == REFUSAL_PAUSE_MAX


def test_a_connection_ending_at_the_proxys_end_was_cut_by_it() -> None:
    from rittunnel.tunnel.lease import at_its_end

    short = lease(expires_in=5.0, at=100.0)  # the window: its last fifth, 1 s
    assert not at_its_end(short, 103.9)
    assert at_its_end(short, 104.1) and at_its_end(short, 109.0)
    long = lease(expires_in=28797.0)  # at most 30 s before its end
    assert not at_its_end(long, 28766.0) and at_its_end(long, 28768.0)
    assert not at_its_end(lease(expires_in=None), 1e9)  # no expiry: never
    # asked 3 s before the answer: remote.it may have counted from then
    slow = lease_from(Connection("c", "s", PortProxy("h", 1), 5.0), 100.0, asked_at=97.0)
    assert not at_its_end(slow, 100.9) and at_its_end(slow, 101.1)


def test_the_expiry_line_names_the_tunnel_the_count_and_why() -> None:
    from rittunnel.tunnel.stopping import expired_with_users

    line = expired_with_users("pi", lease(expires_in=28797.0), 3)
    assert line == (
        "pi: proxy h:1 expired and remote.it closed its 3 live connections: remote.it ends "
        "every proxy after about 8 hours (this one after 7h59m); renewal and `warm` keep new "
        "connections instant, but cannot keep old ones open"
    )
    assert "its 1 live connection:" in expired_with_users("pi", lease(), 1)
