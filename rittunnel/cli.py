"""Command line: parse, dispatch, and the one place that turns errors into exit codes.

Exit codes: 0 success (also a tunnel ended by SIGINT/SIGTERM/SIGHUP), 1 an error the
user can act on (one line on stderr), 2 bad usage, 130 a forced exit (second Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from .commands.registry import BY_NAME, DEFAULT_COMMAND, build_parser, command_parsers
from .errors import NoSuchProfile, RittunnelError, UsageError
from .report import Reporter
from .settings import ENV_API_URL, ENV_GRAPHQL_URL, Settings
from .text import printable, redact, url_userinfo


def _options(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Each option ``parser`` takes, and whether it takes a value."""
    return {flag: action.nargs != 0 for action in parser._actions for flag in action.option_strings}


def default_command_argv(
    argv: Sequence[str], parsers: Mapping[str, argparse.ArgumentParser]
) -> list[str]:
    """``rittunnel [OPTS] NAME…`` means ``rittunnel up [OPTS] NAME…`` when NAME is no
    command's name (``parsers``: each command's); options given before a command move
    after it, where argparse looks for them. An option before a command that the command
    does not take (``rittunnel --start-timeout 5 status``) is a usage error: it was meant
    for another command."""
    args = list(argv)
    takes_value: dict[str, bool] = {}
    for parser in parsers.values():
        takes_value.update(_options(parser))
    leading_options: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help", "--version"):
            return args
        if arg.startswith("-"):
            flag = arg.split("=", 1)[0] if arg.startswith("--") else arg
            leading_options.append(flag)
            i += 2 if takes_value.get(arg, False) else 1  # an option's value is no command
            continue
        leading, rest = args[:i], args[i + 1 :]
        if arg not in BY_NAME:
            return [DEFAULT_COMMAND, *leading, arg, *rest]
        own = _options(parsers[arg])
        for flag in leading_options:
            if flag in takes_value and flag not in own:
                raise UsageError(
                    f"{arg} takes no {flag}; options go after the command "
                    f"(rittunnel {arg} [OPTIONS])"
                )
        return [arg, *leading, *rest]
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


def _said(err: RittunnelError, settings: Settings | None, implied_command: bool) -> str:
    """What the user is told of ``err``: a missing profile says what it may have meant."""
    if not isinstance(err, NoSuchProfile) or settings is None:
        return str(err)
    from .commands.names import typo_hint

    return typo_hint(err, settings, BY_NAME if implied_command else ())


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    fill_closed_std_fds()
    env = dict(os.environ if env is None else env)
    given = list(sys.argv[1:] if argv is None else argv)
    # a command line that starts with a command's name is parsed by its parser alone
    parser = build_parser(only=given[0] if given and given[0] in BY_NAME else None)
    try:
        args_list = default_command_argv(given, command_parsers(parser))
    except UsageError as exc:
        Reporter().error(str(exc))
        return exc.exit_code
    command_argv: list[str] | None = None
    if args_list[:1] == ["run"] and "--" in args_list:
        cut = args_list.index("--")
        args_list, command_argv = args_list[:cut], args_list[cut + 1 :]
    args = parser.parse_args(args_list)
    if args.command is None:  # no command at all
        parser.print_help(sys.stderr)
        return 2
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
    settings: Settings | None = None
    try:
        settings = Settings.from_env(env)
        return BY_NAME[args.command].run(args, settings, reporter)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # the one place errors become exit codes
        if isinstance(exc, SystemExit):
            raise
        leaves = leaf_errors(exc)
        user = [e for e in leaves if isinstance(e, RittunnelError)]
        if user:
            # `rittunnel stauts`: the word stood where a command goes
            implied = args.command == DEFAULT_COMMAND and DEFAULT_COMMAND not in given
            for err in user:
                reporter.error(_said(err, settings, implied))
            return max(e.exit_code for e in user)
        if all(isinstance(e, KeyboardInterrupt) for e in leaves):
            return 130
        if env.get("RITTUNNEL_DEBUG"):
            raise
        first = leaves[0] if leaves else exc
        text = printable(redact(f"{first.__class__.__name__}: {first}", reporter.secrets), 300)
        reporter.error(f"internal error: {text} (set RITTUNNEL_DEBUG=1 for a traceback)")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
