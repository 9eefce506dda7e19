"""The remote.it GraphQL API (``/graphql/v1``) as data: documents and variables in,
parsed results out. No I/O (the client is :mod:`rittunnel.remoteit.graphql`).

What it speaks (see ``shared/reference/API-NOTES.md``, "GraphQL API"):

* ``connect(serviceId, hostIP, type)`` → ``Connection { id host port reverseProxy url
  timeout }``: a port proxy has ``host`` and ``port``; a reverse proxy has
  ``reverseProxy: true``, no port and its HTTPS ``url``; ``timeout`` is its lifetime in
  seconds;
* ``disconnect(connectionId, serviceId)`` → ``true``;
* ``login { devices(size, from) { total hasMore items { … services { id name state
  title } } } }``, paged with ``from`` while ``hasMore`` (``size`` at most 1000). The
  service's ``title`` (its type, like REST's ``servicetitle``) is our inference;
* errors: HTTP 200 with ``errors`` and a null result for refusals (an offline device's
  message says "inactive"), HTTP 401/403 (a plain-text body) for auth, HTTP 429 for
  throttling (``Retry-After``), HTTP 400 for a document the server does not accept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError, ApiRefused, ApiUnavailable, AuthError, ProtocolError
from ..profiles import Mode, ProxyKind
from .protocol import (
    Connection,
    PortProxy,
    ReverseProxy,
    ServiceInfo,
    hostip_for,
    refusal,
)

DEFAULT_GRAPHQL_URL = "https://api.remote.it/graphql/v1"
#: devices asked for per page (the API's maximum)
PAGE_SIZE = 1000

CONNECT = """mutation Connect($serviceId: String!, $hostIP: String!, $type: ProxyType!) {
  connect(serviceId: $serviceId, hostIP: $hostIP, type: $type) {
    id host port reverseProxy url timeout
  }
}"""

DISCONNECT = """mutation Disconnect($connectionId: String!, $serviceId: String) {
  disconnect(connectionId: $connectionId, serviceId: $serviceId)
}"""

DEVICES = """query Devices($size: Int, $from: Int) {
  login {
    devices(size: $size, from: $from) {
      total hasMore
      items { id name state services { id name state title } }
    }
  }
}"""

_PROXY_TYPES: dict[ProxyKind, str] = {
    "auto": "AUTO_PROXY",
    "port": "PORT_PROXY",
    "reverse": "REVERSE_PROXY",
}


def connect_variables(
    service: str, mode: Mode, hostip: str | None, proxy: ProxyKind = "auto"
) -> dict[str, Any]:
    """Variables for :data:`CONNECT`. GraphQL has no "leave hostIP out" (its default is
    latching), so ``restricted`` needs the IP."""
    ip = hostip_for(mode, hostip)
    if ip is None:
        raise ApiRefused(
            "connect: mode restricted without hostip needs the REST API (it uses the "
            "caller's IP); set hostip in the profile, or api: rest",
            "restricted mode needs hostip",
        )
    return {"serviceId": service, "hostIP": ip, "type": _PROXY_TYPES[proxy]}


def disconnect_variables(service: str, connection_id: str) -> dict[str, Any]:
    return {"connectionId": connection_id, "serviceId": service}


def devices_variables(start: int, size: int = PAGE_SIZE) -> dict[str, Any]:
    return {"size": size, "from": start}


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decode_graphql(
    status_code: int,
    content_type: str,
    body: bytes,
    what: str,
    operation: str,
    *,
    retry_after: str | None = None,
) -> Any:
    """Check one GraphQL answer and return ``data[operation]``.

    Raises :class:`AuthError` (401/403), :class:`ApiUnavailable` (429 with
    ``retry_after``, 5xx, HTML, not JSON), :class:`ProtocolError` (400: the server does not
    accept our document; or a result that is missing), or the refusal that ``errors``
    carries (:func:`~rittunnel.remoteit.protocol.refusal`: offline devices retried)."""
    text = body[:400].decode("utf-8", "replace").strip()
    if status_code in (401, 403):
        shown = _short(text) or f"HTTP {status_code}"
        raise AuthError(f"{what}: remote.it refused the access key: {shown}", text)
    if status_code == 429:
        raise ApiUnavailable(
            f"{what}: remote.it is throttling this account's API use (HTTP 429); "
            "waiting before trying again",
            retry_after=_seconds(retry_after),
        )
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if status_code >= 500 or not isinstance(data, dict):
        shape = "HTML" if "html" in content_type.lower() or text.startswith("<") else "no JSON"
        raise ApiUnavailable(
            f"{what}: the remote.it GraphQL API answered HTTP {status_code} with {shape}; "
            "it may be having an outage, try again later"
        )
    errors = data.get("errors")
    messages = [str(e.get("message") or "").strip() for e in errors or [] if isinstance(e, dict)]
    if status_code >= 400:
        shown = "; ".join(m for m in messages if m) or f"HTTP {status_code}"
        raise ProtocolError(f"{what}: the remote.it GraphQL API rejected the request: {shown}")
    result = data.get("data")
    value = result.get(operation) if isinstance(result, dict) else None
    if value is None:
        if messages:
            error: ApiError = refusal(what, "; ".join(m for m in messages if m))
            raise error
        raise ProtocolError(f"{what}: the remote.it GraphQL API answered without {operation}")
    return value


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (the HTTP-date form is not worth the trouble: None)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 3600 else None


def parse_connection(value: Any, service: str) -> Connection:
    """``data.connect`` as a :class:`Connection`."""
    if not isinstance(value, dict):
        raise ProtocolError("connect: the GraphQL connection is not an object")
    cid = value.get("id")
    if not isinstance(cid, str | int) or isinstance(cid, bool) or not str(cid):
        raise ProtocolError("connect: the GraphQL connection has no id")
    host, port, url = value.get("host"), value.get("port"), value.get("url")
    proxy: PortProxy | ReverseProxy
    if value.get("reverseProxy") is True:
        if isinstance(url, str) and url.startswith("https://"):
            proxy = ReverseProxy(url=url.rstrip("/"))
        elif isinstance(host, str) and host:
            proxy = ReverseProxy(url=f"https://{host}")
        else:
            raise ProtocolError("connect: the GraphQL reverse proxy has no URL")
    else:
        if not isinstance(host, str) or not host.strip():
            raise ProtocolError(f"connect: the GraphQL connection's host {host!r} is not a host")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ProtocolError(f"connect: the GraphQL connection's port {port!r} is not a port")
        proxy = PortProxy(host=host.strip(), port=port)
    timeout = value.get("timeout")
    expires_in = (
        float(timeout)
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0
        else None
    )
    return Connection(connection_id=str(cid), service=service, proxy=proxy, expires_in=expires_in)


@dataclass(frozen=True)
class DevicesPage:
    services: list[ServiceInfo]
    #: devices on this page (the next page starts after them)
    count: int
    has_more: bool


def parse_devices(value: Any) -> DevicesPage:
    """``data.login`` of :data:`DEVICES`: the services of one page of devices."""
    devices = value.get("devices") if isinstance(value, dict) else None
    items = devices.get("items") if isinstance(devices, dict) else None
    if not isinstance(devices, dict) or not isinstance(items, list):
        raise ProtocolError("device list: the GraphQL answer has no devices.items")
    services = []
    for device in items:
        if not isinstance(device, dict) or not isinstance(device.get("services"), list):
            continue
        for s in device["services"]:
            if not isinstance(s, dict) or not s.get("id"):
                continue
            services.append(
                ServiceInfo(
                    address=str(s["id"]),
                    name=str(s.get("name") or ""),
                    type=str(s.get("title") or ""),
                    state=str(s.get("state") or "").lower(),
                )
            )
    return DevicesPage(services, len(items), devices.get("hasMore") is True)
