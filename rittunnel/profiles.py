"""Profiles: finding ``NAME.yaml`` and turning its contents into a validated :class:`Profile`.

``find_profile`` touches the file system (it only looks for files); ``parse_profile`` is
pure: it takes the already-loaded YAML value and the file name for messages. Every
problem raises :class:`~rittunnel.errors.ProfileError` whose message names the file, the
key and the value (quoted at most :data:`SHOWN` characters long, escaped), and says what
would be accepted.

A profile is a small flat file, and is read as one: at most :data:`MAX_PROFILE_BYTES`,
no YAML anchors or aliases (``&a``, ``*a``: a few hundred bytes of nested aliases expand
to gigabytes), no key twice (YAML would silently keep the last), nothing nested deeper
than :data:`MAX_DEPTH`.

``stdio`` and ``run`` also take a service instead of a profile (``--service NAME|ID``):
:func:`command_profile` applies their argument rules and :func:`profile_for_service`
makes the :class:`Profile` such a command line describes, so it goes through the same
code as a profile read from a file.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ProfileError, UsageError
from .settings import APIS, ENV_PROFILES, Api, url_problem
from .text import ascii_fold, printable, redact_url, shown

Mode = Literal["latching", "restricted", "public"]
MODES: tuple[Mode, ...] = ("latching", "restricted", "public")
#: what kind of proxy to ask for: remote.it's pick, a TCP port, or the HTTPS reverse proxy
ProxyKind = Literal["auto", "port", "reverse"]
PROXY_KINDS: tuple[ProxyKind, ...] = ("auto", "port", "reverse")

#: What ``bind`` means when the profile does not say: loopback, both families.
DEFAULT_BIND: tuple[str, ...] = ("127.0.0.1", "::1")

_SUFFIXES = (".yaml", ".yml")

#: the largest profile file read (a profile is a dozen short lines)
MAX_PROFILE_BYTES = 64 * 1024
#: the deepest nesting of lists and mappings a profile may have
MAX_DEPTH = 8
#: at most this many characters of a value are quoted in a message
SHOWN = 60
#: the most seconds a timeout in a profile may be (30 days)
MAX_SECONDS = 30 * 86400.0


class ProfileRefused(yaml.MarkedYAMLError):
    """Valid YAML that a profile may not use (an alias, a key twice, deep nesting)."""

    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class ProfileLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (same safety) without YAML 1.1's base-60 numbers, and without
    what a profile never needs but an attacker or a typo can use: anchors and aliases
    (the "billion laughs": nested aliases expand a few hundred bytes to gigabytes), a
    key given twice (YAML keeps the last one silently), deep nesting.

    Under YAML 1.1 an unquoted ``service: 80:00:00:00:01:02:03:04`` is the *integer*
    223948800223384; service IDs are written unquoted, so here ``a:b:c`` stays a string.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ProfileRefused(
                "YAML anchors and aliases (&name, *name) are not allowed in a profile; "
                "write each value out",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ProfileRefused(
                    f"nested more than {MAX_DEPTH} levels deep; a profile is a flat list of keys",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ProfileRefused(
                    "YAML merge keys (<<) are not allowed in a profile; write each key out",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader says so below
                continue
            if twice:
                raise ProfileRefused(
                    f"key {shown(key, SHOWN)} appears twice; keep one", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
ProfileLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ProfileLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0b[01_]+|0o?[0-7_]+)$"),
    list("-+0123456789"),
)
ProfileLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> object:
    return yaml.load(text, Loader=ProfileLoader)  # noqa: S506 - a SafeLoader subclass


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
_SERVICE_ID = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){7}$")


def is_service_id(text: str) -> bool:
    return bool(_SERVICE_ID.match(text))


# -- a profile from the command line: ``--service NAME|ID`` ------------------------------

#: what a profile made from ``--service`` names as its source (messages then read
#: ``command line: service: 'pi' names 2 services: …``)
COMMAND_LINE = "command line"
#: the longest service name taken from ``--service``
MAX_SERVICE_NAME = 200
#: the most characters of a service name that go into a tunnel name
MAX_NAME_PART = 60
#: a try at a service ID (hex groups and colons) that is not one: a typo, not a name
_ID_LIKE = re.compile(r"^[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){3,}$")
#: a run of characters a tunnel name made from a service name cannot have
_NOT_IN_NAME = re.compile(r"[^a-z0-9_-]+")


def service_problem(text: str) -> str:
    """What makes ``text`` (``--service``) neither a service ID nor a plausible service
    name ("" when nothing): empty, four or more colon-separated groups of up to four hex
    digits that are not eight bytes (:data:`_ID_LIKE`: a mistyped ID; looked up as a
    name, it would only fail later; three groups or fewer are taken as a name), control
    characters, or longer than :data:`MAX_SERVICE_NAME` characters. Pure."""
    value = text.strip()
    if not value:
        return "is empty; give a service name or ID (`rittunnel services` lists them)"
    if is_service_id(value):
        return ""
    if _ID_LIKE.match(value):
        return (
            "is not a service ID: eight hex bytes separated by colons, e.g. 80:00:00:00:01:02:03:04"
        )
    if printable(value) != value:
        return "has control characters: it is not a service name"
    if len(value) > MAX_SERVICE_NAME:
        return f"is longer than {MAX_SERVICE_NAME} characters: it is not a service name"
    return ""


def service_tunnel_name(service: str) -> str:
    """The tunnel name (state files, messages) of a tunnel made for ``--service``:
    ``service-`` and the ID with ``-`` for ``:`` (``service-80-00-00-00-01-02-03-04``),
    or the name folded to lower-case ASCII, each run of other characters than letters,
    digits, ``-`` and ``_`` made one ``-``, at most :data:`MAX_NAME_PART` of them
    (``My Pi!`` → ``service-my-pi``); ``service`` when nothing is left. Always a valid
    tunnel name, with no ``.`` (the suffixes ``.stdio-PID``, ``.run-PID`` keep it apart
    from other runs of the same service). Pure."""
    value = service.strip()
    if is_service_id(value):
        return "service-" + value.lower().replace(":", "-")
    part = _NOT_IN_NAME.sub("-", ascii_fold(value)).strip("-")[:MAX_NAME_PART].strip("-")
    return f"service-{part}" if part else "service"


def _section_problem(section: object) -> bool:
    """Whether ``section`` cannot name a section of the key file (as ``credentials:``)."""
    return (
        not isinstance(section, str)
        or not section.strip()
        or "]" in section
        or printable(section) != section
    )


def profile_for_service(
    service: str, credentials: str | None = None, *, proxy: ProxyKind = "auto"
) -> Profile:
    """The profile ``--service SERVICE [--credentials SECTION]`` describes: that service
    (an ID, or a name resolved as a profile's is), latching, the default account or the
    key file's ``credentials`` section, local port 0 (any free one), everything else as
    a profile's defaults; named by :func:`service_tunnel_name`, its source
    :data:`COMMAND_LINE`. ``proxy``: what the command needs (``stdio``: a port). A value
    that cannot be meant is a one-line :class:`UsageError`."""
    problem = service_problem(service)
    if problem:
        raise UsageError(f"--service {shown(service)} {problem}")
    if credentials is not None and _section_problem(credentials):
        raise UsageError(
            f"--credentials {shown(credentials)} is not a section name of ~/.remoteit/credentials"
        )
    return Profile(
        name=service_tunnel_name(service),
        source=COMMAND_LINE,
        service=service.strip(),
        local_port=0,
        proxy=proxy,
        credentials=credentials.strip() if credentials else None,
    )


def command_profile(
    command: str,
    name: str | None,
    service: str | None,
    credentials: str | None,
    env: Mapping[str, str],
    *,
    proxy: ProxyKind = "auto",
) -> Profile:
    """The profile a ``stdio`` or ``run`` command line names: profile ``name`` (loaded),
    or the one made for ``--service`` (:func:`profile_for_service`, with ``proxy``).
    Exactly one of the two; ``--credentials`` only with ``--service`` (a profile names
    its own section). Breaking a rule is a one-line :class:`UsageError`."""
    if name is not None and service is not None:
        extra = "; the command goes after `--`" if command == "run" else ""
        raise UsageError(f"{command}: give a profile NAME or --service, not both{extra}")
    if service is not None:
        return profile_for_service(service, credentials, proxy=proxy)
    if name is None:
        raise UsageError(f"{command}: give a profile NAME or --service NAME|ID")
    if credentials is not None:
        raise UsageError(
            f"{command}: --credentials goes with --service; profile {shown(name)} names its "
            "own section (its credentials: key)"
        )
    return load_profile(name, env)


_KEYS = {
    "service": "the remote.it service name, or its ID (e.g. 80:00:00:00:01:02:03:04)",
    "local_port": "the local TCP port to listen on, 1-65535",
    "bind": "a local IP address or a list of them (default: 127.0.0.1 and ::1)",
    "mode": "latching (default), restricted or public",
    "hostip": "with mode: restricted, the public IP allowed to use the proxy",
    "api_url": "the remote.it REST API base URL",
    "api": "rest or graphql (default: chosen from the credentials)",
    "proxy": "auto (default), port or reverse",
    "hold_timeout": "seconds a local client waits for a fresh proxy (default 30)",
    "idle_timeout": "seconds without a local connection before the proxy is stopped",
    "on_demand": "true: create the proxy only when the first client connects",
    "warm": "true: keep a proxy ready even while nobody uses the tunnel",
    "credentials": "the section of ~/.remoteit/credentials to use (default: DEFAULT)",
}


def profile_dirs(env: Mapping[str, str]) -> list[Path]:
    """The directories searched for ``NAME.yaml``, in order."""
    dirs = [Path(p).expanduser() for p in env.get(ENV_PROFILES, "").split(os.pathsep) if p]
    config_home = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")) / ".config")
    dirs.append(Path(config_home).expanduser() / "rittunnel" / "profiles")
    return dirs


def looks_like_path(name: str) -> bool:
    return name.endswith(_SUFFIXES) or os.sep in name or "/" in name


def check_name(name: str) -> None:
    if not name or name.startswith(".") or not all(c.isalnum() or c in "-_." for c in name):
        raise ProfileError(
            f"{shown(name)} is not a profile name: use letters, digits, '-', '_' "
            "or a path to a .yaml"
        )


def new_profile_path(name: str, env: Mapping[str, str]) -> Path:
    """Where a new profile ``name`` is written: the first directory searched."""
    if looks_like_path(name):
        path = Path(name).expanduser()
        return path if path.suffix in _SUFFIXES else path.with_name(path.name + ".yaml")
    check_name(name)
    return profile_dirs(env)[0] / f"{name}.yaml"


def find_profile(name: str, env: Mapping[str, str]) -> Path:
    """Return the file for profile ``name`` (a bare name, or a path to a .yaml file)."""
    if looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ProfileError(f"profile file {name} does not exist")
        return path
    check_name(name)
    dirs = profile_dirs(env)
    for d in dirs:
        for suffix in _SUFFIXES:
            candidate = d / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    searched = ", ".join(str(d) for d in dirs)
    raise ProfileError(
        f"no profile {shown(name)}: looked for {name}.yaml in {searched}; "
        "create one there or set RITTUNNEL_PROFILES"
    )


def list_profiles(env: Mapping[str, str]) -> list[Path]:
    """Every profile file visible through the search path; earlier directories win."""
    seen: dict[str, Path] = {}
    for d in profile_dirs(env):
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            if path.suffix in _SUFFIXES and path.is_file():
                seen.setdefault(path.stem, path)
    return list(seen.values())


def load_profile(name: str, env: Mapping[str, str]) -> Profile:
    """Find, read, parse and validate profile ``name``."""
    path = find_profile(name, env)
    return load_profile_file(path)


def load_profile_file(path: Path) -> Profile:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise ProfileError(
            f"{path}: cannot read: {exc.strerror or exc.__class__.__name__}"
        ) from None
    if len(raw) > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"{path}: larger than {MAX_PROFILE_BYTES // 1024} KiB, too large for a profile "
            "(a dozen short lines); is it the right file?"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the profile as UTF-8"
        ) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if isinstance(exc, ProfileRefused):  # valid YAML, but not in a profile
            raise ProfileError(f"{path}: {place}: {problem}") from None
        where = f" at {place}" if place else ""
        raise ProfileError(f"{path}: not valid YAML{where}: {problem}") from None
    except RecursionError:  # the parser's own nesting, before compose_node sees it
        raise ProfileError(f"{path}: nested too deeply; a profile is a flat list of keys") from None
    return parse_profile(data, source=str(path), name=path.stem)


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
        key = unknown[0]
        known = ", ".join(_KEYS)
        raise ProfileError(f"{source}: unknown key {shown(key)}; known keys are {known}")

    for required in ("service", "local_port"):
        if required not in data:
            raise fail(required, f"missing; add {required}: <{_KEYS[required]}>")

    service = data["service"]
    if not isinstance(service, str) or not service.strip():
        raise fail(
            "service", f"{shown(service)} is not a service name or ID; expected {_KEYS['service']}"
        )
    service = service.strip()

    local_port = _port(data["local_port"], fail)

    bind_is_default = "bind" not in data
    bind = DEFAULT_BIND if bind_is_default else _bind(data["bind"], fail)

    mode = data.get("mode", "latching")
    if mode not in MODES:
        raise fail("mode", f"{shown(mode)} is not a mode; use latching, restricted or public")

    hostip = data.get("hostip")
    if hostip is not None:
        if not isinstance(hostip, str):
            raise fail("hostip", f"{shown(hostip)} is not an IP address")
        try:
            ipaddress.ip_address(hostip)
        except ValueError:
            raise fail("hostip", f"{shown(hostip)} is not an IP address") from None
        if mode != "restricted":
            raise fail(
                "hostip",
                f"{shown(hostip)} is only used with mode: restricted (mode is {mode}); "
                "remove hostip or set mode: restricted",
            )

    api_url = data.get("api_url")
    if api_url is not None:
        if not isinstance(api_url, str):
            raise fail("api_url", f"{shown(api_url)} is not an http(s) URL")
        problem = url_problem(api_url)
        if problem is not None:
            raise fail("api_url", f"{shown(redact_url(api_url))} is not {problem}")
        api_url = api_url.strip().rstrip("/")

    api = data.get("api")
    if api is not None and api not in APIS:
        raise fail("api", f"{shown(api)} is not an API; use rest or graphql")

    proxy = data.get("proxy", "auto")
    if proxy not in PROXY_KINDS:
        raise fail("proxy", f"{shown(proxy)} is not a proxy kind; use auto, port or reverse")

    hold_timeout = _seconds(data.get("hold_timeout", 30.0), "hold_timeout", fail)
    assert hold_timeout is not None
    idle_timeout = _seconds(data.get("idle_timeout"), "idle_timeout", fail)

    on_demand = data.get("on_demand", False)
    if not isinstance(on_demand, bool):
        raise fail("on_demand", f"{shown(on_demand)} is not true or false")
    warm = data.get("warm", False)
    if not isinstance(warm, bool):
        raise fail("warm", f"{shown(warm)} is not true or false")
    if warm and on_demand:
        raise fail("warm", "true contradicts on_demand: true; keep one of them")
    if warm and idle_timeout is not None:
        raise fail("warm", "true contradicts idle_timeout (which stops an unused proxy); keep one")

    credentials = data.get("credentials")
    if credentials is not None and (
        not isinstance(credentials, str) or not credentials.strip() or "]" in credentials
    ):
        raise fail(
            "credentials", f"{shown(credentials)} is not a section name; {_KEYS['credentials']}"
        )

    return Profile(
        name=name,
        source=source,
        service=service,
        local_port=local_port,
        bind=bind,
        bind_is_default=bind_is_default,
        mode=mode,
        hostip=hostip,
        api_url=api_url,
        api=api,
        proxy=proxy,
        hold_timeout=hold_timeout,
        idle_timeout=idle_timeout,
        on_demand=on_demand,
        warm=warm,
        credentials=credentials.strip() if credentials else None,
    )


def _port(value: object, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail("local_port", f"{shown(value)} is not a port number; use a whole number 1-65535")
    if not 1 <= value <= 65535:
        raise fail("local_port", f"{value} is out of range; use 1-65535")
    return value


def _bind(value: object, fail: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise fail("bind", "an empty list binds nothing; name at least one address")
    out: list[str] = []
    for item in items:
        if item == "localhost":
            out.extend(a for a in DEFAULT_BIND if a not in out)
            continue
        if not isinstance(item, str):
            raise fail("bind", f"{shown(item)} is not an IP address")
        try:
            addr = str(ipaddress.ip_address(item))
        except ValueError:
            raise fail(
                "bind", f"{shown(item)} is not an IP address (e.g. 127.0.0.1 or ::1)"
            ) from None
        if addr not in out:
            out.append(addr)
    return tuple(out)


def _seconds(value: object, key: str, fail: Any) -> float | None:
    """A timeout: a finite number of seconds, more than 0 and at most 30 days (``.nan``
    and ``.inf`` are YAML floats too, and no timeout)."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_SECONDS
    ):
        raise fail(
            key,
            f"{shown(value)} is not a positive number of seconds (more than 0, at most "
            f"{MAX_SECONDS:.0f}: 30 days)",
        )
    return float(value)
