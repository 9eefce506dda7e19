"""The remote.it REST API (v27) client, one of the two behind
:class:`~rittunnel.remoteit.client.ApiClient`.

What to send and how to read the answer lives in :mod:`rittunnel.remoteit.protocol`; the
HTTP and its failures in :mod:`rittunnel.remoteit.transport`. This module adds the
headers (``developerkey``, ``token``; with an access key the transport signs requests
instead of a token: ``docs/remoteit-api.md#authentication``), logging in again once when
a call fails for auth, and riding out throttling (HTTP 429: waiting what ``Retry-After``
asks, bounded, :class:`~.transport.Throttle`). What it has to say (a re-login) goes
through the same :class:`~rittunnel.report.Reporter` as everything else.

Contract: every public coroutine either returns the parsed result or raises an
:class:`~rittunnel.errors.ApiError`; no httpx exception escapes. Messages never include
headers or request bodies (where the secrets are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from ..errors import ApiUnavailable, AuthError, CredentialsError
from ..profiles import Mode, ProxyKind
from ..report import Reporter
from ..settings import API_TIMEOUT
from . import protocol, services
from .credentials import Credentials
from .transport import Session, Throttle, Transport


class RestClient(Session):
    """A session with the remote.it API.

    Use as ``async with RestClient(url, creds) as api: conn = await api.connect(...)``.
    ``on_token`` is called with ``(token, expires_at)`` after every successful login, so
    a caller can cache it. ``reporter`` hears what the client has to say (nothing is
    said without one). ``url_setting`` names where the user sets ``url``, for hints.
    """

    #: a connect may replace the service's earlier proxy without saying so
    replacement_unknown = False

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = API_TIMEOUT,
        token: str | None = None,
        on_token: Callable[[str, float | None], None] | None = None,
        reporter: Reporter | None = None,
        url_setting: str = "RITTUNNEL_API_URL",
        warned: set[str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self._token = token or credentials.token
        self._on_token = on_token
        self._reporter = reporter
        self._login_lock = trio.Lock()
        self._http = Transport(
            base_url,
            credentials,
            timeout=timeout,
            url_setting=url_setting,
            warn=reporter.warn if reporter is not None else None,
            warned=warned,
        )

    # -- the calls ---------------------------------------------------------------------

    async def login(self) -> str:
        """Log in with username and password; return the token (also kept for later calls)."""
        creds = self.credentials
        if not creds.can_login:
            raise CredentialsError(
                "the token was refused and there is no REMOTEIT_USERNAME/REMOTEIT_PASSWORD "
                "to log in again; set them or a fresh REMOTEIT_TOKEN"
            )
        body: dict[str, object] = {
            "username": creds.username or "",
            "password": creds.password or "",
        }
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

    async def connect(
        self, service: str, mode: Mode, hostip: str | None, proxy: ProxyKind = "auto"
    ) -> protocol.Connection:
        body = protocol.connect_body(service, mode, hostip, proxy)
        data = await self._authed(protocol.CONNECT_PATH, body, "connect")
        return protocol.parse_connect(data, service)

    async def stop(self, service: str, connection_id: str) -> None:
        body = protocol.stop_body(service, connection_id)
        await self._authed(protocol.STOP_PATH, body, "stop")

    async def list_services(self) -> list[protocol.ServiceInfo]:
        data = await self._authed(protocol.LIST_PATH, None, "device list")
        return services.parse_services(data)

    # -- plumbing ----------------------------------------------------------------------

    async def _authed(self, path: str, body: dict[str, object] | None, what: str) -> dict[str, Any]:
        """A call that needs a token: log in first if we have none, and once more if the
        token we used is refused. With an access key every call is signed instead."""
        if self.credentials.access_key is not None:
            try:
                return await self._post(path, body, what, with_token=False)
            except AuthError as exc:
                what = (
                    "the developer key (R3_DEVELOPER_API_KEY or REMOTEIT_DEVELOPER_KEY)"
                    if "developer" in exc.reason.lower()
                    else f"the access key ({self.credentials.access_key.source})"
                )
                raise AuthError(f"{exc}; check {what}", exc.reason) from None
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
        self, path: str, body: dict[str, object] | None, what: str, *, with_token: bool = True
    ) -> dict[str, Any]:
        headers = {}
        if self.credentials.developer_key:
            # signed calls need it too (as DeveloperKey; header names are case-insensitive)
            headers["DeveloperKey"] = self.credentials.developer_key
        if with_token and self._token and self.credentials.access_key is None:
            headers["token"] = self._token
        throttle = Throttle()
        while True:
            response = await self._http.send(path, body, what, headers)
            try:
                return protocol.decode_response(
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.content,
                    what,
                    retry_after=response.headers.get("retry-after"),
                )
            except ApiUnavailable as exc:
                warn = self._reporter.warn if self._reporter is not None else None
                await throttle.ride_out(exc, response.status_code, what, warn)
