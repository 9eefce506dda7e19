"""Durations and byte counts for people to read, and numbers read from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import RittunnelError


def format_duration(seconds: float) -> str:
    """``28797`` → ``7h59m``, ``75`` → ``1m15s``, ``3`` → ``3s``."""
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h >= 48:
        return f"{h // 24}d{h % 24:02d}h"
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


def format_bytes(n: int) -> str:
    """``512`` → ``512 B``, ``1536`` → ``1.5 KiB``, up to GiB."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from environment variable ``name`` (unset or empty:
    ``default``); anything else is a one-line error naming the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise RittunnelError(f"{name}={raw!r} is not a positive number of seconds")
    return value


def env_count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number ≥ 0 from environment variable ``name`` (unset or empty:
    ``default``); anything else is a one-line error naming the variable."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not raw.strip().isdigit():
        raise RittunnelError(f"{name}={raw!r} is not a whole number (0 or more)")
    return int(raw)
