"""What the fake's API handlers (:mod:`.rest`, :mod:`.gql`) may ask of the fake itself: a
small interface :class:`~rittunnel.fake.server.FakeRemoteIt` implements, so that the
handlers never reach into its fields. A new kind of data (say organisations) is a new
method here, implemented once in :mod:`.server`, and used by both APIs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

from .answers import Answer
from .model import FakeOrganization, FakeProxy, FakeService, Knobs

#: an endpoint's handler: lower-case request headers, the JSON body (an object, else
#: empty), the caller's IP
Handler = Callable[[dict[str, str], dict[str, Any], str], Awaitable[Answer]]
#: checks a request's headers before its handler runs: the refusal, or None to go on
Guard = Callable[[dict[str, str]], Answer | None]


class Route(NamedTuple):
    """What answers one method and path: the endpoint name calls are recorded and
    scripted under, the guard (None: the handler checks for itself), the handler."""

    endpoint: str
    guard: Guard | None
    handler: Handler


class Backend(Protocol):
    """The account, its services and their proxies, as the API handlers see them."""

    @property
    def knobs(self) -> Knobs:
        """Settings and scripted failures (read them; queued ones are taken off)."""
        ...

    @property
    def username(self) -> str:
        """The account's user name (its email)."""
        ...

    def list_services(self, org: str | None = None) -> list[FakeService]:
        """The services of the user's own devices (``org`` None) or of the organisation
        ``org``'s, in the order they were added."""
        ...

    def organizations(self) -> list[FakeOrganization]:
        """The organisations the user is a member of."""
        ...

    def find_service(self, address: str) -> FakeService | None:
        """The service with this address (service ID), or None."""
        ...

    async def connect(
        self, service: FakeService, hostip: str | None, peer: str, *, reverse: bool, replace: bool
    ) -> tuple[FakeProxy, FakeProxy | None]:
        """Open a new proxy of ``service`` for a caller at ``peer`` (after the knobs'
        ``connect_delay``); with ``replace``, end the service's other open proxies.
        Returns the new proxy and the newest one it replaced (or None)."""
        ...

    def live_proxy(self, connection_id: str) -> FakeProxy | None:
        """The proxy with this connection ID if it is still open (not expired, killed,
        replaced or stopped), else None."""
        ...

    def disconnect(self, proxy: FakeProxy) -> None:
        """Stop ``proxy`` as a client's stop/disconnect does."""
        ...
