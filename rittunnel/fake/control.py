"""The fake's knobs from outside: the answers of scripted failures
(``FakeRemoteIt.fail_next``) and the control endpoint.

* ``GET /_fake/state``: the open proxies, every proxy made, the recorded calls
  (endpoint, body, status, peer: an API call count) and the knobs.
* ``POST /_fake/control``: ``{"fail": {ENDPOINT: [FAILURE, …]}}`` (an empty list clears
  what is queued), any of :data:`CONTROL_KNOBS`, ``"expire_tokens": true``, ``"kill":
  "all"|CONNECTION_ID``; answers ``{"ok": true, "killed": N}`` or HTTP 400
  ``{"ok": false, "error"}``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

import trio

from .answers import HTML_502, Answer, json_answer, refuse, text
from .gql import scripted as gql_scripted
from .httpd import Reset
from .model import MFA_CODES, Call, FakeProxy, Knobs

#: what ``POST /_fake/control`` may set on :class:`~.model.Knobs`
CONTROL_KNOBS = (
    "delay",
    "connect_delay",
    "expirationsec",
    "idle_sec",
    "token_ttl",
    "direct",
    "page_max",
    "gql_connect_replaces",
    "mfa",
    "mfa_reason",
    "warning",
    "stop_gone_reason",
    "broken_devices",
)


async def scripted(failure: str, endpoint: str) -> Answer | None:
    """The answer of a scripted ``failure`` of ``endpoint``, or None to answer normally
    (a GraphQL ``delay``); raises :class:`~.httpd.Reset` for ``reset`` and after a
    ``hang``."""
    kind, _, arg = failure.partition(":")
    if kind == "pass":
        return None
    if endpoint.startswith("gql_"):
        answer = gql_scripted(kind, arg, endpoint)
        if answer is not None:
            return answer
        if kind == "delay":
            await trio.sleep(float(arg or 1))
            return None
    if kind == "http401":  # what remote.it's gateway says to credentials it refuses
        return text(401, arg or "Unauthorized")
    if kind == "http403":
        return json_answer(403, {"message": arg or "Forbidden"})
    if kind == "http429":
        retry = (("retry-after", arg),) if arg else ()
        return text(429, "Too Many Requests", *retry)
    if kind == "html502":
        return Answer(502, "text/html", HTML_502)
    if kind == "http500":
        return refuse("Internal error", 500)
    if kind == "reset":
        raise Reset
    if kind == "hang":
        await trio.sleep(float(arg or 3600))
        raise Reset
    if kind == "delay":
        await trio.sleep(float(arg or 1))
        return refuse("delayed")
    if kind == "huge":  # a body of ARG bytes (JSON padded with spaces)
        size = int(arg or 1 << 20)
        return Answer(200, "application/json", b'{"status": "true"}'.ljust(size))
    reason = arg or "[0500] Service temporarily unavailable, try again"
    return refuse(reason, 401 if endpoint == "stop" else 200)


class Controlled(Protocol):
    """What the control endpoint shows and changes of the fake."""

    base_url: str
    calls: list[Call]

    @property
    def knobs(self) -> Knobs: ...

    @property
    def graphql_url(self) -> str: ...

    @property
    def proxies(self) -> dict[str, FakeProxy]: ...

    @property
    def open_proxies(self) -> list[FakeProxy]: ...

    def fail_next(self, endpoint: str, *failures: str) -> None: ...

    def expire_tokens(self) -> None: ...

    def kill_proxy(self, connection_id: str | None = None) -> int: ...


def state(fake: Controlled) -> dict[str, Any]:
    """What ``GET /_fake/state`` shows."""
    return {
        "base_url": fake.base_url,
        "graphql_url": fake.graphql_url,
        "proxies": [
            {
                "connectionid": p.connection_id,
                "deviceaddress": p.service.address,
                "port": p.port,
                "hostip": p.hostip,
                "ended": p.ended,
                "reverse": p.reverse,
                "proxy": p.url,
                "active": p.active,
                "accepted": p.accepted,
            }
            for p in fake.proxies.values()
        ],
        "open": [p.connection_id for p in fake.open_proxies],
        "calls": [{k: v for k, v in asdict(c).items() if k != "headers"} for c in fake.calls],
        "knobs": asdict(fake.knobs),
    }


def handle(fake: Controlled, method: str, path: str, body: Any) -> Answer:
    """Answer a request under ``/_fake/``."""
    if method == "GET" and path == "/_fake/state":
        return json_answer(200, state(fake))
    if method == "POST" and path == "/_fake/control" and isinstance(body, dict):
        try:
            killed = apply(fake, body)
        except (ValueError, TypeError) as exc:
            return json_answer(400, {"ok": False, "error": str(exc)})
        return json_answer(200, {"ok": True, "killed": killed})
    return Answer(404, "application/json", b'{"ok": false}')


def apply(fake: Controlled, body: dict[str, Any]) -> int:
    """Apply a ``/_fake/control`` body; returns how many proxies it killed."""
    if body.get("mfa") not in (None, *MFA_CODES):
        raise ValueError(f"mfa must be one of {MFA_CODES} or null")
    for key in ("delay", "connect_delay"):
        value = body.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{key} must be a number of seconds, 0 or more")
    for endpoint, failures in (body.get("fail") or {}).items():
        if not failures:  # an empty list clears what is queued for that endpoint
            fake.knobs.failures.pop(endpoint, None)
        fake.fail_next(endpoint, *failures)
    for key in CONTROL_KNOBS:
        if key in body:
            setattr(fake.knobs, key, body[key])
    if body.get("expire_tokens"):
        fake.expire_tokens()
    if body.get("kill"):
        return fake.kill_proxy(None if body["kill"] == "all" else body["kill"])
    return 0
