"""The one :class:`Settings`: the numbers and paths rittunnel takes from the environment,
read once.

:func:`Settings.from_env` is called once, in :func:`rittunnel.cli.main`; the value is
passed down to the commands and from them to the objects that need a knob. Nothing
below the CLI reads ``os.environ``. A bad value is a one-line error naming the variable.

Not here: credentials, which are secrets read where they are used
(:mod:`rittunnel.remoteit.credentials`) from :attr:`Settings.env`; the profile directories
(``RITTUNNEL_PROFILES``, ``XDG_CONFIG_HOME``: :mod:`rittunnel.profiles.search`, also from
``Settings.env``); and ``RITTUNNEL_DEBUG``, which :mod:`rittunnel.cli` reads to show a
traceback. ``Settings.env`` is also what child processes (``run``, ``up -d``) inherit.

Every number is finite and in range (:mod:`rittunnel.quantities`), every URL an http(s) URL
with a host (:func:`url_problem`), or the command stops before any I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from .errors import RittunnelError
from .files import cache_dir, state_dir
from .quantities import env_count, env_seconds
from .text import redact_url, shown

#: which remote.it API a tunnel talks to
Api = Literal["rest", "graphql"]
APIS: tuple[Api, ...] = ("rest", "graphql")

ENV_API = "RITTUNNEL_API"
#: where profiles are looked for first (``os.pathsep``-separated directories)
ENV_PROFILES = "RITTUNNEL_PROFILES"
ENV_API_URL = "RITTUNNEL_API_URL"
ENV_GRAPHQL_URL = "RITTUNNEL_GRAPHQL_URL"
ENV_API_TIMEOUT = "RITTUNNEL_API_TIMEOUT"
ENV_START_TIMEOUT = "RITTUNNEL_START_TIMEOUT"
ENV_STOP_TIMEOUT = "RITTUNNEL_STOP_TIMEOUT"
ENV_SERVICES_TTL = "RITTUNNEL_SERVICES_TTL"
ENV_RELAY_THREADS = "RITTUNNEL_RELAY_THREADS"

#: remote.it's REST API (docs/remoteit-api.md, "Hosts"); here, not in the protocol
#: module, so that choosing an account imports no API code
DEFAULT_API_URL = "https://api.remote.it/apv/v27"
#: remote.it's GraphQL endpoint
GRAPHQL_URL = "https://api.remote.it/graphql/v1"
#: seconds one API call may take
API_TIMEOUT = 30.0
#: seconds start-up keeps retrying transient API failures before giving up
START_TIMEOUT = 15.0
#: seconds teardown may spend stopping a tunnel's proxies (each stop call, and all of
#: them together); what is not stopped by then stays recorded for ``rittunnel cleanup``
STOP_TIMEOUT = 10.0
#: seconds a fetched service list is trusted (service names → IDs)
SERVICES_TTL = 60.0
#: connections relayed by threads at once (more stay in trio)
RELAY_THREADS = 64


@dataclass(frozen=True)
class Settings:
    """What the environment says, validated. Build it with :meth:`from_env`."""

    #: where state files (and ``up -d`` logs) live: ``$XDG_STATE_HOME/rittunnel``
    state_dir: Path
    #: where the token and service-list caches live: ``$XDG_CACHE_HOME/rittunnel``
    cache_dir: Path
    #: the environment as given: credentials, profile directories, child processes
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: ``RITTUNNEL_API``: the API every tunnel uses, over any profile's ``api``
    api: Api | None = None
    #: ``RITTUNNEL_API_URL``: the REST API every account uses, over any profile's ``api_url``
    api_url: str | None = None
    #: ``RITTUNNEL_GRAPHQL_URL``: the GraphQL endpoint
    graphql_url: str = GRAPHQL_URL
    api_timeout: float = API_TIMEOUT
    start_timeout: float = START_TIMEOUT
    stop_timeout: float = STOP_TIMEOUT
    services_ttl: float = SERVICES_TTL
    relay_threads: int = RELAY_THREADS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read every knob from ``env``; raises a one-line error for a bad value."""
        return cls(
            env=env,
            api=_api(env.get(ENV_API, "")),
            api_url=_url(env, ENV_API_URL),
            graphql_url=_url(env, ENV_GRAPHQL_URL) or GRAPHQL_URL,
            api_timeout=env_seconds(env, ENV_API_TIMEOUT, API_TIMEOUT),
            start_timeout=env_seconds(env, ENV_START_TIMEOUT, START_TIMEOUT),
            stop_timeout=env_seconds(env, ENV_STOP_TIMEOUT, STOP_TIMEOUT),
            services_ttl=env_seconds(env, ENV_SERVICES_TTL, SERVICES_TTL),
            relay_threads=env_count(env, ENV_RELAY_THREADS, RELAY_THREADS),
            state_dir=state_dir(env),
            cache_dir=cache_dir(env),
        )

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` (command-line options that override the environment)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def normal_url(url: str) -> str:
    """``url`` as compared for trust: scheme and host in lower case, no trailing ``/``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def graphql_beside(rest_url: str) -> str:
    """The GraphQL endpoint on the host of a REST API URL the user named
    (``http://h:8/apv/v27`` → ``http://h:8/graphql/v1``): where GraphQL goes when only
    the REST API was pointed elsewhere, so nothing goes to a host the user did not name."""
    parts = urlsplit(rest_url)
    return f"{parts.scheme}://{parts.netloc}/graphql/v1"


def _api(raw: str) -> Api | None:
    value = raw.strip().lower()
    if not value:
        return None
    for api in APIS:
        if value == api:
            return api
    raise RittunnelError(f"{ENV_API}={shown(raw)} is not an API; use rest or graphql")


def url_problem(text: str) -> str | None:
    """What keeps ``text`` from being an API URL (``http://`` or ``https://``, a host,
    a valid port), in words that follow "is not" in a message; None when it is one.

    Checked once, up front: such a URL cannot work, so it must not be retried as if the
    network were down."""
    text = text.strip()
    if not text or any(ch.isspace() or not ch.isprintable() for ch in text):
        return "a URL (it is empty or has spaces or control characters in it)"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return "a URL (its host or port cannot be read)"
    if parts.scheme.lower() not in ("http", "https"):
        return "an http:// or https:// URL"
    if not parts.hostname:
        return "an http(s) URL with a host (like https://api.example.com/...)"
    if port == 0:
        return "an http(s) URL with a valid port (1-65535)"
    return None


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    problem = url_problem(raw)
    if problem is not None:
        raise RittunnelError(f"{name}={shown(redact_url(raw))} is not {problem}")
    return raw.rstrip("/")
