"""The remote.it REST API (v27) as data: request bodies in, parsed results out. No I/O.

Also the results both APIs share (:class:`Connection`, :class:`ServiceInfo`, the proxy
kinds) and the words that classify a refusal (:func:`refusal`); the GraphQL API's own
shapes are :mod:`rittunnel.remoteit.queries`.

Everything here is pure so that each quirk is tested without a socket (each is a section
of ``docs/remoteit-api.md``, named by its ``#anchor``):

* ``status`` is the *string* ``"true"``/``"false"`` (``"pending"`` and others are seen;
  ``#rest-status``);
* errors come back as HTTP 200 with ``status: "false"`` and a ``reason`` (connect,
  ``#rest-errors-http-200``), or HTTP 401 with the same body (stop, ``#rest-stop-401``);
  the HTTP code is never trusted alone; but a 401 or 403 whose body is not that JSON
  (``Unauthorized``, ``{"message": …}``) is the gateway refusing the credentials, and a
  429 is throttling with ``Retry-After`` (``#rest-auth-refusals``);
* a stop refused with "connectionid or deviceaddress incorrect" (or the documented
  "connectionid incorrect or missing") is of a connection remote.it no longer has
  (:func:`is_gone`, ``#rest-stop-gone``);
* ``proxy`` (``#proxy-forms``) is ``http:\\/\\/host:port`` for a port proxy (the scheme is
  decoration) or ``https://name.p18.rt3.io`` for a reverse proxy (http/https services);
  only an ``https`` URL without a port is a reverse proxy, anything else without a valid port is
  a :class:`ProtocolError` that carries the connection's ID (it exists at remote.it and
  must be stopped);
* ``expirationsec`` is a string of seconds (``#rest-connect-answer``); newer answers add
  ``proxyExpirationSec`` and ``idleLeft`` (how long the proxy lives without a
  connection); a lifetime that is not finite, negative or over 30 days is treated as
  unknown;
* unknown fields are ignored; an HTML page or a 5xx is an outage, not a crash
  (``#outages``);
* a second connect for a service replaces its earlier proxy unless the body says
  ``"concurrent": true`` (we always do); an answer that replaced one says
  ``connectionOverridden`` and ``previousConnection`` (``#second-connect``);
* a password login for a two-factor account answers with a ``code`` (``SMS_MFA``,
  ``SOFTWARE_TOKEN_MFA``, ``MFA_SETUP``) instead of a token (``#auth-two-factor``);
* service lists (both APIs') are read by :mod:`rittunnel.remoteit.services`.

Which words of a reason mean "credentials refused", "offline" or "gone" is our own
classification of the texts seen (:func:`refusal`, :func:`is_gone`).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import (
    ApiError,
    ApiRefused,
    ApiUnavailable,
    AuthError,
    ConnectionGone,
    ProtocolError,
    TwoFactorError,
)
from ..profiles import Mode, ProxyKind
from ..quantities import lifetime
from ..settings import DEFAULT_API_URL as DEFAULT_API_URL
from ..text import connection_id_problem, printable, shown

#: the docs pages still show :data:`OLD_API_URL` (not :data:`DEFAULT_API_URL`), where
#: proxies of older rittunnels were made (still trusted)
OLD_API_URL = "https://api.remot3.it/apv/v27"
LATCHING_HOSTIP = "255.255.255.255"
PUBLIC_HOSTIP = "0.0.0.0"

LOGIN_PATH = "/user/login"
CONNECT_PATH = "/device/connect"
STOP_PATH = "/device/connect/stop"
LIST_PATH = "/device/list/all"


@dataclass(frozen=True)
class PortProxy:
    """A raw TCP proxy at ``host:port`` (every service type but http/https)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ReverseProxy:
    """A public HTTPS URL in front of an http/https service."""

    url: str

    def __str__(self) -> str:
        return self.url


Proxy = PortProxy | ReverseProxy


@dataclass(frozen=True)
class Connection:
    """A proxy connection as ``/device/connect`` returned it."""

    connection_id: str
    service: str
    proxy: Proxy
    #: seconds of life left when the answer was made (None: the API did not say)
    expires_in: float | None
    #: the earlier proxy of this service that this connect replaced, if remote.it says so
    replaced: str | None = None
    #: seconds remote.it keeps the proxy without a TCP connection (REST ``idleLeft``;
    #: None: the API did not say, as GraphQL never does)
    idle_left: float | None = None


@dataclass(frozen=True)
class Login:
    token: str
    #: unix time the token stops working, when the API says (``auth_expiration``)
    expires_at: float | None


@dataclass(frozen=True)
class ServiceInfo:
    address: str
    name: str
    type: str
    state: str
    #: the organisation whose device it is ("": the user's own)
    account: str = ""


def hostip_for(mode: Mode, hostip: str | None) -> str | None:
    """The ``hostip`` to send for a connection mode; None means "leave the field out"."""
    if mode == "latching":
        return LATCHING_HOSTIP
    if mode == "public":
        return PUBLIC_HOSTIP
    return hostip


def connect_body(
    service: str, mode: Mode, hostip: str | None, proxy: ProxyKind = "auto"
) -> dict[str, object]:
    """``concurrent``: never replace another proxy of this service (a live session
    through it would die); ``proxyType: "port"`` asks for a port proxy even for a web
    service."""
    body: dict[str, object] = {"deviceaddress": service, "wait": "true", "concurrent": True}
    ip = hostip_for(mode, hostip)
    if ip is not None:
        body["hostip"] = ip
    if proxy == "port":
        body["proxyType"] = "port"
    return body


def stop_body(service: str, connection_id: str) -> dict[str, object]:
    return {"deviceaddress": service, "connectionid": connection_id}


# Words in a status:"false" reason that mean our token or key was not accepted.
_AUTH_WORDS = re.compile(
    r"token|unauthori[sz]ed|not authori[sz]ed|authenticat|developer ?key|login|session expired|"
    r"username or password|password is (?:invalid|incorrect|wrong)|invalid password",
    re.IGNORECASE,
)
# Words that mean "try again later".
_TRANSIENT_WORDS = re.compile(
    r"try again|timed? ?out|temporar|unavailable|busy|too many|rate limit|overload|pending",
    re.IGNORECASE,
)
# Words that mean the device is not there right now (offline, rebooting): retried too.
_OFFLINE_WORDS = re.compile(
    r"offline|inactive|not active|not responding|unresponsive|unreachable|not online|"
    r"ensure that the device is online",
    re.IGNORECASE,
)
#: at most this many characters of the API's own words are quoted in a message
REASON_SHOWN = 300
#: login answers for accounts that sign in with a second factor
MFA_CODES = frozenset({"SMS_MFA", "SOFTWARE_TOKEN_MFA", "MFA_SETUP"})
TWO_FACTOR = (
    "this remote.it account signs in with two-factor authentication, so a password "
    "login cannot work for it; use an access key instead (docs/reference.md#two-factor-accounts)"
)


# Words of a refused stop that mean the connection is not there any more (it expired, was
# killed or stopped): the stop is done. Any other refusal leaves it maybe open.
_GONE_WORDS = re.compile(
    r"connection ?id (?:is )?(?:incorrect|invalid|unknown)|connection ?id or device ?address "
    r"(?:is |are )?incorrect|connection not found|"
    r"no such connection|not found|does not exist|no longer exists|expired|already stopped",
    re.IGNORECASE,
)


def is_gone(exc: ApiError) -> bool:
    """Whether a refused stop says that connection no longer exists (counts as stopped):
    a :class:`ConnectionGone` (GraphQL ``disconnect: false``), or a refusal in those
    words (REST HTTP 401 "connectionid or deviceaddress incorrect"; rittunnel always sends
    the service it connected to, so the address part is never what is wrong)."""
    if isinstance(exc, ConnectionGone):
        return True
    return (
        isinstance(exc, ApiRefused)
        and not isinstance(exc, AuthError)
        and not exc.transient
        and bool(_GONE_WORDS.search(f"{exc.reason} {exc}"))
    )


def refusal(what: str, reason: str, *, http_status: int = 200) -> ApiError:
    """The error for the API's refusal ``reason`` (its own words): an auth failure, an
    offline device (retried), a passing trouble (retried), or a plain no."""
    said = printable(reason, REASON_SHOWN) if reason else "no reason given"
    if (http_status in (401, 403) and not reason) or _AUTH_WORDS.search(reason):
        return AuthError(f"{what}: remote.it refused the credentials: {said}", reason)
    offline = bool(_OFFLINE_WORDS.search(reason))
    transient = http_status >= 500 or bool(_TRANSIENT_WORDS.search(reason))
    return ApiRefused(
        f"{what}: remote.it said no: {said}", reason, transient=transient, offline=offline
    )


def _describe_body(body: bytes, content_type: str) -> str:
    text = body[:400].decode("utf-8", "replace")
    if "html" in content_type.lower() or text.lstrip().lower().startswith(("<!doctype", "<html")):
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        if title is None:
            return "an HTML page"
        return f"an HTML page ({printable(title.group(1).strip(), 80)})"
    if not text.strip():
        return "an empty body"
    return "a body that is not JSON"


def refused_access(
    what: str, status_code: int, data: object, body: bytes, content_type: str
) -> AuthError:
    """An HTTP 401/403 that is not the API's ``status`` JSON: remote.it's gateway refused
    the credentials (``Unauthorized``, ``{"message": "Forbidden"}``; see
    docs/remoteit-api.md, "Other refusals are not the JSON body"). Its words are quoted
    when they are short text, else described."""
    said = ""
    if isinstance(data, dict):
        said = str(data.get("message") or data.get("reason") or data.get("error") or "")
    elif data is None:
        text = body[:400].decode("utf-8", "replace").strip()
        looks_html = text.startswith("<") or "html" in content_type.lower()
        said = _describe_body(body, content_type) if looks_html or not text else text
    said = printable(said.strip(), REASON_SHOWN) if said.strip() else f"HTTP {status_code}"
    message = f"{what}: remote.it refused the credentials (HTTP {status_code}): {said}"
    return AuthError(message, said)


def retry_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` (seconds, or an HTTP date) as seconds from now; None when absent
    or unreadable. Huge values are kept (capped at a day): the caller gives up at once
    when the wait would pass its deadline, saying how long remote.it asked."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        import email.utils  # lazy: rare, and costly to import

        try:
            at = email.utils.parsedate_to_datetime(value.strip()).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = at - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), 86400.0)


def decode_response(
    status_code: int,
    content_type: str,
    body: bytes,
    what: str,
    *,
    retry_after: str | None = None,
) -> dict[str, Any]:
    """Check one API answer and return its JSON object.

    Raises :class:`ApiUnavailable` for what is not the API speaking (HTML, 5xx, garbage)
    and for throttling (HTTP 429, with ``retry_after``: the header's value),
    :class:`AuthError` when the API refuses the credentials or token (a 401/403 that is
    not the ``status`` JSON included), :class:`ApiRefused` for any other
    ``status: "false"``.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past reason
        data = None
    status = data.get("status") if isinstance(data, dict) else None
    if status_code in (401, 403) and status not in ("true", "false", True, False):
        raise refused_access(what, status_code, data, body, content_type)
    if status_code == 429:
        wait = retry_seconds(retry_after)
        asked = f"; it asks to wait {wait:g}s" if wait is not None else ""
        raise ApiUnavailable(
            f"{what}: remote.it is throttling this account's API use (HTTP 429){asked}",
            retry_after=wait,
        )
    if not isinstance(data, dict):
        shape = _describe_body(body, content_type) if data is None else "JSON that is not an object"
        raise ApiUnavailable(
            f"{what}: the remote.it API answered HTTP {status_code} with {shape}; "
            "it may be having an outage, try again later"
        )
    code = data.get("code")
    if isinstance(code, str) and code.strip().upper() in MFA_CODES:
        raise TwoFactorError(f"{what}: {TWO_FACTOR}")
    if isinstance(status, bool):  # be lenient: a JSON boolean means what it says
        status = "true" if status else "false"
    if status == "true" and status_code < 400:
        return data
    reason = str(data.get("reason") or data.get("message") or "").strip()
    if status == "true":  # success body with an error code: trust neither
        raise ApiUnavailable(f"{what}: the remote.it API answered HTTP {status_code}")
    if status != "false":
        if status_code >= 500 or status in ("pending", "reset"):
            raise ApiUnavailable(
                f"{what}: the remote.it API answered status {shown(status)}"
                + (f": {printable(reason, REASON_SHOWN)}" if reason else "")
                + "; try again later"
            )
        raise ProtocolError(f"{what}: the remote.it API answered without a status field")
    raise refusal(what, reason, http_status=status_code)


def parse_login(data: dict[str, Any]) -> Login:
    token = data.get("token") or data.get("auth_token")
    if not isinstance(token, str) or not token:
        raise ProtocolError("login: the remote.it API answered status true but sent no token")
    expires_at = _number(data.get("auth_expiration"))
    if expires_at is not None and not math.isfinite(expires_at):
        expires_at = None
    return Login(token=token, expires_at=expires_at)


# what a proxy host may be: a DNS name or an IP address (no spaces, quotes, controls)
_HOST = re.compile(r"^[A-Za-z0-9._:-]+$")


def parse_proxy(value: object, connection_id: str | None = None) -> Proxy:
    """Parse the ``proxy`` field. ``json.loads`` has already undone ``\\/`` escapes.

    ``host:port`` (with any scheme, or none) is a port proxy; an ``https`` URL without a
    port is a reverse proxy; anything else is a :class:`ProtocolError` carrying
    ``connection_id`` (the connection the answer named, which must then be stopped)."""

    def bad(why: str) -> ProtocolError:
        return ProtocolError(
            f"connect: the proxy field {shown(value)} {why}", connection_id=connection_id
        )

    if not isinstance(value, str) or not value.strip():
        raise bad("is not a URL")
    text = value.strip().replace("\\/", "/")
    if "://" not in text:
        text = "tcp://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise bad("has a bad host or port") from None
    if not host or not _HOST.match(host):
        raise bad("has no host")
    if port is None:
        if parts.scheme.lower() == "https" and parts.netloc.rpartition("@")[0] == "":
            return ReverseProxy(url=f"https://{parts.netloc}")
        raise bad("has no port (only an https URL without one is a reverse proxy)")
    if not 1 <= port <= 65535:
        raise bad("has a bad port")
    return PortProxy(host=host, port=port)


def parse_connect(data: dict[str, Any], service: str) -> Connection:
    conn = data.get("connection")
    if not isinstance(conn, dict):
        raise ProtocolError("connect: the remote.it API answered status true but no connection")
    connection_id = conn.get("connectionid") or data.get("connectionid")
    if not isinstance(connection_id, str) or not connection_id:
        raise ProtocolError("connect: the remote.it API answered without a connectionid")
    if why := connection_id_problem(connection_id):
        # stopped at once (the error names it), never kept under an ID no record holds
        raise ProtocolError(
            f"connect: the connectionid {shown(connection_id)} {why}",
            connection_id=connection_id,
        )
    proxy = parse_proxy(conn.get("proxy"), connection_id)
    expires_in = lifetime(conn.get("proxyExpirationSec"))
    if expires_in is None:
        expires_in = lifetime(conn.get("expirationsec"))
    overridden = str(conn.get("connectionOverridden", data.get("connectionOverridden", "")))
    previous = conn.get("previousConnection", data.get("previousConnection"))
    replaced = None
    if overridden.strip().lower() == "true":
        replaced = str(previous).replace("\\/", "/") if previous else "an earlier proxy"
    return Connection(
        connection_id=connection_id,
        service=str(conn.get("deviceaddress") or service),
        proxy=proxy,
        expires_in=expires_in,
        replaced=replaced,
        idle_left=lifetime(conn.get("idleLeft")),
    )


def _number(value: object) -> float | None:
    """A number that may arrive as an int, a float or a string of digits."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
