"""``rittunnel run NAME -- CMD``: run a command against a tunnel of the profile.

``run --service NAME|ID [--credentials SECTION] -- CMD`` needs no profile: one is made
from the command line (:func:`~rittunnel.profiles.service.command_profile`: latching, any free
port unless ``-p``), named ``service-….run-PID`` so that runs of the same service never
claim the same state file.

When a tunnel of the same service and account already runs (``up``, ``up -d``; a service
given by name is resolved to look for one whose profile gave its ID) and fits
(:func:`rittunnel.tunnel.share.fit_for_run`: the profile's own tunnel, or another
profile's on the port ``run`` would use), the command runs against it: no state file, no
connect (no API call at all unless a service name had to be looked up). Otherwise
``run`` brings its own tunnel up and tears it down when the command exits; that tunnel
is recorded as not shareable, so no ``stdio`` or other ``run`` uses it (it would be cut
when this command exits). Either way it exits with the command's code, and stop signals
go to the command while it runs. No command is a usage error (exit 2)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from ..errors import CommandNotRunnable, UsageError
from ..profiles import Profile
from ..profiles.service import command_profile
from ..report import Reporter
from ..settings import Settings
from .common import accounts_for, run_session, with_start_timeout
from .options import RunOptions

if TYPE_CHECKING:
    from ..remoteit.accounts import Accounts
    from ..tunnel.session import Session
    from ..tunnel.share import Running


def _forward_sigint(stdin_fd: int = 0) -> bool:
    """Whether SIGINT must be forwarded to a child sharing our terminal. When we are in
    the terminal's foreground process group, the terminal already sent Ctrl-C to the
    child too; forwarding it would deliver it twice."""
    try:
        return os.tcgetpgrp(stdin_fd) != os.getpgrp()
    except OSError:
        return True  # no terminal: the signal came from kill(1), pass it on


@dataclass
class Child:
    """The command, run against ``host:port`` ({host}, {port}; ``RITTUNNEL_HOST``,
    ``RITTUNNEL_PORT``)."""

    command: list[str]
    env: Mapping[str, str]
    reporter: Reporter

    async def run(self, host: str, port: int, on_start: Callable[[trio.Process], None]) -> int:
        """Run it to its end; ``on_start(process)`` once it runs. Returns its exit code
        (128+N when signal N ended it); if we are cancelled first, it is terminated."""
        argv = [a.replace("{port}", str(port)).replace("{host}", host) for a in self.command]
        child_env = {**self.env, "RITTUNNEL_PORT": str(port), "RITTUNNEL_HOST": host}
        try:
            proc = await trio.lowlevel.open_process(argv, env=child_env)
        except OSError as exc:
            raise CommandNotRunnable(f"run: cannot run {argv[0]!r}: {exc.strerror}") from None
        on_start(proc)
        try:
            code = await proc.wait()
        finally:
            if proc.returncode is None:  # we are being torn down (the tunnel failed)
                proc.terminate()
                with trio.CancelScope(shield=True):
                    await proc.wait()
        self.reporter.debug(f"run: {argv[0]} exited with {code}")
        return 128 - code if code < 0 else code


def run(args: RunOptions, settings: Settings, reporter: Reporter) -> int:
    """Run a command against a running tunnel that fits, else bring one up for it."""
    import dataclasses

    settings = with_start_timeout(settings, args.start_timeout)
    profile = command_profile("run", args.name, args.service, args.credentials, settings.env)
    command = list(args.command_argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError(
            "run: no command given; usage: rittunnel run NAME -- CMD [ARGS…] "
            "(or run --service NAME|ID -- CMD [ARGS…])"
        )
    if args.service is not None:  # its own name: never another run's tunnel's claim
        profile = dataclasses.replace(profile, name=f"{profile.name}.run-{os.getpid()}")
    reporter.out = reporter.err  # stdout belongs to the command
    forward_sigint = _forward_sigint()
    child = Child(command, settings.env, reporter)
    accounts = accounts_for(settings, reporter, [profile])
    running = _running_for(profile, args.port, accounts, settings, reporter)
    if running is None and not profile.service_is_id:  # one that gave the service's ID
        from .common import resolved_now

        profile = resolved_now(profile, accounts, settings, reporter)
        running = _running_for(profile, args.port, accounts, settings, reporter)
    if running is not None:
        return _beside(running, child, forward_sigint, reporter)
    if args.port is not None:
        profile = dataclasses.replace(profile, local_port=args.port)

    async def body(session: Session) -> int:
        info = session.slots[0].tunnel.info

        session.forward.sigint = forward_sigint

        def started(proc: trio.Process) -> None:
            session.forward.proc = proc

        return await child.run(info.host, info.local_port, started)

    outcome = run_session(
        [profile], settings, reporter, body=body, accounts=accounts, shareable=False
    )
    if outcome.body_result is not None:
        return outcome.body_result
    if outcome.signal is not None:
        return 128 + outcome.signal
    return 1


def _running_for(
    profile: Profile,
    port_option: int | None,
    accounts: Accounts,
    settings: Settings,
    reporter: Reporter,
) -> Running | None:
    """The running tunnel ``run`` uses (see :func:`~rittunnel.tunnel.share.fit_for_run`);
    a ``proxy: port`` profile takes no reverse-proxy tunnel."""
    from ..tunnel.share import candidates, fit_for_run
    from ..tunnel.store import StateStore

    store = StateStore(settings.state_dir)
    found = candidates(
        store,
        account=accounts.locate(profile),
        service=profile.service,
        port_proxy_only=profile.proxy == "port",
    )
    store.report(reporter.warn)
    return fit_for_run(found, profile.name, port_option, profile.local_port)


def _beside(running: Running, child: Child, forward_sigint: bool, reporter: Reporter) -> int:
    """Run the command against ``running``: no session, no claim, no API call. Stop
    signals go to the command while it runs; one that comes when it does not ends us."""
    reporter.info(
        f"run: using the running tunnel {running.name} (pid {running.pid}) "
        f"on {running.host}:{running.port}"
    )
    from ..tunnel.signals import Forward, ignore_stop_signals_after, stop_on_signals

    forward = Forward(sigint=forward_sigint)

    def started(proc: trio.Process) -> None:
        forward.proc = proc

    async def main() -> int:
        codes: list[int] = []  # stays empty when a stop signal cancelled the body
        async with stop_on_signals(reporter, forward=forward) as stop:
            codes.append(await child.run(running.host, running.port, started))
        if codes:
            return codes[0]
        return 1 if stop.signal is None else 128 + stop.signal

    ignore_stop_signals_after()  # this process ends with the command
    return trio.run(main)
