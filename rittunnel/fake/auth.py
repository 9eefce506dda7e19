"""Who may use the fake: the REST login (developer key, user name and password, two-factor
accounts), its tokens, and HTTP Signatures (``docs/remoteit-api.md#authentication``;
draft-cavage ``hmac-sha256`` over ``(request-target) host date content-type
content-length``, the Date within ``max_clock_skew``) with access keys.

* ``POST /user/login``: header ``developerkey``; body ``username``/``password``; answers
  ``{"status":"true","token","email","service_authhash"}`` plus the newer
  ``auth_token``/``auth_expiration``; a bad password gives HTTP 200 with ``status:"false"``
  and ``[0102] The username or password is invalid``. A two-factor account (``mfa``) answers
  a right password with HTTP 200 ``{"status":"false",
  "code":"SMS_MFA"|"SOFTWARE_TOKEN_MFA"|"MFA_SETUP"}`` and no token, with a ``reason`` or
  (``mfa_reason=False``) without one (the texts are an inference).
* Other REST calls need the ``developerkey`` header and a ``token``, or a signature; a
  signed REST request still needs the ``DeveloperKey`` header (else ``[0401]``). A bad
  signature is HTTP 401 ``text/plain`` ``Unauthorized``, as remote.it's gateway answers,
  not REST's JSON (``docs/remoteit-api.md#rest-auth-refusals``); the fake adds why
  (``Unauthorized: signature does not match``). An expired token is answered ``[0090]
  Token has expired`` (an inference).
* GraphQL takes signed requests only (no developer key needed, one sent is ignored);
  unsigned or badly signed: HTTP 401 ``text/plain`` ``Unauthorized``.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import re
import secrets
import time
import uuid
from typing import Any

from .answers import Answer, ok, refuse, rest_json, text
from .model import Knobs

DEVELOPER_KEY = "fake-developer-key"
USERNAME = "demo@example.com"
PASSWORD = "demo-password"  # noqa: S105 - the fake's own published demo password
#: the fake's demo access key (the secret is base64, as remote.it shows it)
ACCESS_KEY_ID = "FAKEACCESSKEYID0001"
ACCESS_SECRET = base64.b64encode(b"fake-access-secret-0123456789abcdef").decode()

#: the ``reason`` of a two-factor login answer (the texts are an inference)
MFA_REASONS = {
    "SMS_MFA": "Two-factor authentication: enter the code sent to your phone",
    "SOFTWARE_TOKEN_MFA": "Two-factor authentication: enter the code from your authenticator app",
    "MFA_SETUP": "Two-factor authentication must be set up before you can sign in",
}
#: what a signature must cover
SIGNED_HEADERS = ("(request-target)", "host", "date", "content-type", "content-length")
#: a token's lifetime when ``Knobs.token_ttl`` does not say
TOKEN_TTL = 7 * 86400


class Auth:
    """The account's credentials and the tokens handed out. Request headers are the
    lower-case ones the server passes on, plus ``:request-target`` and ``:body-length``
    (what a signature covers besides real headers)."""

    def __init__(self, knobs: Knobs, developer_key: str, username: str, password: str) -> None:
        self.knobs = knobs
        self.developer_key = developer_key
        self.username = username
        self.password = password
        #: token -> when it expires (unix seconds)
        self.tokens: dict[str, float] = {}
        #: access key ID -> decoded secret, accepted for signed requests
        self.access_keys: dict[str, bytes] = {ACCESS_KEY_ID: base64.b64decode(ACCESS_SECRET)}
        #: seconds a signed request's Date may differ from our clock
        self.max_clock_skew = 300.0

    def expire_tokens(self) -> None:
        self.tokens = {t: 0.0 for t in self.tokens}

    async def login(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        """``POST /user/login``."""
        if headers.get("developerkey") != self.developer_key:
            return refuse("[0401] Missing or invalid developer key")
        if body.get("username") != self.username or body.get("password") != self.password:
            return refuse("[0102] The username or password is invalid")
        if self.knobs.mfa:
            return self._mfa_answer(self.knobs.mfa)
        token = secrets.token_hex(16)
        ttl = self.knobs.token_ttl if self.knobs.token_ttl is not None else TOKEN_TTL
        expires = time.time() + ttl
        self.tokens[token] = expires
        return ok(
            {
                "token": token,
                "auth_token": token,
                "auth_expiration": int(expires),
                "email": self.username,
                "service_authhash": secrets.token_hex(20).upper(),
                "guid": str(uuid.uuid4()),
                "service_level": "BASIC",
            }
        )

    def _mfa_answer(self, code: str) -> Answer:
        """A two-factor account's answer to a right password: no token."""
        data = {"status": "false", "code": code}
        if self.knobs.mfa_reason:
            data["reason"] = MFA_REASONS.get(code, "Two-factor authentication required")
        return Answer(200, "application/json", rest_json(data))

    def check_rest(self, headers: dict[str, str], http: int) -> Answer | None:
        """The refusal of a REST call that is not authorised (HTTP ``http`` unless its
        signature is bad: 401), or None."""
        if headers.get("authorization", "").startswith("Signature "):
            why = self.verify_signature(headers)
            if why is not None:  # the gateway's plain text, not REST's JSON
                return text(401, f"Unauthorized: {why}")
            if headers.get("developerkey") != self.developer_key:
                return refuse("[0401] Missing or invalid developer key", http)
            return None
        if headers.get("developerkey") != self.developer_key:
            return refuse("[0401] Missing or invalid developer key", http)
        token = headers.get("token")
        if not token or token not in self.tokens:
            return refuse("[0090] Invalid or missing token", http)
        if self.tokens[token] <= time.time():
            return refuse("[0090] Token has expired", http)
        return None

    def check_signed(self, headers: dict[str, str]) -> Answer | None:
        """GraphQL's refusal of a request that is not validly signed, or None."""
        problem = self.signature_problem(headers)
        return None if problem is None else text(401, "Unauthorized")

    def signature_problem(self, headers: dict[str, str]) -> str | None:
        """Why the request is not validly signed, or None when it is."""
        if not headers.get("authorization", "").startswith("Signature "):
            return "the request is not signed"
        return self.verify_signature(headers)

    def verify_signature(self, headers: dict[str, str]) -> str | None:
        """Check an HTTP Signatures (draft-cavage, hmac-sha256) ``Authorization`` header as
        the API does: known key, the five required headers signed, Date within
        ``max_clock_skew`` of our clock, Content-Length equal to the body, and the HMAC
        (keyed with the base64-decoded secret) over the received values. Returns why not,
        or None when it is good."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', headers["authorization"]))
        secret = self.access_keys.get(params.get("keyId", ""))
        if secret is None:
            return "unknown access key"
        if params.get("algorithm") != "hmac-sha256":
            return "unsupported signature algorithm"
        signed = params.get("headers", "").split()
        if sorted(signed) != sorted(SIGNED_HEADERS):
            return "signature must cover " + " ".join(SIGNED_HEADERS)
        try:
            sent_at = email.utils.parsedate_to_datetime(headers.get("date", "")).timestamp()
        except (TypeError, ValueError):
            return "missing or unparsable Date header"
        if abs(time.time() - sent_at) > self.max_clock_skew:
            return "Date header too far from the server's clock"
        if headers.get("content-length", "0") != headers[":body-length"]:
            return "Content-Length does not match the body"
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"{name}: {headers[':request-target']}")
            elif name in headers:
                lines.append(f"{name}: {headers[name]}")
            else:
                return f"signed header {name} is missing"
        mac = hmac.new(secret, "\n".join(lines).encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(mac).decode(), params.get("signature", "")):
            return "signature does not match"
        return None
