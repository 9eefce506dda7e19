"""``rittunnel cleanup``: stop proxies left open by tunnels that were killed."""

from __future__ import annotations

import trio

from ..report import Reporter
from ..settings import Settings
from .common import accounts_for


def cleanup(settings: Settings, reporter: Reporter) -> int:
    """Stop proxies left open by tunnels that were killed, through the API URLs the
    user's configuration names; remove stale stop requests. 1 if some are left."""
    from ..tunnel.claims import cleanup_orphans
    from ..tunnel.store import StateStore
    from ..tunnel.trust import TrustedUrls

    store = StateStore(settings.state_dir)
    accounts = accounts_for(settings, reporter)

    async def main() -> int:
        try:
            stopped = await cleanup_orphans(
                store,
                accounts,
                reporter,
                stop_timeout=settings.stop_timeout,
                trusted=TrustedUrls(settings),
            )
        finally:
            await accounts.aclose()
        left = store.orphans()
        store.report(reporter.warn)
        reporter.output(f"stopped {stopped} orphaned prox{'y' if stopped == 1 else 'ies'}")
        return 1 if left else 0

    return trio.run(main)
