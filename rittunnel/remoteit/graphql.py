"""The remote.it GraphQL API client (``/graphql/v1``), one of the two behind
:class:`~rittunnel.remoteit.client.ApiClient`.

Every request is signed with the access key (no developer key, no login). What to send
and how to read the answer lives in :mod:`rittunnel.remoteit.queries`; the HTTP and its
failures in :mod:`rittunnel.remoteit.transport`. Throttling (HTTP 429) is ridden out
here: the call waits what ``Retry-After`` asks (or backs off) and tries again, a few
times, before the :class:`~rittunnel.errors.ApiUnavailable` reaches the caller (whose own
retries then honour ``retry_after`` too).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import trio

from ..errors import ApiUnavailable, AuthError, CredentialsError
from ..profiles import Mode, ProxyKind
from ..report import Reporter
from ..settings import API_TIMEOUT
from . import queries
from .credentials import Credentials
from .protocol import Connection, ServiceInfo
from .transport import Session, Transport

#: tries of one call that remote.it throttles (HTTP 429) before giving up
THROTTLE_TRIES = 4
#: seconds waited after a 429 without ``Retry-After`` (doubled each time)
THROTTLE_WAIT = 1.0
#: the longest ``Retry-After`` we wait inside one call
THROTTLE_WAIT_MAX = 30.0
#: pages of devices read at most (a million devices): a server that always says
#: ``hasMore`` cannot keep us here
MAX_PAGES = 1000


class GraphQLClient(Session):
    """A session with remote.it's GraphQL API, signed with ``credentials.access_key``."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        timeout: float = API_TIMEOUT,
        reporter: Reporter | None = None,
        page_size: int = queries.PAGE_SIZE,
    ) -> None:
        if credentials.access_key is None:
            raise CredentialsError(
                "the GraphQL API needs an access key (R3_ACCESS_KEY_ID and "
                "R3_SECRET_ACCESS_KEY, or ~/.remoteit/credentials); see README: Credentials"
            )
        self.url = url.rstrip("/")
        self.page_size = page_size
        self._key_source = credentials.access_key.source
        self._reporter = reporter
        parts = urlsplit(self.url)
        self._path = parts.path or "/"
        self._http = Transport(
            f"{parts.scheme}://{parts.netloc}",
            credentials,
            timeout=timeout,
            env_var="RITTUNNEL_GRAPHQL_URL",
        )

    # -- the calls ---------------------------------------------------------------------

    async def connect(
        self, service: str, mode: Mode, hostip: str | None, proxy: ProxyKind = "auto"
    ) -> Connection:
        variables = queries.connect_variables(service, mode, hostip, proxy)
        value = await self._call(queries.CONNECT, variables, "connect", "connect")
        return queries.parse_connection(value, service)

    async def stop(self, service: str, connection_id: str) -> None:
        variables = queries.disconnect_variables(service, connection_id)
        await self._call(queries.DISCONNECT, variables, "stop", "disconnect")

    async def list_services(self) -> list[ServiceInfo]:
        services: list[ServiceInfo] = []
        start = 0
        for _ in range(MAX_PAGES):
            variables = queries.devices_variables(start, self.page_size)
            page = queries.parse_devices(
                await self._call(queries.DEVICES, variables, "device list", "login")
            )
            services.extend(page.services)
            start += page.count
            if not page.has_more or page.count == 0:
                break
        return services

    # -- plumbing ----------------------------------------------------------------------

    async def _call(
        self, document: str, variables: dict[str, Any], what: str, operation: str
    ) -> Any:
        body = {"query": document, "variables": variables}
        wait = THROTTLE_WAIT
        for attempt in range(1, THROTTLE_TRIES + 1):
            response = await self._http.send(self._path, body, what, {})
            try:
                return queries.decode_graphql(
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.content,
                    what,
                    operation,
                    retry_after=response.headers.get("retry-after"),
                )
            except AuthError as exc:
                raise AuthError(
                    f"{exc}; check the access key ({self._key_source})", exc.reason
                ) from None
            except ApiUnavailable as exc:
                if response.status_code != 429 or attempt == THROTTLE_TRIES:
                    raise
                asked = exc.retry_after if exc.retry_after is not None else wait
                pause = min(asked, THROTTLE_WAIT_MAX)
                wait *= 2
                if self._reporter is not None:
                    self._reporter.debug(f"{what}: throttled by remote.it; waiting {pause:g}s")
                await trio.sleep(pause)
        raise AssertionError("unreachable")
