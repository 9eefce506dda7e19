"""HTTP for both remote.it clients: one ``httpx`` client per account, and every failure to
get an answer mapped to :class:`~rittunnel.errors.ApiUnavailable` at this boundary.

A body is read as it streams in, and at most :data:`MAX_BODY` bytes of it: an answer
larger than that is not the API's (a device list of 1000 services is under 1 MB) and is
an error, not a few hundred MiB of memory.

Messages never include headers or request bodies (where the secrets are), nor the user
name and password of a URL (``http://user:pass@host/``: shown as ``***@host``).

An ``X-R3-Warning`` header on an answer (``121 …``: this client is deprecated) is said
once per distinct value and command (:func:`r3_warning`), escaped and bounded; the call
goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import trio

from ..errors import ApiError, ApiUnavailable
from ..quantities import format_bytes
from ..text import printable, redact_urls
from .credentials import Credentials

#: the largest answer body read (a list of 1000 services is about 0.8 MB)
MAX_BODY = 8 * 1024 * 1024
#: the ``X-R3-Warning`` code that means "this client is deprecated"
DEPRECATED = "121"
#: the most distinct ``X-R3-Warning`` values said per ``warned`` set (then: no more)
MAX_WARNINGS = 5
#: tries of one call that remote.it throttles (HTTP 429) before giving up
THROTTLE_TRIES = 4
#: seconds waited after a 429 without ``Retry-After`` (doubled each time)
THROTTLE_WAIT = 1.0
#: the longest ``Retry-After`` we wait inside one call (a longer one is raised at once,
#: for the caller to wait within its own deadline); and the shortest
THROTTLE_WAIT_MAX = 30.0
THROTTLE_WAIT_MIN = 0.25
#: seconds one call may spend waiting out throttling in all
THROTTLE_TOTAL = 30.0


def r3_warning(value: str, host: str) -> str:
    """What to say for an ``X-R3-Warning: value`` header from the API at ``host``: the
    value escaped and cut to 200 characters; a ``121`` says this client is deprecated."""
    text = printable(value.strip(), 200)
    if value.strip().startswith(DEPRECATED):
        return (
            f"remote.it at {host} says this client is deprecated (X-R3-Warning: {text}); "
            "it works for now: look for a newer rittunnel"
        )
    return f"remote.it at {host} warns: {text} (X-R3-Warning)"


@dataclass(frozen=True)
class Reply:
    """An answer of the API, whatever its status: what the clients read of it."""

    status_code: int
    headers: httpx.Headers
    content: bytes


class Transport:
    """Requests to one API endpoint, signed with the access key when there is one.

    ``url_setting`` says where the user sets the endpoint (a variable, or ``api_url in
    PROFILE``), for the "cannot reach" hint;
    ``warn`` hears an answer's ``X-R3-Warning`` (see :func:`r3_warning`), each value
    once per ``warned`` set (default: this transport's own)."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float,
        url_setting: str,
        warn: Callable[[str], None] | None = None,
        warned: set[str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.url_setting = url_setting
        self._warn = warn
        #: the X-R3-Warning values said (shared by every client of one command)
        self._warned: set[str] = set() if warned is None else warned
        auth: httpx.Auth | None = None
        if credentials.access_key is not None:
            from .signing import SigningAuth

            auth = SigningAuth(credentials.access_key.key_id, credentials.access_key.secret)
        self._client = httpx.AsyncClient(
            auth=auth,
            timeout=httpx.Timeout(timeout),
            headers={"user-agent": "rittunnel", "accept": "application/json"},
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def host(self) -> str:
        """Where the API is, as messages show it: ``host[:port]``, never a user name or
        password that the URL carries."""
        try:
            parts = urlsplit(self.base_url)
            port = parts.port
        except ValueError:
            return printable(redact_urls(self.base_url), 100)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if not host:
            return printable(redact_urls(self.base_url), 100)
        return f"{host}:{port}" if port is not None else host

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._client.aclose()

    async def send(
        self, path: str, body: dict[str, Any] | None, what: str, headers: dict[str, str]
    ) -> Reply:
        """POST ``body`` as JSON to ``path`` (GET when None) within the timeout. Any
        answer is returned, whatever its status; no answer is :class:`ApiUnavailable`,
        and so is a body over :data:`MAX_BODY`; a URL that cannot work (a scheme httpx
        does not speak) is an :class:`ApiError` that is not retried."""
        url = self.base_url + path
        method = "GET" if body is None else "POST"
        try:
            with trio.fail_after(self.timeout):
                # json= sets Content-Type: application/json, which remote.it's own
                # examples leave out; the API takes either (docs/remoteit-api.md#content-type)
                async with self._client.stream(method, url, json=body, headers=headers) as r:
                    self._say_warning(r.headers.get("x-r3-warning"))
                    return Reply(r.status_code, r.headers, await self._read(r, what))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ApiError(
                f"{what}: cannot use the API URL {self.host} ({_short(exc)}); "
                f"set {self.url_setting} to an http:// or https:// URL"
            ) from None
        except (trio.TooSlowError, httpx.TimeoutException):
            raise ApiUnavailable(
                f"{what}: no answer from {self.host} within {self.timeout:g}s; "
                "check your network or try again later"
            ) from None
        except httpx.ConnectError as exc:
            raise ApiUnavailable(
                f"{what}: cannot reach the remote.it API at {self.host} ({_short(exc)}); "
                f"check your network or {self.url_setting}"
            ) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise ApiUnavailable(
                f"{what}: the connection to {self.host} failed ({_short(exc)}); try again later"
            ) from None

    def _say_warning(self, value: str | None) -> None:
        """Say an ``X-R3-Warning`` value not said before (at most :data:`MAX_WARNINGS`)."""
        if not value or self._warn is None or len(self._warned) >= MAX_WARNINGS:
            return
        key = value.strip()[:200]
        if key not in self._warned:
            self._warned.add(key)
            self._warn(r3_warning(value, self.host))

    async def _read(self, response: httpx.Response, what: str) -> bytes:
        """The body, read as it arrives; more than :data:`MAX_BODY` bytes is an error
        (and the rest is not read)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY:
                raise ApiUnavailable(
                    f"{what}: the remote.it API at {self.host} answered HTTP "
                    f"{response.status_code} with more than {format_bytes(MAX_BODY)}; "
                    "that is not an answer of the API (a proxy or captive portal in the "
                    "way?); try again later"
                )
            chunks.append(chunk)
        return b"".join(chunks)


class Throttle:
    """Riding out HTTP 429 within one call, for both APIs: :meth:`pause` says how long to
    wait before the next try (what ``Retry-After`` asks, else a doubling backoff), or None
    to give up: after :data:`THROTTLE_TRIES` tries, or when the wait would pass
    :data:`THROTTLE_WAIT_MAX` (once) or :data:`THROTTLE_TOTAL` (in all). The caller's own
    retries then honour the error's ``retry_after`` within their deadline."""

    def __init__(self) -> None:
        self.tries = 0
        self.backoff = THROTTLE_WAIT
        self.waited = 0.0

    def pause(self, exc: ApiUnavailable) -> float | None:
        self.tries += 1
        if self.tries >= THROTTLE_TRIES:
            return None
        asked = exc.retry_after if exc.retry_after is not None else self.backoff
        pause = max(asked, THROTTLE_WAIT_MIN)
        if pause > THROTTLE_WAIT_MAX or self.waited + pause > THROTTLE_TOTAL:
            return None
        self.backoff *= 2
        self.waited += pause
        return pause

    async def ride_out(
        self, exc: ApiUnavailable, status: int, what: str, warn: Callable[[str], None] | None
    ) -> None:
        """Wait before the next try of a call that answered HTTP 429 (saying so through
        ``warn``), or raise ``exc``: for another status, or when :meth:`pause` gives up
        (the caller then waits ``retry_after`` within its own deadline, or not)."""
        pause = self.pause(exc) if status == 429 else None
        if pause is None:
            raise exc
        if warn is not None:
            warn(f"{what}: throttled by remote.it; waiting {pause:g}s")
        await trio.sleep(pause)


class Session:
    """What both API clients are as objects: an async context manager over a
    :class:`Transport` (``self._http``), closed when it exits."""

    _http: Transport

    @property
    def host(self) -> str:
        return self._http.host

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()


def _short(exc: BaseException) -> str:
    """The first line of an exception's message, bounded, with no URL's password."""
    text = str(exc).strip().splitlines()
    first = text[0] if text and text[0] else exc.__class__.__name__
    return printable(redact_urls(first), 200)
