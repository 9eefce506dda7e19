"""``rittunnel stdio NAME``: one connection through a proxy over stdin/stdout (ssh
``ProxyCommand``); the relaying itself is :mod:`rittunnel.tunnel.stdio`."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

import trio

from ..profiles import load_profile
from ..report import Reporter
from .common import accounts_for, resolve, session_options


def stdio(args: argparse.Namespace, env: Mapping[str, str], reporter: Reporter) -> int:
    """Relay stdin/stdout through a fresh proxy (ssh ProxyCommand)."""
    from ..files import state_dir
    from ..tunnel.state import StateStore
    from ..tunnel.stdio import serve_stdio

    profile = load_profile(args.name, env)
    reporter.out = reporter.err  # stdout carries the relayed bytes only
    if not args.verbose:
        reporter.quiet = True
    accounts = accounts_for(env, reporter, [profile])
    store = StateStore(state_dir(env))
    options = session_options(args, env)

    async def main() -> int:
        try:
            [resolved] = await resolve([profile], accounts, env, reporter)
            return await serve_stdio(resolved, accounts, store, reporter, options)
        finally:
            await accounts.aclose()

    return trio.run(main)
