"""``rittunnel stdio NAME``: one connection through a proxy over stdin/stdout (ssh
``ProxyCommand``); the relaying itself is :mod:`rittunnel.tunnel.stdio`."""

from __future__ import annotations

import argparse

import trio

from ..profiles import load_profile
from ..report import Reporter
from ..settings import Settings
from .common import accounts_for, resolve, with_options


def stdio(args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    """Relay stdin/stdout through a fresh proxy (ssh ProxyCommand)."""
    from ..tunnel.state import StateStore
    from ..tunnel.stdio import serve_stdio

    settings = with_options(settings, args)
    profile = load_profile(args.name, settings.env)
    reporter.out = reporter.err  # stdout carries the relayed bytes only
    if not args.verbose:
        reporter.quiet = True
    accounts = accounts_for(settings, reporter, [profile])
    store = StateStore(settings.state_dir)

    async def main() -> int:
        try:
            [resolved] = await resolve([profile], accounts, settings, reporter)
            return await serve_stdio(resolved, accounts, store, reporter, settings)
        finally:
            await accounts.aclose()

    return trio.run(main)
