"""The fake's GraphQL API, ``POST http://127.0.0.1:PORT/graphql/v1``, as
``docs/remoteit-api.md#graphql`` describes it (signed requests only, see :mod:`..auth`);
the document is parsed, validated and run by the rest of
this package.

* ``mutation { connect(serviceId, hostIP = "255.255.255.255", type = AUTO_PROXY) {…} }``
  → ``Connection { id host port reverseProxy url created timeout session { id } }``;
  ``AUTO_PROXY`` is a reverse proxy for http/https services and a port proxy otherwise,
  ``PORT_PROXY``/``REVERSE_PROXY`` ask; ``hostIP`` as REST's ``hostip``; ``timeout`` is
  ``expirationsec``; the ``id`` is the REST ``connectionid`` (either API stops either);
* ``mutation { disconnect(connectionId, serviceId) }`` → ``true``; ``false`` for a
  connection the fake no longer has (expired, idle-dropped, killed, stopped), as
  remote.it answers;
* ``query { login { id email devices(size = 100, from = 0) { total hasMore items { id
  name state services { id name state title } } } } }``: the user's own devices,
  ``size`` at most 1000, a page at most ``page_max`` devices whatever ``size`` asks
  (``hasMore`` then true); an empty name or type is answered as null (nullable there);
* organisations (:meth:`~rittunnel.fake.server.FakeRemoteIt.add_organization`):
  ``login { membership { organization { id name account { id } } } }`` and ``login {
  account(id) { id devices(…) { … } } }`` (no ``id``: the user's own account; one the
  user is no member of: refused);
* a device named in the knob ``broken_devices`` answers its ``services`` as null with an
  ``errors`` entry whose ``path`` points at it (a partial answer);
* only the fields asked for are answered; a field, argument or variable type the schema
  does not have is HTTP 400 ``{"errors": [{"message": "Cannot query field …"}]}``;
* refusals (unknown service, inactive device, ``size`` > 1000) are
  HTTP 200 with the field null and ``errors: [{"message", "path"}]``.

The schema is ``docs/remoteit-api.md#graphql-schema``. Inferences: a GraphQL
connect does not replace an open proxy (``gql_connect_replaces``: unknown for the real
API, see the doc); how an organisation's devices and the user's overlap (they do not
here); the refusal text of an unknown account;
``Service.title`` is the service type ("SSH", as REST's ``servicetitle``); a port
proxy's ``url`` is ``http://127.0.0.1:PORT`` (as REST's ``proxy``); a device's ``state``
is "active" when one of its services is; a device's ID; ``REVERSE_PROXY`` for a non-web
service and ``disconnect`` of a connection of another service are refusals; the refusal
texts; validation errors carry an ``extensions.code`` as Apollo Server does; fragments
and directives are refused (HTTP 400).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..answers import Answer, json_answer, text
from ..backend import Backend
from ..model import LATCH, FakeProxy, FakeService, devices_of
from .executor import FieldError, execute
from .parser import GraphQLError, choose, parse
from .validator import prepare

PATH = "/graphql/v1"
#: most devices a ``devices`` page may ask for, and what it gets when it does not say
MAX_SIZE = 1000
DEFAULT_SIZE = 100


def endpoint_of(body: Mapping[str, Any]) -> str:
    """The name a GraphQL call is recorded and scripted under: ``gql_connect``,
    ``gql_disconnect``, ``gql_devices`` (a page of the user's or an organisation's
    devices), ``gql_membership``; ``graphql`` for anything else."""
    query = body.get("query")
    try:
        op = choose(parse(query), body.get("operationName")) if isinstance(query, str) else None
    except GraphQLError:
        op = None
    if op is None:
        return "graphql"
    first = op.selections[0]
    if op.kind == "mutation" and first.name in ("connect", "disconnect"):
        return f"gql_{first.name}"
    asked = {sub.name for sub in first.selections or []}
    if op.kind == "query" and first.name == "login" and asked & {"devices", "account"}:
        return "gql_devices"
    if op.kind == "query" and first.name == "login" and "membership" in asked:
        return "gql_membership"
    return "graphql"


def _refusal(endpoint: str, message: str) -> dict[str, Any]:
    if endpoint == "gql_devices":
        data: dict[str, Any] = {"login": {"devices": None}}
        path: list[str | int] = ["login", "devices"]
    elif endpoint == "gql_membership":
        data, path = {"login": {"membership": None}}, ["login", "membership"]
    else:
        op = endpoint.removeprefix("gql_")
        data, path = {op: None}, [op]
    return {"data": data, "errors": [{"message": message, "path": path}]}


def scripted(kind: str, arg: str, endpoint: str) -> Answer | None:
    """The answer of a GraphQL-only scripted failure (``fail_next``), or None."""
    if kind == "http429":
        retry = (("retry-after", arg),) if arg else ()
        return text(429, "Your API usage has been throttled", *retry)
    if kind == "http401":
        return text(401, "Unauthorized")
    if kind == "http403":
        return text(403, "Forbidden")
    if kind == "errors":
        return json_answer(200, _refusal(endpoint, arg or "Internal server error"))
    return None


def _iso(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix)) + f".{int(unix % 1 * 1000):03d}Z"


def connection(proxy: FakeProxy) -> dict[str, Any]:
    """A proxy as a GraphQL ``Connection``."""
    return {
        "id": proxy.connection_id,
        "host": proxy.host,
        "port": None if proxy.reverse else proxy.port,
        "reverseProxy": proxy.reverse,
        "url": proxy.url,
        "created": _iso(proxy.created_at),
        "timeout": round(proxy.expires_at - proxy.created),
        "session": {"id": proxy.session_id},
    }


def _device(members: list[FakeService], broken: bool) -> dict[str, Any]:
    """A device; ``broken``: its ``services`` fail (a partial answer)."""
    first = members[0]
    services: Any = [
        {"id": s.address, "name": s.name or None, "state": s.state, "title": s.type or None}
        for s in members
    ]
    if broken:

        def services(args: dict[str, Any]) -> Any:
            raise FieldError(f"Could not load the services of device {first.device_id}")

    return {
        "id": first.device_id,
        "name": first.device_name or None,
        "state": "active" if any(s.state == "active" for s in members) else "inactive",
        "services": services,
    }


class GraphQLApi:
    """The handler of ``POST /graphql/v1`` (a signed request: the server checks that),
    resolving the root fields through a :class:`~rittunnel.fake.backend.Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def handle(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        try:
            prepared = prepare(body)
        except GraphQLError as exc:
            return json_answer(
                400, {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}
            )

        async def connect(args: dict[str, Any]) -> dict[str, Any]:
            return await self.connect(args, peer)

        roots = {"connect": connect, "disconnect": self.disconnect, "login": self.login}
        return json_answer(200, await execute(prepared, roots))

    async def connect(self, args: dict[str, Any], peer: str) -> dict[str, Any]:
        """``connect``: a new proxy of the service, after the fake's ``connect_delay``
        (as the REST connect); it replaces the service's open proxies only when the knob
        ``gql_connect_replaces`` says so."""
        service_id = args["serviceId"]
        service = self.backend.find_service(service_id)
        if service is None:
            raise FieldError(f"Service not found: {service_id}")
        if service.state != "active":
            raise FieldError(
                f"Device of service {service_id} is inactive: ensure that the device is online"
            )
        kind = args.get("type") or "AUTO_PROXY"
        reverse = kind == "REVERSE_PROXY" or (kind == "AUTO_PROXY" and service.is_web)
        if reverse and not service.is_web:
            raise FieldError(f"Service {service_id} is not an HTTP/HTTPS service: no reverse proxy")
        hostip = args.get("hostIP")
        proxy, _ = await self.backend.connect(
            service,
            LATCH if hostip is None else hostip,
            peer,
            reverse=reverse,
            replace=self.backend.knobs.gql_connect_replaces,
        )
        return connection(proxy)

    async def disconnect(self, args: dict[str, Any]) -> bool:
        cid = args["connectionId"]
        proxy = self.backend.live_proxy(cid)
        if proxy is None:  # expired, dropped, killed or stopped: remote.it answers false
            return False
        service_id = args.get("serviceId")
        if service_id is not None and service_id != proxy.service.address:
            raise FieldError(f"Connection {cid} is not a connection of service {service_id}")
        self.backend.disconnect(proxy)
        return True

    async def login(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._account(None),
            "membership": [
                {"organization": {"id": org.id, "name": org.name, "account": self._account(org.id)}}
                for org in self.backend.organizations()
            ],
            "account": self.account,
        }

    def _account(self, org: str | None) -> dict[str, Any]:
        """The user's own account (``org`` None) or an organisation's."""
        user = str(uuid.uuid5(uuid.NAMESPACE_DNS, self.backend.username))
        return {
            "id": org or user,
            "email": self.backend.username if org is None else None,
            "devices": lambda args: self.devices(args, org),
        }

    def account(self, args: dict[str, Any]) -> dict[str, Any]:
        """``login.account(id)``: no ``id`` (or the user's): the user's own."""
        wanted = args.get("id")
        own = self._account(None)
        if wanted is None or wanted == own["id"]:
            return own
        if not any(org.id == wanted for org in self.backend.organizations()):
            raise FieldError(f"Account not found or not accessible: {wanted}")
        return self._account(wanted)

    def devices(self, args: dict[str, Any], org: str | None = None) -> dict[str, Any]:
        size = args.get("size")
        size = DEFAULT_SIZE if size is None else size
        start = args.get("from") or 0
        if size > MAX_SIZE:
            raise FieldError(f"size must be at most {MAX_SIZE}")
        if size < 0 or start < 0:
            raise FieldError("size and from must not be negative")
        broken = self.backend.knobs.broken_devices
        devices = [
            _device(members, members[0].device_name in broken)
            for members in devices_of(self.backend.list_services(org))
        ]
        page = devices[start : start + min(size, self.backend.knobs.page_max)]
        return {"total": len(devices), "hasMore": start + len(page) < len(devices), "items": page}
