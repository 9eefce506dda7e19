"""The commands behind the CLI: each takes parsed arguments and the environment, does
its job through the lifecycle, and returns an exit code or raises a RittunnelError."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import trio

from .errors import RittunnelError
from .profiles import Profile, list_profiles, load_profile, load_profile_file
from .report import Reporter
from .units import env_count, env_seconds

if TYPE_CHECKING:
    from .accounts import Accounts
    from .lifecycle import Options
    from .session import Outcome, Session


def _accounts(
    env: Mapping[str, str], reporter: Reporter, profiles: list[Profile] | None = None
) -> Accounts:
    """The API accounts; the credentials of each profile's account are read here, so a
    missing one is said before any I/O."""
    from .accounts import Accounts

    accounts = Accounts(env, reporter)
    for profile in profiles or []:
        accounts.locate(profile)
    return accounts


async def _resolve(
    profiles: list[Profile], accounts: Accounts, env: Mapping[str, str], reporter: Reporter
) -> list[Profile]:
    """The profiles with service names turned into IDs."""
    from .services import ServiceCache, resolve_services

    return await resolve_services(profiles, accounts, ServiceCache.from_env(env), reporter)


def load_profiles(names: list[str], env: Mapping[str, str]) -> list[Profile]:
    profiles = [load_profile(name, env) for name in names]
    seen = [p.name for p in profiles]
    if len(set(seen)) != len(seen):
        raise RittunnelError(f"a profile is named twice: {' '.join(seen)}")
    return profiles


def _session_options(args: argparse.Namespace, env: Mapping[str, str]) -> Options:
    from .lifecycle import START_TIMEOUT, Options

    start_timeout = getattr(args, "start_timeout", None) or env_seconds(
        env, "RITTUNNEL_START_TIMEOUT", START_TIMEOUT
    )
    return Options(start_timeout=start_timeout)


def _run_session(
    profiles: list[Profile],
    args: argparse.Namespace,
    env: Mapping[str, str],
    reporter: Reporter,
    *,
    log: str = "",
    on_ready: Callable[[], None] | None = None,
    body: Callable[[Session], Awaitable[int]] | None = None,
) -> Outcome:
    from . import relay
    from .files import state_dir
    from .session import Session
    from .state import StateStore

    relay.raise_fd_limit()
    relay.MAX_THREADS = env_count(env, "RITTUNNEL_RELAY_THREADS", relay.MAX_THREADS)
    accounts = _accounts(env, reporter, profiles)
    options = _session_options(args, env)

    async def main() -> Outcome:
        try:
            resolved = await _resolve(profiles, accounts, env, reporter)
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


def up(args: argparse.Namespace, env: Mapping[str, str], reporter: Reporter) -> int:
    """Serve the profiles in the foreground (or, with ``-d``, in a background process)."""
    profiles = load_profiles(args.names, env)
    if args.detach:
        from .detach import detach

        _accounts(env, reporter, profiles)  # missing credentials: here, not in a log file
        start_timeout = _session_options(args, env).start_timeout
        return detach(profiles, args, env, reporter, start_timeout)
    on_ready = None
    if args.notify_fd is not None:  # we are the background process of `up -d`
        reporter.timestamps = True
        on_ready = _notify_parent(args.notify_fd, reporter)
    outcome = _run_session(
        profiles, args, env, reporter, log=args.log_file or "", on_ready=on_ready
    )
    return 1 if outcome.failed else 0


def _notify_parent(fd: int, reporter: Reporter) -> Callable[[], None]:
    """Forward events to the waiting ``up -d`` parent over ``fd`` until every tunnel is
    ready; then close it (the parent reads EOF and returns)."""

    def sink(record: dict[str, object]) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, (json.dumps(record) + "\n").encode())

    def ready() -> None:
        reporter.sinks.remove(sink)
        os.close(fd)

    reporter.sinks.append(sink)
    return ready


def cleanup(env: Mapping[str, str], reporter: Reporter) -> int:
    """Stop proxies left open by tunnels that were killed."""
    from .files import state_dir
    from .lifecycle import cleanup_orphans
    from .state import StateStore

    store = StateStore(state_dir(env))
    accounts = _accounts(env, reporter)

    async def main() -> int:
        try:
            stopped = await cleanup_orphans(store, accounts, reporter)
        finally:
            await accounts.aclose()
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


class CommandNotRunnable(RittunnelError):
    """``rittunnel run``: the command could not be started (exit 127 like a shell)."""

    exit_code = 127


def _forward_sigint(stdin_fd: int = 0) -> bool:
    """Whether SIGINT must be forwarded to a child sharing our terminal. When we are in
    the terminal's foreground process group, the terminal already sent Ctrl-C to the
    child too; forwarding it would deliver it twice."""
    try:
        return os.tcgetpgrp(stdin_fd) != os.getpgrp()
    except OSError:
        return True  # no terminal: the signal came from kill(1), pass it on


def run(args: argparse.Namespace, env: Mapping[str, str], reporter: Reporter) -> int:
    """Bring one tunnel up, run a command against it, tear down when it exits."""
    import dataclasses

    command = list(args.command_argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise RittunnelError("run: no command given; usage: rittunnel run NAME -- CMD [ARGS…]")
    profile = load_profile(args.name, env)
    if args.port is not None:
        profile = dataclasses.replace(profile, local_port=args.port)
    reporter.out = reporter.err  # stdout belongs to the command
    forward_sigint = _forward_sigint()

    async def body(session: Session) -> int:
        info = session.slots[0].tunnel.info
        port, host = str(info.local_port), info.host
        argv = [a.replace("{port}", port).replace("{host}", host) for a in command]
        child_env = {**env, "RITTUNNEL_PORT": port, "RITTUNNEL_HOST": host}
        try:
            proc = await trio.lowlevel.open_process(argv, env=child_env)
        except OSError as exc:
            raise CommandNotRunnable(f"run: cannot run {argv[0]!r}: {exc.strerror}") from None
        session.forward_to = proc
        session.forward_sigint = forward_sigint
        try:
            code = await proc.wait()
        finally:
            if proc.returncode is None:  # we are being torn down (the tunnel failed)
                proc.terminate()
                with trio.CancelScope(shield=True):
                    await proc.wait()
        reporter.debug(f"run: {argv[0]} exited with {code}")
        return 128 - code if code < 0 else code

    outcome = _run_session([profile], args, env, reporter, body=body)
    if outcome.body_result is not None:
        return outcome.body_result
    if outcome.signal is not None:
        return 128 + outcome.signal
    return 1


def stdio(args: argparse.Namespace, env: Mapping[str, str], reporter: Reporter) -> int:
    """Relay stdin/stdout through a fresh proxy (ssh ProxyCommand)."""
    from .files import state_dir
    from .state import StateStore
    from .stdio import serve_stdio

    profile = load_profile(args.name, env)
    reporter.out = reporter.err  # stdout carries the relayed bytes only
    if not args.verbose:
        reporter.quiet = True
    accounts = _accounts(env, reporter, [profile])
    store = StateStore(state_dir(env))
    options = _session_options(args, env)

    async def main() -> int:
        try:
            [resolved] = await _resolve([profile], accounts, env, reporter)
            return await serve_stdio(resolved, accounts, store, reporter, options)
        finally:
            await accounts.aclose()

    return trio.run(main)
