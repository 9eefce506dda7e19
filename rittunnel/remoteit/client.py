"""The one interface the tunnel uses to talk to remote.it, whichever API is behind it:
:class:`~rittunnel.remoteit.rest.RestClient` (REST v27) or
:class:`~rittunnel.remoteit.graphql.GraphQLClient` (``/graphql/v1``).

Contract: every coroutine returns its parsed result or raises an
:class:`~rittunnel.errors.ApiError` (or a :class:`~rittunnel.errors.CredentialsError`);
no httpx exception escapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the API code is imported where a client is made, not here
    from ..profiles import Mode, ProxyKind
    from .protocol import Connection, ServiceInfo


class ApiClient(Protocol):
    @property
    def host(self) -> str:
        """The API's host, for messages."""
        ...

    @property
    def replacement_unknown(self) -> bool:
        """Whether a connect may replace the service's earlier proxy without saying so
        (GraphQL: ``docs/remoteit-api.md#graphql-replacement``; REST sends
        ``concurrent`` and says when it replaced one)."""
        ...

    async def connect(
        self, service: str, mode: Mode, hostip: str | None, proxy: ProxyKind = "auto"
    ) -> Connection:
        """A new proxy for ``service`` that does not replace any other."""
        ...

    async def stop(self, service: str, connection_id: str) -> None:
        """Stop the proxy ``connection_id`` of ``service``."""
        ...

    async def list_services(self) -> list[ServiceInfo]:
        """Every service the account sees (every page)."""
        ...

    async def aclose(self) -> None: ...
