"""Request signing, checked against a signature computed here from the spec text
(``docs/remoteit-api.md#auth-signature``: HTTP Signatures, hmac-sha256 keyed with the
base64-decoded secret, over ``(request-target) host date content-type content-length``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import httpx

from rittunnel.remoteit.signing import SigningAuth

SECRET_B64 = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def expected(method: str, target: str, h: httpx.Headers) -> str:
    text = (
        f"(request-target): {method} {target}\n"
        f"host: {h['host']}\n"
        f"date: {h['date']}\n"
        f"content-type: {h['content-type']}\n"
        f"content-length: {h['content-length']}"
    )
    mac = hmac.new(base64.b64decode(SECRET_B64), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def signed(request: httpx.Request) -> httpx.Request:
    flow = SigningAuth("KEYID", base64.b64decode(SECRET_B64)).auth_flow(request)
    return next(flow)


def test_post_is_signed_as_the_spec_says() -> None:
    body = b'{"deviceaddress":"80:00"}'
    req = signed(
        httpx.Request(
            "POST",
            "https://api.remot3.it/apv/v27/device/connect",
            content=body,
            headers={"content-type": "application/json"},
        )
    )
    h = req.headers
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", h["date"])
    assert h["content-length"] == str(len(body))
    auth = dict(re.findall(r'(\w+)="([^"]*)"', h["authorization"]))
    assert h["authorization"].startswith("Signature ")
    assert auth["keyId"] == "KEYID" and auth["algorithm"] == "hmac-sha256"
    assert auth["headers"] == "(request-target) host date content-type content-length"
    assert auth["signature"] == expected("post", "/apv/v27/device/connect", h)


def test_get_with_query_signs_path_and_query_and_empty_body() -> None:
    req = signed(httpx.Request("GET", "http://127.0.0.1:8080/apv/v27/device/list/all?x=1"))
    h = req.headers
    assert h["content-length"] == "0" and h["content-type"] == "application/json"
    auth = dict(re.findall(r'(\w+)="([^"]*)"', h["authorization"]))
    assert auth["signature"] == expected("get", "/apv/v27/device/list/all?x=1", h)
    assert h["host"] == "127.0.0.1:8080"


def test_the_secret_is_not_in_repr() -> None:
    auth = SigningAuth("KEYID", b"very-secret-bytes")
    assert "very-secret" not in repr(auth)
