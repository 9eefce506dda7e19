"""``rittunnel cleanup``: stop proxies left open by tunnels that were killed."""

from __future__ import annotations

from collections.abc import Mapping

import trio

from ..report import Reporter
from .common import accounts_for


def cleanup(env: Mapping[str, str], reporter: Reporter) -> int:
    """Stop proxies left open by tunnels that were killed."""
    from ..files import state_dir
    from ..tunnel.state import StateStore
    from ..tunnel.upstream import cleanup_orphans

    store = StateStore(state_dir(env))
    accounts = accounts_for(env, reporter)

    async def main() -> int:
        try:
            stopped = await cleanup_orphans(store, accounts, reporter)
        finally:
            await accounts.aclose()
        left = store.orphans()
        print(f"stopped {stopped} orphaned prox{'y' if stopped == 1 else 'ies'}", flush=True)
        return 1 if left else 0

    return trio.run(main)
