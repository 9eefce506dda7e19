"""The shape of the fake's HTTP answers: :class:`Answer` and the bodies remote.it sends
(REST's PHP-style JSON, plain text, an nginx 502 page)."""

from __future__ import annotations

import json
from typing import Any, NamedTuple


class Answer(NamedTuple):
    """An HTTP answer: status, content type, body, extra headers."""

    status: int
    ctype: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def rest_json(data: dict[str, Any]) -> bytes:
    # The live REST API (PHP) escapes forward slashes: "http:\/\/proxy18.rt3.io:38575".
    return json.dumps(data).replace("/", "\\/").encode()


def text(status: int, body: str, *headers: tuple[str, str]) -> Answer:
    return Answer(status, "text/plain", body.encode(), headers)


def json_answer(status: int, data: dict[str, Any]) -> Answer:
    """Plain JSON (GraphQL and the control endpoint; no escaped slashes)."""
    return Answer(status, "application/json", json.dumps(data).encode())


def refuse(reason: str, http: int = 200) -> Answer:
    """A REST refusal: ``{"status": "false", "reason": …}``, HTTP 200 unless told."""
    return Answer(http, "application/json", rest_json({"status": "false", "reason": reason}))


def ok(data: dict[str, Any]) -> Answer:
    """A REST success: ``data`` with ``"status": "true"``."""
    return Answer(200, "application/json", rest_json({**data, "status": "true"}))


def status_of(body: bytes) -> str | None:
    """The REST ``status`` of an answer's body, if it has one (for the call record)."""
    try:
        status = json.loads(body).get("status")
    except (ValueError, AttributeError):
        return None
    return status if isinstance(status, str) else None


HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
HTML_404 = b"<html><body><h1>404 Not Found</h1></body></html>"
