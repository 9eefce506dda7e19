from __future__ import annotations

import random

from rittunnel.remoteit.protocol import Connection, PortProxy
from rittunnel.tunnel.lease import backoff_delays, is_expired, lease_from


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
