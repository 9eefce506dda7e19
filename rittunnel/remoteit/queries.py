"""The remote.it GraphQL API (``/graphql/v1``) as data: documents and variables in,
parsed results out. No I/O (the client is :mod:`rittunnel.remoteit.graphql`).

What it speaks (``docs/remoteit-api.md#graphql``):

* ``connect(serviceId, hostIP, type)`` → ``Connection { id host port reverseProxy url
  timeout }``: a port proxy has ``host`` and ``port``; a reverse proxy has
  ``reverseProxy: true``, no port and its HTTPS ``url``; ``timeout`` is its lifetime in
  seconds (one that is not finite, negative or over 30 days is treated as unknown); a
  connection with an ``id`` but no usable proxy is a :class:`ProtocolError` carrying
  that ID (it exists at remote.it and must be stopped);
* ``disconnect(connectionId, serviceId)`` → ``true``;
* ``login { devices(size, from) { total hasMore items { … services { id name state
  title } } } }``, paged with ``from`` while ``hasMore`` (``size`` at most 1000). The
  service's ``title`` is its type, like REST's ``servicetitle``, as remote.it's desktop
  reads it;
* errors: HTTP 200 with ``errors`` and a null result for refusals (an offline device's
  message says "inactive"), HTTP 401/403 (a plain-text body) for auth, HTTP 429 for
  throttling (``Retry-After``), HTTP 400 for a document the server does not accept.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError, ApiRefused, ApiUnavailable, AuthError, ProtocolError
from ..profiles import Mode, ProxyKind
from ..quantities import lifetime
from ..text import printable, shown
from .protocol import (
    REASON_SHOWN,
    Connection,
    PortProxy,
    ReverseProxy,
    ServiceInfo,
    _describe_body,
    hostip_for,
    parse_proxy,
    refusal,
    retry_seconds,
    service_info,
)

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
    # what remote.it gives a web service by default; a non-web service then gets a port
    # proxy, as over REST (asking REVERSE_PROXY for it may be refused)
    "reverse": "AUTO_PROXY",
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
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past reason
        data = None
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):  # GraphQL's is a list; one error alone counts too
        errors = [errors] if isinstance(errors, dict) else None
    messages = [str(e.get("message") or "").strip() for e in errors or [] if isinstance(e, dict)]
    if status_code in (401, 403):
        said = (
            "; ".join(m for m in messages if m)
            or (text if text and "<" not in text[:1] and data is None else "")
            or _describe_body(body, content_type)
        )
        said = printable(said, REASON_SHOWN) if said else f"HTTP {status_code}"
        raise AuthError(f"{what}: remote.it refused the access key: {said}", said)
    if status_code == 429:
        wait = retry_seconds(retry_after)
        asked = f"; it asks to wait {wait:g}s" if wait is not None else ""
        raise ApiUnavailable(
            f"{what}: remote.it is throttling this account's API use (HTTP 429){asked}",
            retry_after=wait,
        )
    if status_code >= 500 or not isinstance(data, dict):
        shape = "HTML" if "html" in content_type.lower() or text.startswith("<") else "no JSON"
        raise ApiUnavailable(
            f"{what}: the remote.it GraphQL API answered HTTP {status_code} with {shape}; "
            "it may be having an outage, try again later"
        )
    if status_code >= 400:
        said = printable("; ".join(m for m in messages if m), REASON_SHOWN) or f"HTTP {status_code}"
        raise ProtocolError(f"{what}: the remote.it GraphQL API rejected the request: {said}")
    result = data.get("data")
    value = result.get(operation) if isinstance(result, dict) else None
    if messages and (value is None or _null_on_a_path(result, errors or [])):
        error: ApiError = refusal(what, "; ".join(m for m in messages if m))
        raise error
    if value is None:
        raise ProtocolError(f"{what}: the remote.it GraphQL API answered without {operation}")
    return value


def _null_on_a_path(result: Any, errors: list[Any]) -> bool:
    """Whether an error's ``path`` leads to a null in ``result`` (a nested field failed,
    e.g. ``login.devices``), so the answer carries the error, not the data."""
    for error in errors:
        path = error.get("path") if isinstance(error, dict) else None
        if not isinstance(path, list) or not path:
            continue
        node = result
        for step in path:
            if isinstance(node, dict) and isinstance(step, str):
                node = node.get(step)
            elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
                node = node[step]
            else:
                node = None
            if node is None:
                return True
    return False


def parse_connection(value: Any, service: str) -> Connection:
    """``data.connect`` as a :class:`Connection`."""
    if not isinstance(value, dict):
        raise ProtocolError("connect: the GraphQL connection is not an object")
    cid = value.get("id")
    if not isinstance(cid, str | int) or isinstance(cid, bool) or not str(cid):
        raise ProtocolError("connect: the GraphQL connection has no id")
    connection_id = str(cid)
    host, port, url = value.get("host"), value.get("port"), value.get("url")
    proxy: PortProxy | ReverseProxy

    def bad(why: str) -> ProtocolError:
        return ProtocolError(f"connect: the GraphQL connection {why}", connection_id=connection_id)

    if value.get("reverseProxy") is True:
        if isinstance(url, str) and url.strip().lower().startswith("https://"):
            candidate: object = url.strip().rstrip("/")
        elif isinstance(host, str) and host.strip():
            candidate = f"https://{host.strip()}"
        else:
            raise bad("is a reverse proxy without a URL")
        try:
            parsed = parse_proxy(candidate, connection_id)
        except ProtocolError:
            raise bad(f"is a reverse proxy whose URL {shown(candidate)} is not one") from None
        if not isinstance(parsed, ReverseProxy):
            raise bad(f"is a reverse proxy whose URL {shown(candidate)} is not one")
        proxy = parsed
    else:
        if not isinstance(host, str) or not host.strip():
            raise bad(f"has a host {shown(host)} that is not a host")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise bad(f"has a port {shown(port)} that is not a port")
        parsed = parse_proxy(f"{_bracketed(host.strip())}:{port}", connection_id)
        assert isinstance(parsed, PortProxy)
        proxy = parsed
    expires_in = lifetime(value.get("timeout"))
    return Connection(
        connection_id=connection_id, service=service, proxy=proxy, expires_in=expires_in
    )


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


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
        for item in device["services"]:
            service = service_info(item, "id", "name", "title", "state")
            if service is not None:
                services.append(dataclasses.replace(service, state=service.state.lower()))
    return DevicesPage(services, len(items), devices.get("hasMore") is True)
