"""The fake remote.it's data: services, proxies, knobs (with their queue of scripted
failures) and recorded calls. Shared by every part of the fake; :mod:`.server`
re-exports the public names."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import trio

LATCH = "255.255.255.255"
PUBLIC = "0.0.0.0"

#: what ``Knobs.mfa`` (and ``FakeRemoteIt(mfa=…)``) may be: the ``code`` a password login
#: of a two-factor account answers with
MFA_CODES = ("SMS_MFA", "SOFTWARE_TOKEN_MFA", "MFA_SETUP")

#: failures every endpoint takes (see ``FakeRemoteIt.fail_next``)
#: ("pass": answer normally, to script a later call)
GENERIC_FAILURES = ("html502", "http500", "reset", "hang", "delay", "pass")
#: failures of the REST endpoints ("login", "connect", "stop", "list"); ``http401``,
#: ``http403`` and ``http429`` answer as remote.it's gateway does, not with REST's JSON
REST_FAILURES = ("status_false", "huge", "http401", "http403", "http429", *GENERIC_FAILURES)
#: failures of the GraphQL endpoints ("gql_connect", "gql_disconnect", "gql_devices")
GQL_FAILURES = ("http429", "http401", "http403", "errors", *GENERIC_FAILURES)


@dataclass
class FakeService:
    address: str
    name: str
    type: str = "SSH"
    state: str = "active"
    #: host, port of the real service a port proxy relays to (a web service needs one
    #: only for ``proxyType: "port"`` / ``PORT_PROXY``; its reverse proxy needs none)
    target: tuple[str, int] | None = None
    #: the device the service belongs to (its name); None: a device of its own, named
    #: after the service
    device: str | None = None
    #: the organisation (its ID, see ``FakeRemoteIt.add_organization``) whose device it
    #: is; None: the user's own
    org: str | None = None

    @property
    def is_web(self) -> bool:
        return self.type.lower() in ("http", "https")

    @property
    def device_key(self) -> str:
        """What groups services into devices: the device name, or the service itself."""
        return f"device:{self.device}" if self.device is not None else f"service:{self.address}"

    @property
    def device_name(self) -> str:
        return self.device if self.device is not None else self.name

    @property
    def device_id(self) -> str:
        """A stable device address (remote.it device IDs look like service IDs)."""
        digest = hashlib.sha256(self.device_key.encode()).hexdigest().upper()
        return "80:00:00:00:" + ":".join(digest[i : i + 2] for i in range(0, 8, 2))


@dataclass(frozen=True)
class FakeOrganization:
    """An organisation the user is a member of: its devices are listed through
    ``login { account(id:) { devices } }`` (GraphQL only)."""

    id: str
    name: str


def devices_of(services: list[FakeService]) -> list[list[FakeService]]:
    """``services`` grouped by device (each group in the order of its first service)."""
    groups: dict[str, list[FakeService]] = {}
    for service in services:
        groups.setdefault(service.device_key, []).append(service)
    return list(groups.values())


@dataclass
class Knobs:
    #: endpoint -> failures to apply to its next calls (see ``FakeRemoteIt.fail_next``)
    failures: dict[str, list[str]] = field(default_factory=dict)
    #: seconds every API answer waits (login and listing included)
    delay: float = 0.0
    #: seconds every connect that opens a proxy (REST ``/device/connect``, GraphQL
    #: ``connect``) takes before the proxy exists and the answer goes out, as remote.it
    #: takes seconds to set one up; nothing else is slowed
    connect_delay: float = 0.0
    expirationsec: int = 28797
    #: seconds after its last TCP connection closed (or its creation) that an unused
    #: proxy is dropped
    idle_sec: float = 900.0
    token_ttl: float | None = None
    direct: bool = False
    #: most devices one GraphQL ``devices`` page holds, whatever ``size`` asks
    page_max: int = 1000
    #: a GraphQL ``connect`` replaces the service's open proxy as a REST one does
    #: (unknown for the real API: off by default)
    gql_connect_replaces: bool = False
    #: the two-factor ``code`` a right password login answers with (None: a token)
    mfa: str | None = None
    #: whether that two-factor answer carries a ``reason``
    mfa_reason: bool = True
    #: sent as an ``X-R3-Warning`` header on every API answer when not empty
    warning: str = ""
    #: the ``reason`` of REST's HTTP 401 to a stop of a connection the fake no longer has
    #: (expired, dropped, killed, stopped) or of another service; remote.it's documented
    #: text is "connectionid incorrect or missing"
    stop_gone_reason: str = "connectionid or deviceaddress incorrect"
    #: device names whose GraphQL ``services`` fail: the answer is partial (that field
    #: null, an ``errors`` entry whose ``path`` points at it, the rest listed)
    broken_devices: list[str] = field(default_factory=list)

    def fail_next(self, endpoint: str, *failures: str) -> None:
        """Queue ``failures`` for ``endpoint``'s next calls (see
        ``FakeRemoteIt.fail_next``); raises ValueError for one it does not know."""
        for failure in failures:
            check_failure(endpoint, failure)
        self.failures.setdefault(endpoint, []).extend(failures)

    def next_failure(self, endpoint: str) -> str | None:
        """The failure queued for ``endpoint``'s call now (taken off the queue), or None."""
        queue = self.failures.get(endpoint)
        return queue.pop(0) if queue else None


@dataclass
class Call:
    endpoint: str
    headers: dict[str, str]
    body: Any
    http_status: int
    status: str | None
    peer: str


@dataclass
class FakeProxy:
    connection_id: str
    service: FakeService
    hostip: str | None
    caller_ip: str
    #: the listener's port (a port proxy; the target's in ``direct`` mode), else 0
    port: int = 0
    created: float = 0.0
    expires_at: float = 0.0
    latched_ip: str | None = None
    active: int = 0
    idle_since: float = 0.0
    stopped: bool = False
    ended: str = ""
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    accepted: int = 0
    refused: int = 0
    reverse: bool = False
    #: ``127.0.0.1`` (or the target's host in ``direct`` mode), or the reverse proxy's
    #: ``xxxx.p18.rt3.io``
    host: str = ""
    #: REST's ``proxy`` value: ``http://HOST:PORT``, or ``https://xxxx.p18.rt3.io``
    url: str = ""
    #: wall clock (unix seconds) at creation
    created_at: float = 0.0
    session_id: str = ""

    def allows(self, ip: str) -> bool:
        if self.hostip == PUBLIC:
            return True
        if self.hostip == LATCH:
            if self.latched_ip is None:
                self.latched_ip = ip
            return ip == self.latched_ip
        allowed = self.hostip or self.caller_ip
        return ip == allowed


def check_failure(endpoint: str, failure: str) -> None:
    """Raise ValueError for a failure ``fail_next`` does not know for ``endpoint``."""
    kind, _, arg = failure.partition(":")
    known = GQL_FAILURES if endpoint.startswith("gql_") else REST_FAILURES
    if kind not in known:
        raise ValueError(f"fail_next({endpoint!r}): unknown failure {failure!r}; use {known}")
    if kind in ("hang", "delay", "http429") and arg:
        float(arg)  # ValueError when not a number
