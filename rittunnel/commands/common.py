"""What the commands share: loading profiles, the accounts behind them, resolving service
names, and running a session of tunnels under trio (imported only there: ``stdio``
through a running tunnel never needs it)."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RittunnelError
from ..profiles import Profile
from ..report import Reporter
from ..settings import Settings

if TYPE_CHECKING:
    from ..remoteit.accounts import Accounts
    from ..tunnel.session import Outcome, Session


def self_argv(argv0: str, executable: str, cwd: str | None = None) -> list[str]:
    """How to run this rittunnel again from anywhere (``ssh-config``'s ProxyCommand,
    ``unit``'s ExecStart): the absolute path of the ``rittunnel`` console script it was
    started as (an executable file of that name), else the absolute path of this Python
    with ``-m rittunnel``. Symbolic links are kept (a venv's or pipx's stable path, not the
    versioned file behind it); relative paths are taken from ``cwd`` (default: here)."""
    base = cwd or os.getcwd()
    script = argv0
    if script and os.sep not in script:
        import shutil  # lazy: stdio beside a tunnel needs none of it

        script = shutil.which(script) or ""
    if script and Path(script).name == "rittunnel":
        path = os.path.normpath(os.path.join(base, script))
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return [path]
    return [os.path.normpath(os.path.join(base, executable)), "-m", "rittunnel"]


def with_start_timeout(settings: Settings, start_timeout: float | None) -> Settings:
    """``settings`` with what the command line overrides (``--start-timeout``)."""
    return settings.replace(start_timeout=start_timeout) if start_timeout else settings


def accounts_for(
    settings: Settings, reporter: Reporter, profiles: list[Profile] | None = None
) -> Accounts:
    """The API accounts; the credentials of each profile's account are read here, so a
    missing one is said before any I/O."""
    from ..remoteit.accounts import Accounts

    accounts = Accounts(settings, reporter)
    for profile in profiles or []:
        accounts.locate(profile)
    return accounts


async def resolve(
    profiles: list[Profile], accounts: Accounts, settings: Settings, reporter: Reporter
) -> list[Profile]:
    """The profiles with service names turned into IDs."""
    from ..remoteit.names import ServiceCache, resolve_services

    return await resolve_services(
        profiles, accounts, ServiceCache.from_settings(settings), reporter
    )


def resolved_now(
    profile: Profile, accounts: Accounts, settings: Settings, reporter: Reporter
) -> Profile:
    """``profile`` with its service name turned into an ID (as :func:`resolve`, in a trio
    run of its own, ``accounts`` closed after it: the service list, cached for
    ``RITTUNNEL_SERVICES_TTL``). ``stdio`` and ``run`` use it to find a running tunnel
    whose profile gave the service's ID when theirs gives its name, before opening a
    proxy of their own."""
    import trio

    async def main() -> Profile:
        try:
            [resolved] = await resolve([profile], accounts, settings, reporter)
            return resolved
        finally:
            await accounts.aclose()

    return trio.run(main)


def load_profiles(names: list[str], settings: Settings) -> list[Profile]:
    from ..profiles.loader import load_profile  # lazy: `stdio --service ID` loads no yaml

    profiles = [load_profile(name, settings.env) for name in names]
    seen = [p.name for p in profiles]
    if len(set(seen)) != len(seen):
        raise RittunnelError(f"a profile is named twice: {' '.join(seen)}")
    return profiles


def run_session(
    profiles: list[Profile],
    settings: Settings,
    reporter: Reporter,
    *,
    log: str = "",
    on_ready: Callable[[], None] | None = None,
    body: Callable[[Session], Awaitable[int]] | None = None,
    accounts: Accounts | None = None,
    on_stopping: Callable[[str], None] | None = None,
    shareable: bool = True,
) -> Outcome:
    """Serve ``profiles`` in this process until they end (see :class:`Session`);
    ``accounts``: those of :func:`accounts_for` when the caller made them already;
    ``shareable=False``: no ``stdio`` or ``run`` may use these tunnels (``run``'s own)."""
    import trio

    from ..net import raise_fd_limit
    from ..tunnel.session import Session
    from ..tunnel.signals import ignore_stop_signals_after
    from ..tunnel.store import StateStore

    raise_fd_limit()
    accounts = accounts or accounts_for(settings, reporter, profiles)

    async def main() -> Outcome:
        try:
            resolved = await resolve(profiles, accounts, settings, reporter)
            session = Session(
                resolved,
                accounts,
                StateStore(settings.state_dir),
                reporter,
                settings,
                log=log,
                shareable=shareable,
            )
            return await session.run(on_ready=on_ready, body=body, on_stopping=on_stopping)
        finally:
            await accounts.aclose()

    ignore_stop_signals_after()  # this process ends with the session
    outcome = trio.run(main)
    if outcome.signal is not None:
        reporter.debug(f"exited on {signal.Signals(outcome.signal).name}")
    return outcome
