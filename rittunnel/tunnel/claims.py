"""A tunnel's state file, from claim to release, and the orphans of killed tunnels.

* :func:`new_state` is what a tunnel of this process records (its profile, account and
  process); :class:`Claim` holds that file while the tunnel lives: claimed on entry (a
  live holder of the same name is an error; a dead one's proxies are stopped first, and
  its record kept beside the claim while they cannot be), written by
  :meth:`Claim.record` as the tunnel changes (best effort: a full disk is said once, not
  fatal), released on exit: removed, or kept when proxies are still open, for ``cleanup``.
* :func:`cleanup_orphans` stops the proxies of tunnels whose process is gone, but only
  through an API URL the user's own configuration names
  (:class:`~rittunnel.tunnel.trust.TrustedUrls`): a state file is no reason to send
  credentials anywhere.

The files themselves are :mod:`rittunnel.tunnel.state` (format), :mod:`.store` (the
directory, atomic writes) and :mod:`.procs` (liveness); the stop call is
:func:`~rittunnel.tunnel.stopping.stop_proxy`, the keeper's too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RittunnelError
from ..profiles import Profile
from ..report import Reporter
from ..settings import STOP_TIMEOUT, Settings
from ..text import redact_url
from .procs import process_start_time
from .state import TunnelState, account_of
from .stopping import stop_proxy
from .store import StateStore
from .trust import Trust, TrustedUrls
from .upstream import ApiClients


def new_state(
    profile: Profile,
    clients: ApiClients,
    name: str,
    *,
    log: str = "",
    addresses: list[str] | None = None,
    shareable: bool = True,
) -> TunnelState:
    """The state file of a tunnel this process runs for ``profile``, under ``name``;
    ``shareable``: whether ``stdio`` and ``run`` may use it (see ``TunnelState``)."""
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
        shareable=shareable,
        # before its first proxy (on_demand), a tunnel that asks for a reverse proxy is
        # already no use to stdio; ``auto`` is known once remote.it answers
        reverse=profile.proxy == "reverse",
    )


def trust_of(clients: ApiClients, trusted: Trust | None) -> Trust:
    """``trusted``, else the :class:`TrustedUrls` of the settings ``clients`` were made
    with (:class:`~rittunnel.remoteit.accounts.Accounts` has them), else nothing."""
    if trusted is not None:
        return trusted
    settings = getattr(clients, "settings", None)
    if isinstance(settings, Settings):
        return TrustedUrls(settings)
    return lambda url: False


@dataclass
class Claim:
    """``async with Claim(...)``: this process holds ``state``'s file meanwhile.

    The caller keeps ``state`` up to date (its ``proxies`` above all) and calls
    :meth:`record` to write it. On exit, or an earlier :meth:`release`, the file is
    removed if no proxy is left open, else written once more (``released``) and left
    for ``cleanup``. ``trusted``: see :func:`cleanup_orphans`."""

    store: StateStore
    state: TunnelState
    clients: ApiClients
    reporter: Reporter
    stop_timeout: float = STOP_TIMEOUT
    trusted: Trust | None = None
    #: the file is ours: claimed and not released yet
    held: bool = field(default=False, init=False)
    #: the last write failed (said once; the next one that works says so)
    write_failed: bool = field(default=False, init=False)

    async def __aenter__(self) -> Claim:
        """Claim the file (raises if a live process holds the name). A dead holder's
        proxies are stopped first; its record stays (``NAME.orphan-PID``) while they
        cannot be."""
        previous = self.store.claim(self.state)
        self.held = True
        try:
            self.store.report(self.reporter.warn)
            if previous is not None:
                await cleanup_orphans(
                    self.store,
                    self.clients,
                    self.reporter,
                    stop_timeout=self.stop_timeout,
                    trusted=self.trusted,
                )
        except BaseException:
            self.release()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    def record(self, *, durable: bool = True) -> None:
        """Write ``state`` as it is now (``durable=False``: no fsync, for live counters).
        Best effort: a write that fails (full disk, read-only directory) is said once,
        tried again at the next record, and its recovery said once."""
        if not self.held:
            return
        try:
            self.store.write(self.state, durable=durable)
        except OSError as exc:
            if not self.write_failed:
                self.reporter.warn(
                    f"{self.state.name}: cannot write its state file: {_why(exc)}; "
                    "`rittunnel status` shows stale numbers until it works again"
                )
            self.write_failed = True
            return
        if self.write_failed:
            self.write_failed = False
            self.reporter.info(f"{self.state.name}: its state file is written again")

    def release(self) -> None:
        """The tunnel is over: remove the file, or keep it (released) while proxies are
        open. Never raises: what cannot be written is said."""
        if not self.held:
            return
        self.held = False
        name, proxies = self.state.name, self.state.proxies
        try:
            if proxies:
                self.state.released = True
                self.store.write(self.state)
            else:
                self.store.remove(name)
        except OSError as exc:
            left = f"; proxies {', '.join(proxies)} stay open until they expire" if proxies else ""
            self.reporter.warn(f"{name}: cannot update its state file: {_why(exc)}{left}")


async def cleanup_orphans(
    store: StateStore,
    clients: ApiClients,
    reporter: Reporter,
    *,
    stop_timeout: float = STOP_TIMEOUT,
    trusted: Trust | None = None,
) -> int:
    """Stop the proxies of tunnels whose process is gone (``kill -9``, a crash, a reboot)
    and remove their state files; remove stale stop requests; report state files set
    aside as bad. Returns how many proxies were stopped.

    A proxy the API no longer knows (expired, killed, stopped) counts as gone, quietly;
    an API outage keeps the file for next time. Credentials go only to an API URL that
    ``trusted`` accepts (default: :func:`trust_of`); another URL's orphans are reported
    and left alone."""
    trust = trust_of(clients, trusted)
    stopped = 0
    for path, state in store.orphans():
        if state.proxies and not trust(state.api_url):
            _distrust(path, state, reporter)
            continue
        left, done = await _stop_all(state, clients, reporter, stop_timeout)
        stopped += done
        _settle(store, path, state, left, reporter)
    store.remove_stale_stop_requests()
    store.report(reporter.warn)
    return stopped


def _distrust(path: Path, state: TunnelState, reporter: Reporter) -> None:
    what = "proxy" if len(state.proxies) == 1 else "proxies"
    reporter.warn(
        f"{what} {', '.join(state.proxies)} of {state.name} was made through API URL "
        f"{redact_url(state.api_url)}, which none of your settings name; not sending credentials "
        f"there; remove {path} if it is not yours"
    )


async def _stop_all(
    state: TunnelState, clients: ApiClients, reporter: Reporter, stop_timeout: float
) -> tuple[list[str], int]:
    """Stop ``state``'s proxies: the IDs that may still be open, and how many it stopped
    (one the API no longer knows is neither)."""
    try:
        api = clients.client(account_of(state))
    except RittunnelError as exc:  # its credentials section is gone, say
        reporter.warn(f"cannot stop the proxies of {state.name}: {exc}")
        return list(state.proxies), 0
    left: list[str] = []
    stopped = 0
    for cid in state.proxies:
        result = await stop_proxy(api, state.service, cid, stop_timeout)
        if result.outcome == "stopped":
            stopped += 1
            reporter.info(
                f"stopped proxy {cid} left open by {state.name} (pid {state.pid} is gone)"
            )
        elif result.outcome == "gone":  # expired, killed or stopped meanwhile
            reporter.debug(f"proxy {cid} of {state.name} already gone: {result.detail}")
        else:
            left.append(cid)
            reporter.warn(f"could not stop proxy {cid} of {state.name}: {result.detail}")
    return left, stopped


def _settle(
    store: StateStore, path: Path, state: TunnelState, left: list[str], reporter: Reporter
) -> None:
    """Keep ``state`` with the proxies ``left``, or remove its file when none is."""
    try:
        if left:
            state.proxies = left
            store.write(state)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        reporter.warn(f"cannot update the state file {path}: {_why(exc)}")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
