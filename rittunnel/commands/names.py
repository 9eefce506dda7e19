"""The names a word on the command line may mean, as completion offers them and as "did
you mean …?" compares a typo with: profiles, running tunnels, and cached service names.

Looks at the file system only (never the API), reads no yaml and imports no trio or
httpx: completion runs this on every Tab."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import NoSuchProfile
from ..profiles import list_profiles, looks_like_path
from ..remoteit.names import ServiceCache
from ..settings import Settings
from ..suggest import did_you_mean
from ..tunnel.store import StateStore

#: what a word may name, for ``completion --list KIND``
KINDS = ("profiles", "tunnels", "services")


def profile_names(env: Mapping[str, str]) -> list[str]:
    """The profiles found (``rittunnel profiles``'s names)."""
    try:
        return [path.stem for path in list_profiles(env)]
    except OSError:
        return []


def tunnel_names(settings: Settings) -> list[str]:
    """The tunnels with a state file (running, or stopped with proxies left)."""
    return StateStore(settings.state_dir).names()


def service_names(settings: Settings) -> list[str]:
    """The service names the service-list cache holds (empty until a command listed
    the account's services)."""
    return ServiceCache.from_settings(settings).names()


def names_of(kind: str, settings: Settings) -> list[str]:
    """The names of ``kind`` (one of :data:`KINDS`)."""
    if kind == "profiles":
        return profile_names(settings.env)
    if kind == "tunnels":
        return tunnel_names(settings)
    if kind == "services":
        return service_names(settings)
    raise ValueError(f"no names of kind {kind!r}")


def typo_hint(err: NoSuchProfile, settings: Settings, commands: Iterable[str] = ()) -> str:
    """``err``'s message, with what the name may have meant first when something is
    close: a command (``commands``: given when the word stood where a command goes), a
    profile or a running tunnel."""
    if looks_like_path(err.name):
        return str(err)
    hint = did_you_mean(
        err.name,
        [*commands, *profile_names(settings.env), *tunnel_names(settings)],
    )
    return err.hinted(hint, or_command=bool(commands)) if hint else str(err)
