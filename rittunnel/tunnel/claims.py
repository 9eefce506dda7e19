"""A tunnel's state file, from claim to release, and the orphans of killed tunnels.

* :func:`new_state` is what a tunnel of this process records (its profile, account and
  process); :class:`Claim` holds that file while the tunnel lives: claimed on entry (a
  live holder of the same name is an error; a dead one's proxies are stopped first),
  written by :meth:`Claim.record` as the tunnel changes, released on exit: removed, or
  kept when proxies are still open, for ``cleanup``.
* :func:`cleanup_orphans` stops the proxies of tunnels whose process is gone.

The files themselves (format, atomic writes, liveness) are :mod:`rittunnel.tunnel.state`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import trio

from ..errors import ApiError, ApiRefused, AuthError
from ..profiles import Profile
from ..remoteit.accounts import Account
from ..report import Reporter
from ..settings import STOP_TIMEOUT, Api
from .state import StateStore, TunnelState, process_start_time
from .upstream import ApiClients


def new_state(
    profile: Profile,
    clients: ApiClients,
    name: str,
    *,
    log: str = "",
    addresses: list[str] | None = None,
) -> TunnelState:
    """The state file of a tunnel this process runs for ``profile``, under ``name``."""
    pid = os.getpid()
    account = clients.locate(profile)
    return TunnelState(
        name=name,
        pid=pid,
        pid_started=process_start_time(pid) or 0.0,
        api_url=account.url,
        credentials=account.section,
        api=account.api,
        service=profile.service,
        service_name=profile.service_name,
        mode=profile.mode,
        source=profile.source,
        addresses=addresses or [],
        log=log,
    )


def account_of(state: TunnelState) -> Account:
    """The account whose proxies ``state`` records (an older file without ``api``: REST)."""
    api: Api = "graphql" if state.api == "graphql" else "rest"
    return Account(state.api_url, state.credentials, api)


@dataclass
class Claim:
    """``async with Claim(...)``: this process holds ``state``'s file meanwhile.

    The caller keeps ``state`` up to date (its ``proxies`` above all) and calls
    :meth:`record` to write it. On exit, or an earlier :meth:`release`, the file is
    removed if no proxy is left open, else written once more and left for ``cleanup``
    (which will find this process gone)."""

    store: StateStore
    state: TunnelState
    clients: ApiClients
    reporter: Reporter
    stop_timeout: float = STOP_TIMEOUT
    #: the file is ours: claimed and not released yet
    held: bool = field(default=False, init=False)

    async def __aenter__(self) -> Claim:
        """Claim the file (raises if a live process holds the name). A dead holder's
        proxies are stopped under its own name first."""
        previous = self.store.claim(self.state)
        self.held = True
        try:
            if previous is not None and previous.proxies:
                self.store.write(previous)
                await cleanup_orphans(
                    self.store, self.clients, self.reporter, stop_timeout=self.stop_timeout
                )
            self.store.write(self.state)
        except BaseException:
            self.release()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def record(self, *, durable: bool = True) -> None:
        """Write ``state`` as it is now (``durable=False``: no fsync, for live counters)."""
        if self.held:
            self.store.write(self.state, durable=durable)

    def release(self) -> None:
        """The tunnel is over: remove the file, or keep it while proxies are open."""
        if not self.held:
            return
        self.held = False
        if self.state.proxies:
            self.store.write(self.state)
        else:
            self.store.remove(self.state.name)


async def cleanup_orphans(
    store: StateStore,
    clients: ApiClients,
    reporter: Reporter,
    *,
    stop_timeout: float = STOP_TIMEOUT,
) -> int:
    """Stop the proxies of tunnels whose process is gone (``kill -9``, a crash, a reboot)
    and remove their state files. Returns how many proxies were stopped. A proxy the API
    no longer knows (it expired meanwhile) counts as gone; an API outage keeps the file
    for next time."""
    stopped = 0
    for path, state in store.orphans():
        left = []
        api = clients.client(account_of(state))
        for cid in state.proxies:
            try:
                with trio.fail_after(stop_timeout):
                    await api.stop(state.service, cid)
                stopped += 1
                reporter.info(
                    f"stopped proxy {cid} left open by {state.name} (pid {state.pid} is gone)"
                )
            except ApiRefused as exc:
                if exc.transient or isinstance(exc, AuthError):
                    left.append(cid)
                    reporter.warn(f"could not stop proxy {cid} of {state.name}: {exc}")
                else:
                    reporter.debug(f"proxy {cid} of {state.name} already gone: {exc}")
            except (ApiError, trio.TooSlowError) as exc:
                left.append(cid)
                reporter.warn(f"could not stop proxy {cid} of {state.name}: {exc}")
        if left:
            state.proxies = left
            store.write(state)
        else:
            path.unlink(missing_ok=True)
    return stopped
