"""The fake's REST API (v27), base ``http://127.0.0.1:PORT/apv/v27``, as
``docs/remoteit-api.md#rest-answers`` describes it, with its quirks. Requests are read as
JSON whatever their ``Content-Type`` (remote.it's own examples send none:
``docs/remoteit-api.md#content-type``). Login is :meth:`.auth.Auth.login`; the other calls
are authorised by :meth:`.auth.Auth.check_rest` before their handler here runs.

* ``POST /device/connect`` (``#rest-connect``): body ``deviceaddress``, ``wait``,
  ``hostip``, ``concurrent``, ``proxyType``. Bad or unauthorised requests answer **HTTP
  200** with ``status:"false"`` and a ``reason``; an inactive service gets ``[0211] Device …
  is not active``. ``proxy`` is ``http:\\/\\/127.0.0.1:PORT`` (slashes escaped, as
  remote.it's pages show: ``#proxy-forms``) for port proxies and ``https://xxxx.p18.rt3.io``
  for http/https services (a port proxy for those too when the body says ``proxyType:
  "port"``); ``expirationsec`` is a *string*; extra undocumented fields (``proxyserver``,
  ``proxyport``, ``requested``, ``sessionID``, ``latchedIP``, ``proxyExpirationSec``,
  ``lifeLeft``, ``idleLeft``) are sent as the live API does.
* A second connect for a service with an open proxy **replaces** it (see :mod:`.proxies`;
  ``#second-connect``), and the answer's ``connection`` carries ``"connectionOverridden":
  "true"`` and ``"previousConnection"`` (the old ``proxy`` value). ``"concurrent": true``
  (or ``"true"``) keeps both.
* ``POST /device/connect/stop`` (``#rest-stop-401``): success
  ``{"status":"true","connectionid"}``; failure **HTTP 401** with
  ``{"status":"false","reason"}``: for a connection the fake no longer has (expired,
  idle-dropped, killed, stopped) or a wrong ``deviceaddress``, the reason is
  "connectionid or deviceaddress incorrect", as remote.it answers (the knob
  ``stop_gone_reason`` sets it, e.g. to the documented "connectionid incorrect or
  missing").
* ``GET /device/list/all`` (``#rest-list``): ``devices`` with ``deviceaddress``,
  ``devicealias``, ``servicetitle``, ``devicestate``: one entry per service of the
  user's own devices and, before a device's services, one for the device itself
  (``servicetitle`` "Bulk Service", ``devicealias`` the device's name), as the real list
  holds (``#rest-list-devices``). Organisations' devices are not listed here (inferred,
  ``#organisations``).
"""

from __future__ import annotations

import time
from typing import Any

from .answers import Answer, ok, refuse, rest_json
from .auth import Auth
from .backend import Backend, Route
from .model import FakeProxy, devices_of

BASE = "/apv/v27"
#: the ``servicetitle`` of a device's own entry in the list
DEVICE_ENTRY = "Bulk Service"


def routes(api: RestApi, auth: Auth) -> dict[tuple[str, str], Route]:
    """The REST API's routes: (method, path) -> route."""
    return {
        ("POST", f"{BASE}/user/login"): Route("login", None, auth.login),
        ("POST", f"{BASE}/device/connect"): Route(
            "connect", lambda h: auth.check_rest(h, 200), api.connect
        ),
        ("POST", f"{BASE}/device/connect/stop"): Route(
            "stop", lambda h: auth.check_rest(h, 401), api.stop
        ),
        ("GET", f"{BASE}/device/list/all"): Route(
            "list", lambda h: auth.check_rest(h, 200), api.list_all
        ),
    }


class RestApi:
    """The REST handlers of an authorised call."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def list_all(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        """``GET /device/list/all``."""
        devices = []
        for members in devices_of(self.backend.list_services()):
            first = members[0]
            state = "active" if any(s.state == "active" for s in members) else "inactive"
            devices.append(self._entry(first.device_id, first.device_name, DEVICE_ENTRY, state))
            for s in members:
                devices.append(self._entry(s.address, s.name, s.type, s.state))
        return ok({"cached": "false", "devices": devices})

    def _entry(self, address: str, alias: str, title: str, state: str) -> dict[str, Any]:
        return {
            "deviceaddress": address,
            "devicealias": alias,
            "servicetitle": title,
            "devicestate": state,
            "ownerusername": self.backend.username,
            "devicetype": "00:1E:00:00:00:00:00:00",
            "lastinternalip": "192.168.1.20",
            "shared": "false",
        }

    async def connect(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        """``POST /device/connect``."""
        address = body.get("deviceaddress")
        service = self.backend.find_service(str(address))
        if service is None:
            return refuse(f"[0209] Device address {address} not found")
        if service.state != "active":
            return refuse(f"[0211] Device {address} is not active")
        hostip = body.get("hostip")
        if hostip is not None and not isinstance(hostip, str):
            return refuse("[0300] hostip must be a string")
        reverse = service.is_web and body.get("proxyType") != "port"
        concurrent = body.get("concurrent") in (True, "true")
        proxy, previous = await self.backend.connect(
            service, hostip, peer, reverse=reverse, replace=not concurrent
        )
        conn = self._connection(proxy, previous)
        for field_name in ("proxy", "expirationsec"):  # scripted nonsense in a good answer
            bad = self.backend.knobs.next_failure(f"connect.{field_name}")
            if bad is not None:
                conn[field_name] = bad
                if field_name == "expirationsec":
                    conn["proxyExpirationSec"] = bad
        return ok({"connection": conn})

    def _connection(self, proxy: FakeProxy, previous: FakeProxy | None) -> dict[str, Any]:
        life = round(proxy.expires_at - proxy.created)
        conn: dict[str, Any] = {
            "deviceaddress": proxy.service.address,
            "connectionid": proxy.connection_id,
            "expirationsec": str(life),
            "proxyExpirationSec": life,
            "lifeLeft": life,
            "idleLeft": int(self.backend.knobs.idle_sec),
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

    async def stop(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        """``POST /device/connect/stop``."""
        cid = body.get("connectionid")
        address = body.get("deviceaddress")
        proxy = self.backend.live_proxy(str(cid)) if cid else None
        if proxy is None or proxy.service.address != address:  # gone: expired, killed...
            return refuse(self.backend.knobs.stop_gone_reason, 401)
        self.backend.disconnect(proxy)
        return Answer(200, "application/json", rest_json({"status": "true", "connectionid": cid}))
