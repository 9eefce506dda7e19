"""The remote.it API client: httpx on trio, with every failure mapped to our error tree.

This is the only module that talks HTTP to remote.it. What to send and how to read the
answer lives in :mod:`rittunnel.remoteit.protocol`; this module adds the I/O: headers, a deadline
on every call, mapping httpx/trio exceptions to :class:`~rittunnel.errors.ApiError`, and
logging in again once when a call fails for auth. What it has to say (a re-login)
goes through the same :class:`~rittunnel.report.Reporter` as everything else.

Contract: every public coroutine either returns the parsed result or raises an
:class:`~rittunnel.errors.ApiError`; no httpx exception escapes. Messages never include
headers or request bodies (where the secrets are).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from ..errors import ApiError, ApiUnavailable, AuthError, CredentialsError
from ..profiles import Mode
from ..report import Reporter
from ..settings import API_TIMEOUT
from . import protocol
from .credentials import Credentials


class ApiClient:
    """A session with the remote.it API.

    Use as ``async with ApiClient(url, creds) as api: conn = await api.connect(...)``.
    ``on_token`` is called with ``(token, expires_at)`` after every successful login, so
    a caller can cache it. ``reporter`` hears what the client has to say (nothing is
    said without one).
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = API_TIMEOUT,
        token: str | None = None,
        on_token: Callable[[str, float | None], None] | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self._token = token or credentials.token
        self._on_token = on_token
        self._reporter = reporter
        self._login_lock = trio.Lock()
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
        return urlsplit(self.base_url).netloc or self.base_url

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._client.aclose()

    # -- the calls ---------------------------------------------------------------------

    async def login(self) -> str:
        """Log in with username and password; return the token (also kept for later calls)."""
        creds = self.credentials
        if not creds.can_login:
            raise CredentialsError(
                "the token was refused and there is no REMOTEIT_USERNAME/REMOTEIT_PASSWORD "
                "to log in again; set them or a fresh REMOTEIT_TOKEN"
            )
        body = {"username": creds.username or "", "password": creds.password or ""}
        try:
            data = await self._post(protocol.LOGIN_PATH, body, "login", with_token=False)
        except AuthError as exc:
            raise AuthError(
                f"login: remote.it refused the credentials: {exc.reason or 'no reason given'}; "
                "check REMOTEIT_USERNAME, REMOTEIT_PASSWORD and REMOTEIT_DEVELOPER_KEY",
                exc.reason,
            ) from None
        result = protocol.parse_login(data)
        self._token = result.token
        if self._on_token is not None:
            self._on_token(result.token, result.expires_at)
        if self._reporter is not None:
            self._reporter.debug(f"logged in to {self.host}")
        return result.token

    async def connect(self, service: str, mode: Mode, hostip: str | None) -> protocol.Connection:
        body = protocol.connect_body(service, mode, hostip)
        data = await self._authed(protocol.CONNECT_PATH, body, "connect")
        return protocol.parse_connect(data, service)

    async def stop(self, service: str, connection_id: str) -> None:
        body = protocol.stop_body(service, connection_id)
        await self._authed(protocol.STOP_PATH, body, "stop")

    async def list_services(self) -> list[protocol.ServiceInfo]:
        data = await self._authed(protocol.LIST_PATH, None, "device list")
        return protocol.parse_services(data)

    # -- plumbing ----------------------------------------------------------------------

    async def _authed(self, path: str, body: dict[str, str] | None, what: str) -> dict[str, Any]:
        """A call that needs a token: log in first if we have none, and once more if the
        token we used is refused. With an access key every call is signed instead."""
        if self.credentials.access_key is not None:
            try:
                return await self._post(path, body, what, with_token=False)
            except AuthError as exc:
                raise AuthError(
                    f"{exc}; check the access key ({self.credentials.access_key.source})",
                    exc.reason,
                ) from None
        if self._token is None:
            await self._login_once(None)
        used = self._token
        try:
            return await self._post(path, body, what)
        except AuthError:
            if not self.credentials.can_login:
                raise
            if self._reporter is not None:
                self._reporter.info("remote.it refused the session token; logging in again")
            await self._login_once(used)
            return await self._post(path, body, what)

    async def _login_once(self, stale: str | None) -> None:
        async with self._login_lock:
            if self._token is not None and self._token != stale:
                return  # someone else logged in while we waited
            if self._token is None and not self.credentials.can_login:
                raise CredentialsError("no token and no username/password to log in with")
            await self.login()

    async def _post(
        self, path: str, body: dict[str, str] | None, what: str, *, with_token: bool = True
    ) -> dict[str, Any]:
        headers = {}
        if self.credentials.developer_key:
            headers["developerkey"] = self.credentials.developer_key
        if with_token and self._token:
            headers["token"] = self._token
        url = self.base_url + path
        try:
            with trio.fail_after(self.timeout):
                if body is None:
                    response = await self._client.get(url, headers=headers)
                else:
                    # json= sets Content-Type: application/json, which the docs' own
                    # examples forget; the API accepts it either way.
                    response = await self._client.post(url, json=body, headers=headers)
        except (trio.TooSlowError, httpx.TimeoutException):
            raise ApiUnavailable(
                f"{what}: no answer from {self.host} within {self.timeout:g}s; "
                "check your network or try again later"
            ) from None
        except httpx.ConnectError as exc:
            raise ApiUnavailable(
                f"{what}: cannot reach the remote.it API at {self.host} ({_short(exc)}); "
                "check your network or RITTUNNEL_API_URL"
            ) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise ApiUnavailable(
                f"{what}: the connection to {self.host} failed ({_short(exc)}); try again later"
            ) from None
        content_type = response.headers.get("content-type", "")
        return protocol.decode_response(response.status_code, content_type, response.content, what)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and text[0] else exc.__class__.__name__


__all__ = ["ApiClient", "ApiError"]
