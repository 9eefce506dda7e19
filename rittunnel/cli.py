"""Command line: parse, dispatch, and the one place that turns errors into exit codes.

Exit codes: 0 success (also a tunnel ended by SIGINT/SIGTERM/SIGHUP), 1 an error the
user can act on (one line on stderr), 2 bad usage, 130 a forced exit (second Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from . import __version__
from .errors import RittunnelError
from .quantities import MAX_SECONDS, parse_seconds
from .report import Reporter
from .settings import ENV_API_URL, ENV_GRAPHQL_URL, Settings
from .text import printable, redact, shown, url_userinfo

COMMANDS = (
    "up", "status", "stop", "run", "stdio", "wait", "profiles", "services", "init", "cleanup",
    "demo", "fake-api", "ssh-config", "unit",
)  # fmt: skip


#: the most MiB ``demo --mib`` sends through
MAX_DEMO_MIB = 1024


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rittunnel",
        description="A stable localhost port for a remote.it service. "
        "`rittunnel NAME` is short for `rittunnel up NAME`.",
    )
    parser.add_argument("--version", action="version", version=f"rittunnel {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log every connection")
    common.add_argument("-q", "--quiet", action="store_true", help="only the ready line and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    start_timeout = argparse.ArgumentParser(add_help=False)
    start_timeout.add_argument(
        "--start-timeout",
        type=seconds_arg,
        default=None,
        metavar="S",
        help="seconds to keep retrying the API at start-up (more than 0; default 15)",
    )

    up = sub.add_parser(
        "up", parents=[common, start_timeout], help="open tunnels for profiles and serve them"
    )
    up.add_argument("names", nargs="+", metavar="NAME", help="profile name or path to a .yaml")
    up.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    up.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="run in the background; return once every port is ready",
    )
    # internal: how `up -d` talks to the background process it starts
    up.add_argument("--notify-fd", type=int, default=None, help=argparse.SUPPRESS)
    up.add_argument("--log-file", default=None, help=argparse.SUPPRESS)

    status = sub.add_parser("status", parents=[common], help="show the running tunnels")
    status.add_argument("--json", action="store_true", help="a JSON list on stdout")

    stop = sub.add_parser("stop", parents=[common], help="stop running tunnels")
    stop.add_argument("names", nargs="*", metavar="NAME")
    stop.add_argument("--all", action="store_true", help="stop every running tunnel")
    stop.add_argument(
        "--timeout",
        type=seconds_arg,
        default=None,
        metavar="S",
        help="seconds to wait (default: API timeout + stop timeout + 10, 50 s)",
    )

    # `run` and `stdio`: a profile NAME, or --service without one (checked in the command)
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "name", nargs="?", metavar="NAME", help="profile name or path to a .yaml (or --service)"
    )
    target.add_argument(
        "--service",
        metavar="NAME|ID",
        default=None,
        help="the service itself instead of a profile: latching, the default account",
    )
    target.add_argument(
        "--credentials",
        metavar="SECTION",
        default=None,
        help="with --service: the section of ~/.remoteit/credentials to use "
        "(default: R3_PROFILE or DEFAULT)",
    )

    run = sub.add_parser(
        "run",
        parents=[common, start_timeout, target],
        help="run a command against a running tunnel of the service, else bring one up for it",
        usage="rittunnel run [-p PORT] (NAME | --service NAME|ID [--credentials SECTION]) "
        "-- CMD [ARGS…]   ({port} and {host} are replaced)",
    )
    run.add_argument(
        "-p",
        "--port",
        type=port_or_any_arg,
        default=None,
        help="local port instead of the profile's (0: any; with --service, any unless given)",
    )
    run.add_argument("command_argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    sub.add_parser(
        "stdio",
        parents=[common, start_timeout, target],
        help="relay stdin/stdout through a running tunnel, else a fresh proxy (ssh ProxyCommand)",
        usage="rittunnel stdio (NAME | --service NAME|ID [--credentials SECTION])",
    )

    wait = sub.add_parser("wait", parents=[common], help="wait until a background tunnel is ready")
    wait.add_argument("name", metavar="NAME")
    wait.add_argument(
        "--timeout", type=seconds_arg, default=30.0, metavar="S", help="seconds (default 30)"
    )

    sub.add_parser("profiles", parents=[common], help="list the profiles found")
    account = argparse.ArgumentParser(add_help=False)
    account.add_argument(
        "--credentials",
        metavar="SECTION",
        default=None,
        help="the section of ~/.remoteit/credentials to use (default: R3_PROFILE or DEFAULT)",
    )
    services = sub.add_parser(
        "services", parents=[common, account], help="list the remote.it account's services"
    )
    services.add_argument(
        "filter", nargs="?", metavar="FILTER", help="only names, types or IDs containing this"
    )
    services.add_argument("--json", action="store_true", help="a JSON list on stdout")
    ssh_config = sub.add_parser(
        "ssh-config",
        parents=[common, account],
        help="print an ssh_config Host block for every SSH service (ssh HOST just works)",
    )
    ssh_config.add_argument(
        "filter",
        nargs="?",
        metavar="FILTER",
        help="only services whose name, host or ID matches this glob (or contains it)",
    )
    init = sub.add_parser(
        "init", parents=[common, account], help="write a profile for one of your services"
    )
    init.add_argument("name", metavar="NAME", help="the profile name (or a path to a .yaml)")
    init.add_argument("--service", metavar="S", help="service name, ID or number (else: asked)")
    init.add_argument("--port", type=port_arg, metavar="P", help="local port (else: asked)")
    init.add_argument("--force", action="store_true", help="overwrite an existing profile")
    sub.add_parser("cleanup", parents=[common], help="stop proxies left open by killed tunnels")
    unit = sub.add_parser(
        "unit", parents=[common], help="print a systemd user unit that serves these profiles"
    )
    unit.add_argument("names", nargs="+", metavar="NAME", help="profile name or path to a .yaml")
    demo = sub.add_parser(
        "demo", parents=[common], help="run a tunnel against the built-in fake remote.it"
    )
    demo.add_argument(
        "--mib", type=mib_arg, default=8, help=f"MiB to send through (1-{MAX_DEMO_MIB}, default 8)"
    )
    fake = sub.add_parser("fake-api", parents=[common], help="run the fake remote.it API")
    from .fake.cli import add_arguments

    add_arguments(fake)
    return parser


def _argv_with_default_command(argv: Sequence[str]) -> list[str]:
    """``rittunnel [OPTS] NAME…`` means ``rittunnel up [OPTS] NAME…``; options given before
    the command move after it, where argparse looks for them."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            if arg in ("-h", "--help", "--version"):
                return args
            continue
        leading, rest = args[:i], args[i + 1 :]
        command = arg if arg in COMMANDS else "up"
        named = [] if arg in COMMANDS else [arg]
        return [command, *leading, *named, *rest]
    return args


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The leaves of a (possibly nested) exception group, in order."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(leaf_errors(inner))
        return out
    return [exc]


def fill_closed_std_fds() -> None:
    """Open /dev/null on stdin, stdout or stderr if the process started with it closed
    (``rittunnel up … >&-``): else the next socket opened takes that number, and whatever
    is written to "stdout" (by us or by a ``run`` command that inherits it) would go into
    a relayed connection."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)  # inheritable, like any std fd
                os.close(null)
            else:
                os.set_inheritable(fd, True)  # os.open's fds are closed on exec


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    fill_closed_std_fds()
    env = dict(os.environ if env is None else env)
    args_list = _argv_with_default_command(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args_list:
        parser.print_help(sys.stderr)
        return 2
    command_argv: list[str] | None = None
    if args_list[0] == "run" and "--" in args_list:
        cut = args_list.index("--")
        args_list, command_argv = args_list[:cut], args_list[cut + 1 :]
    args = parser.parse_args(args_list)
    if command_argv is not None:
        if args.command_argv:
            parser.error("run: give the command after `--` only")
        args.command_argv = command_argv
    reporter = Reporter(
        json_mode=bool(getattr(args, "json", False)),
        quiet=bool(getattr(args, "quiet", False)),
        verbose=bool(getattr(args, "verbose", False)),
    )
    from .remoteit.credentials import SECRET_ENV_VARS

    reporter.add_secrets([env[name] for name in SECRET_ENV_VARS if env.get(name)])
    for name in (ENV_API_URL, ENV_GRAPHQL_URL):  # http://user:password@host/
        reporter.add_secrets(url_userinfo(env.get(name, "")))
    try:
        return dispatch(args, Settings.from_env(env), reporter)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # the one place errors become exit codes
        if isinstance(exc, SystemExit):
            raise
        leaves = leaf_errors(exc)
        user = [e for e in leaves if isinstance(e, RittunnelError)]
        if user:
            for err in user:
                reporter.error(str(err))
            return max(e.exit_code for e in user)
        if all(isinstance(e, KeyboardInterrupt) for e in leaves):
            return 130
        if env.get("RITTUNNEL_DEBUG"):
            raise
        first = leaves[0] if leaves else exc
        text = printable(redact(f"{first.__class__.__name__}: {first}", reporter.secrets), 300)
        reporter.error(f"internal error: {text} (set RITTUNNEL_DEBUG=1 for a traceback)")
        return 1


def dispatch(args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    """Run the command's module (imported only now: each pulls in what it needs)."""
    command = args.command
    if command == "up":
        from .commands.up import up

        return up(args, settings, reporter)
    if command in ("status", "stop", "wait"):
        from .commands.control import control  # state files and psutil: no trio, no httpx

        return control(args, settings, reporter)
    if command == "run":
        from .commands.run import run

        return run(args, settings, reporter)
    if command == "stdio":
        from .commands.stdio import stdio

        return stdio(args, settings, reporter)
    if command == "profiles":
        from .commands.profiles import profiles

        return profiles(settings, reporter)
    if command in ("services", "init"):
        from .commands import discover

        return (discover.services if command == "services" else discover.init)(
            args, settings, reporter
        )
    if command == "ssh-config":
        from .commands.ssh_config import ssh_config

        return ssh_config(args, settings, reporter)
    if command == "unit":
        from .commands.unit import unit

        return unit(args, settings, reporter)
    if command == "cleanup":
        from .commands.cleanup import cleanup

        return cleanup(settings, reporter)
    if command == "demo":
        from .commands.demo import run_demo

        return run_demo(args, settings, reporter)
    if command == "fake-api":
        from .fake.cli import run as run_fake

        return run_fake(args)
    raise AssertionError(command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
