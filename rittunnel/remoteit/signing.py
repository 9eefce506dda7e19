"""remote.it access keys: HTTP Signatures (draft-cavage) with hmac-sha256, as httpx.Auth
(``docs/remoteit-api.md#auth-signature``).

The signed string is, one ``name: value`` per line, for the headers
``(request-target) host date content-type content-length``; ``(request-target)`` is the
lower-case method, a space and the path with query. The key is the base64-decoded secret.
The result goes in ``Authorization: Signature keyId=…,algorithm="hmac-sha256",
headers=…,signature=…`` beside a ``Date`` header in RFC 1123 GMT (the server checks it
against its clock). :func:`signing_string` and :func:`authorization` are pure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Generator, Mapping
from email.utils import formatdate

import httpx

SIGNED_HEADERS = ("(request-target)", "host", "date", "content-type", "content-length")
CONTENT_TYPE = "application/json"


def signing_string(method: str, target: str, headers: Mapping[str, str]) -> str:
    lines = []
    for name in SIGNED_HEADERS:
        value = f"{method.lower()} {target}" if name == "(request-target)" else headers[name]
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def authorization(
    key_id: str, secret: bytes, method: str, target: str, headers: Mapping[str, str]
) -> str:
    digest = hmac.new(secret, signing_string(method, target, headers).encode(), hashlib.sha256)
    signature = base64.b64encode(digest.digest()).decode()
    return (
        f'Signature keyId="{key_id}",algorithm="hmac-sha256",'
        f'headers="{" ".join(SIGNED_HEADERS)}",signature="{signature}"'
    )


class SigningAuth(httpx.Auth):
    """Signs every request with an access key (sets Date, Content-Type, Content-Length)."""

    def __init__(self, key_id: str, secret: bytes) -> None:
        self.key_id = key_id
        self._secret = secret

    def __repr__(self) -> str:
        return f"SigningAuth(key_id={self.key_id!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        body = request.read()
        request.headers["date"] = formatdate(usegmt=True)
        request.headers.setdefault("content-type", CONTENT_TYPE)
        request.headers["content-length"] = str(len(body))
        target = request.url.raw_path.decode("ascii")
        headers = {k.lower(): v for k, v in request.headers.items()}
        headers["host"] = request.headers.get("host", request.url.netloc.decode("ascii"))
        request.headers["authorization"] = authorization(
            self.key_id, self._secret, request.method, target, headers
        )
        yield request
