"""What the commands share: loading profiles, the accounts behind them, resolving service
names, and running a session of tunnels under trio."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import trio

from ..errors import RittunnelError
from ..profiles import Profile, load_profile
from ..report import Reporter
from ..units import env_count, env_seconds

if TYPE_CHECKING:
    from ..remoteit.accounts import Accounts
    from ..tunnel.session import Outcome, Session
    from ..tunnel.upstream import Options


def accounts_for(
    env: Mapping[str, str], reporter: Reporter, profiles: list[Profile] | None = None
) -> Accounts:
    """The API accounts; the credentials of each profile's account are read here, so a
    missing one is said before any I/O."""
    from ..remoteit.accounts import Accounts

    accounts = Accounts(env, reporter)
    for profile in profiles or []:
        accounts.locate(profile)
    return accounts


async def resolve(
    profiles: list[Profile], accounts: Accounts, env: Mapping[str, str], reporter: Reporter
) -> list[Profile]:
    """The profiles with service names turned into IDs."""
    from ..remoteit.names import ServiceCache, resolve_services

    return await resolve_services(profiles, accounts, ServiceCache.from_env(env), reporter)


def load_profiles(names: list[str], env: Mapping[str, str]) -> list[Profile]:
    profiles = [load_profile(name, env) for name in names]
    seen = [p.name for p in profiles]
    if len(set(seen)) != len(seen):
        raise RittunnelError(f"a profile is named twice: {' '.join(seen)}")
    return profiles


def session_options(args: argparse.Namespace, env: Mapping[str, str]) -> Options:
    from ..tunnel.upstream import START_TIMEOUT, Options

    start_timeout = getattr(args, "start_timeout", None) or env_seconds(
        env, "RITTUNNEL_START_TIMEOUT", START_TIMEOUT
    )
    return Options(start_timeout=start_timeout)


def run_session(
    profiles: list[Profile],
    args: argparse.Namespace,
    env: Mapping[str, str],
    reporter: Reporter,
    *,
    log: str = "",
    on_ready: Callable[[], None] | None = None,
    body: Callable[[Session], Awaitable[int]] | None = None,
) -> Outcome:
    from .. import relay
    from ..files import state_dir
    from ..net import raise_fd_limit
    from ..tunnel.session import Session
    from ..tunnel.state import StateStore

    raise_fd_limit()
    relay.MAX_THREADS = env_count(env, "RITTUNNEL_RELAY_THREADS", relay.MAX_THREADS)
    accounts = accounts_for(env, reporter, profiles)
    options = session_options(args, env)

    async def main() -> Outcome:
        try:
            resolved = await resolve(profiles, accounts, env, reporter)
            session = Session(
                resolved, accounts, StateStore(state_dir(env)), reporter, options, log=log
            )
            return await session.run(on_ready=on_ready, body=body)
        finally:
            await accounts.aclose()

    outcome = trio.run(main)
    if outcome.signal is not None:
        reporter.debug(f"exited on {signal.Signals(outcome.signal).name}")
    return outcome
