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
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import __version__
from ..report import Reporter
from ..settings import Settings
from .arguments import (
    Arguments,
    common_arguments,
    completion_arguments,
    demo_arguments,
    init_arguments,
    no_arguments,
    profile_names,
    run_arguments,
    services_arguments,
    ssh_config_arguments,
    status_arguments,
    stdio_arguments,
    stop_arguments,
    up_arguments,
    wait_arguments,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from ..fake.cli import FakeApiOptions
    from .options import (
        CompletionOptions,
        DemoOptions,
        InitOptions,
        NoOptions,
        RunOptions,
        ServicesOptions,
        SshConfigOptions,
        StatusOptions,
        StdioOptions,
        StopOptions,
        UnitOptions,
        UpOptions,
        WaitOptions,
    )

#: a command's options type (:mod:`rittunnel.commands.options`)
Opts = TypeVar("Opts", bound="DataclassInstance")

#: the command ``rittunnel NAME…`` stands for
DEFAULT_COMMAND = "up"

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

    return init(o, settings, reporter, command_names=BY_NAME)


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


def _completion(o: CompletionOptions, settings: Settings, reporter: Reporter) -> int:
    from .completion import completion  # the file system only: no trio, httpx or yaml

    kinds = {c.name: c.completes for c in COMMANDS}
    return completion(o, build_parser(), kinds, DEFAULT_COMMAND, settings, reporter)


def fake_api_arguments(parser: argparse.ArgumentParser) -> None:
    from ..fake.cli import add_arguments

    add_arguments(parser)


def _fake_api(o: FakeApiOptions, settings: Settings, reporter: Reporter) -> int:
    from ..fake.cli import run

    return run(o)


# -- the parsers -----------------------------------------------------------------------


def terminal_columns() -> int:
    """The terminal's width as :func:`shutil.get_terminal_size` gives it (``COLUMNS``,
    else stdout's terminal, else 80), without importing shutil (and the compressors it
    imports), which argparse's formatter does on every ``add_argument``."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, as wide as the terminal (:func:`terminal_columns`)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


# -- the table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Command(Generic[Opts]):
    """One command: how it is parsed, and what runs it."""

    name: str
    help: str
    arguments: Arguments
    #: its options type, by name: a class of :mod:`rittunnel.commands.options`, or
    #: ``module:Class`` (imported when the command runs: building their classes costs
    #: milliseconds that ``stdio`` beside a running tunnel would pay for nothing)
    options: str
    handler: Callable[[Opts, Settings, Reporter], int]
    #: whether its module imports trio (the others start fast; tests hold them to it)
    needs_trio: bool
    #: the usage line, where argparse's would mislead
    usage: str | None = None
    #: what its NAME arguments are, for completion: "profiles", "tunnels", "shells"
    #: (:mod:`rittunnel.commands.completion`), or "" for nothing to offer
    completes: str = ""

    def add_to(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Its subparser, with its arguments."""
        parser = sub.add_parser(
            self.name, help=self.help, usage=self.usage, formatter_class=HelpFormatter
        )
        common_arguments(parser)
        self.arguments(parser)

    def run(self, args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
        """Build its options from the parsed ``args`` and run its handler."""
        from .options import options_from

        return self.handler(options_from(self.options_type(), args), settings, reporter)

    def options_type(self) -> type[Opts]:
        """Its options class (imported now)."""
        module, _, name = self.options.rpartition(":")
        where = importlib.import_module(module or f"{__package__}.options")
        found: type[Opts] = getattr(where, name)
        return found


COMMANDS: tuple[Command[Any], ...] = (
    Command(
        "up",
        "open tunnels for profiles and serve them",
        up_arguments,
        "UpOptions",
        _up,
        True,
        completes="profiles",
    ),
    Command(
        "status",
        "show the running tunnels",
        status_arguments,
        "StatusOptions",
        _status,
        False,
    ),
    Command(
        "stop",
        "stop running tunnels",
        stop_arguments,
        "StopOptions",
        _stop,
        False,
        completes="tunnels",
    ),
    Command(
        "run",
        "run a command against a running tunnel of the service, else bring one up for it",
        run_arguments,
        "RunOptions",
        _run,
        True,
        usage="rittunnel run [-p PORT] (NAME | --service NAME|ID [--credentials SECTION]) "
        "-- CMD [ARGS…]   ({port} and {host} are replaced)",
        completes="profiles",
    ),
    Command(
        "stdio",
        "relay stdin/stdout through a running tunnel, else a fresh proxy (ssh ProxyCommand)",
        stdio_arguments,
        "StdioOptions",
        _stdio,
        True,
        usage="rittunnel stdio (NAME | --service NAME|ID [--credentials SECTION]) "
        "[--persist DURATION]",
        completes="profiles",
    ),
    Command(
        "wait",
        "wait until a background tunnel is ready",
        wait_arguments,
        "WaitOptions",
        _wait,
        False,
        completes="tunnels",
    ),
    Command("profiles", "list the profiles found", no_arguments, "NoOptions", _profiles, False),
    Command(
        "services",
        "list the remote.it account's services",
        services_arguments,
        "ServicesOptions",
        _services,
        True,
    ),
    Command(
        "ssh-config",
        "print an ssh_config Host block for every SSH service (ssh HOST just works)",
        ssh_config_arguments,
        "SshConfigOptions",
        _ssh_config,
        True,
    ),
    Command(
        "init",
        "write a profile for one of your services",
        init_arguments,
        "InitOptions",
        _init,
        True,
    ),
    Command(
        "cleanup",
        "stop proxies left open by killed tunnels",
        no_arguments,
        "NoOptions",
        _cleanup,
        True,
    ),
    Command(
        "unit",
        "print a systemd user unit that serves these profiles",
        profile_names,
        "UnitOptions",
        _unit,
        False,
        completes="profiles",
    ),
    Command(
        "demo",
        "run a tunnel against the built-in fake remote.it",
        demo_arguments,
        "DemoOptions",
        _demo,
        True,
    ),
    Command(
        "fake-api",
        "run the fake remote.it API",
        fake_api_arguments,
        "rittunnel.fake.cli:FakeApiOptions",
        _fake_api,
        True,
    ),
    Command(
        "completion",
        "print a shell completion script: bash, zsh or fish",
        completion_arguments,
        "CompletionOptions",
        _completion,
        False,
        completes="shells",
    ),
)
#: the commands by name
BY_NAME: dict[str, Command[Any]] = {c.name: c for c in COMMANDS}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of the whole command line (each command's own: :func:`command_parsers`);
    with ``only``, a command's name, that command's parser alone (what parses a command
    line that starts with it: each parser costs time to build, and ``stdio`` as ssh's
    ProxyCommand starts often)."""
    parser = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        prog="rittunnel",
        description="A stable localhost port for a remote.it service. "
        f"`rittunnel NAME` is short for `rittunnel {DEFAULT_COMMAND} NAME`.",
    )
    parser.add_argument("--version", action="version", version=f"rittunnel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS if only is None else (BY_NAME[only],):
        command.add_to(sub)
    return parser


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each command's parser in ``parser`` (made by :func:`build_parser`), by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no commands in this parser")
