"""``rittunnel run NAME -- CMD``: bring one tunnel up, run a command against it, tear
down when it exits."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

import trio

from ..errors import CommandNotRunnable, RittunnelError
from ..profiles import load_profile
from ..report import Reporter
from ..settings import Settings
from .common import run_session, with_options

if TYPE_CHECKING:
    from ..tunnel.session import Session


def _forward_sigint(stdin_fd: int = 0) -> bool:
    """Whether SIGINT must be forwarded to a child sharing our terminal. When we are in
    the terminal's foreground process group, the terminal already sent Ctrl-C to the
    child too; forwarding it would deliver it twice."""
    try:
        return os.tcgetpgrp(stdin_fd) != os.getpgrp()
    except OSError:
        return True  # no terminal: the signal came from kill(1), pass it on


def run(args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    """Bring one tunnel up, run a command against it, tear down when it exits."""
    import dataclasses

    command = list(args.command_argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise RittunnelError("run: no command given; usage: rittunnel run NAME -- CMD [ARGS…]")
    settings = with_options(settings, args)
    profile = load_profile(args.name, settings.env)
    if args.port is not None:
        profile = dataclasses.replace(profile, local_port=args.port)
    reporter.out = reporter.err  # stdout belongs to the command
    forward_sigint = _forward_sigint()

    async def body(session: Session) -> int:
        info = session.slots[0].tunnel.info
        port, host = str(info.local_port), info.host
        argv = [a.replace("{port}", port).replace("{host}", host) for a in command]
        child_env = {**settings.env, "RITTUNNEL_PORT": port, "RITTUNNEL_HOST": host}
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

    outcome = run_session([profile], settings, reporter, body=body)
    if outcome.body_result is not None:
        return outcome.body_result
    if outcome.signal is not None:
        return 128 + outcome.signal
    return 1
