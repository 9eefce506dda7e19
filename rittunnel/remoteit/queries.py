"""The remote.it GraphQL API (``/graphql/v1``) as data: documents and variables in,
parsed results out. No I/O (the client is :mod:`rittunnel.remoteit.graphql`).

What it speaks (``docs/remoteit-api.md#graphql``; the schema: ``#graphql-schema``, which
every document here is validated against by ``tests/test_schema_conformance.py``):

* ``connect(serviceId, hostIP, type)`` → ``Connection { id host port reverseProxy url
  timeout }``: a port proxy has ``host`` and ``port``; a reverse proxy has
  ``reverseProxy: true``, no port and its HTTPS ``url``; ``timeout`` is its lifetime in
  seconds (one that is not finite, negative or over 30 days is treated as unknown); a
  connection with an ``id`` but no usable proxy is a :class:`ProtocolError` carrying
  that ID (it exists at remote.it and must be stopped);
* ``disconnect(connectionId, serviceId)`` → ``true``;
* ``login { devices(size, from) { total hasMore items { … services { id name state
  title } } } }``, paged with ``from`` while ``hasMore`` (``size`` at most 1000); the
  user's own devices. ``Service.title`` is its type, like REST's ``servicetitle``, as
  remote.it's desktop reads it; names and titles may be null;
* organisations (``#organisations``): ``login { membership { organization { id name }
  } }``, then each one's devices as ``login { account(id:) { devices(size, from) { … }
  } }``;
* a partial answer (``#graphql-paging``): a device's ``services`` null with an
  ``errors`` entry whose ``path`` points at it (``[…, "items", 3, "services"]``): the
  rest is good;
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
from ..text import connection_id_problem, printable, shown
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
)
from .services import service_info

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

ORGANIZATIONS = """query Organizations {
  login {
    membership { organization { id name } }
  }
}"""

ACCOUNT_DEVICES = """query AccountDevices($account: String, $size: Int, $from: Int) {
  login {
    account(id: $account) {
      devices(size: $size, from: $from) {
        total hasMore
        items { id name state services { id name state title } }
      }
    }
  }
}"""

#: every document rittunnel sends (checked against the schema by a test)
DOCUMENTS = (CONNECT, DISCONNECT, DEVICES, ORGANIZATIONS, ACCOUNT_DEVICES)

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


def devices_variables(
    start: int, size: int = PAGE_SIZE, account: str | None = None
) -> dict[str, Any]:
    """Variables for :data:`DEVICES`, or with ``account`` :data:`ACCOUNT_DEVICES`."""
    variables: dict[str, Any] = {"size": size, "from": start}
    if account is not None:
        variables["account"] = account
    return variables


def decode_graphql(
    status_code: int,
    content_type: str,
    body: bytes,
    what: str,
    operation: str,
    *,
    retry_after: str | None = None,
    partial: list[dict[str, Any]] | None = None,
) -> Any:
    """Check one GraphQL answer and return ``data[operation]``.

    ``partial``: errors whose ``path`` points inside an item of a list that is there
    (a device's ``services``) leave the rest of the answer good: they are added to this
    list instead of raised.

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
    if partial is not None and value is not None and errors:
        inside = [e for e in errors if _inside_an_item(result, e)]
        if len(inside) == len(errors):
            partial.extend(inside)
            return value
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


def _inside_an_item(result: Any, error: Any) -> bool:
    """Whether ``error``'s ``path`` goes below an item of a list that is in ``result``
    (``login.devices.items[3].services``): the error is that item's, not the answer's."""
    path = error.get("path") if isinstance(error, dict) else None
    if not isinstance(path, list):
        return False
    node = result
    for i, step in enumerate(path):
        if isinstance(node, list) and isinstance(step, int) and not isinstance(step, bool):
            item = node[step] if 0 <= step < len(node) else None
            return isinstance(item, dict) and i + 1 < len(path)
        node = node.get(step) if isinstance(node, dict) and isinstance(step, str) else None
        if node is None:
            return False
    return False


def parse_connection(value: Any, service: str) -> Connection:
    """``data.connect`` as a :class:`Connection`."""
    if not isinstance(value, dict):
        raise ProtocolError("connect: the GraphQL connection is not an object")
    cid = value.get("id")
    if not isinstance(cid, str | int) or isinstance(cid, bool) or not str(cid):
        raise ProtocolError("connect: the GraphQL connection has no id")
    connection_id = str(cid)
    if why := connection_id_problem(connection_id):
        # stopped at once (the error names it), never kept under an ID no record holds
        raise ProtocolError(
            f"connect: the GraphQL connection id {shown(connection_id)} {why}",
            connection_id=connection_id,
        )
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
    #: the IDs of the devices on this page (a server that repeats a page is not followed)
    device_ids: frozenset[str] = frozenset()
    #: devices whose services remote.it did not give (a partial answer): what to say
    missing: tuple[str, ...] = ()


def parse_devices(
    value: Any,
    errors: list[dict[str, Any]] | None = None,
    account: str = "",
) -> DevicesPage:
    """``data.login`` of :data:`DEVICES` (or its ``account`` of :data:`ACCOUNT_DEVICES`):
    the services of one page of devices. ``errors``: the partial errors of the answer
    (see :func:`decode_graphql`), each naming the device it leaves out; ``account``: the
    organisation's name the services are marked with."""
    devices = value.get("devices") if isinstance(value, dict) else None
    items = devices.get("items") if isinstance(devices, dict) else None
    if not isinstance(devices, dict) or not isinstance(items, list):
        raise ProtocolError("device list: the GraphQL answer has no devices.items")
    services = []
    ids = set()
    for device in items:
        if not isinstance(device, dict):
            continue
        if device.get("id") is not None:
            ids.add(str(device["id"]))
        if not isinstance(device.get("services"), list):
            continue
        for item in device["services"]:
            service = service_info(item, "id", "name", "title", "state")
            if service is not None:
                services.append(
                    dataclasses.replace(service, state=service.state.lower(), account=account)
                )
    missing = tuple(_missing(items, error) for error in errors or [])
    return DevicesPage(
        services, len(items), devices.get("hasMore") is True, frozenset(ids), missing
    )


def _missing(items: list[Any], error: dict[str, Any]) -> str:
    """What a partial error leaves out: ``device 'pi' (80:…): MESSAGE``."""
    path = error.get("path") or []
    index = next((s for s in path if isinstance(s, int) and not isinstance(s, bool)), None)
    device = items[index] if index is not None and 0 <= index < len(items) else None
    said = printable(str(error.get("message") or "no reason given"), REASON_SHOWN)
    if not isinstance(device, dict):
        return f"a device: {said}"
    name, cid = device.get("name"), device.get("id")
    who = shown(name) if name else "unnamed"
    return f"device {who} ({printable(str(cid))}): {said}" if cid else f"device {who}: {said}"


def parse_organizations(value: Any) -> list[tuple[str, str]]:
    """``data.login`` of :data:`ORGANIZATIONS`: each organisation's (ID, name); one
    without an ID is left out, one without a name is named by its ID."""
    membership = value.get("membership") if isinstance(value, dict) else None
    if not isinstance(membership, list):
        raise ProtocolError("organisation list: the GraphQL answer has no membership")
    out = []
    for member in membership:
        org = member.get("organization") if isinstance(member, dict) else None
        oid = org.get("id") if isinstance(org, dict) else None
        if isinstance(org, dict) and isinstance(oid, str | int) and not isinstance(oid, bool):
            out.append((str(oid), str(org.get("name") or oid)))
    return out
