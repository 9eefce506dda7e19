from __future__ import annotations

import pytest

from rittunnel.quantities import duration_text, format_bytes, format_duration, parse_duration


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
    from rittunnel.quantities import env_count, env_seconds

    assert env_count({}, "N", 64) == 64
    assert env_count({"N": " 0 "}, "N", 64) == 0
    assert env_count({"N": "8"}, "N", 64) == 8
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(RittunnelError, match=f"N={bad!r} is not a whole number"):
            env_count({"N": bad}, "N", 64)
    assert env_seconds({"S": "2.5"}, "S", 1.0) == 2.5
    with pytest.raises(RittunnelError, match="S='0' is not a positive number of seconds"):
        env_seconds({"S": "0"}, "S", 1.0)


def test_numbers_that_cannot_be_meant_are_refused_or_unknown() -> None:
    import math

    import pytest

    from rittunnel.errors import RittunnelError
    from rittunnel.quantities import env_count, env_seconds, lifetime, parse_seconds

    for bad in ("nan", "inf", "-inf", "Infinity", "1e999", "2592001", "-0"):
        assert parse_seconds(bad) is None
        with pytest.raises(RittunnelError, match=r"S='.*' is not a positive number of seconds"):
            env_seconds({"S": bad}, "S", 1.0)
    assert parse_seconds("2592000") == 2592000.0 and parse_seconds(" 0.5 ") == 0.5
    for bad in ("²", "٣", "1" * 5000, "1e3"):
        with pytest.raises(RittunnelError, match="is not a whole number"):
            env_count({"N": bad}, "N", 64)
    with pytest.raises(RittunnelError) as info:
        env_seconds({"S": "x" * 100_000}, "S", 1.0)
    assert len(str(info.value)) < 200

    # what the API says a proxy lives: unbelievable values are "unknown"
    for unknown in ("inf", "nan", "-5", "1e300", float("inf"), math.nan, -1, 10**400, 0, "", "x"):
        assert lifetime(unknown) is None, unknown
    assert lifetime("28797") == 28797.0 and lifetime(90) == 90.0 and lifetime(" 1.5 ") == 1.5
    assert lifetime(True) is None and lifetime(None) is None and lifetime([1]) is None


def test_format_duration_of_nonsense() -> None:
    assert format_duration(float("inf")) == "forever"
    assert format_duration(float("nan")) == "0s"
    assert format_duration(float("-inf")) == "0s"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0), (" 10M ", 600.0),
     (".5m", 30.0), ("720h", 30 * 86400.0)],
)  # fmt: skip
def test_parse_duration_takes_seconds_or_a_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "m", "-1m", "+5", "1e3", "nan", "inf", "nanm", "10 m", "1h30m", "2d", "721h",
     "9" * 400, "１０m", "0x10"],
)  # fmt: skip
def test_parse_duration_refuses_what_is_no_duration(text: str) -> None:
    assert parse_duration(text) is None
    assert parse_duration(text, zero=True) is None


def test_zero_is_a_duration_only_when_asked() -> None:
    assert parse_duration("0") is None and parse_duration("0m") is None
    assert parse_duration("0", zero=True) == 0.0 and parse_duration("0.0s", zero=True) == 0.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(600.0, "10m"), (7200.0, "2h"), (5400.0, "90m"), (90.0, "90s"), (1.5, "1.5s"), (0.0, "0")],
)
def test_duration_text_reads_back(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
    assert parse_duration(text, zero=True) == seconds
