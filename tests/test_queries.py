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
    devices_variables,
    parse_connection,
    parse_devices,
    parse_organizations,
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
        "type": "AUTO_PROXY",  # reverse: what a web service gets; never refused
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
    with pytest.raises(ApiUnavailable) as info:  # an HTTP date in the past: now
        answer(b"slow down", 429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    assert info.value.retry_after == 0
    with pytest.raises(ApiUnavailable, match="asks to wait 86400s") as info:  # capped
        answer(b"slow down", 429, retry_after="100000")
    with pytest.raises(ApiUnavailable) as info:
        answer(b"slow down", 429, retry_after="soon")
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


# -- issue 16: nothing the API says is believed blindly -----------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "C-7", "host": "h", "port": 99999, "reverseProxy": False},
        {"id": "C-7", "host": "h h", "port": 80, "reverseProxy": False},
        {"id": "C-7", "host": "", "port": 80, "reverseProxy": False},
        {"id": "C-7", "reverseProxy": True},
        {"id": "C-7", "reverseProxy": True, "url": "https://x y.rt3.io"},
        {"id": "C-7", "reverseProxy": True, "url": "https://h.rt3.io:notaport"},
    ],
)
def test_an_unusable_proxy_carries_the_connection_id_to_stop(bad: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_connection(bad, "s")
    assert info.value.connection_id == "C-7"


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), -1, 1e300, 0])
def test_an_absurd_lifetime_is_unknown(timeout: Any) -> None:
    port = {"id": "c1", "host": "h", "port": 1, "reverseProxy": False, "timeout": timeout}
    assert parse_connection(port, "s").expires_in is None
    body = b'{"data": {"connect": {"id": "c", "host": "h", "port": 1, "timeout": Infinity}}}'
    assert parse_connection(answer(body), "s").expires_in is None


def test_the_apis_words_are_escaped_and_bounded_in_messages() -> None:
    evil = "\x1b[2Jdevice \x1b]0;pwned\x07 is inactive" + "!" * 10_000
    with pytest.raises(ApiRefused) as refused:
        answer({"data": {"connect": None}, "errors": [{"message": evil}]})
    with pytest.raises(ProtocolError) as rejected:
        answer({"errors": [{"message": evil}]}, status=400)
    with pytest.raises(AuthError) as auth:
        answer(evil.encode(), status=401)
    for exc in (refused.value, rejected.value, auth.value):
        assert "\x1b" not in str(exc) and "\x07" not in str(exc), exc
        assert "\\x1b[2Jdevice" in str(exc) and len(str(exc)) < 400


def test_an_error_on_a_nested_field_is_the_answer() -> None:
    body = {
        "data": {"login": {"devices": None}},
        "errors": [{"message": "Service temporarily unavailable, try again",
                    "path": ["login", "devices"]}],
    }  # fmt: skip
    with pytest.raises(ApiRefused) as info:
        decode_graphql(200, "application/json", json.dumps(body).encode(), "list", "login")
    assert info.value.transient and "temporarily unavailable" in str(info.value)


def test_auth_bodies_are_described_not_dumped() -> None:
    with pytest.raises(AuthError) as info:
        answer(b"<html><body>Forbidden by WAF</body></html>", 403)
    assert "<html>" not in str(info.value) and "HTML" in str(info.value)
    errors = {"errors": [{"message": "Invalid signature"}]}
    with pytest.raises(AuthError, match="refused the access key: Invalid signature$"):
        answer(errors, 401)


def test_a_partial_device_list_is_the_rest_and_names_what_it_leaves_out() -> None:
    """One device's ``services`` null with an error whose path points at it: the other
    devices are the answer; the error is handed back, naming that device."""
    items = [
        {"id": "D1", "name": "pi", "services": None},
        {"id": "D2", "name": None, "services": [{"id": "S2", "name": None, "title": None}]},
    ]
    body = {
        "data": {"login": {"devices": {"hasMore": False, "items": items}}},
        "errors": [{"message": "boom \x1b[2J", "path": ["login", "devices", "items", 0,
                                                       "services"]}],
    }  # fmt: skip
    raw = json.dumps(body).encode()
    partial: list[dict[str, Any]] = []
    login = decode_graphql(200, "application/json", raw, "list", "login", partial=partial)
    page = parse_devices(login, partial, "Acme")
    assert [(s.address, s.name, s.type, s.account) for s in page.services] == [
        ("S2", "", "", "Acme")
    ]
    assert page.device_ids == {"D1", "D2"}
    assert page.missing == ("device 'pi' (D1): boom \\x1b[2J",)
    with pytest.raises(ApiRefused):  # not asked to take partial answers: refused as before
        decode_graphql(200, "application/json", raw, "list", "login")
    # an error at the list itself is the answer's, partial or not
    whole = {"data": {"login": {"devices": None}},
             "errors": [{"message": "no", "path": ["login", "devices"]}]}  # fmt: skip
    with pytest.raises(ApiRefused):
        decode_graphql(200, "application/json", json.dumps(whole).encode(), "list", "login",
                       partial=[])  # fmt: skip


def test_organisations_of_the_membership() -> None:
    login = {"membership": [
        {"organization": {"id": "O1", "name": "Acme"}},
        {"organization": {"id": "O2", "name": None}},
        {"organization": None}, "junk",
    ]}  # fmt: skip
    assert parse_organizations(login) == [("O1", "Acme"), ("O2", "O2")]
    with pytest.raises(ProtocolError, match="no membership"):
        parse_organizations({"membership": None})
    assert devices_variables(5, 10, "O1") == {"size": 10, "from": 5, "account": "O1"}


def test_a_graphql_connection_id_no_record_can_hold_is_refused_but_named_for_a_stop() -> None:
    for cid in ("x" * 257, "a\nb"):
        port = {"id": cid, "host": "proxy18.rt3.io", "port": 38575, "reverseProxy": False,
                "url": "http://proxy18.rt3.io:38575", "timeout": 28800}  # fmt: skip
        with pytest.raises(ProtocolError) as caught:
            parse_connection(answer({"data": {"connect": port}}), "s")
        assert caught.value.connection_id == cid  # the keeper stops it at once
