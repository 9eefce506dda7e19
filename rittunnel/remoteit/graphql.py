"""The remote.it GraphQL API client (``/graphql/v1``), one of the two behind
:class:`~rittunnel.remoteit.client.ApiClient`.

Every request is signed with the access key (no developer key, no login). What to send
and how to read the answer lives in :mod:`rittunnel.remoteit.queries`; the HTTP and its
failures in :mod:`rittunnel.remoteit.transport`. Throttling (HTTP 429) is ridden out
as REST's is (:class:`~rittunnel.remoteit.transport.Throttle`). ``disconnect: false``
means remote.it no longer has the connection: a
:class:`~rittunnel.errors.ConnectionGone`, which counts as stopped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..errors import ApiRefused, ApiUnavailable, AuthError, ConnectionGone, CredentialsError
from ..profiles import Mode, ProxyKind
from ..report import Reporter
from ..settings import API_TIMEOUT
from ..text import shown
from . import queries
from .credentials import Credentials
from .protocol import Connection, ServiceInfo
from .transport import Session, Throttle, Transport

#: pages of devices read at most (a million devices): a server that always says
#: ``hasMore`` cannot keep us here
MAX_PAGES = 1000


class GraphQLClient(Session):
    """A session with remote.it's GraphQL API, signed with ``credentials.access_key``."""

    #: a connect may replace the service's earlier proxy without saying so
    replacement_unknown = True

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        timeout: float = API_TIMEOUT,
        reporter: Reporter | None = None,
        page_size: int = queries.PAGE_SIZE,
        url_setting: str = "RITTUNNEL_GRAPHQL_URL",
        warned: set[str] | None = None,
    ) -> None:
        if credentials.access_key is None:
            raise CredentialsError(
                "the GraphQL API needs an access key (R3_ACCESS_KEY_ID and "
                "R3_SECRET_ACCESS_KEY, or ~/.remoteit/credentials); "
                "see docs/reference.md#credentials"
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
            url_setting=url_setting,
            warn=reporter.warn if reporter is not None else None,
            warned=warned,
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
        done = await self._call(queries.DISCONNECT, variables, "stop", "disconnect")
        if done is False:  # remote.it has no such connection (docs/remoteit-api.md)
            raise ConnectionGone(
                f"stop: remote.it no longer has connection {connection_id} (disconnect: false)",
                "disconnect false",
            )
        if done is not True:  # an answer that is not a boolean: it may still be open
            raise ApiRefused(
                f"stop: remote.it answered disconnect {done!r} for {connection_id}",
                "disconnect not done",
                transient=True,
            )

    async def list_services(self) -> list[ServiceInfo]:
        """The services of the user's own devices, then of each organisation's the user
        is a member of (marked with its name), each service once. An organisation whose
        devices are refused is said and left out; so is a device whose services a
        partial answer leaves out (the access key is not blamed for either)."""
        services: dict[str, ServiceInfo] = {}
        for service in await self._devices(None, ""):
            services.setdefault(service.address, service)
        try:
            login = await self._call(queries.ORGANIZATIONS, {}, "organisation list", "login")
            organizations = queries.parse_organizations(login)
        except ApiRefused as exc:
            self._warn(f"{exc}; only this account's own devices are listed")
            organizations = []
        for org_id, name in organizations:
            try:
                found = await self._devices(org_id, name)
            except ApiRefused as exc:
                self._warn(f"the devices of organisation {shown(name)} are not listed: {exc}")
                continue
            for service in found:
                services.setdefault(service.address, service)
        return list(services.values())

    async def _devices(self, account: str | None, name: str) -> list[ServiceInfo]:
        """Every page of one account's devices (``account`` None: the user's own), as
        long as remote.it says ``hasMore``; paging stops too at an empty page or one that
        brings no device not seen (a server that repeats itself)."""
        document = queries.DEVICES if account is None else queries.ACCOUNT_DEVICES
        whose = "device list" if account is None else f"device list of {shown(name)}"
        services: list[ServiceInfo] = []
        seen: set[str] = set()
        start = 0
        for _ in range(MAX_PAGES):
            variables = queries.devices_variables(start, self.page_size, account)
            partial: list[dict[str, Any]] = []
            login = await self._call(document, variables, whose, "login", partial)
            if account is not None:
                login = login.get("account") if isinstance(login, dict) else None
            page = queries.parse_devices(login, partial, name)
            for missing in page.missing:
                self._warn(f"{whose}: remote.it did not give the services of {missing}")
            services.extend(page.services)
            start += page.count
            repeated = bool(page.device_ids) and page.device_ids <= seen
            if not page.has_more or page.count == 0 or repeated:
                break
            seen |= page.device_ids
        return services

    def _warn(self, message: str) -> None:
        if self._reporter is not None:
            self._reporter.warn(message)

    # -- plumbing ----------------------------------------------------------------------

    async def _call(
        self,
        document: str,
        variables: dict[str, Any],
        what: str,
        operation: str,
        partial: list[dict[str, Any]] | None = None,
    ) -> Any:
        body = {"query": document, "variables": variables}
        throttle = Throttle()
        while True:
            response = await self._http.send(self._path, body, what, {})
            try:
                return queries.decode_graphql(
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.content,
                    what,
                    operation,
                    retry_after=response.headers.get("retry-after"),
                    partial=partial,
                )
            except AuthError as exc:
                raise AuthError(
                    f"{exc}; check the access key ({self._key_source})", exc.reason
                ) from None
            except ApiUnavailable as exc:
                warn = self._reporter.warn if self._reporter is not None else None
                await throttle.ride_out(exc, response.status_code, what, warn)
