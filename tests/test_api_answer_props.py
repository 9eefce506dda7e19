"""REST and GraphQL answers, whatever remote.it (or something in its place) sends: every
parser either accepts or raises our error type (:class:`RittunnelError`), never another
exception and never a hang. Property tests with a fixed budget and bounded sizes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rittunnel.errors import RittunnelError
from rittunnel.remoteit.protocol import (
    decode_response,
    parse_connect,
    parse_login,
    parse_proxy,
)
from rittunnel.remoteit.queries import decode_graphql, parse_connection, parse_devices
from rittunnel.remoteit.services import parse_services

SERVICE = "80:00:00:00:01:02:03:04"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["true", "false", "https://x.p18.rt3.io", "127.0.0.1:33000", "SMS_MFA"])
)
KEYS = [
    "status", "reason", "message", "code", "token", "auth_expiration", "connection",
    "connectionid", "proxy", "proxyExpirationSec", "expirationsec", "idleLeft",
    "connectionOverridden", "previousConnection", "deviceaddress", "devices", "devicealias",
    "servicetitle", "devicestate", "errors", "data", "path", "login", "connect", "items",
    "services", "hasMore", "id", "host", "port", "url", "reverseProxy", "timeout", "name",
    "title", "state",
]  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=25,
)
objects = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)


def accepts_or_refuses(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except RittunnelError as exc:
        assert str(exc)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "object", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    value = draw(objects if kind == "object" else values)
    return json.dumps(value).encode()


statuses = st.sampled_from([200, 201, 400, 401, 403, 404, 429, 500, 502, 503])
content_types = st.sampled_from(["application/json", "text/html", "", "text/plain"])


@given(statuses, content_types, bodies())
def test_rest_answers(status: int, content_type: str, body: bytes) -> None:
    accepts_or_refuses(decode_response, status, content_type, body, "connect")


@given(statuses, content_types, bodies(), st.sampled_from(["login", "connect"]))
def test_graphql_answers(status: int, content_type: str, body: bytes, operation: str) -> None:
    accepts_or_refuses(decode_graphql, status, content_type, body, "connect", operation)


@given(objects)
def test_rest_records(data: dict[str, Any]) -> None:
    accepts_or_refuses(parse_login, data)
    accepts_or_refuses(parse_connect, data, SERVICE)
    accepts_or_refuses(parse_services, data)
    accepts_or_refuses(parse_proxy, data.get("proxy"))


@given(values)
def test_graphql_records(value: Any) -> None:
    accepts_or_refuses(parse_connection, value, SERVICE)
    accepts_or_refuses(parse_devices, value)


def test_deep_nesting_is_an_answer_we_refuse() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    accepts_or_refuses(decode_response, 200, "application/json", deep, "connect")
    accepts_or_refuses(decode_graphql, 200, "application/json", deep, "connect", "login")
