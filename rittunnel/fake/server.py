"""A fake remote.it: a real HTTP server on loopback that speaks the documented REST API
(v27) and the GraphQL API (v1) with their quirks, and opens a real TCP proxy listener for
every port proxy. It follows ``docs/remoteit-api.md``, whose ``#fake`` section sums up
which of its behaviours come from a public source and which are inferred; each part's
docstring names the sections it follows. :class:`FakeRemoteIt` puts the parts together:

* :mod:`.httpd`: the HTTP framing (h11 on trio);
* :mod:`.auth`: login, tokens, the developer key, HTTP signatures;
* :mod:`.rest` and :mod:`.gql`: the two APIs' handlers, which see the fake only through
  the :class:`~.backend.Backend` interface implemented here;
* :mod:`.proxies`: the proxy listeners, their expiry and idle drop;
* :mod:`.control`: scripted failures and the ``/_fake/`` endpoints;
* :mod:`.model` and :mod:`.answers`: the data and the shape of answers.

Knobs (:class:`Knobs`, also settable over HTTP at ``POST /_fake/control``): scripted
failures per endpoint (:meth:`FakeRemoteIt.fail_next`; REST ``login``, ``connect``,
``stop``, ``list``: ``status_false[:REASON]``, ``html502``, ``http500``, ``reset``,
``hang[:S]``, ``delay:S``; GraphQL ``gql_connect``, ``gql_disconnect``, ``gql_devices``:
``http429[:RETRY_AFTER]``, ``http401``, ``http403``, ``errors:MESSAGE``, ``html502``,
``http500``, ``reset``, ``hang[:S]``, ``delay:S`` (waits, then answers normally)), a delay
on every answer (``delay``), a delay on every connect that opens a proxy
(``connect_delay``: REST and GraphQL, as remote.it takes seconds to set a proxy up while
login and listing answer at once), ``expirationsec``, ``idle_sec``, token lifetime,
``direct`` (hand out the service's target itself as the proxy, so a benchmark times only
the client's hop), ``page_max``, ``gql_connect_replaces``, ``mfa``, ``mfa_reason``,
``warning`` (an ``X-R3-Warning`` header), ``broken_devices`` (a partial GraphQL device
list), killing proxies. Organisations: :meth:`FakeRemoteIt.add_organization`.
``rittunnel fake-api`` sets ``expirationsec``, ``idle_sec`` (``--idle-sec``),
``connect_delay`` (``--connect-delay``), ``direct``, ``page_max`` and ``mfa`` from its
command line. ``GET /_fake/state`` shows
open proxies and the recorded calls (endpoint, body, status, peer: an API call count).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from . import control, gql, rest
from .answers import HTML_404, Answer, status_of
from .auth import ACCESS_KEY_ID, ACCESS_SECRET, DEVELOPER_KEY, PASSWORD, USERNAME, Auth
from .backend import Route
from .httpd import Request, serve_http
from .model import (
    LATCH,
    MFA_CODES,
    PUBLIC,
    Call,
    FakeOrganization,
    FakeProxy,
    FakeService,
    Knobs,
)
from .proxies import Proxies

__all__ = [
    "ACCESS_KEY_ID",
    "ACCESS_SECRET",
    "DEVELOPER_KEY",
    "LATCH",
    "PASSWORD",
    "PUBLIC",
    "USERNAME",
    "Call",
    "FakeOrganization",
    "FakeProxy",
    "FakeRemoteIt",
    "FakeService",
    "Knobs",
    "client_env",
    "graphql_url_for",
]


def graphql_url_for(api_url: str) -> str:
    """The GraphQL URL beside the REST base ``api_url`` (same scheme, host and port)."""
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}{gql.PATH}"


def client_env(api_url: str, root: Path) -> dict[str, str]:
    """What a ``rittunnel`` process needs to use the fake at ``api_url``: its REST and
    GraphQL URLs, the fake's demo login, and state and cache directories under ``root``."""
    return {
        "RITTUNNEL_API_URL": api_url,
        "RITTUNNEL_GRAPHQL_URL": graphql_url_for(api_url),
        "REMOTEIT_DEVELOPER_KEY": DEVELOPER_KEY,
        "REMOTEIT_USERNAME": USERNAME,
        "REMOTEIT_PASSWORD": PASSWORD,
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CACHE_HOME": str(root / "cache"),
    }


class FakeRemoteIt:
    """The fake API. ``await nursery.start(fake.serve)`` returns its REST base URL;
    :attr:`graphql_url` is its GraphQL endpoint. It is the
    :class:`~.backend.Backend` of both APIs' handlers."""

    def __init__(
        self,
        services: list[FakeService] | None = None,
        *,
        developer_key: str = DEVELOPER_KEY,
        username: str = USERNAME,
        password: str = PASSWORD,
        knobs: Knobs | None = None,
        mfa: str | None = None,
        mfa_reason: bool = True,
    ) -> None:
        self.services = {s.address: s for s in services or []}
        self.orgs: dict[str, FakeOrganization] = {}
        self._knobs = knobs or Knobs()
        if mfa is not None:
            self._knobs.mfa = mfa
        if not mfa_reason:
            self._knobs.mfa_reason = False
        if self._knobs.mfa is not None and self._knobs.mfa not in MFA_CODES:
            raise ValueError(f"mfa must be one of {MFA_CODES} or None, not {self._knobs.mfa!r}")
        self.auth = Auth(self._knobs, developer_key, username, password)
        self._proxies = Proxies(self._knobs)
        self.calls: list[Call] = []
        self.base_url = ""
        self.graphql = gql.GraphQLApi(self)
        self._routes = rest.routes(rest.RestApi(self), self.auth)

    @property
    def knobs(self) -> Knobs:
        return self._knobs

    @property
    def username(self) -> str:
        return self.auth.username

    @property
    def tokens(self) -> dict[str, float]:
        """Token -> when it expires (unix seconds)."""
        return self.auth.tokens

    @property
    def access_keys(self) -> dict[str, bytes]:
        """Access key ID -> decoded secret, accepted for signed requests."""
        return self.auth.access_keys

    @property
    def proxies(self) -> dict[str, FakeProxy]:
        """Every proxy made (open or ended), by connection ID."""
        return self._proxies.by_id

    @property
    def graphql_url(self) -> str:
        """``http://127.0.0.1:PORT/graphql/v1`` once serving (empty before)."""
        return graphql_url_for(self.base_url) if self.base_url else ""

    # -- inspection and scripting for tests ---------------------------------------------

    @property
    def open_proxies(self) -> list[FakeProxy]:
        return self._proxies.open

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def answer_next_connect(self, **fields: str) -> None:
        """Have the next REST connects succeed (a real proxy is opened) but answer with
        these values of ``proxy`` and/or ``expirationsec`` (garbage, ``99999`` as a port,
        ``inf``...), as a broken API would."""
        for name, value in fields.items():
            if name not in ("proxy", "expirationsec"):
                raise ValueError(f"answer_next_connect: no field {name!r}")
            self._knobs.failures.setdefault(f"connect.{name}", []).append(value)

    def fail_next(self, endpoint: str, *failures: str) -> None:
        """Script the answers of ``endpoint``'s next calls (one failure per call). REST
        endpoints ``login``, ``connect``, ``stop``, ``list`` take ``status_false[:REASON]``
        and ``huge[:BYTES]`` (a body that large),
        GraphQL ones ``gql_connect``, ``gql_disconnect``, ``gql_devices`` take
        ``http429[:RETRY_AFTER]``, ``http401``, ``http403``, ``errors:MESSAGE``; both take
        ``html502``, ``http500``, ``reset``, ``hang[:S]``, ``delay:S``, ``pass`` (answers
        normally: scripts a later call). Raises ValueError
        for a failure the endpoint does not know."""
        self._knobs.fail_next(endpoint, *failures)

    def expire_tokens(self) -> None:
        self.auth.expire_tokens()

    def kill_proxy(self, connection_id: str | None = None) -> int:
        """Make proxies die (as when the user's IP changes): listener and connections go."""
        return self._proxies.kill(connection_id)

    def add_service(self, service: FakeService) -> None:
        self.services[service.address] = service

    def add_organization(self, org_id: str, name: str) -> None:
        """Make the user a member of an organisation; its devices are the services
        added with ``FakeService(org=org_id)``."""
        self.orgs[org_id] = FakeOrganization(org_id, name)

    def state(self) -> dict[str, Any]:
        """What ``GET /_fake/state`` shows."""
        return control.state(self)

    # -- the Backend the API handlers use -------------------------------------------------

    def list_services(self, org: str | None = None) -> list[FakeService]:
        return [s for s in self.services.values() if s.org == org]

    def organizations(self) -> list[FakeOrganization]:
        return list(self.orgs.values())

    def find_service(self, address: str) -> FakeService | None:
        return self.services.get(address)

    async def connect(
        self, service: FakeService, hostip: str | None, peer: str, *, reverse: bool, replace: bool
    ) -> tuple[FakeProxy, FakeProxy | None]:
        proxy = await self._proxies.open_proxy(service, hostip, peer, reverse=reverse)
        previous = self._proxies.replace_open(service, keep=proxy) if replace else None
        return proxy, previous

    def live_proxy(self, connection_id: str) -> FakeProxy | None:
        return self._proxies.live(connection_id)

    def disconnect(self, proxy: FakeProxy) -> None:
        self._proxies.stop(proxy)

    # -- serving ---------------------------------------------------------------------

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._proxies.nursery = nursery
                bound, bound_port = await nursery.start(
                    serve_http, host, port, self._dispatch, self._extra_headers
                )
                hostpart = f"[{bound}]" if ":" in bound else bound
                self.base_url = f"http://{hostpart}:{bound_port}/apv/v27"
                task_status.started(self.base_url)
        finally:
            self._proxies.nursery = None

    def _extra_headers(self) -> list[tuple[str, str]]:
        return [("x-r3-warning", self._knobs.warning)] if self._knobs.warning else []

    async def _dispatch(self, request: Request) -> Answer:
        headers = {k.lower(): v for k, v in request.headers}
        # what a signature covers besides real headers (see Auth.verify_signature)
        headers[":request-target"] = f"{request.method.lower()} {request.target}"
        headers[":body-length"] = str(len(request.body))
        try:
            body: Any = json.loads(request.body) if request.body else None
        except ValueError:
            body = None
        if request.path.startswith("/_fake/"):
            return control.handle(self, request.method, request.path, body)
        fields = body if isinstance(body, dict) else {}
        route = self._route(request.method, request.path, fields)
        if route is None:
            return Answer(404, "text/html", HTML_404)
        if self._knobs.delay:
            await trio.sleep(self._knobs.delay)
        record = Call(route.endpoint, headers, body, 0, None, request.peer)
        self.calls.append(record)
        failure = self._knobs.next_failure(route.endpoint)
        answer = await control.scripted(failure, route.endpoint) if failure is not None else None
        if answer is None and route.guard is not None:
            answer = route.guard(headers)
        if answer is None:
            answer = await route.handler(headers, fields, request.peer)
        record.http_status = answer.status
        record.status = status_of(answer.body)
        return answer

    def _route(self, method: str, path: str, body: dict[str, Any]) -> Route | None:
        if (method, path) == ("POST", gql.PATH):
            return Route(gql.endpoint_of(body), self.auth.check_signed, self.graphql.handle)
        return self._routes.get((method, path))
