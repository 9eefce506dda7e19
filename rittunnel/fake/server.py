"""A fake remote.it: a real HTTP server on loopback that speaks the documented REST API
(v27) with its quirks, and opens a real TCP proxy listener for every connect.

Fidelity to ``shared/reference`` (page numbers as in its README):

* ``POST /user/login`` (003): header ``developerkey``; body ``username``/``password``;
  answers ``{"status":"true","token","email","service_authhash"}`` plus the newer
  ``auth_token``/``auth_expiration``; a bad password gives HTTP 200 with
  ``status:"false"`` and ``[0102] The username or password is invalid``.
* ``POST /device/connect`` (000, 001, 002): headers ``developerkey`` + ``token``; body
  ``deviceaddress``, ``wait``, ``hostip``. Bad or unauthorised requests answer **HTTP 200**
  with ``status:"false"`` and a ``reason``. ``proxy`` is ``http:\\/\\/127.0.0.1:PORT``
  (slashes escaped, as the pages show) for port proxies and ``https://xxxx.p18.rt3.io``
  for http/https services; ``expirationsec`` is a *string*; extra undocumented fields
  (``proxyserver``, ``proxyport``, ``requested``, ``sessionID``, ``latchedIP``,
  ``proxyExpirationSec``, ``lifeLeft``, ``idleLeft``) are sent as the live API does.
* ``hostip`` (000, 002): ``255.255.255.255`` latches to the first client IP and refuses
  others; ``0.0.0.0`` is public; another IP, or none (the API caller's IP), restricts.
* ``POST /device/connect/stop`` (004): success ``{"status":"true","connectionid"}``;
  failure **HTTP 401** with ``{"status":"false","reason"}``.
* ``GET /device/list/all``: ``devices`` with ``deviceaddress``, ``devicealias``,
  ``servicetitle``, ``devicestate``.
* Requests are read as JSON whatever their ``Content-Type`` (the docs' curl examples send
  none).

Inferences (not in the pages; documented here, the knobs can change them): a proxy is
dropped ``idle_sec`` (900) after its last TCP connection closes, and at expiry its live
connections are cut; an expired token is answered with status false, reason
``[0090] Token has expired`` on connect (HTTP 200) and on stop (HTTP 401).

Knobs (:class:`Knobs`, also settable over HTTP at ``POST /_fake/control``): scripted
failures per endpoint (``status_false[:REASON]``, ``html502``, ``http500``, ``reset``,
``hang``, ``delay:SECONDS``), a delay on every answer, ``expirationsec``, ``idle_sec``,
token lifetime, ``direct`` (hand out the service's target itself as the proxy, so a
benchmark times only the client's hop), killing proxies. ``GET /_fake/state`` shows open
proxies and the recorded calls.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h11
import trio

DEVELOPER_KEY = "fake-developer-key"
USERNAME = "demo@example.com"
PASSWORD = "demo-password"  # noqa: S105 - the fake's own published demo password
#: the fake's demo access key (the secret is base64, as remote.it shows it)
ACCESS_KEY_ID = "FAKEACCESSKEYID0001"
ACCESS_SECRET = base64.b64encode(b"fake-access-secret-0123456789abcdef").decode()


def client_env(api_url: str, root: Path) -> dict[str, str]:
    """What a ``rittunnel`` process needs to use the fake at ``api_url``: its URL, the
    fake's demo login, and state and cache directories under ``root``."""
    return {
        "RITTUNNEL_API_URL": api_url,
        "REMOTEIT_DEVELOPER_KEY": DEVELOPER_KEY,
        "REMOTEIT_USERNAME": USERNAME,
        "REMOTEIT_PASSWORD": PASSWORD,
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CACHE_HOME": str(root / "cache"),
    }


LATCH = "255.255.255.255"
PUBLIC = "0.0.0.0"


@dataclass
class FakeService:
    address: str
    name: str
    type: str = "SSH"
    state: str = "active"
    #: host, port of the real service the proxy relays to (None for http/https types)
    target: tuple[str, int] | None = None

    @property
    def is_web(self) -> bool:
        return self.type.lower() in ("http", "https")


@dataclass
class Knobs:
    #: endpoint ("login", "connect", "stop", "list") -> failures to apply to its next calls
    failures: dict[str, list[str]] = field(default_factory=dict)
    delay: float = 0.0
    expirationsec: int = 28797
    idle_sec: float = 900.0
    token_ttl: float | None = None
    direct: bool = False
    replace_on_reconnect: bool = False


@dataclass
class Call:
    endpoint: str
    headers: dict[str, str]
    body: Any
    http_status: int
    status: str | None
    peer: str


@dataclass
class FakeProxy:
    connection_id: str
    service: FakeService
    hostip: str | None
    caller_ip: str
    port: int = 0
    created: float = 0.0
    expires_at: float = 0.0
    latched_ip: str | None = None
    active: int = 0
    idle_since: float = 0.0
    stopped: bool = False
    ended: str = ""
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    accepted: int = 0
    refused: int = 0

    def allows(self, ip: str) -> bool:
        if self.hostip == PUBLIC:
            return True
        if self.hostip == LATCH:
            if self.latched_ip is None:
                self.latched_ip = ip
            return ip == self.latched_ip
        allowed = self.hostip or self.caller_ip
        return ip == allowed


class _Reset(Exception):
    """Answer by resetting the connection."""


def _json(data: dict[str, Any]) -> bytes:
    # The live API (PHP) escapes forward slashes: "http:\/\/proxy18.rt3.io:38575".
    return json.dumps(data).replace("/", "\\/").encode()


HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


class FakeRemoteIt:
    """The fake API. ``await nursery.start(fake.serve)`` returns its base URL."""

    def __init__(
        self,
        services: list[FakeService] | None = None,
        *,
        developer_key: str = DEVELOPER_KEY,
        username: str = USERNAME,
        password: str = PASSWORD,
        knobs: Knobs | None = None,
    ) -> None:
        self.services = {s.address: s for s in services or []}
        self.developer_key = developer_key
        self.username = username
        self.password = password
        self.knobs = knobs or Knobs()
        self.tokens: dict[str, float] = {}
        #: access key ID -> decoded secret, accepted for signed requests
        self.access_keys: dict[str, bytes] = {ACCESS_KEY_ID: base64.b64decode(ACCESS_SECRET)}
        #: seconds a signed request's Date may differ from our clock
        self.max_clock_skew = 300.0
        self.proxies: dict[str, FakeProxy] = {}
        self.calls: list[Call] = []
        self.base_url = ""
        self._nursery: trio.Nursery | None = None

    # -- inspection helpers for tests ---------------------------------------------------

    @property
    def open_proxies(self) -> list[FakeProxy]:
        return [p for p in self.proxies.values() if not p.ended]

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def fail_next(self, endpoint: str, *failures: str) -> None:
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
                        status, ctype, payload = await self._dispatch(request, body, peer)
                    except _Reset:
                        stream.socket.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                        return
                    headers = [
                        ("content-type", ctype),
                        ("content-length", str(len(payload))),
                        ("server", "fake-remote.it"),
                    ]
                    data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
                    data += conn.send(h11.Data(data=payload)) or b""
                    data += conn.send(h11.EndOfMessage()) or b""
                    await stream.send_all(data)
                    if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return

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

    async def _dispatch(
        self, request: h11.Request, raw: bytes, peer: str
    ) -> tuple[int, str, bytes]:
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
        routes = {
            ("POST", "/apv/v27/user/login"): ("login", self._login),
            ("POST", "/apv/v27/device/connect"): ("connect", self._connect),
            ("POST", "/apv/v27/device/connect/stop"): ("stop", self._stop),
            ("GET", "/apv/v27/device/list/all"): ("list", self._list),
        }
        route = routes.get((method, path))
        if route is None:
            return 404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>"
        endpoint, handler = route
        if self.knobs.delay:
            await trio.sleep(self.knobs.delay)
        record = Call(endpoint, headers, body, 0, None, peer)
        self.calls.append(record)
        failure = self._next_failure(endpoint)
        if failure is not None:
            answer = await self._failure(failure, endpoint)
        else:
            answer = await handler(headers, body if isinstance(body, dict) else {}, peer)
        record.http_status = answer[0]
        try:
            record.status = json.loads(answer[2]).get("status")
        except (ValueError, AttributeError):
            record.status = None
        return answer

    def _next_failure(self, endpoint: str) -> str | None:
        queue = self.knobs.failures.get(endpoint)
        return queue.pop(0) if queue else None

    async def _failure(self, failure: str, endpoint: str) -> tuple[int, str, bytes]:
        kind, _, arg = failure.partition(":")
        if kind == "html502":
            return 502, "text/html", HTML_502
        if kind == "http500":
            return 500, "application/json", _json({"status": "false", "reason": "Internal error"})
        if kind == "reset":
            raise _Reset
        if kind == "hang":
            await trio.sleep(float(arg or 3600))
            raise _Reset
        if kind == "delay":
            await trio.sleep(float(arg or 1))
            return 200, "application/json", _json({"status": "false", "reason": "delayed"})
        reason = arg or "[0500] Service temporarily unavailable, try again"
        http = 401 if endpoint == "stop" else 200
        return http, "application/json", _json({"status": "false", "reason": reason})

    def _refuse(self, reason: str, http: int = 200) -> tuple[int, str, bytes]:
        return http, "application/json", _json({"status": "false", "reason": reason})

    def _ok(self, data: dict[str, Any]) -> tuple[int, str, bytes]:
        return 200, "application/json", _json({**data, "status": "true"})

    def _auth(self, headers: dict[str, str], http: int) -> tuple[int, str, bytes] | None:
        if headers.get("authorization", "").startswith("Signature "):
            why = self._verify_signature(headers)
            if why is not None:
                return self._refuse(f"Unauthorized: {why}", 401)
            if "developerkey" in headers and headers["developerkey"] != self.developer_key:
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

    async def _login(
        self, headers: dict[str, str], body: dict[str, Any], peer: str
    ) -> tuple[int, str, bytes]:
        if headers.get("developerkey") != self.developer_key:
            return self._refuse("[0401] Missing or invalid developer key")
        if body.get("username") != self.username or body.get("password") != self.password:
            return self._refuse("[0102] The username or password is invalid")
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

    async def _list(
        self, headers: dict[str, str], body: dict[str, Any], peer: str
    ) -> tuple[int, str, bytes]:
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

    async def _connect(
        self, headers: dict[str, str], body: dict[str, Any], peer: str
    ) -> tuple[int, str, bytes]:
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
        if self.knobs.replace_on_reconnect:
            for old in self.open_proxies:
                if old.service is service:
                    self._end(old, "replaced")
        now = trio.current_time()
        proxy = FakeProxy(
            connection_id=str(uuid.uuid4()).upper(),
            service=service,
            hostip=hostip,
            caller_ip=peer,
            created=now,
            expires_at=now + self.knobs.expirationsec,
            idle_since=now,
        )
        conn: dict[str, Any] = {
            "deviceaddress": service.address,
            "connectionid": proxy.connection_id,
            "expirationsec": str(self.knobs.expirationsec),
            "proxyExpirationSec": self.knobs.expirationsec,
            "lifeLeft": self.knobs.expirationsec,
            "idleLeft": int(self.knobs.idle_sec),
            "requested": time.strftime("%m/%d/%Y %H:%M:%S"),
            "sessionID": secrets.token_hex(8),
            "status": "running",
            "latchedIP": hostip or peer,
        }
        if service.is_web:
            conn["proxy"] = f"https://{secrets.token_hex(4)}.p18.rt3.io"
            self.proxies[proxy.connection_id] = proxy
            proxy.ended = ""
        elif self.knobs.direct and service.target is not None:
            host, port = service.target
            conn.update(proxy=f"http://{host}:{port}", proxyserver=host, proxyport=str(port))
            self.proxies[proxy.connection_id] = proxy
        else:
            assert self._nursery is not None
            port = await self._nursery.start(self._run_proxy, proxy)
            conn.update(
                proxy=f"http://127.0.0.1:{port}", proxyserver="127.0.0.1", proxyport=str(port)
            )
        return self._ok({"connection": conn})

    async def _stop(
        self, headers: dict[str, str], body: dict[str, Any], peer: str
    ) -> tuple[int, str, bytes]:
        refused = self._auth(headers, 401)
        if refused:
            return refused
        cid = body.get("connectionid")
        address = body.get("deviceaddress")
        proxy = self.proxies.get(str(cid))
        if not cid or proxy is None:
            return self._refuse("[0212] connectionid incorrect or missing", 401)
        if proxy.service.address != address:
            return self._refuse("[0213] deviceaddress incorrect or missing", 401)
        proxy.stopped = True
        self._end(proxy, "stopped")
        return 200, "application/json", _json({"status": "true", "connectionid": cid})

    # -- proxies -----------------------------------------------------------------------

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
            "proxies": [
                {
                    "connectionid": p.connection_id,
                    "deviceaddress": p.service.address,
                    "port": p.port,
                    "hostip": p.hostip,
                    "ended": p.ended,
                    "active": p.active,
                    "accepted": p.accepted,
                }
                for p in self.proxies.values()
            ],
            "open": [p.connection_id for p in self.open_proxies],
            "calls": [{k: v for k, v in asdict(c).items() if k != "headers"} for c in self.calls],
            "knobs": asdict(self.knobs),
        }

    def _control(self, method: str, path: str, body: Any) -> tuple[int, str, bytes]:
        if method == "GET" and path == "/_fake/state":
            return 200, "application/json", json.dumps(self.state()).encode()
        if method == "POST" and path == "/_fake/control" and isinstance(body, dict):
            for endpoint, failures in (body.get("fail") or {}).items():
                self.fail_next(endpoint, *failures)
            for key in ("delay", "expirationsec", "idle_sec", "token_ttl", "direct"):
                if key in body:
                    setattr(self.knobs, key, body[key])
            if body.get("expire_tokens"):
                self.expire_tokens()
            killed = (
                self.kill_proxy(None if body["kill"] == "all" else body["kill"])
                if body.get("kill")
                else 0
            )
            return 200, "application/json", json.dumps({"ok": True, "killed": killed}).encode()
        return 404, "application/json", b'{"ok": false}'


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
