"""A profile's contents: the :class:`Profile` dataclass, and :func:`parse_profile`, which
turns the loaded YAML value into one. Pure: no I/O.

Each key has one entry in :data:`_KEYS`: what it is for (messages say it) and its check,
which returns the value as a :class:`Profile` holds it or raises :class:`Refused` saying
what is wrong. Every problem becomes a :class:`~rittunnel.errors.ProfileError` whose
message names the file, the key and the value (quoted at most :data:`SHOWN` characters
long, escaped), and says what would be accepted. The few rules about two keys together
(``hostip`` needs ``mode: restricted``; ``warm`` excludes ``on_demand`` and
``idle_timeout``) follow the table.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from ..errors import ProfileError
from ..quantities import MAX_SECONDS
from ..settings import APIS, Api, url_problem
from ..text import redact_url, shown

Mode = Literal["latching", "restricted", "public"]
MODES: tuple[Mode, ...] = ("latching", "restricted", "public")
#: what kind of proxy to ask for: remote.it's pick, a TCP port, or the HTTPS reverse proxy
ProxyKind = Literal["auto", "port", "reverse"]
PROXY_KINDS: tuple[ProxyKind, ...] = ("auto", "port", "reverse")

#: What ``bind`` means when the profile does not say: loopback, both families.
DEFAULT_BIND: tuple[str, ...] = ("127.0.0.1", "::1")

#: at most this many characters of a value are quoted in a message
SHOWN = 60


@dataclass(frozen=True)
class Profile:
    """One tunnel, as a profile file describes it."""

    name: str
    source: str
    service: str
    local_port: int
    bind: tuple[str, ...] = DEFAULT_BIND
    #: True when ``bind`` was left to its default: ::1 is then optional (a machine
    #: without IPv6 still works), while an address the user named must bind.
    bind_is_default: bool = True
    mode: Mode = "latching"
    hostip: str | None = None
    api_url: str | None = None
    #: the API to use (None: chosen from the credentials, see remoteit.accounts)
    api: Api | None = None
    proxy: ProxyKind = "auto"
    #: seconds a local client is held while a fresh proxy is made for it
    hold_timeout: float = 30.0
    #: stop the proxy after this many seconds without a local connection (None: never)
    idle_timeout: float | None = None
    #: create the first proxy only when the first local client arrives
    on_demand: bool = False
    #: keep a proxy ready at all times: replace one remote.it dropped for idleness at
    #: once, and renew it before it expires even when nobody used it
    warm: bool = False
    #: the section of ~/.remoteit/credentials holding this tunnel's access key
    credentials: str | None = None
    #: the name the profile gave for its service, once ``service`` holds the ID it
    #: resolved to ("" when the profile gave an ID)
    service_name: str = ""

    @property
    def service_is_id(self) -> bool:
        """Whether ``service`` is a service ID (else it is a name to look up)."""
        return is_service_id(self.service)


#: a remote.it service ID (``deviceaddress``): eight hex bytes separated by colons
_SERVICE_ID = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){7}")


def is_service_id(text: str) -> bool:
    """Whether ``text`` is exactly a service ID: the whole text (a ``$`` anchor would
    let a trailing newline through, and the ID goes into profiles, ssh_config and
    command lines), nothing around it."""
    return bool(_SERVICE_ID.fullmatch(text))


def section_problem(section: object) -> bool:
    """Whether ``section`` cannot name a section of the key file (``credentials:``)."""
    return not isinstance(section, str) or not section.strip() or "]" in section


# -- each key's check: the value as the Profile holds it, or Refused -------------------


class Refused(ValueError):
    """What is wrong with a key's value; the message follows ``FILE: KEY: ``."""


Check = Callable[[object], object]


def _service(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"{shown(value)} is not a service name or ID; expected {_KEYS['service'][0]}")
    return value.strip()


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"{shown(value)} is not a port number; use a whole number 1-65535")
    if not 1 <= value <= 65535:
        raise Refused(f"{value} is out of range; use 1-65535")
    return value


def _bind(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise Refused("an empty list binds nothing; name at least one address")
    out: list[str] = []
    for item in items:
        if item == "localhost":
            out.extend(a for a in DEFAULT_BIND if a not in out)
            continue
        if not isinstance(item, str):
            raise Refused(f"{shown(item)} is not an IP address")
        try:
            addr = str(ipaddress.ip_address(item))
        except ValueError:
            raise Refused(f"{shown(item)} is not an IP address (e.g. 127.0.0.1 or ::1)") from None
        if addr not in out:
            out.append(addr)
    return tuple(out)


def _one_of(choices: tuple[str, ...], what: str) -> Check:
    def check(value: object) -> object:
        if value not in choices:
            raise Refused(f"{shown(value)} is not {what}; use {_either(choices)}")
        return value

    return check


def _either(choices: tuple[str, ...]) -> str:
    return f"{', '.join(choices[:-1])} or {choices[-1]}"


def _ip(value: object) -> str:
    try:
        if isinstance(value, str):
            ipaddress.ip_address(value)
            return value
    except ValueError:
        pass
    raise Refused(f"{shown(value)} is not an IP address")


def _api_url(value: object) -> str:
    if not isinstance(value, str):
        raise Refused(f"{shown(value)} is not an http(s) URL")
    problem = url_problem(value)
    if problem is not None:
        raise Refused(f"{shown(redact_url(value))} is not {problem}")
    return value.strip().rstrip("/")


def _seconds(value: object) -> float:
    """A timeout: a finite number of seconds, more than 0 and at most 30 days (``.nan``
    and ``.inf`` are YAML floats too, and no timeout)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_SECONDS
    ):
        raise Refused(
            f"{shown(value)} is not a positive number of seconds (more than 0, at most "
            f"{MAX_SECONDS:.0f}: 30 days)"
        )
    return float(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Refused(f"{shown(value)} is not true or false")
    return value


def _section(value: object) -> str:
    if section_problem(value):
        raise Refused(f"{shown(value)} is not a section name; {_KEYS['credentials'][0]}")
    assert isinstance(value, str)
    return value.strip()


def _or_null(check: Check) -> Check:
    """``check``, and ``null`` (left out) allowed."""
    return lambda value: None if value is None else check(value)


#: every key a profile may have: what it is for, and its check (in the order checked)
_KEYS: dict[str, tuple[str, Check]] = {
    "service": ("the remote.it service name, or its ID (e.g. 80:00:00:00:01:02:03:04)", _service),
    "local_port": ("the local TCP port to listen on, 1-65535", _port),
    "bind": ("a local IP address or a list of them (default: 127.0.0.1 and ::1)", _bind),
    "mode": ("latching (default), restricted or public", _one_of(MODES, "a mode")),
    "hostip": ("with mode: restricted, the public IP allowed to use the proxy", _or_null(_ip)),
    "api_url": ("the remote.it REST API base URL", _or_null(_api_url)),
    "api": (
        "rest or graphql (default: chosen from the credentials)",
        _or_null(_one_of(APIS, "an API")),
    ),
    "proxy": ("auto (default), port or reverse", _one_of(PROXY_KINDS, "a proxy kind")),
    "hold_timeout": ("seconds a local client waits for a fresh proxy (default 30)", _seconds),
    "idle_timeout": (
        "seconds without a local connection before the proxy is stopped",
        _or_null(_seconds),
    ),
    "on_demand": ("true: create the proxy only when the first client connects", _flag),
    "warm": ("true: keep a proxy ready even while nobody uses the tunnel", _flag),
    "credentials": (
        "the section of ~/.remoteit/credentials to use (default: DEFAULT)",
        _or_null(_section),
    ),
}
#: the keys a profile must have
REQUIRED = ("service", "local_port")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def parse_profile(data: object, *, source: str, name: str) -> Profile:
    """Validate the YAML value of a profile. Pure: no I/O."""

    def fail(key: str, message: str) -> ProfileError:
        return ProfileError(f"{source}: {key}: {message}")

    if data is None:
        raise ProfileError(f"{source}: the file is empty; it needs at least service and local_port")
    if not isinstance(data, dict):
        raise ProfileError(
            f"{source}: expected a mapping of keys (service:, local_port:), got {_type_name(data)}"
        )
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise ProfileError(
            f"{source}: unknown key {shown(unknown[0])}; known keys are {', '.join(_KEYS)}"
        )
    for required in REQUIRED:
        if required not in data:
            raise fail(required, f"missing; add {required}: <{_KEYS[required][0]}>")

    values: dict[str, object] = {}
    for key, (_, check) in _KEYS.items():
        if key in data:
            try:
                values[key] = check(data[key])
            except Refused as exc:
                raise fail(key, str(exc)) from None
    _check_together(values, fail)
    fields = cast(Mapping[str, Any], values)
    return Profile(name=name, source=source, bind_is_default="bind" not in data, **fields)


def _check_together(values: Mapping[str, object], fail: Callable[[str, str], Exception]) -> None:
    """The rules about two keys at once."""
    mode = values.get("mode", "latching")
    hostip = values.get("hostip")
    if hostip is not None and mode != "restricted":
        raise fail(
            "hostip",
            f"{shown(hostip)} is only used with mode: restricted (mode is {mode}); "
            "remove hostip or set mode: restricted",
        )
    if values.get("warm"):
        if values.get("on_demand"):
            raise fail("warm", "true contradicts on_demand: true; keep one of them")
        if values.get("idle_timeout") is not None:
            raise fail(
                "warm", "true contradicts idle_timeout (which stops an unused proxy); keep one"
            )
