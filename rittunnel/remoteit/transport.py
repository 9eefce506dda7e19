"""HTTP for both remote.it clients: one ``httpx`` client per account, and every failure to
get an answer mapped to :class:`~rittunnel.errors.ApiUnavailable` at this boundary.

Messages never include headers or request bodies (where the secrets are).
"""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import trio

from ..errors import ApiUnavailable
from .credentials import Credentials


class Transport:
    """Requests to one API endpoint, signed with the access key when there is one.

    ``env_var`` names the variable that sets the endpoint, for the "cannot reach" hint."""

    def __init__(
        self, base_url: str, credentials: Credentials, *, timeout: float, env_var: str
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.env_var = env_var
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

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._client.aclose()

    async def send(
        self, path: str, body: dict[str, Any] | None, what: str, headers: dict[str, str]
    ) -> httpx.Response:
        """POST ``body`` as JSON to ``path`` (GET when None) within the timeout. Any
        answer is returned, whatever its status; no answer is :class:`ApiUnavailable`."""
        url = self.base_url + path
        try:
            with trio.fail_after(self.timeout):
                if body is None:
                    return await self._client.get(url, headers=headers)
                # json= sets Content-Type: application/json, which the docs' own examples
                # forget; the API accepts it either way.
                return await self._client.post(url, json=body, headers=headers)
        except (trio.TooSlowError, httpx.TimeoutException):
            raise ApiUnavailable(
                f"{what}: no answer from {self.host} within {self.timeout:g}s; "
                "check your network or try again later"
            ) from None
        except httpx.ConnectError as exc:
            raise ApiUnavailable(
                f"{what}: cannot reach the remote.it API at {self.host} ({_short(exc)}); "
                f"check your network or {self.env_var}"
            ) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise ApiUnavailable(
                f"{what}: the connection to {self.host} failed ({_short(exc)}); try again later"
            ) from None


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
    text = str(exc).strip().splitlines()
    return text[0] if text and text[0] else exc.__class__.__name__
