"""The command table: every command declared once (its name, help, arguments, options
type, handler, and whether it needs trio). The parser (:func:`build_parser`) and the
dispatch (:meth:`Command.run`) are made from it, and so is what ``rittunnel WORD``
means (:data:`COMMANDS`: a command's name, else a profile for ``up``).

A handler imports its command's module only when it runs, so building the parser costs
no trio, httpx or yaml (``--help``, ``status`` and ``stop`` start fast). Each handler
gets its command's frozen options (:mod:`rittunnel.commands.options`), never an
``argparse.Namespace``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic

from .. import __version__
from ..fake.cli import FakeApiOptions
from ..fake.cli import add_arguments as fake_api_arguments
from ..quantities import MAX_SECONDS, parse_seconds
from ..report import Reporter
from ..settings import Settings
from ..text import shown
from .options import (
    DemoOptions,
    InitOptions,
    NoOptions,
    Opts,
    RunOptions,
    ServicesOptions,
    SshConfigOptions,
    StatusOptions,
    StdioOptions,
    StopOptions,
    UnitOptions,
    UpOptions,
    WaitOptions,
    options_from,
)

#: the most MiB ``demo --mib`` sends through
MAX_DEMO_MIB = 1024
#: the command ``rittunnel NAME…`` stands for
DEFAULT_COMMAND = "up"

Arguments = Callable[[argparse.ArgumentParser], None]


# -- argument types --------------------------------------------------------------------


def seconds_arg(text: str) -> float:
    """An argparse type: a finite number of seconds, more than 0, at most 30 days."""
    value = parse_seconds(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"{shown(text, 40)} is not a number of seconds (more than 0, at most {MAX_SECONDS:.0f})"
        )
    return value


def _whole(text: str, low: int, high: int, what: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(
            f"{shown(text, 40)} is not {what} (a whole number {low}-{high})"
        )
    return int(text)


def port_arg(text: str) -> int:
    """An argparse type: a TCP port, 1-65535."""
    return _whole(text, 1, 65535, "a port")


def port_or_any_arg(text: str) -> int:
    """An argparse type: a TCP port, or 0 for any free one."""
    return _whole(text, 0, 65535, "a port (0: any free port)")


def mib_arg(text: str) -> int:
    """An argparse type: ``demo --mib``, 1-1024."""
    return _whole(text, 1, MAX_DEMO_MIB, "a number of MiB")


# -- arguments several commands share --------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="log every connection")
    p.add_argument("-q", "--quiet", action="store_true", help="only the ready line and errors")


def _start_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--start-timeout",
        type=seconds_arg,
        default=None,
        metavar="S",
        help="seconds to keep retrying the API at start-up (more than 0; default 15)",
    )


def _json(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true", help=what)


def _credentials(p: argparse.ArgumentParser, prefix: str = "") -> None:
    p.add_argument(
        "--credentials",
        metavar="SECTION",
        default=None,
        help=f"{prefix}the section of ~/.remoteit/credentials to use "
        "(default: R3_PROFILE or DEFAULT)",
    )


def _profile_names(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="NAME", help="profile name or path to a .yaml")


def _target(p: argparse.ArgumentParser) -> None:
    """``run`` and ``stdio``: a profile NAME, or --service without one (checked in the
    command)."""
    _start_timeout(p)
    p.add_argument(
        "name", nargs="?", metavar="NAME", help="profile name or path to a .yaml (or --service)"
    )
    p.add_argument(
        "--service",
        metavar="NAME|ID",
        default=None,
        help="the service itself instead of a profile: latching, the default account",
    )
    _credentials(p, "with --service: ")


# -- each command's own ----------------------------------------------------------------


def _up_arguments(p: argparse.ArgumentParser) -> None:
    _start_timeout(p)
    _profile_names(p)
    _json(p, "one JSON object per event on stdout")
    p.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="run in the background; return once every port is ready",
    )
    # internal: how `up -d` talks to the background process it starts
    p.add_argument("--notify-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--log-file", default=None, help=argparse.SUPPRESS)


def _stop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", dest="every", action="store_true", help="stop every running tunnel")
    p.add_argument(
        "--timeout",
        type=seconds_arg,
        default=None,
        metavar="S",
        help="seconds to wait (default: API timeout + stop timeout + 10, 50 s)",
    )


def _wait_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--timeout", type=seconds_arg, default=30.0, metavar="S", help="seconds (default 30)"
    )


def _run_arguments(p: argparse.ArgumentParser) -> None:
    _target(p)
    p.add_argument(
        "-p",
        "--port",
        type=port_or_any_arg,
        default=None,
        help="local port instead of the profile's (0: any; with --service, any unless given)",
    )
    p.add_argument("command_argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _services_arguments(p: argparse.ArgumentParser) -> None:
    _credentials(p)
    p.add_argument(
        "filter", nargs="?", metavar="FILTER", help="only names, types or IDs containing this"
    )
    _json(p, "a JSON list on stdout")


def _ssh_config_arguments(p: argparse.ArgumentParser) -> None:
    _credentials(p)
    p.add_argument(
        "filter",
        nargs="?",
        metavar="FILTER",
        help="only services whose name, host or ID matches this glob (or contains it)",
    )


def _init_arguments(p: argparse.ArgumentParser) -> None:
    _credentials(p)
    p.add_argument("name", metavar="NAME", help="the profile name (or a path to a .yaml)")
    p.add_argument("--service", metavar="S", help="service name, ID or number (else: asked)")
    p.add_argument("--port", type=port_arg, metavar="P", help="local port (else: asked)")
    p.add_argument("--force", action="store_true", help="overwrite an existing profile")


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mib", type=mib_arg, default=8, help=f"MiB to send through (1-{MAX_DEMO_MIB}, default 8)"
    )


def _none(p: argparse.ArgumentParser) -> None:
    """No arguments of its own."""


# -- the handlers: each imports its command's module only when it runs -----------------


def _up(o: UpOptions, settings: Settings, reporter: Reporter) -> int:
    from .up import up

    return up(o, settings, reporter)


def _status(o: StatusOptions, settings: Settings, reporter: Reporter) -> int:
    from .control import status_command  # state files and psutil: no trio, no httpx

    return status_command(o, settings, reporter)


def _stop(o: StopOptions, settings: Settings, reporter: Reporter) -> int:
    from .control import stop_command

    return stop_command(o, settings, reporter)


def _wait(o: WaitOptions, settings: Settings, reporter: Reporter) -> int:
    from .control import wait_command

    return wait_command(o, settings, reporter)


def _run(o: RunOptions, settings: Settings, reporter: Reporter) -> int:
    from .run import run

    return run(o, settings, reporter)


def _stdio(o: StdioOptions, settings: Settings, reporter: Reporter) -> int:
    from .stdio import stdio

    return stdio(o, settings, reporter)


def _profiles(o: NoOptions, settings: Settings, reporter: Reporter) -> int:
    from .profiles import profiles

    return profiles(settings, reporter)


def _services(o: ServicesOptions, settings: Settings, reporter: Reporter) -> int:
    from .discover import services

    return services(o, settings, reporter)


def _init(o: InitOptions, settings: Settings, reporter: Reporter) -> int:
    from .discover import init

    return init(o, settings, reporter)


def _ssh_config(o: SshConfigOptions, settings: Settings, reporter: Reporter) -> int:
    from .ssh_config import ssh_config

    return ssh_config(o, settings, reporter)


def _cleanup(o: NoOptions, settings: Settings, reporter: Reporter) -> int:
    from .cleanup import cleanup

    return cleanup(settings, reporter)


def _unit(o: UnitOptions, settings: Settings, reporter: Reporter) -> int:
    from .unit import unit

    return unit(o, settings, reporter)


def _demo(o: DemoOptions, settings: Settings, reporter: Reporter) -> int:
    from .demo import run_demo

    return run_demo(o, settings, reporter)


def _fake_api(o: FakeApiOptions, settings: Settings, reporter: Reporter) -> int:
    from ..fake.cli import run

    return run(o)


# -- the table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Command(Generic[Opts]):
    """One command: how it is parsed, and what runs it."""

    name: str
    help: str
    arguments: Arguments
    options: type[Opts]
    handler: Callable[[Opts, Settings, Reporter], int]
    #: whether its module imports trio (the others start fast; tests hold them to it)
    needs_trio: bool
    #: the usage line, where argparse's would mislead
    usage: str | None = None

    def add_to(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Its subparser, with its arguments."""
        parser = sub.add_parser(self.name, help=self.help, usage=self.usage)
        _common(parser)
        self.arguments(parser)

    def run(self, args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
        """Build its options from the parsed ``args`` and run its handler."""
        return self.handler(options_from(self.options, args), settings, reporter)


COMMANDS: tuple[Command[Any], ...] = (
    Command("up", "open tunnels for profiles and serve them", _up_arguments, UpOptions, _up, True),
    Command(
        "status",
        "show the running tunnels",
        lambda p: _json(p, "a JSON list on stdout"),
        StatusOptions,
        _status,
        False,
    ),
    Command("stop", "stop running tunnels", _stop_arguments, StopOptions, _stop, False),
    Command(
        "run",
        "run a command against a running tunnel of the service, else bring one up for it",
        _run_arguments,
        RunOptions,
        _run,
        True,
        usage="rittunnel run [-p PORT] (NAME | --service NAME|ID [--credentials SECTION]) "
        "-- CMD [ARGS…]   ({port} and {host} are replaced)",
    ),
    Command(
        "stdio",
        "relay stdin/stdout through a running tunnel, else a fresh proxy (ssh ProxyCommand)",
        _target,
        StdioOptions,
        _stdio,
        True,
        usage="rittunnel stdio (NAME | --service NAME|ID [--credentials SECTION])",
    ),
    Command(
        "wait",
        "wait until a background tunnel is ready",
        _wait_arguments,
        WaitOptions,
        _wait,
        False,
    ),
    Command("profiles", "list the profiles found", _none, NoOptions, _profiles, False),
    Command(
        "services",
        "list the remote.it account's services",
        _services_arguments,
        ServicesOptions,
        _services,
        True,
    ),
    Command(
        "ssh-config",
        "print an ssh_config Host block for every SSH service (ssh HOST just works)",
        _ssh_config_arguments,
        SshConfigOptions,
        _ssh_config,
        True,
    ),
    Command(
        "init",
        "write a profile for one of your services",
        _init_arguments,
        InitOptions,
        _init,
        True,
    ),
    Command(
        "cleanup",
        "stop proxies left open by killed tunnels",
        _none,
        NoOptions,
        _cleanup,
        True,
    ),
    Command(
        "unit",
        "print a systemd user unit that serves these profiles",
        _profile_names,
        UnitOptions,
        _unit,
        False,
    ),
    Command(
        "demo",
        "run a tunnel against the built-in fake remote.it",
        _demo_arguments,
        DemoOptions,
        _demo,
        True,
    ),
    Command(
        "fake-api",
        "run the fake remote.it API",
        fake_api_arguments,
        FakeApiOptions,
        _fake_api,
        True,
    ),
)
#: the commands by name
BY_NAME: dict[str, Command[Any]] = {c.name: c for c in COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line (each command's own: :func:`command_parsers`)."""
    parser = argparse.ArgumentParser(
        prog="rittunnel",
        description="A stable localhost port for a remote.it service. "
        f"`rittunnel NAME` is short for `rittunnel {DEFAULT_COMMAND} NAME`.",
    )
    parser.add_argument("--version", action="version", version=f"rittunnel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_to(sub)
    return parser


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each command's parser in ``parser`` (made by :func:`build_parser`), by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no commands in this parser")
