from __future__ import annotations

import json

import pytest

from rittunnel.errors import (
    ApiRefused,
    ApiUnavailable,
    AuthError,
    ProtocolError,
    TwoFactorError,
)
from rittunnel.remoteit.protocol import (
    Connection,
    PortProxy,
    ReverseProxy,
    connect_body,
    decode_response,
    is_gone,
    parse_connect,
    parse_login,
    parse_proxy,
)
from rittunnel.remoteit.services import parse_services

# The connect answer as remote.it's docs print it, slashes escaped as the live API sends
# (docs/remoteit-api.md#rest-connect-answer, #proxy-forms).
CONNECT_ANSWER = (
    b'{"connection": {"deviceaddress": "80:00:00:00:00:00:00:91", "expirationsec": "28797",'
    b' "proxy": "http:\\/\\/proxy18.rt3.io:38575",'
    b' "connectionid": "A78B3919-52E1-B674-58CC-5C0009377419",'
    b' "proxyserver": "proxy18.rt3.io", "requested": "x", "latchedIP": "1.2.3.4"},'
    b' "status": "true", "extra": {"nested": [1, 2]}}'
)


def test_connect_answer_with_escaped_slashes_string_expiry_and_extra_fields() -> None:
    data = decode_response(200, "application/json", CONNECT_ANSWER, "connect")
    conn = parse_connect(data, "80:00:00:00:00:00:00:91")
    assert conn == Connection(
        connection_id="A78B3919-52E1-B674-58CC-5C0009377419",
        service="80:00:00:00:00:00:00:91",
        proxy=PortProxy("proxy18.rt3.io", 38575),
        expires_in=28797.0,
    )


def test_proxy_expiration_sec_int_is_preferred() -> None:
    data = {
        "connection": {
            "connectionid": "c",
            "proxy": "http://h:1",
            "expirationsec": "100",
            "proxyExpirationSec": 90,
        }
    }
    assert parse_connect(data, "s").expires_in == 90.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http:\\/\\/proxy18.rt3.io:38575", PortProxy("proxy18.rt3.io", 38575)),
        ("http://proxy18.rt3.io:38575", PortProxy("proxy18.rt3.io", 38575)),
        ("proxy18.rt3.io:38575", PortProxy("proxy18.rt3.io", 38575)),
        ("tcp://[::1]:9", PortProxy("::1", 9)),
        ("https://xprbjalo.p18.rt3.io", ReverseProxy("https://xprbjalo.p18.rt3.io")),
        ("https://xprbjalo.p18.rt3.io/", ReverseProxy("https://xprbjalo.p18.rt3.io")),
    ],
)
def test_parse_proxy_forms(value: str, expected: object) -> None:
    assert parse_proxy(value) == expected


@pytest.mark.parametrize("value", [None, "", "http://h:notaport", "tcp://h", 5])
def test_parse_proxy_rejects_garbage(value: object) -> None:
    with pytest.raises(ProtocolError):
        parse_proxy(value)


def test_status_false_on_http_200_shows_reason() -> None:
    body = json.dumps({"status": "false", "reason": "[0209] Device address not found"}).encode()
    with pytest.raises(ApiRefused) as info:
        decode_response(200, "application/json", body, "connect")
    assert not isinstance(info.value, AuthError)
    assert "[0209] Device address not found" in str(info.value)
    assert not info.value.transient


def test_status_false_without_reason() -> None:
    with pytest.raises(ApiRefused, match="no reason given"):
        decode_response(200, "application/json", b'{"status":"false"}', "connect")


def test_stop_401_with_reason_and_auth_words() -> None:
    body = b'{"status":"false","reason":"[0090] Token has expired"}'
    with pytest.raises(AuthError):
        decode_response(401, "application/json", body, "stop")
    with pytest.raises(AuthError):
        decode_response(401, "application/json", b'{"status":"false"}', "stop")
    body = b'{"status":"false","reason":"connectionid incorrect or missing"}'
    with pytest.raises(ApiRefused) as info:
        decode_response(401, "application/json", body, "stop")
    assert not isinstance(info.value, AuthError)


def test_transient_reasons_are_marked() -> None:
    body = b'{"status":"false","reason":"Service temporarily unavailable, try again"}'
    with pytest.raises(ApiRefused) as info:
        decode_response(200, "application/json", body, "connect")
    assert info.value.transient


def test_html_502_is_an_outage_not_a_crash() -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body>x</body></html>"
    with pytest.raises(ApiUnavailable, match=r"HTTP 502 with an HTML page \(502 Bad Gateway\)"):
        decode_response(502, "text/html", html, "connect")


@pytest.mark.parametrize(
    ("code", "body"), [(200, b""), (500, b"oops"), (200, b"[1]"), (200, b"\xff\xfe"), (503, b"{}")]
)
def test_non_api_answers_are_unavailable(code: int, body: bytes) -> None:
    with pytest.raises((ApiUnavailable, ProtocolError)):
        decode_response(code, "text/plain", body, "x")


def test_string_and_bool_status() -> None:
    assert decode_response(200, "", b'{"status":"true","a":1}', "x")["a"] == 1
    assert decode_response(200, "", b'{"status":true}', "x") == {"status": True}
    with pytest.raises(ApiUnavailable):
        decode_response(200, "", b'{"status":"pending"}', "x")


def test_login_token_and_expiry() -> None:
    assert parse_login({"token": "t", "auth_expiration": "1700000000"}).expires_at == 1.7e9
    assert parse_login({"auth_token": "t2"}).token == "t2"
    with pytest.raises(ProtocolError):
        parse_login({"status": "true"})


def test_connect_body_modes() -> None:
    assert connect_body("s", "latching", None) == {
        "deviceaddress": "s",
        "wait": "true",
        "hostip": "255.255.255.255",
        "concurrent": True,  # never replace another proxy of the service
    }
    assert "proxyType" not in connect_body("s", "latching", None, "auto")
    assert "proxyType" not in connect_body("s", "latching", None, "reverse")
    assert connect_body("s", "latching", None, "port")["proxyType"] == "port"
    assert connect_body("s", "public", None)["hostip"] == "0.0.0.0"
    assert "hostip" not in connect_body("s", "restricted", None)
    assert connect_body("s", "restricted", "203.0.113.9")["hostip"] == "203.0.113.9"


def test_connect_without_connection_or_id() -> None:
    with pytest.raises(ProtocolError):
        parse_connect({"status": "true"}, "s")
    with pytest.raises(ProtocolError):
        parse_connect({"connection": {"proxy": "http://h:1"}}, "s")


def test_services() -> None:
    data = {
        "devices": [
            {
                "deviceaddress": "a",
                "devicealias": "n",
                "servicetitle": "SSH",
                "devicestate": "active",
                "more": 1,
            },
            {"junk": 1},
        ]
    }
    (svc,) = parse_services(data)
    assert (svc.address, svc.name, svc.type, svc.state) == ("a", "n", "SSH", "active")


def test_device_entries_of_the_list_are_not_services() -> None:
    """remote.it lists each device beside its services, titled "Bulk Service" and named
    as the device (often as its service): not a service, never a candidate."""
    device = {"deviceaddress": "d", "devicealias": "pi", "devicestate": "active"}
    data = {
        "devices": [
            {**device, "servicetitle": "Bulk Service"},
            {**device, "servicetitle": " bulk SERVICE "},
            {"deviceaddress": "s", "devicealias": "pi", "servicetitle": "SSH"},
        ]
    }
    assert [s.address for s in parse_services(data)] == ["s"]


def test_a_connect_that_replaced_another_says_which() -> None:
    data = {
        "connection": {
            "connectionid": "C2",
            "proxy": "http:\\/\\/proxy18.rt3.io:38575",
            "connectionOverridden": "true",
            "previousConnection": "http:\\/\\/proxy17.rt3.io:32192",
        }
    }
    assert parse_connect(data, "s").replaced == "http://proxy17.rt3.io:32192"
    data["connection"]["connectionOverridden"] = "false"
    assert parse_connect(data, "s").replaced is None


@pytest.mark.parametrize("code", ["SMS_MFA", "SOFTWARE_TOKEN_MFA", "MFA_SETUP"])
@pytest.mark.parametrize("reason", [None, "MFA required"])
def test_a_two_factor_login_answer_says_use_an_access_key(code: str, reason: str | None) -> None:
    body = {"status": "false", "code": code, **({"reason": reason} if reason else {})}
    with pytest.raises(TwoFactorError, match="two-factor.*use an access key"):
        decode_response(200, "application/json", json.dumps(body).encode(), "login")


@pytest.mark.parametrize(
    "reason",
    [
        "[0211] Device 80:00:00:00:01:02:03:04 is not active",
        "[0212] Device is not responding",
        "The device is offline",
        "Service is inactive",
    ],
)
def test_an_offline_device_is_retried(reason: str) -> None:
    body = json.dumps({"status": "false", "reason": reason}).encode()
    with pytest.raises(ApiRefused) as info:
        decode_response(200, "application/json", body, "connect")
    assert info.value.offline and info.value.transient


@pytest.mark.parametrize(
    "reason", ["[0209] Device address 80:00:00:00:01:02:03:04 not found", "[0300] bad hostip"]
)
def test_an_unknown_service_is_not_retried(reason: str) -> None:
    body = json.dumps({"status": "false", "reason": reason}).encode()
    with pytest.raises(ApiRefused) as info:
        decode_response(200, "application/json", body, "connect")
    assert not info.value.offline and not info.value.transient


# -- issue 16: nothing the API says is believed blindly -----------------------------------


@pytest.mark.parametrize(
    "value", ["http://proxy18.rt3.io", "HTTP://h", "tcp://h:0", "h h:80", "http://user@h"]
)
def test_only_an_https_url_without_a_port_is_a_reverse_proxy(value: str) -> None:
    with pytest.raises(ProtocolError):
        parse_proxy(value)


@pytest.mark.parametrize("proxy", ["garbage", "http://127.0.0.1", "127.0.0.1:99999", None])
def test_an_unusable_proxy_carries_the_connection_id_to_stop(proxy: object) -> None:
    data = {"connection": {"connectionid": "C-42", "proxy": proxy, "expirationsec": "60"}}
    with pytest.raises(ProtocolError) as info:
        parse_connect(data, "s")
    assert info.value.connection_id == "C-42"
    assert "the proxy field" in str(info.value)


@pytest.mark.parametrize("life", ["inf", "nan", "-5", "1e300", "Infinity", 1e300, -1, 0])
def test_an_absurd_proxy_lifetime_is_unknown(life: object) -> None:
    data = {"connection": {"connectionid": "c", "proxy": "h:1", "expirationsec": life}}
    assert parse_connect(data, "s").expires_in is None
    data["connection"]["proxyExpirationSec"] = life
    assert parse_connect(data, "s").expires_in is None
    data["connection"]["expirationsec"] = "120"
    assert parse_connect(data, "s").expires_in == 120.0  # the sane one of the two
    # JSON from Python's parser can carry them too
    body = b'{"status": "true", "connection": {"connectionid": "c", "proxy": "h:1",'
    body += b' "proxyExpirationSec": Infinity, "expirationsec": NaN}}'
    data = decode_response(200, "application/json", body, "connect")
    assert parse_connect(data, "s").expires_in is None


def test_the_apis_words_are_escaped_and_bounded_in_messages() -> None:
    reason = "[0209] \x1b[2Jno such\r\n\x1b]0;pwned\x07 device" + "!" * 10_000
    body = json.dumps({"status": "false", "reason": reason}).encode()
    with pytest.raises(ApiRefused) as info:
        decode_response(200, "application/json", body, "connect")
    message = str(info.value)
    assert "\x1b" not in message and "\r" not in message and "\n" not in message
    assert "\\x1b[2Jno such\\r\\n\\x1b]0;pwned\\x07 device" in message
    assert len(message) < 400
    assert info.value.reason == reason  # kept whole for classifying
    html = b"<html><title>\x1b[2J" + b"t" * 5000 + b"</title></html>"
    with pytest.raises(ApiUnavailable) as outage:
        decode_response(502, "text/html", html, "connect")
    assert "\x1b" not in str(outage.value) and len(str(outage.value)) < 300
    body = json.dumps({"status": "\x1b[2Jodd" + "?" * 5000}).encode()
    with pytest.raises(ProtocolError) as odd:
        decode_response(200, "application/json", body, "connect")
    assert "\x1b" not in str(odd.value) and len(str(odd.value)) < 300


@pytest.mark.parametrize(
    ("reason", "gone"),
    [
        ("[0212] connectionid incorrect or missing", True),
        ("connectionid or deviceaddress incorrect", True),
        ("[0213] ConnectionId or DeviceAddress incorrect", True),
        ("Connection not found: 6899AB", True),
        ("the connection has expired", True),
        ("[0403] Access denied for this user", False),
        ("[0500] Service temporarily unavailable, try again", False),
    ],
)
def test_a_refused_stop_is_done_only_when_the_connection_is_gone(reason: str, gone: bool) -> None:
    body = json.dumps({"status": "false", "reason": reason}).encode()
    with pytest.raises(ApiRefused) as info:
        decode_response(401, "application/json", body, "stop")
    assert is_gone(info.value) is gone


@pytest.mark.parametrize(
    ("code", "ctype", "body", "said"),
    [
        (401, "text/plain", b"Unauthorized", "Unauthorized"),
        (403, "application/json", b'{"message": "Forbidden"}', "Forbidden"),
        (403, "application/json", b'{"message": "Missing Authentication Token"}', "Missing"),
        (401, "text/html", b"<html><title>401</title></html>", "an HTML page (401)"),
        (401, "", b"", "an empty body"),
        (403, "application/json", b'{"Message": "User is not authorized"}', "HTTP 403"),
    ],
)
def test_a_401_or_403_that_is_not_the_status_json_is_refused_credentials(
    code: int, ctype: str, body: bytes, said: str
) -> None:
    with pytest.raises(AuthError, match="remote.it refused the credentials") as info:
        decode_response(code, ctype, body, "connect")
    assert said in str(info.value) and f"(HTTP {code})" in str(info.value)
    assert not info.value.transient  # not an outage retried for the whole start timeout
    assert not is_gone(info.value)


def test_a_rest_429_is_throttling_with_its_retry_after() -> None:
    with pytest.raises(ApiUnavailable, match=r"\(HTTP 429\); it asks to wait 3s") as info:
        decode_response(429, "text/plain", b"Too Many Requests", "connect", retry_after="3")
    assert info.value.retry_after == 3.0
    with pytest.raises(ApiUnavailable) as bare:
        decode_response(429, "application/json", b'{"message": "slow down"}', "connect")
    assert bare.value.retry_after is None


def test_the_username_or_password_is_invalid_is_a_credentials_refusal() -> None:
    body = b'{"status":"false","reason":"[0102] The username or password is invalid"}'
    with pytest.raises(AuthError, match="refused the credentials: \\[0102\\]"):
        decode_response(200, "application/json", body, "login")


@pytest.mark.parametrize("cid", ["x" * 257, "a\nb", "tab\there", "c\x85"])
def test_a_connection_id_no_record_can_hold_is_refused_but_named_for_a_stop(cid: str) -> None:
    # the state files keep IDs up to 256 printable characters as they are: another ID
    # would be recorded escaped or cut, and that proxy could never be stopped
    with pytest.raises(ProtocolError) as caught:
        parse_connect({"connection": {"connectionid": cid, "proxy": "http://h:1"}}, "s")
    assert caught.value.connection_id == cid  # the keeper stops it at once
    ok = parse_connect({"connection": {"connectionid": "y" * 256, "proxy": "http://h:1"}}, "s")
    assert ok.connection_id == "y" * 256
