"""The fake's authorisation (``rittunnel.fake.auth``): signatures, the developer key,
two-factor logins; raw HTTP, no client code."""

from __future__ import annotations

import base64

import httpx
import pytest
import trio

from rittunnel.fake import (
    ACCESS_KEY_ID,
    ACCESS_SECRET,
    DEVELOPER_KEY,
    FakeRemoteIt,
)
from rittunnel.remoteit.signing import SigningAuth

from .conftest import SSH_ID, World
from .fake_client import (
    DEADLINE,
    password_login,
)


async def test_fake_verifies_request_signatures(world: World) -> None:
    good = SigningAuth(ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET))
    wrong = SigningAuth(ACCESS_KEY_ID, b"not the secret")
    url = world.api_url + "/device/connect"
    body = {"deviceaddress": SSH_ID, "wait": "true", "hostip": "255.255.255.255"}

    class Tamper(httpx.Auth):
        """Signs, then changes the body (and its Content-Length, or HTTP framing would
        break) as a man in the middle would. The scheme signs Content-Length, not the
        body bytes, so this is what a server can catch."""

        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            request = next(good.auth_flow(request))
            tampered = request.content.replace(b"255.255.255.255", b"0.0.0.0")
            headers = httpx.Headers(request.headers)
            headers["content-length"] = str(len(tampered))
            yield httpx.Request(request.method, request.url, headers=headers, content=tampered)

    class Stale(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            signed = next(good.auth_flow(request))
            signed.headers["date"] = "Sun, 22 Nov 2026 08:00:00 GMT"  # hours off, signed anew
            from rittunnel.remoteit.signing import authorization

            headers = {k.lower(): v for k, v in signed.headers.items()}
            signed.headers["authorization"] = authorization(
                ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET), "POST",
                signed.url.raw_path.decode(), headers,
            )  # fmt: skip
            yield signed

    key = {"DeveloperKey": DEVELOPER_KEY}  # signed REST still needs the developer key
    async with httpx.AsyncClient() as client:
        ok = await client.post(url, json=body, auth=good, headers=key)
        assert ok.status_code == 200 and ok.json()["status"] == "true"
        for auth, why in (
            (wrong, "signature does not match"),
            (Tamper(), "signature does not match"),
            (Stale(), "Date header too far"),
        ):
            bad = await client.post(url, json=body, auth=auth, headers=key)
            assert bad.status_code == 401, (why, bad.text, auth)
            assert bad.headers["content-type"] == "text/plain"  # the gateway's, not JSON
            assert bad.text.startswith("Unauthorized: ") and why in bad.text
    world.fake.kill_proxy()


async def test_signed_rest_needs_the_developer_key(world: World) -> None:
    with trio.fail_after(DEADLINE):
        auth = SigningAuth(ACCESS_KEY_ID, base64.b64decode(ACCESS_SECRET))
        body = {"deviceaddress": SSH_ID, "wait": "true", "hostip": "0.0.0.0"}
        missing = "[0401] Missing or invalid developer key"
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{world.api_url}/device/connect", json=body, auth=auth)
            assert r.status_code == 200 and r.json() == {"status": "false", "reason": missing}
            r = await c.get(f"{world.api_url}/device/list/all", auth=auth)
            assert r.status_code == 200 and r.json()["reason"] == missing
            stop = {"deviceaddress": SSH_ID, "connectionid": "X"}
            r = await c.post(f"{world.api_url}/device/connect/stop", json=stop, auth=auth)
            assert r.status_code == 401 and r.json()["reason"] == missing
            assert world.fake.open_proxies == []
            key = {"DeveloperKey": DEVELOPER_KEY}  # header names are case-insensitive
            r = await c.post(f"{world.api_url}/device/connect", json=body, auth=auth, headers=key)
            assert r.status_code == 200 and r.json()["status"] == "true"
            cid = r.json()["connection"]["connectionid"]
            r = await c.get(f"{world.api_url}/device/list/all", auth=auth, headers=key)
            assert r.json()["status"] == "true"
            stop["connectionid"] = cid
            wrong = {"DEVELOPERKEY": "not-the-key"}
            r = await c.post(
                f"{world.api_url}/device/connect/stop", json=stop, auth=auth, headers=wrong
            )
            assert r.status_code == 401 and r.json()["reason"] == missing
            r = await c.post(
                f"{world.api_url}/device/connect/stop", json=stop, auth=auth, headers=key
            )
            assert r.status_code == 200 and r.json() == {"status": "true", "connectionid": cid}


@pytest.mark.parametrize("code", ["SMS_MFA", "SOFTWARE_TOKEN_MFA", "MFA_SETUP"])
async def test_two_factor_login_answers_a_code_and_no_token(
    nursery: trio.Nursery, code: str
) -> None:
    with trio.fail_after(DEADLINE):
        fake = FakeRemoteIt([], mfa=code)
        url = await nursery.start(fake.serve)
        r = await password_login(url)
        data = r.json()
        assert r.status_code == 200 and data["status"] == "false" and data["code"] == code
        assert data["reason"] and "token" not in data and not fake.tokens
        bad = (await password_login(url, "wrong")).json()
        assert bad == {"status": "false", "reason": "[0102] The username or password is invalid"}


async def test_two_factor_answer_without_reason_and_over_control(nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        fake = FakeRemoteIt([], mfa="SMS_MFA", mfa_reason=False)
        url = await nursery.start(fake.serve)
        assert (await password_login(url)).json() == {"status": "false", "code": "SMS_MFA"}
        base = url.rsplit("/apv/", 1)[0]
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{base}/_fake/control", json={"mfa": None})
            assert r.json()["ok"]
            assert (await password_login(url)).json()["status"] == "true"
            r = await c.post(f"{base}/_fake/control", json={"mfa": "MFA_SETUP", "mfa_reason": True})
            data = (await password_login(url)).json()
            assert data["code"] == "MFA_SETUP" and data["reason"]
            r = await c.post(f"{base}/_fake/control", json={"mfa": "EMAIL_MFA"})
            assert r.status_code == 400 and not r.json()["ok"]
        with pytest.raises(ValueError, match="mfa"):
            FakeRemoteIt([], mfa="EMAIL_MFA")
