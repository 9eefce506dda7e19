"""Durations and byte counts for people to read, durations people write, and numbers read
from the environment."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from .errors import RittunnelError

#: the longest timeout or lifetime taken from the user or the API (30 days): more is a
#: mistake (or ``inf``), not a wish
MAX_SECONDS = 30 * 86400.0
#: seconds per unit of a duration the user writes (``90``, ``90s``, ``10m``, ``1.5h``)
DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
#: a duration as written: ASCII digits (a decimal point allowed), then one unit or none;
#: no sign, exponent, ``nan`` or ``inf``
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smh]?)", re.ASCII)


def format_duration(seconds: float) -> str:
    """``28797`` → ``7h59m``, ``75`` → ``1m15s``, ``3`` → ``3s`` (``nan``: ``0s``,
    ``inf``: ``forever``)."""
    if math.isnan(seconds):
        seconds = 0
    if math.isinf(seconds):
        return "forever" if seconds > 0 else "0s"
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


def parse_seconds(text: str) -> float | None:
    """``text`` as a number of seconds: finite, more than 0, at most :data:`MAX_SECONDS`;
    None for anything else (``nan``, ``inf``, ``0``, ``-1``, ``soon``)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 < value <= MAX_SECONDS else None


def parse_duration(text: str, *, zero: bool = False) -> float | None:
    """``text`` as seconds: a number of seconds, or a number with a unit ``s``, ``m`` or
    ``h`` (``90``, ``90s``, ``10m``, ``1.5h``; spaces around it and the unit's case do not
    matter); more than 0 (or, with ``zero``, exactly 0 too), at most :data:`MAX_SECONDS`.
    None for anything else (``-1m``, ``1e3``, ``nan``, ``inf``, ``10 m``, ``1h30m``,
    ``31d``)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        return None
    value = float(match[1]) * DURATION_UNITS[match[2]]
    if value == 0:
        return 0.0 if zero else None
    return value if math.isfinite(value) and 0 < value <= MAX_SECONDS else None


def duration_text(seconds: float) -> str:
    """``seconds`` as :func:`parse_duration` reads it back, as short as it goes: ``600``
    → ``10m``, ``7200`` → ``2h``, ``90`` → ``90s``, ``1.5`` → ``1.5s``, ``0`` → ``0``."""
    if seconds == 0:
        return "0"
    for unit in ("h", "m"):
        count = seconds / DURATION_UNITS[unit]
        if count == int(count):
            return f"{int(count)}{unit}"
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds!r}s"


def lifetime(value: object) -> float | None:
    """A lifetime the API gave (seconds, as a number or a string of one), or None for
    "unknown": a value that is not a number, or not finite, or negative, or more than
    :data:`MAX_SECONDS` is not believed (nor 0: a proxy that is dead on arrival)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return seconds if math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS else None


def _quoted(raw: str) -> str:
    return repr(raw[:59] + "…" if len(raw) > 60 else raw)


def env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from environment variable ``name`` (unset or empty:
    ``default``); anything else (also ``nan``, ``inf``, more than 30 days) is a one-line
    error naming the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = parse_seconds(raw)
    if value is None:
        raise RittunnelError(
            f"{name}={_quoted(raw)} is not a positive number of seconds "
            f"(more than 0, at most {MAX_SECONDS:.0f}: 30 days)"
        )
    return value


def env_count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number ≥ 0 from environment variable ``name`` (unset or empty:
    ``default``); anything else is a one-line error naming the variable."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise RittunnelError(
            f"{name}={_quoted(raw)} is not a whole number (0 or more, at most 999999999)"
        )
    return int(text)
