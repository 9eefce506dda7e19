"""A fake remote.it: a real HTTP server on loopback that speaks the documented REST API
(v27) and the GraphQL API (v1) with their quirks, and opens a real TCP proxy listener for
every port proxy. It follows ``shared/reference`` (page numbers as in its README) and
``API-NOTES.md``.

REST, base ``http://127.0.0.1:PORT/apv/v27`` (what :meth:`FakeRemoteIt.serve` returns):

* ``POST /user/login`` (003): header ``developerkey``; body ``username``/``password``;
  answers ``{"status":"true","token","email","service_authhash"}`` plus the newer
  ``auth_token``/``auth_expiration``; a bad password gives HTTP 200 with
  ``status:"false"`` and ``[0102] The username or password is invalid``. A two-factor
  account (``mfa``) answers a right password with HTTP 200 ``{"status":"false",
  "code":"SMS_MFA"|"SOFTWARE_TOKEN_MFA"|"MFA_SETUP"}`` and no token, with a ``reason``
  or (``mfa_reason=False``) without one.
* ``POST /device/connect`` (000, 001, 002): headers ``developerkey`` + ``token`` (or a
  signature and ``DeveloperKey``); body ``deviceaddress``, ``wait``, ``hostip``,
  ``concurrent``, ``proxyType``. Bad or unauthorised requests answer **HTTP 200** with
  ``status:"false"`` and a ``reason``; an inactive service gets ``[0211] Device … is not
  active``. ``proxy`` is ``http:\\/\\/127.0.0.1:PORT`` (slashes escaped, as the pages
  show) for port proxies and ``https://xxxx.p18.rt3.io`` for http/https services (a port
  proxy for those too when the body says ``proxyType: "port"``); ``expirationsec`` is a
  *string*; extra undocumented fields (``proxyserver``, ``proxyport``, ``requested``,
  ``sessionID``, ``latchedIP``, ``proxyExpirationSec``, ``lifeLeft``, ``idleLeft``) are
  sent as the live API does.
* A second connect for a service with an open proxy **replaces** it (API-NOTES,
  "Lifetime"): the old listener closes and its live connections are cut, and the answer's
  ``connection`` carries ``"connectionOverridden": "true"`` and ``"previousConnection"``
  (the old ``proxy`` value). ``"concurrent": true`` (or ``"true"``) keeps both.
* ``hostip`` (000, 002): ``255.255.255.255`` latches to the first client IP and refuses
  others; ``0.0.0.0`` is public; another IP, or none (the API caller's IP), restricts.
* ``POST /device/connect/stop`` (004): success ``{"status":"true","connectionid"}``;
  failure **HTTP 401** with ``{"status":"false","reason"}``.
* ``GET /device/list/all``: ``devices`` with ``deviceaddress``, ``devicealias``,
  ``servicetitle``, ``devicestate``.
* Signed requests (draft-cavage ``hmac-sha256`` over ``(request-target) host date
  content-type content-length``, the Date within ``max_clock_skew``) replace the token;
  a signed REST request still needs the ``DeveloperKey`` header (else ``[0401]``).
* Requests are read as JSON whatever their ``Content-Type`` (the docs' curl examples send
  none).

GraphQL, ``POST http://127.0.0.1:PORT/graphql/v1`` (:attr:`FakeRemoteIt.graphql_url`;
:mod:`.graphql` parses, validates and runs the documents):

* signed requests only (no developer key needed, one sent is ignored); unsigned or badly
  signed: HTTP 401 ``text/plain`` ``Unauthorized``;
* ``mutation { connect(serviceId, hostIP = "255.255.255.255", type = AUTO_PROXY) {…} }``
  → ``Connection { id host port reverseProxy url created timeout session { id } }``;
  ``AUTO_PROXY`` is a reverse proxy for http/https services and a port proxy otherwise,
  ``PORT_PROXY``/``REVERSE_PROXY`` ask; ``hostIP`` as REST's ``hostip``; ``timeout`` is
  ``expirationsec``; the ``id`` is the REST ``connectionid`` (either API stops either);
* ``mutation { disconnect(connectionId, serviceId) }`` → ``true``;
* ``query { login { id email devices(size = 100, from = 0) { total hasMore items { id
  name state services { id name state title } } } } }``, ``size`` at most 1000, a page
  at most ``page_max`` devices whatever ``size`` asks (``hasMore`` then true);
* only the fields asked for are answered; a field, argument or variable type the schema
  does not have is HTTP 400 ``{"errors": [{"message": "Cannot query field …"}]}``;
* refusals (unknown service, inactive device, unknown connection, ``size`` > 1000) are
  HTTP 200 with the field null and ``errors: [{"message", "path"}]``.

Inferences (not in the pages or the notes; the knobs can change some): a proxy is dropped
``idle_sec`` (900) after its last TCP connection closes, and at expiry its live
connections are cut; an expired token is answered with status false, reason ``[0090]
Token has expired`` on connect (HTTP 200) and on stop (HTTP 401); a replacing connect
replaces every open proxy of that service (``previousConnection`` names the newest); the
two-factor ``reason`` texts; a GraphQL connect does not replace an open proxy
(``gql_connect_replaces``); GraphQL's ``Service.title`` is the service type ("SSH", as
REST's ``servicetitle``); a port proxy's GraphQL ``url`` is ``http://127.0.0.1:PORT`` (as
REST's ``proxy``); a device's ``state`` is "active" when one of its services is; a
device's ID; ``REVERSE_PROXY`` for a non-web service and ``disconnect`` of a connection
of another service are refusals; the refusal texts; validation errors carry an
``extensions.code`` as Apollo Server does; fragments and directives are refused (HTTP 400).

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
``warning`` (an ``X-R3-Warning`` header), killing proxies. ``rittunnel fake-api`` sets
``expirationsec``, ``idle_sec`` (``--idle-sec``), ``connect_delay`` (``--connect-delay``),
``direct``, ``page_max`` and ``mfa`` from its command line. ``GET /_fake/state`` shows
open proxies and the recorded calls (endpoint, body, status, peer: an API call count).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import re
import secrets
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

from . import graphql
from .model import (
    HTML_502,
    LATCH,
    MFA_CODES,
    PUBLIC,
    Answer,
    Call,
    FakeProxy,
    FakeService,
    Knobs,
    check_failure,
    rest_json,
)

__all__ = [
    "ACCESS_KEY_ID",
    "ACCESS_SECRET",
    "DEVELOPER_KEY",
    "LATCH",
    "PASSWORD",
    "PUBLIC",
    "USERNAME",
    "Call",
    "FakeProxy",
    "FakeRemoteIt",
    "FakeService",
    "Knobs",
    "client_env",
    "graphql_url_for",
]

DEVELOPER_KEY = "fake-developer-key"
USERNAME = "demo@example.com"
PASSWORD = "demo-password"  # noqa: S105 - the fake's own published demo password
#: the fake's demo access key (the secret is base64, as remote.it shows it)
ACCESS_KEY_ID = "FAKEACCESSKEYID0001"
ACCESS_SECRET = base64.b64encode(b"fake-access-secret-0123456789abcdef").decode()

#: the ``reason`` of a two-factor login answer (the texts are an inference)
MFA_REASONS = {
    "SMS_MFA": "Two-factor authentication: enter the code sent to your phone",
    "SOFTWARE_TOKEN_MFA": "Two-factor authentication: enter the code from your authenticator app",
    "MFA_SETUP": "Two-factor authentication must be set up before you can sign in",
}
#: what ``POST /_fake/control`` may set on :class:`Knobs`
CONTROL_KNOBS = (
    "delay",
    "connect_delay",
    "expirationsec",
    "idle_sec",
    "token_ttl",
    "direct",
    "page_max",
    "gql_connect_replaces",
    "mfa",
    "mfa_reason",
    "warning",
)

Handler = Callable[[dict[str, str], dict[str, Any], str], Awaitable[Answer]]


def graphql_url_for(api_url: str) -> str:
    """The GraphQL URL beside the REST base ``api_url`` (same scheme, host and port)."""
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}{graphql.PATH}"


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


class _Reset(Exception):
    """Answer by resetting the connection."""


def _false(reason: str) -> dict[str, Any]:
    return {"status": "false", "reason": reason}


def _status_of(body: bytes) -> str | None:
    try:
        status = json.loads(body).get("status")
    except (ValueError, AttributeError):
        return None
    return status if isinstance(status, str) else None


class FakeRemoteIt:
    """The fake API. ``await nursery.start(fake.serve)`` returns its REST base URL;
    :attr:`graphql_url` is its GraphQL endpoint."""

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
        self.developer_key = developer_key
        self.username = username
        self.password = password
        self.knobs = knobs or Knobs()
        if mfa is not None:
            self.knobs.mfa = mfa
        if not mfa_reason:
            self.knobs.mfa_reason = False
        if self.knobs.mfa is not None and self.knobs.mfa not in MFA_CODES:
            raise ValueError(f"mfa must be one of {MFA_CODES} or None, not {self.knobs.mfa!r}")
        self.tokens: dict[str, float] = {}
        #: access key ID -> decoded secret, accepted for signed requests
        self.access_keys: dict[str, bytes] = {ACCESS_KEY_ID: base64.b64decode(ACCESS_SECRET)}
        #: seconds a signed request's Date may differ from our clock
        self.max_clock_skew = 300.0
        self.proxies: dict[str, FakeProxy] = {}
        self.calls: list[Call] = []
        self.base_url = ""
        self.graphql = graphql.GraphQLApi(self)
        self._nursery: trio.Nursery | None = None
        self._routes: dict[tuple[str, str], tuple[str, Handler]] = {
            ("POST", "/apv/v27/user/login"): ("login", self._login),
            ("POST", "/apv/v27/device/connect"): ("connect", self._connect),
            ("POST", "/apv/v27/device/connect/stop"): ("stop", self._stop),
            ("GET", "/apv/v27/device/list/all"): ("list", self._list),
        }

    @property
    def graphql_url(self) -> str:
        """``http://127.0.0.1:PORT/graphql/v1`` once serving (empty before)."""
        return graphql_url_for(self.base_url) if self.base_url else ""

    # -- inspection helpers for tests ---------------------------------------------------

    @property
    def open_proxies(self) -> list[FakeProxy]:
        return [p for p in self.proxies.values() if not p.ended]

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def answer_next_connect(self, **fields: str) -> None:
        """Have the next REST connects succeed (a real proxy is opened) but answer with
        these values of ``proxy`` and/or ``expirationsec`` (garbage, ``99999`` as a port,
        ``inf``...), as a broken API would."""
        for name, value in fields.items():
            if name not in ("proxy", "expirationsec"):
                raise ValueError(f"answer_next_connect: no field {name!r}")
            self.knobs.failures.setdefault(f"connect.{name}", []).append(value)

    def fail_next(self, endpoint: str, *failures: str) -> None:
        """Script the answers of ``endpoint``'s next calls (one failure per call). REST
        endpoints ``login``, ``connect``, ``stop``, ``list`` take ``status_false[:REASON]``
        and ``huge[:BYTES]`` (a body that large),
        GraphQL ones ``gql_connect``, ``gql_disconnect``, ``gql_devices`` take
        ``http429[:RETRY_AFTER]``, ``http401``, ``http403``, ``errors:MESSAGE``; both take
        ``html502``, ``http500``, ``reset``, ``hang[:S]``, ``delay:S``. Raises ValueError
        for a failure the endpoint does not know."""
        for failure in failures:
            check_failure(endpoint, failure)
        self.knobs.failures.setdefault(endpoint, []).extend(failures)

    def expire_tokens(self) -> None:
        self.tokens = {t: 0.0 for t in self.tokens}

    def kill_proxy(self, connection_id: str | None = None) -> int:
        """Make proxies die (as when the user's IP changes): listener and connections go."""
        killed = 0
        for p in self.open_proxies:
            if connection_id in (None, p.connection_id):
                self._end(p, "killed")
                killed += 1
        return killed

    def add_service(self, service: FakeService) -> None:
        self.services[service.address] = service

    # -- serving ---------------------------------------------------------------------

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        addr = listeners[0].socket.getsockname()
        hostpart = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        self.base_url = f"http://{hostpart}:{addr[1]}/apv/v27"
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started(self.base_url)
                await trio.serve_listeners(
                    self._http_connection, listeners, handler_nursery=nursery
                )
        finally:
            self._nursery = None

    async def _http_connection(self, stream: trio.SocketStream) -> None:
        peer = stream.socket.getpeername()[0]
        conn = h11.Connection(h11.SERVER)
        try:
            async with stream:
                while True:
                    request, body = await self._read_request(stream, conn)
                    if request is None:
                        return
                    try:
                        answer = await self._dispatch(request, body, peer)
                    except _Reset:
                        stream.socket.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                        return
                    await stream.send_all(self._response(conn, answer))
                    if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return

    def _response(self, conn: h11.Connection, answer: Answer) -> bytes:
        headers = [
            ("content-type", answer.ctype),
            ("content-length", str(len(answer.body))),
            ("server", "fake-remote.it"),
            *answer.headers,
        ]
        if self.knobs.warning:
            headers.append(("x-r3-warning", self.knobs.warning))
        data = conn.send(h11.Response(status_code=answer.status, headers=headers)) or b""
        data += conn.send(h11.Data(data=answer.body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        return data

    async def _read_request(
        self, stream: trio.SocketStream, conn: h11.Connection
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return request, bytes(body)
            else:  # ConnectionClosed or PAUSED
                return None, b""

    # -- the API -----------------------------------------------------------------------

    async def _dispatch(self, request: h11.Request, raw: bytes, peer: str) -> Answer:
        path = request.target.decode("latin-1").split("?", 1)[0]
        method = request.method.decode()
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        # what a signature covers besides real headers (see _verify_signature)
        headers[":request-target"] = f"{method.lower()} {request.target.decode('latin-1')}"
        headers[":body-length"] = str(len(raw))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        fields = body if isinstance(body, dict) else {}
        route = self._route(method, path, fields)
        if route is None:
            return Answer(404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>")
        endpoint, handler = route
        if self.knobs.delay:
            await trio.sleep(self.knobs.delay)
        record = Call(endpoint, headers, body, 0, None, peer)
        self.calls.append(record)
        failure = self._next_failure(endpoint)
        answer = await self._failure(failure, endpoint) if failure is not None else None
        if answer is None:
            answer = await handler(headers, fields, peer)
        record.http_status = answer.status
        record.status = _status_of(answer.body)
        return answer

    def _route(self, method: str, path: str, body: dict[str, Any]) -> tuple[str, Handler] | None:
        if (method, path) == ("POST", graphql.PATH):
            return graphql.endpoint_of(body), self.graphql.handle
        return self._routes.get((method, path))

    def _next_failure(self, endpoint: str) -> str | None:
        queue = self.knobs.failures.get(endpoint)
        return queue.pop(0) if queue else None

    async def _failure(self, failure: str, endpoint: str) -> Answer | None:
        """The scripted answer, or None to answer normally (a GraphQL ``delay``)."""
        kind, _, arg = failure.partition(":")
        if endpoint.startswith("gql_"):
            answer = graphql.scripted(kind, arg, endpoint)
            if answer is not None:
                return answer
            if kind == "delay":
                await trio.sleep(float(arg or 1))
                return None
        if kind == "html502":
            return Answer(502, "text/html", HTML_502)
        if kind == "http500":
            return Answer(500, "application/json", rest_json(_false("Internal error")))
        if kind == "reset":
            raise _Reset
        if kind == "hang":
            await trio.sleep(float(arg or 3600))
            raise _Reset
        if kind == "delay":
            await trio.sleep(float(arg or 1))
            return self._refuse("delayed")
        if kind == "huge":  # a body of ARG bytes (JSON padded with spaces)
            size = int(arg or 1 << 20)
            return Answer(200, "application/json", b'{"status": "true"}'.ljust(size))
        reason = arg or "[0500] Service temporarily unavailable, try again"
        return self._refuse(reason, 401 if endpoint == "stop" else 200)

    def _refuse(self, reason: str, http: int = 200) -> Answer:
        return Answer(http, "application/json", rest_json(_false(reason)))

    def _ok(self, data: dict[str, Any]) -> Answer:
        return Answer(200, "application/json", rest_json({**data, "status": "true"}))

    def _auth(self, headers: dict[str, str], http: int) -> Answer | None:
        if headers.get("authorization", "").startswith("Signature "):
            why = self._verify_signature(headers)
            if why is not None:
                return self._refuse(f"Unauthorized: {why}", 401)
            if headers.get("developerkey") != self.developer_key:
                return self._refuse("[0401] Missing or invalid developer key", http)
            return None
        if headers.get("developerkey") != self.developer_key:
            return self._refuse("[0401] Missing or invalid developer key", http)
        token = headers.get("token")
        if not token or token not in self.tokens:
            return self._refuse("[0090] Invalid or missing token", http)
        if self.tokens[token] <= time.time():
            return self._refuse("[0090] Token has expired", http)
        return None

    def signature_problem(self, headers: dict[str, str]) -> str | None:
        """Why the request (its lower-case ``headers`` as ``_dispatch`` makes them) is not
        validly signed, or None when it is."""
        if not headers.get("authorization", "").startswith("Signature "):
            return "the request is not signed"
        return self._verify_signature(headers)

    def _verify_signature(self, headers: dict[str, str]) -> str | None:
        """Check an HTTP Signatures (draft-cavage, hmac-sha256) ``Authorization`` header as
        the API does: known key, the five required headers signed, Date within
        ``max_clock_skew`` of our clock, Content-Length equal to the body, and the HMAC
        (keyed with the base64-decoded secret) over the received values. Returns why not,
        or None when it is good."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', headers["authorization"]))
        secret = self.access_keys.get(params.get("keyId", ""))
        if secret is None:
            return "unknown access key"
        if params.get("algorithm") != "hmac-sha256":
            return "unsupported signature algorithm"
        signed = params.get("headers", "").split()
        required = ["(request-target)", "host", "date", "content-type", "content-length"]
        if sorted(signed) != sorted(required):
            return "signature must cover " + " ".join(required)
        try:
            sent_at = email.utils.parsedate_to_datetime(headers.get("date", "")).timestamp()
        except (TypeError, ValueError):
            return "missing or unparsable Date header"
        if abs(time.time() - sent_at) > self.max_clock_skew:
            return "Date header too far from the server's clock"
        if headers.get("content-length", "0") != headers[":body-length"]:
            return "Content-Length does not match the body"
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"{name}: {headers[':request-target']}")
            elif name in headers:
                lines.append(f"{name}: {headers[name]}")
            else:
                return f"signed header {name} is missing"
        mac = hmac.new(secret, "\n".join(lines).encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(mac).decode(), params.get("signature", "")):
            return "signature does not match"
        return None

    async def _login(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        if headers.get("developerkey") != self.developer_key:
            return self._refuse("[0401] Missing or invalid developer key")
        if body.get("username") != self.username or body.get("password") != self.password:
            return self._refuse("[0102] The username or password is invalid")
        if self.knobs.mfa:
            return self._mfa_answer(self.knobs.mfa)
        token = secrets.token_hex(16)
        ttl = self.knobs.token_ttl if self.knobs.token_ttl is not None else 7 * 86400
        expires = time.time() + ttl
        self.tokens[token] = expires
        return self._ok(
            {
                "token": token,
                "auth_token": token,
                "auth_expiration": int(expires),
                "email": self.username,
                "service_authhash": secrets.token_hex(20).upper(),
                "guid": str(uuid.uuid4()),
                "service_level": "BASIC",
            }
        )

    def _mfa_answer(self, code: str) -> Answer:
        """A two-factor account's answer to a right password: no token."""
        data = {"status": "false", "code": code}
        if self.knobs.mfa_reason:
            data["reason"] = MFA_REASONS.get(code, "Two-factor authentication required")
        return Answer(200, "application/json", rest_json(data))

    async def _list(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        refused = self._auth(headers, 200)
        if refused:
            return refused
        devices = [
            {
                "deviceaddress": s.address,
                "devicealias": s.name,
                "servicetitle": s.type,
                "devicestate": s.state,
                "ownerusername": self.username,
                "devicetype": "00:1E:00:00:00:00:00:00",
                "lastinternalip": "192.168.1.20",
                "shared": "false",
            }
            for s in self.services.values()
        ]
        return self._ok({"cached": "false", "devices": devices})

    async def _connect(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        refused = self._auth(headers, 200)
        if refused:
            return refused
        address = body.get("deviceaddress")
        service = self.services.get(str(address))
        if service is None:
            return self._refuse(f"[0209] Device address {address} not found")
        if service.state != "active":
            return self._refuse(f"[0211] Device {address} is not active")
        hostip = body.get("hostip")
        if hostip is not None and not isinstance(hostip, str):
            return self._refuse("[0300] hostip must be a string")
        reverse = service.is_web and body.get("proxyType") != "port"
        proxy = await self.open_proxy(service, hostip, peer, reverse=reverse)
        concurrent = body.get("concurrent") in (True, "true")
        previous = None if concurrent else self.replace_open(service, keep=proxy)
        conn = self._rest_connection(proxy, previous)
        for field_name in ("proxy", "expirationsec"):  # scripted nonsense in a good answer
            bad = self._next_failure(f"connect.{field_name}")
            if bad is not None:
                conn[field_name] = bad
                if field_name == "expirationsec":
                    conn["proxyExpirationSec"] = bad
        return self._ok({"connection": conn})

    def _rest_connection(self, proxy: FakeProxy, previous: FakeProxy | None) -> dict[str, Any]:
        life = round(proxy.expires_at - proxy.created)
        conn: dict[str, Any] = {
            "deviceaddress": proxy.service.address,
            "connectionid": proxy.connection_id,
            "expirationsec": str(life),
            "proxyExpirationSec": life,
            "lifeLeft": life,
            "idleLeft": int(self.knobs.idle_sec),
            "requested": time.strftime("%m/%d/%Y %H:%M:%S"),
            "sessionID": proxy.session_id,
            "status": "running",
            "latchedIP": proxy.hostip or proxy.caller_ip,
            "proxy": proxy.url,
        }
        if not proxy.reverse:
            conn.update(proxyserver=proxy.host, proxyport=str(proxy.port))
        if previous is not None:
            conn.update(connectionOverridden="true", previousConnection=previous.url)
        return conn

    async def _stop(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        refused = self._auth(headers, 401)
        if refused:
            return refused
        cid = body.get("connectionid")
        address = body.get("deviceaddress")
        proxy = self.proxies.get(str(cid))
        if not cid or proxy is None or proxy.ended:  # expired, killed or stopped: gone
            return self._refuse("[0212] connectionid incorrect or missing", 401)
        if proxy.service.address != address:
            return self._refuse("[0213] deviceaddress incorrect or missing", 401)
        self.stop_proxy(proxy)
        return Answer(200, "application/json", rest_json({"status": "true", "connectionid": cid}))

    # -- proxies -----------------------------------------------------------------------

    async def open_proxy(
        self, service: FakeService, hostip: str | None, peer: str, *, reverse: bool
    ) -> FakeProxy:
        """A new proxy of ``service`` (both APIs' connect): a reverse proxy's name, the
        target itself in ``direct`` mode, or a real listener on 127.0.0.1. Takes
        ``connect_delay`` seconds first: the proxy exists only when the answer goes out."""
        if self.knobs.connect_delay > 0:
            await trio.sleep(self.knobs.connect_delay)
        now = trio.current_time()
        proxy = FakeProxy(
            connection_id=str(uuid.uuid4()).upper(),
            service=service,
            hostip=hostip,
            caller_ip=peer,
            created=now,
            expires_at=now + self.knobs.expirationsec,
            idle_since=now,
            reverse=reverse,
            created_at=time.time(),
            session_id=secrets.token_hex(8),
        )
        if reverse:
            proxy.host = f"{secrets.token_hex(4)}.p18.rt3.io"
            proxy.url = f"https://{proxy.host}"
            self.proxies[proxy.connection_id] = proxy
        elif self.knobs.direct and service.target is not None:
            proxy.host, proxy.port = service.target
            proxy.url = f"http://{proxy.host}:{proxy.port}"
            self.proxies[proxy.connection_id] = proxy
        else:
            assert self._nursery is not None
            proxy.host = "127.0.0.1"
            proxy.port = await self._nursery.start(self._run_proxy, proxy)
            proxy.url = f"http://127.0.0.1:{proxy.port}"
        return proxy

    def replace_open(self, service: FakeService, keep: FakeProxy | None = None) -> FakeProxy | None:
        """End every open proxy of ``service`` but ``keep`` (the new one) as a
        non-concurrent connect does (listener and live connections); returns the newest of
        them, or None."""
        old = [
            p for p in self.open_proxies if p.service.address == service.address and p is not keep
        ]
        for proxy in old:
            self._end(proxy, "replaced")
        return old[-1] if old else None

    def stop_proxy(self, proxy: FakeProxy) -> None:
        proxy.stopped = True
        self._end(proxy, "stopped")

    def _end(self, proxy: FakeProxy, why: str) -> None:
        if not proxy.ended:
            proxy.ended = why
        proxy.scope.cancel()

    async def _run_proxy(
        self, proxy: FakeProxy, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        proxy.port = listeners[0].socket.getsockname()[1]
        self.proxies[proxy.connection_id] = proxy
        with proxy.scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._expiry, proxy)
                task_status.started(proxy.port)

                async def handler(stream: trio.SocketStream) -> None:
                    await self._proxy_client(proxy, stream)

                await trio.serve_listeners(handler, listeners, handler_nursery=nursery)
        for listener in listeners:
            await listener.aclose()

    async def _expiry(self, proxy: FakeProxy) -> None:
        while True:
            now = trio.current_time()
            if now >= proxy.expires_at:
                self._end(proxy, "expired")
                return
            if proxy.active == 0 and now >= proxy.idle_since + self.knobs.idle_sec:
                self._end(proxy, "idle")
                return
            wake = proxy.expires_at
            if proxy.active == 0:
                wake = min(wake, proxy.idle_since + self.knobs.idle_sec)
            await trio.sleep_until(min(wake, now + 1.0))

    async def _proxy_client(self, proxy: FakeProxy, client: trio.SocketStream) -> None:
        ip = client.socket.getpeername()[0]
        async with client:
            if not proxy.allows(ip) or proxy.service.target is None:
                proxy.refused += 1
                return
            proxy.accepted += 1
            proxy.active += 1
            try:
                try:
                    upstream = await trio.open_tcp_stream(*proxy.service.target)
                except OSError:
                    return
                async with upstream, trio.open_nursery() as nursery:
                    nursery.start_soon(_pipe, client, upstream, nursery.cancel_scope)
                    nursery.start_soon(_pipe, upstream, client, nursery.cancel_scope)
            finally:
                proxy.active -= 1
                if proxy.active == 0:
                    proxy.idle_since = trio.current_time()

    # -- control -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "graphql_url": self.graphql_url,
            "proxies": [
                {
                    "connectionid": p.connection_id,
                    "deviceaddress": p.service.address,
                    "port": p.port,
                    "hostip": p.hostip,
                    "ended": p.ended,
                    "reverse": p.reverse,
                    "proxy": p.url,
                    "active": p.active,
                    "accepted": p.accepted,
                }
                for p in self.proxies.values()
            ],
            "open": [p.connection_id for p in self.open_proxies],
            "calls": [{k: v for k, v in asdict(c).items() if k != "headers"} for c in self.calls],
            "knobs": asdict(self.knobs),
        }

    def _control(self, method: str, path: str, body: Any) -> Answer:
        if method == "GET" and path == "/_fake/state":
            return Answer(200, "application/json", json.dumps(self.state()).encode())
        if method == "POST" and path == "/_fake/control" and isinstance(body, dict):
            try:
                killed = self._apply_control(body)
            except (ValueError, TypeError) as exc:
                error = {"ok": False, "error": str(exc)}
                return Answer(400, "application/json", json.dumps(error).encode())
            ok = {"ok": True, "killed": killed}
            return Answer(200, "application/json", json.dumps(ok).encode())
        return Answer(404, "application/json", b'{"ok": false}')

    def _apply_control(self, body: dict[str, Any]) -> int:
        """Apply a ``/_fake/control`` body; returns how many proxies it killed."""
        if body.get("mfa") not in (None, *MFA_CODES):
            raise ValueError(f"mfa must be one of {MFA_CODES} or null")
        for key in ("delay", "connect_delay"):
            value = body.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{key} must be a number of seconds, 0 or more")
        for endpoint, failures in (body.get("fail") or {}).items():
            if not failures:  # an empty list clears what is queued for that endpoint
                self.knobs.failures.pop(endpoint, None)
            self.fail_next(endpoint, *failures)
        for key in CONTROL_KNOBS:
            if key in body:
                setattr(self.knobs, key, body[key])
        if body.get("expire_tokens"):
            self.expire_tokens()
        if body.get("kill"):
            return self.kill_proxy(None if body["kill"] == "all" else body["kill"])
        return 0


async def _pipe(src: trio.SocketStream, dst: trio.SocketStream, scope: trio.CancelScope) -> None:
    try:
        while True:
            data = await src.receive_some(65536)
            if not data:
                await dst.send_eof()
                return
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        scope.cancel()
