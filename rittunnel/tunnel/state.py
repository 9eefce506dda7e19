"""The state file of a running tunnel: who runs which profile, and which proxies it holds
open, as :class:`TunnelState`, validated field by field when read.

One JSON file per tunnel under ``$XDG_STATE_HOME/rittunnel/`` (a directory only this user
may change: see :func:`rittunnel.files.secure_dir`), written atomically (0600). It names
the pid and that process's start time, so a pid reused by another process is not
mistaken for our tunnel (:mod:`rittunnel.tunnel.procs`). A tunnel killed with ``kill -9``
leaves its file behind, with the IDs of the proxies still open at remote.it: the next run
(or ``rittunnel cleanup``) stops them and removes the file.

Creating the file is also the claim on the profile (:mod:`rittunnel.tunnel.store`, the
directory): a second rittunnel for the same profile finds it, sees the first one alive,
and says who holds it. A dead holder whose proxies are still open is kept beside the new
claim as ``NAME.orphan-PID.json``.

Every file is validated when read (:meth:`TunnelState.from_json`, a table of per-field
rules, :data:`RULES`): its name must be its file's, every field of the right type and
range. One that is not is set aside as ``FILE.bad`` and described in
:attr:`~rittunnel.tunnel.store.StateStore.problems` for the caller to report once; it
never stops a command. The same rules serve the writer (:meth:`TunnelState.to_json`):
text from a profile or from remote.it (a service name with a tab, a reverse proxy's URL
of thousands of characters) is escaped and cut to fit, so a running tunnel's file is
never one its own reader sets aside.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RittunnelError
from ..profiles.name import name_problem
from ..settings import APIS, Api
from ..text import MAX_CONNECTION_ID, printable, shown

if TYPE_CHECKING:
    from ..remoteit.accounts import Account

#: the most bytes a state file may have
MAX_FILE = 256 * 1024
#: Linux's upper bound for ``/proc/sys/kernel/pid_max``
PID_MAX_LIMIT = 4_194_304


@dataclass
class TunnelState:
    name: str
    pid: int
    pid_started: float
    api_url: str
    #: the service ID (what stopping its proxies needs)
    service: str
    #: the service's name, when the profile named it rather than giving its ID
    service_name: str = ""
    #: the credentials-file section of the account that owns the proxies ("": default)
    credentials: str = ""
    #: the API that made the proxies (``rest`` or ``graphql``), so they are stopped the
    #: same way; ``api_url`` is that API's URL
    api: str = "rest"
    local_port: int = 0
    addresses: list[str] = field(default_factory=list)
    #: IDs of the proxies this tunnel holds open at remote.it
    proxies: list[str] = field(default_factory=list)
    upstream: str = ""
    mode: str = ""
    source: str = ""
    started: float = field(default_factory=time.time)
    ready: bool = False
    #: wall-clock time the current proxy expires, if remote.it said
    expires_at: float | None = None
    #: live counters, refreshed about once a second while they change
    connections: int = 0
    opened: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    #: the log file of a background (``up -d``) tunnel
    log: str = ""
    #: the tunnel is over but could not stop ``proxies``; its process (maybe still
    #: running other tunnels) no longer holds the file: ``cleanup`` may take it
    released: bool = False
    #: the current proxy is a reverse proxy (the local port answers with HTTP redirects),
    #: so ``stdio`` cannot use this tunnel (see :mod:`rittunnel.tunnel.share`)
    reverse: bool = False
    #: ``stdio`` and ``run`` of the same service may use this tunnel; False for the
    #: tunnel of a ``run``, which ends with its command (a file without it: True)
    shareable: bool = True

    def to_json(self) -> str:
        """The file's text: every field made to fit the rule its reader applies
        (:func:`fitted`), so what a tunnel records it can read back."""
        return json.dumps(fitted(asdict(self)), indent=1)

    def fitted(self) -> TunnelState:
        """This state as its file reads back (:meth:`to_json`, :meth:`from_json`)."""
        return TunnelState(**fitted(asdict(self)))

    @classmethod
    def from_json(cls, text: str, *, name: str | None = None) -> TunnelState:
        """Parse and validate a state file; ``name``: what its file name says it must
        be called. Raises :class:`BadState` saying what is wrong; unknown keys are
        ignored (a newer rittunnel may add some)."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise BadState(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise BadState("not a JSON object")
        known = {k: v for k, v in data.items() if k in RULES}
        for f in fields(cls):
            if f.name not in known and f.default is MISSING and f.default_factory is MISSING:
                raise BadState(f"{f.name}: missing")
        for key, value in known.items():
            problem = RULES[key].check(value)
            if problem:
                raise BadState(f"{key}: {shown(value)} {problem}")
        if name is not None and known["name"] != name:
            raise BadState(f"name: {shown(known['name'])} is not its file's name {name!r}")
        return cls(**known)


class BadState(ValueError):
    """A state file that is not one rittunnel wrote; ``str()`` names the field and why."""


# -- validation: each check returns what is wrong with a value ("" when nothing) ------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(name: str) -> str:
    """``name``, or a one-line :class:`RittunnelError` if it cannot name a tunnel (the
    rule profiles follow too: :mod:`rittunnel.profiles.name`)."""
    problem = name_problem(name)
    if problem:
        raise RittunnelError(f"{shown(name)} {problem}")
    return name


@dataclass(frozen=True)
class Rule:
    """What a field of a state file may hold: ``check`` says what is wrong with a value
    ("" when nothing: the reader), ``fit`` makes a value the writer has pass it where it
    can (text escaped and cut), and leaves a value that passes as it is."""

    check: Callable[[object], str]
    fit: Callable[[object], object] = lambda value: value


def _escape(match: re.Match[str]) -> str:
    return printable(match.group())


def fit_text(value: object, limit: int) -> object:
    """``value`` with its control characters escaped (``\\t``, ``\\x1b``) and cut to
    ``limit`` characters (the cut marked ``…``); a value that is no string as it is."""
    if not isinstance(value, str):
        return value
    value = _CONTROL.sub(_escape, value[: limit + 1])  # only this much can stay
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _text(limit: int) -> Rule:
    def check(value: object) -> str:
        if not isinstance(value, str):
            return "is not a string"
        if len(value) > limit:
            return f"is longer than {limit} characters"
        return "contains control characters" if _CONTROL.search(value) else ""

    return Rule(check, lambda value: fit_text(value, limit))


def _strings(most: int, limit: int) -> Rule:
    item = _text(limit)

    def check(value: object) -> str:
        if not isinstance(value, list):
            return "is not a list"
        if len(value) > most:
            return f"has more than {most} items"
        return next((f"has an item that {p}" for p in map(item.check, value) if p), "")

    def fit(value: object) -> object:
        # every item is kept (a proxy's ID dropped could never be stopped): a list too
        # long stays so, and its file is set aside, which says so
        return [item.fit(v) for v in value] if isinstance(value, list) else value

    return Rule(check, fit)


def _count(low: int, high: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, int) or isinstance(value, bool):
            return "is not an integer"
        return "" if low <= value <= high else f"is not within {low}-{high}"

    return check


def _time(value: object) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "is not a number"
    return "" if math.isfinite(value) and value >= 0 else "is not a time"


def _bool(value: object) -> str:
    return "" if isinstance(value, bool) else "is not true or false"


def _pid(value: object) -> str:
    return _count(1, pid_max())(value)


def _url(value: object) -> str:
    problem = _text(2048).check(value)
    if problem:
        return problem
    assert isinstance(value, str)
    return "" if re.fullmatch(r"https?://[^\s/]+(/\S*)?", value) else "is not an http(s) URL"


def _api(value: object) -> str:
    return "" if value in APIS else "is not rest or graphql"


def _maybe_time(value: object) -> str:
    return "" if value is None else _time(value)


def _fit_maybe_time(value: object) -> object:
    """An expiry remote.it gave that is no time (infinite, negative) is not known."""
    return None if _maybe_time(value) else value


def _rule(check: Callable[[object], str]) -> Rule:
    return Rule(check)


_BIG = 2**63 - 1
#: the rule of every field of a state file, for its reader and its writer
RULES: dict[str, Rule] = {
    "name": _rule(name_problem),
    "pid": _rule(_pid),
    "pid_started": _rule(_time),
    "api_url": _rule(_url),
    "service": _text(256),
    "service_name": _text(1024),
    "credentials": _text(256),
    "api": _rule(_api),
    "local_port": _rule(_count(0, 65535)),
    "addresses": _strings(64, 256),
    "proxies": _strings(1000, MAX_CONNECTION_ID),
    "upstream": _text(1024),
    "mode": _text(64),
    "source": _text(4096),
    "started": _rule(_time),
    "ready": _rule(_bool),
    "expires_at": Rule(_maybe_time, _fit_maybe_time),
    "connections": _rule(_count(0, _BIG)),
    "opened": _rule(_count(0, _BIG)),
    "bytes_up": _rule(_count(0, _BIG)),
    "bytes_down": _rule(_count(0, _BIG)),
    "log": _text(4096),
    "released": _rule(_bool),
    "reverse": _rule(_bool),
    "shareable": _rule(_bool),
}


def fitted(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a state's fields) with each made to fit its rule where it can."""
    return {k: RULES[k].fit(v) if k in RULES else v for k, v in data.items()}


@functools.cache
def pid_max() -> int:
    """The largest pid this system hands out."""
    try:
        return min(int(Path("/proc/sys/kernel/pid_max").read_text()), PID_MAX_LIMIT)
    except (OSError, ValueError):
        return PID_MAX_LIMIT


def account_of(state: TunnelState) -> Account:
    """The account whose proxies ``state`` records (an older file without ``api``: REST)."""
    from ..remoteit.accounts import Account  # lazy: status and stop need no profiles

    api: Api = "graphql" if state.api == "graphql" else "rest"
    return Account(state.api_url, state.credentials, api)
