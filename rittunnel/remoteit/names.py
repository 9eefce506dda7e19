"""Service names: a profile's ``service:`` may be a name (``pi-ssh``) instead of an ID.

A name is looked up in the account's service list (``GET /device/list/all``:
``devicealias`` → ``deviceaddress``). Names are not unique at remote.it, so a name that
matches several services is an error listing them, never a silent pick; a name that
matches none is an error listing the close ones.

:func:`match_service` decides (pure). :class:`ServiceCache` keeps each account's list for
a short while (one 0600 JSON file) so starting several tunnels, or restarting one, costs
one list call; a name missing from the cached list is looked up afresh before failing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import RittunnelError, ServiceNameError
from ..files import write_private
from ..profiles import Profile
from ..report import Reporter
from ..settings import SERVICES_TTL, Settings
from .accounts import Account, Accounts
from .protocol import ServiceInfo


def describe(service: ServiceInfo) -> str:
    """``80:00:…:04 (SSH, active)``; ``(SSH, active, organisation Acme)`` for a service
    of an organisation's device."""
    org = f"organisation {service.account}" if service.account else ""
    details = ", ".join(x for x in (service.type, service.state, org) if x)
    return f"{service.address} ({details})" if details else service.address


def match_service(name: str, services: Iterable[ServiceInfo]) -> ServiceInfo:
    """The one service called ``name`` (exactly, else ignoring case)."""
    services = list(services)
    found = [s for s in services if s.name == name]
    if not found:
        found = [s for s in services if s.name.casefold() == name.casefold()]
    if len(found) == 1:
        return found[0]
    if found:
        candidates = "; ".join(f"{s.name} = {describe(s)}" for s in found)
        raise ServiceNameError(
            f"{name!r} names {len(found)} services: {candidates}; "
            "use the service ID of the one you mean instead of the name"
        )
    by_folded = {s.name.casefold(): s.name for s in services if s.name}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=5, cutoff=0.6)
    hint = (
        f"close names: {', '.join(by_folded[c] for c in close)}"
        if close
        else "run `rittunnel services` to list them"
    )
    raise ServiceNameError(f"no service named {name!r} in this remote.it account; {hint}")


def filter_services(services: Iterable[ServiceInfo], pattern: str) -> list[ServiceInfo]:
    """Services whose name, type, address or organisation contains ``pattern``
    (ignoring case)."""
    needle = pattern.casefold()
    return [
        s
        for s in services
        if needle in s.name.casefold()
        or needle in s.type.casefold()
        or needle in s.address
        or needle in s.account.casefold()
    ]


class ServiceCache:
    """Each account's service list with the time it was fetched; entries older than
    ``ttl`` seconds are not returned. ``account`` keys are hashes, not credentials."""

    def __init__(self, path: Path, ttl: float = SERVICES_TTL) -> None:
        self.path = path
        self.ttl = ttl

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceCache:
        """``$XDG_CACHE_HOME/rittunnel/services.json``, TTL from ``RITTUNNEL_SERVICES_TTL``."""
        return cls(settings.cache_dir / "services.json", settings.services_ttl)

    @staticmethod
    def account(api_url: str, section: str, identity: str) -> str:
        return hashlib.sha256("\0".join([api_url, section, identity]).encode()).hexdigest()

    def _load(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, account: str, now: float) -> list[ServiceInfo] | None:
        entry = self._load().get(account)
        if not isinstance(entry, dict):
            return None
        fetched, items = entry.get("fetched"), entry.get("services")
        if not isinstance(fetched, int | float) or not isinstance(items, list):
            return None
        if not fetched <= now < fetched + self.ttl:
            return None
        try:
            return [ServiceInfo(**item) for item in items]
        except TypeError:
            return None

    def names(self) -> list[str]:
        """Every service name in the cache, of any account and age (what completion
        offers: it never calls the API)."""
        found: dict[str, None] = {}
        for entry in self._load().values():
            items = entry.get("services") if isinstance(entry, dict) else None
            for item in items if isinstance(items, list) else ():
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name:
                    found[name] = None
        return sorted(found)

    def put(self, account: str, services: list[ServiceInfo], now: float) -> None:
        data = {
            key: entry
            for key, entry in self._load().items()
            if isinstance(entry, dict)
            and isinstance(entry.get("fetched"), int | float)
            and now - entry["fetched"] < self.ttl
        }
        data[account] = {"fetched": now, "services": [dataclasses.asdict(s) for s in services]}
        with contextlib.suppress(OSError):  # a cache: failing costs one list call
            write_private(self.path, json.dumps(data), durable=False)


#: service types remote.it serves through an HTTPS reverse proxy (``proxy: auto``)
WEB_TYPES = frozenset({"http", "https"})


def is_web(service: ServiceInfo) -> bool:
    """An http/https service: remote.it gives it a reverse proxy unless asked for a port."""
    return service.type.strip().casefold() in WEB_TYPES


def cached_service(
    accounts: Accounts,
    profile: Profile,
    cache: ServiceCache,
    *,
    clock: Callable[[], float] = time.time,
) -> ServiceInfo | None:
    """``profile``'s service as the account's cached service list has it (by ID, else by
    its one name), with no API call; None when the list is not cached, does not name it
    once, or the credentials cannot be read."""
    try:
        account = accounts.locate(profile)
        key = cache.account(
            account.url, account.section, accounts.credentials(account.section).identity
        )
    except RittunnelError:
        return None
    services = cache.get(key, clock()) or []
    if profile.service_is_id:
        found = [s for s in services if s.address.casefold() == profile.service.casefold()]
        return found[0] if len(found) == 1 else None
    try:
        return match_service(profile.service, services)
    except ServiceNameError:
        return None


async def list_services(
    accounts: Accounts,
    account: Account,
    cache: ServiceCache,
    *,
    fresh: bool = False,
    clock: Callable[[], float] = time.time,
) -> tuple[list[ServiceInfo], bool]:
    """The service list of ``account``, from the cache unless ``fresh``; also whether it
    was fetched just now."""
    key = cache.account(
        account.url, account.section, accounts.credentials(account.section).identity
    )
    if not fresh:
        cached = cache.get(key, clock())
        if cached is not None:
            return cached, False
    services = await accounts.client(account).list_services()
    cache.put(key, services, clock())
    return services, True


async def resolve_services(
    profiles: list[Profile],
    accounts: Accounts,
    cache: ServiceCache,
    reporter: Reporter,
    *,
    clock: Callable[[], float] = time.time,
) -> list[Profile]:
    """``profiles`` with every service name replaced by its service ID."""
    out = []
    for profile in profiles:
        if profile.service_is_id:
            out.append(profile)
            continue
        account = accounts.locate(profile)
        services, fresh = await list_services(accounts, account, cache, clock=clock)
        try:
            try:
                found = match_service(profile.service, services)
            except ServiceNameError:
                if fresh:
                    raise
                # a service added or renamed since the list was cached: look again
                services, _ = await list_services(accounts, account, cache, fresh=True, clock=clock)
                found = match_service(profile.service, services)
        except ServiceNameError as exc:
            raise ServiceNameError(f"{profile.source}: service: {exc}") from None
        reporter.debug(f"{profile.name}: service {profile.service!r} is {describe(found)}")
        out.append(
            dataclasses.replace(profile, service=found.address, service_name=profile.service)
        )
    return out
