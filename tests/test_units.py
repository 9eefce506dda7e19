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
