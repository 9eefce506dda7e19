from __future__ import annotations

from rittunnel.units import format_bytes, format_duration


def test_format_duration() -> None:
    assert format_duration(28797) == "7h59m"
    assert format_duration(75) == "1m15s"
    assert format_duration(3) == "3s"
    assert format_duration(-4) == "0s"
    assert format_duration(3 * 86400 + 5 * 3600) == "3d05h"


def test_format_bytes() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(8 * 1024 * 1024) == "8.0 MiB"
    assert format_bytes(3 * 1024**4) == "3.0 TiB"


def test_env_numbers_are_checked() -> None:
    import pytest

    from rittunnel.errors import RittunnelError
    from rittunnel.units import env_count, env_seconds

    assert env_count({}, "N", 64) == 64
    assert env_count({"N": " 0 "}, "N", 64) == 0
    assert env_count({"N": "8"}, "N", 64) == 8
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(RittunnelError, match=f"N={bad!r} is not a whole number"):
            env_count({"N": bad}, "N", 64)
    assert env_seconds({"S": "2.5"}, "S", 1.0) == 2.5
    with pytest.raises(RittunnelError, match="S='0' is not a positive number of seconds"):
        env_seconds({"S": "0"}, "S", 1.0)
