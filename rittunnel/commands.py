"""The commands behind the CLI: each takes parsed arguments and the environment, does
its job through the lifecycle, and returns an exit code or raises a RittunnelError."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Mapping

import trio

from .errors import RittunnelError
from .profiles import Profile, list_profiles, load_profile, load_profile_file
from .report import Reporter


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


def up(args: argparse.Namespace, env: Mapping[str, str], reporter: Reporter) -> int:
    from .api import DEFAULT_TIMEOUT, ApiClient
    from .credentials import credentials_from_env
    from .lifecycle import START_TIMEOUT, Options, Tunnel, run_tunnels

    profiles = [load_profile(name, env) for name in args.names]
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise RittunnelError(f"a profile is named twice: {' '.join(names)}")
    creds = credentials_from_env(env)
    reporter.add_secrets(creds.secrets())
    timeout = _float_env(env, "RITTUNNEL_API_TIMEOUT", DEFAULT_TIMEOUT)
    start_timeout = args.start_timeout or _float_env(env, "RITTUNNEL_START_TIMEOUT", START_TIMEOUT)
    options = Options(start_timeout=start_timeout)

    async def main() -> int:
        clients: dict[str, ApiClient] = {}
        try:
            tunnels = []
            for profile in profiles:
                url = api_url_for(profile, env)
                if url not in clients:
                    clients[url] = ApiClient(url, creds, timeout=timeout)
                tunnels.append(Tunnel(profile, clients[url], reporter, options))
            outcome = await run_tunnels([t.run for t in tunnels], reporter)
        finally:
            for client in clients.values():
                await client.aclose()
        if outcome.signal is not None:
            reporter.debug(f"exited on {signal.Signals(outcome.signal).name}")
        return 0

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
