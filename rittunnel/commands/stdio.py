"""``rittunnel stdio NAME`` (or ``stdio --service NAME|ID [--credentials SECTION]``, no
profile: what ``ssh-config`` writes): one connection to the service over stdin/stdout
(ssh ``ProxyCommand``).

With ``--service`` the profile is made from the command line
(:func:`~rittunnel.profiles.service.command_profile`): latching, asking for a port proxy
(ssh needs a port, whatever the service's type), then everything as for a profile.

Through a running tunnel of the same service and account when there is one
(:mod:`rittunnel.tunnel.share`): looked for before anything that could call the API, and
used without trio, a state file or an API call, so ssh starts in milliseconds. A service
given by name that no running tunnel names is resolved (the service list, cached) and
looked for again by its ID, since a tunnel whose profile gave the ID serves it too. Else
through a proxy of its own (:mod:`rittunnel.tunnel.stdio`), or, with ``--persist
DURATION``, through a tunnel it starts in the background that outlives it
(:mod:`rittunnel.commands.persist`).

A running tunnel that closes the connection before the service sent a byte could not
reach it (no proxy: an offline device...): a one-line error naming that tunnel, exit 1;
what it read from stdin is gone, so no proxy of our own is tried then."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..errors import RittunnelError
from ..profiles import Profile
from ..profiles.service import command_profile
from ..report import Reporter
from ..settings import Settings
from ..text import printable
from ..tunnel.store import StateStore
from .common import accounts_for, with_start_timeout

if TYPE_CHECKING:
    from ..remoteit.accounts import Account, Accounts
    from .options import StdioOptions

#: what :func:`through_running` did
Found = Literal["used", "none", "refused"]


def stdio(args: StdioOptions, settings: Settings, reporter: Reporter) -> int:
    """Relay stdin/stdout through a running tunnel, else through a fresh proxy."""
    settings = with_start_timeout(settings, args.start_timeout)
    profile = command_profile(
        "stdio", args.name, args.service, args.credentials, settings.env, proxy="port"
    )
    if args.notify_fd is not None:  # we are the background tunnel of `stdio --persist`
        from .persist import serve_persistent

        return serve_persistent(profile, args, settings, reporter)
    reporter.out = reporter.err  # stdout carries the relayed bytes only
    if not args.verbose:
        reporter.quiet = True
    accounts = accounts_for(settings, reporter, [profile])
    store = StateStore(settings.state_dir)
    if profile.proxy == "reverse":
        refuse_web(profile, web_service(profile, accounts, store, settings))
    found = through_running(profile, accounts.locate(profile), store, reporter)
    if found == "none":  # before any API call: a known web service is refused now
        refuse_web(profile, web_service(profile, accounts, store, settings))
    if found == "none" and not profile.service_is_id:
        # a running tunnel may know the service by its ID
        from .common import resolved_now

        profile = resolved_now(profile, accounts, settings, reporter)
        found = through_running(profile, accounts.locate(profile), store, reporter)
        if found == "none":  # the list is cached now: its type is known, no connect
            refuse_web(profile, web_service(profile, accounts, store, settings))
    if found == "used":
        return 0
    if args.persist:
        return _through_persistent(
            profile, args, accounts.locate(profile), store, settings, reporter
        )

    import trio

    from ..tunnel.signals import ignore_stop_signals_after
    from ..tunnel.stdio import serve_stdio

    async def main() -> int:
        try:
            return await serve_stdio(profile, accounts, store, reporter, settings)
        finally:
            await accounts.aclose()

    ignore_stop_signals_after()  # this process ends with the relay
    return trio.run(main)


def _through_persistent(
    profile: Profile,
    args: StdioOptions,
    account: Account,
    store: StateStore,
    settings: Settings,
    reporter: Reporter,
) -> int:
    """Relay through the tunnel ``--persist`` leaves running (started now if need be)."""
    from .persist import ensure_persistent

    ensure_persistent(profile, args, account, store, settings, reporter)
    if through_running(profile, account, store, reporter) != "used":
        raise RittunnelError(
            f"stdio: the background tunnel of {profile.name} does not take connections; "
            "see `rittunnel status`"
        )
    return 0


def web_service(
    profile: Profile, accounts: Accounts, store: StateStore, settings: Settings
) -> str | None:
    """How we know, with no API call, that ``profile`` would get a reverse proxy, which
    stdio cannot carry: its ``proxy: reverse``; else, with ``proxy: auto``, a running
    tunnel of the service holding a reverse proxy, or the cached service list's type.
    None: not known to (a ``proxy: port`` profile, ``--service``: never)."""
    if profile.proxy == "reverse":
        return "its profile asks for proxy: reverse"
    if profile.proxy != "auto":
        return None
    from ..remoteit.names import ServiceCache, cached_service, is_web
    from ..tunnel.share import candidates

    for running in candidates(store, account=accounts.locate(profile), service=profile.service):
        if running.state.reverse and running.state.upstream:
            return f"the running tunnel {running.name} serves it by reverse proxy"
    service = cached_service(accounts, profile, ServiceCache.from_settings(settings))
    if service is not None and is_web(service):
        return f"remote.it lists it as type {printable(service.type, 20)}"
    return None


def refuse_web(profile: Profile, why: str | None) -> None:
    """The error for a web service (``why``: how we know), said before any connect."""
    if why is not None:
        raise RittunnelError(
            f"{profile.name}: service {printable(profile.service, 200)} is an HTTP(S) service "
            f"({why}); stdio needs a port: set proxy: port in the profile"
        )


def through_running(
    profile: Profile, account: Account, store: StateStore, reporter: Reporter
) -> Found:
    """Relay stdin/stdout through a running tunnel of ``profile``'s service and account
    (its port proxy), until the service closes: ``used``. ``none``: there is no such
    tunnel; ``refused``: the one found did not take the connection. Raises
    :class:`RittunnelError` when the tunnel closes it before any byte came back."""
    from ..tunnel.share import find_running, open_running, relay_stdio

    running = find_running(
        store,
        account=account,
        service=profile.service,
        prefer=profile.name,
        port_proxy_only=True,
    )
    store.report(reporter.warn)
    if running is None:
        return "none"
    try:
        sock = open_running(running)
    except OSError as exc:
        reporter.debug(
            f"{profile.name}: the running tunnel {running.name} (pid {running.pid}) did not "
            f"take a connection on {running.host}:{running.port} ({exc}); opening a proxy"
        )
        return "refused"
    reporter.debug(
        f"{profile.name}: relaying stdio through the running tunnel {running.name} "
        f"(pid {running.pid}) on {running.host}:{running.port}"
    )
    with sock:
        received = relay_stdio(sock)
    if received == 0:
        where = f"its log {running.state.log}" if running.state.log else "its output"
        raise RittunnelError(
            f"stdio: the running tunnel {running.name} (pid {running.pid}, port "
            f"{running.port}) closed the connection before the service sent anything; "
            f"see {where} and `rittunnel status`"
        )
    return "used"
