"""The GraphQL API as data: variables, and every shape of answer mapped to a result or
to the error tree (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rittunnel.errors import ApiRefused, ApiUnavailable, AuthError, ProtocolError
from rittunnel.remoteit.protocol import PortProxy, ReverseProxy
from rittunnel.remoteit.queries import (
    connect_variables,
    decode_graphql,
    parse_connection,
    parse_devices,
)


def answer(data: Any, status: int = 200, **kw: Any) -> Any:
    body = json.dumps(data).encode() if not isinstance(data, bytes) else data
    return decode_graphql(status, "application/json", body, "connect", "connect", **kw)


def test_connect_variables_by_mode_and_proxy_kind() -> None:
    assert connect_variables("s", "latching", None) == {
        "serviceId": "s",
        "hostIP": "255.255.255.255",
        "type": "AUTO_PROXY",
    }
    assert connect_variables("s", "public", None, "port")["hostIP"] == "0.0.0.0"
    assert connect_variables("s", "public", None, "port")["type"] == "PORT_PROXY"
    assert connect_variables("s", "restricted", "203.0.113.9", "reverse") == {
        "serviceId": "s",
        "hostIP": "203.0.113.9",
        "type": "REVERSE_PROXY",
    }
    with pytest.raises(ApiRefused, match="needs the REST API"):
        connect_variables("s", "restricted", None)  # GraphQL cannot leave hostIP out


def test_a_port_and_a_reverse_proxy() -> None:
    port = {"id": "c1", "host": "proxy18.rt3.io", "port": 38575, "reverseProxy": False,
            "url": "http://proxy18.rt3.io:38575", "timeout": 28800}  # fmt: skip
    conn = parse_connection(answer({"data": {"connect": port}}), "s")
    assert conn.proxy == PortProxy("proxy18.rt3.io", 38575)
    assert (conn.connection_id, conn.service, conn.expires_in) == ("c1", "s", 28800)
    reverse = {"id": "c2", "host": "a4csg2w9f8wipk.p16.rt3.io", "port": None,
               "reverseProxy": True, "url": "https://a4csg2w9f8wipk.p16.rt3.io/"}  # fmt: skip
    conn = parse_connection(answer({"data": {"connect": reverse}}), "s")
    assert conn.proxy == ReverseProxy("https://a4csg2w9f8wipk.p16.rt3.io")
    assert conn.expires_in is None


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "c", "host": "h", "port": 99999, "reverseProxy": False},
        {"id": "c", "host": "h", "port": "80", "reverseProxy": False},
        {"id": "c", "host": "", "port": 80, "reverseProxy": False},
        {"host": "h", "port": 80, "reverseProxy": False},
        {"id": "c", "reverseProxy": True},
        "not an object",
    ],
)
def test_a_connection_that_is_not_one(bad: Any) -> None:
    with pytest.raises(ProtocolError):
        parse_connection(bad, "s")


def test_refusals_in_errors() -> None:
    refused = {"data": {"connect": None}, "errors": [{"message": "Service not found"}]}
    with pytest.raises(ApiRefused) as info:
        answer(refused)
    assert not info.value.transient and "Service not found" in str(info.value)
    offline = {"data": {"connect": None}, "errors": [{"message": "Device is inactive"}]}
    with pytest.raises(ApiRefused) as info:
        answer(offline)
    assert info.value.offline and info.value.transient


def test_auth_throttling_outages_and_rejections() -> None:
    with pytest.raises(AuthError, match="Unauthorized"):
        answer(b"Unauthorized", 401)
    with pytest.raises(AuthError):
        answer(b"", 403)
    with pytest.raises(ApiUnavailable) as info:
        answer(b"Your API usage has been throttled", 429, retry_after="3")
    assert info.value.retry_after == 3.0 and info.value.transient
    with pytest.raises(ApiUnavailable) as info:
        answer(b"slow down", 429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    assert info.value.retry_after is None
    with pytest.raises(ApiUnavailable, match="HTML"):
        decode_graphql(502, "text/html", b"<html>502</html>", "connect", "connect")
    with pytest.raises(ProtocolError, match="Cannot query field"):
        answer({"errors": [{"message": 'Cannot query field "x" on type "Connection".'}]}, 400)
    with pytest.raises(ProtocolError, match="without connect"):
        answer({"data": {}})


def test_a_page_of_devices() -> None:
    login = {
        "devices": {
            "total": 3,
            "hasMore": True,
            "items": [
                {"id": "d1", "name": "pi", "state": "active", "services": [
                    {"id": "80:01", "name": "pi-ssh", "state": "active", "title": "SSH"},
                    {"id": "80:02", "name": "pi-web", "state": "inactive", "title": "HTTP"},
                ]},
                {"id": "d2", "name": "empty", "state": "active", "services": []},
                "junk",
            ],
        }
    }  # fmt: skip
    page = parse_devices(login)
    assert [(s.address, s.name, s.type, s.state) for s in page.services] == [
        ("80:01", "pi-ssh", "SSH", "active"),
        ("80:02", "pi-web", "HTTP", "inactive"),
    ]
    assert page.count == 3 and page.has_more
    with pytest.raises(ProtocolError):
        parse_devices({"devices": None})
