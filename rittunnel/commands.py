"""The commands behind the CLI: each takes parsed arguments and the environment, does
its job through the lifecycle, and returns an exit code or raises a RittunnelError."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import trio

from .errors import RittunnelError
from .profiles import Profile, list_profiles, load_profile, load_profile_file
from .report import Reporter

if TYPE_CHECKING:
    from .api import ApiClient


def api_url_for(profile: Profile, env: Mapping[str, str]) -> str:
    from .protocol import DEFAULT_API_URL

    return (env.get("RITTUNNEL_API_URL") or profile.api_url or DEFAULT_API_URL).rstrip("/")


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise RittunnelError(f"{name}={raw!r} is not a positive number of seconds")
    return value


def _clients(
    env: Mapping[str, str], reporter: Reporter
) -> tuple[Callable[[str], ApiClient], dict[str, ApiClient]]:
    """One API client per base URL (sharing the token cache), made on first use."""
    from .api import DEFAULT_TIMEOUT, ApiClient
    from .credentials import credentials_from_env
    from .files import cache_dir
    from .tokencache import TokenCache, cache_key

    creds = credentials_from_env(env)
    reporter.add_secrets(creds.secrets())
    timeout = _float_env(env, "RITTUNNEL_API_TIMEOUT", DEFAULT_TIMEOUT)
    cache = TokenCache(cache_dir(env) / "tokens.json")
    clients: dict[str, ApiClient] = {}

    def client_for(url: str) -> ApiClient:
        if url not in clients:
            key = cache_key(url, creds)
            cached = cache.get(key) if creds.can_login and not creds.token else None
            if cached:
                reporter.add_secrets([cached])

            def remember(token: str, expires_at: float | None) -> None:
                reporter.add_secrets([token])
                cache.put(key, token, expires_at)

            clients[url] = ApiClient(url, creds, timeout=timeout, token=cached, on_token=remember)
        return clients[url]

    return client_for, clients


def up(args: argparse.Namespace, env: Mapping[str, str], reporter: Reporter) -> int:
    from .files import state_dir
    from .lifecycle import START_TIMEOUT, Options, Tunnel, cleanup_orphans, run_tunnels
    from .state import StateStore, TunnelState, process_start_time

    profiles = [load_profile(name, env) for name in args.names]
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise RittunnelError(f"a profile is named twice: {' '.join(names)}")
    client_for, clients = _clients(env, reporter)
    start_timeout = args.start_timeout or _float_env(env, "RITTUNNEL_START_TIMEOUT", START_TIMEOUT)
    options = Options(start_timeout=start_timeout)
    store = StateStore(state_dir(env))
    pid = os.getpid()
    pid_started = process_start_time(pid) or 0.0

    async def main() -> int:
        claimed: list[str] = []
        tunnels: list[Tunnel] = []
        try:
            await cleanup_orphans(store, client_for, reporter)
            states: dict[str, TunnelState] = {}
            for profile in profiles:
                url = api_url_for(profile, env)
                state = TunnelState(
                    name=profile.name,
                    pid=pid,
                    pid_started=pid_started,
                    api_url=url,
                    service=profile.service,
                    mode=profile.mode,
                    source=profile.source,
                )
                previous = store.claim(state)
                claimed.append(profile.name)
                if previous is not None and previous.connections:
                    store.write(previous)  # hand it to cleanup under its own name
                    await cleanup_orphans(store, client_for, reporter)
                    store.write(state)
                states[profile.name] = state

            def record(tunnel: Tunnel) -> None:
                state = states[tunnel.profile.name]
                state.connections = tunnel.keeper.open_ids
                state.local_port = tunnel.info.local_port
                state.addresses = tunnel.info.addresses
                state.upstream = tunnel.info.upstream
                state.ready = tunnel.ready
                store.write(state)

            for profile in profiles:
                url = api_url_for(profile, env)
                tunnels.append(
                    Tunnel(profile, client_for(url), reporter, options, on_change=record)
                )
            outcome = await run_tunnels([t.run for t in tunnels], reporter)
        finally:
            leftover = {t.profile.name for t in tunnels if t.keeper.open_ids}
            for name in claimed:
                if name not in leftover:
                    store.remove(name)
            for client in clients.values():
                await client.aclose()
        if outcome.signal is not None:
            reporter.debug(f"exited on {signal.Signals(outcome.signal).name}")
        return 0

    return trio.run(main)


def cleanup(env: Mapping[str, str], reporter: Reporter) -> int:
    """Stop proxies left open by tunnels that were killed."""
    from .files import state_dir
    from .lifecycle import cleanup_orphans
    from .state import StateStore

    store = StateStore(state_dir(env))
    client_for, clients = _clients(env, reporter)

    async def main() -> int:
        try:
            stopped = await cleanup_orphans(store, client_for, reporter)
        finally:
            for client in clients.values():
                await client.aclose()
        left = store.orphans()
        print(f"stopped {stopped} orphaned prox{'y' if stopped == 1 else 'ies'}", flush=True)
        return 1 if left else 0

    return trio.run(main)


def profiles(env: Mapping[str, str], reporter: Reporter) -> int:
    paths = list_profiles(env)
    if not paths:
        reporter.info("no profiles found; see README: Profiles")
        return 0
    rows: list[tuple[str, ...]] = []
    for path in paths:
        try:
            p = load_profile_file(path)
            rows.append((p.name, str(p.local_port), p.service, p.mode, str(path)))
        except RittunnelError as exc:
            rows.append((path.stem, "-", f"invalid: {exc}", "-", str(path)))
    header = ("NAME", "PORT", "SERVICE", "MODE", "FILE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))
    return 0
