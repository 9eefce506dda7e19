"""The man page ``rittunnel(1)``, made from the command table (its parser): every command
with its usage, what it does and its options, then the environment, files and exit
codes. ``python -m rittunnel.manpage`` prints it; ``scripts/gen-share`` writes it (and
the completion scripts) under ``share/``, where the package installs them from, and a
test checks the copy there is up to date."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .commands.registry import COMMANDS, DEFAULT_COMMAND, build_parser, command_parsers

#: the environment, as the man page lists it (the reference in docs/ says more)
ENVIRONMENT = (
    ("REMOTEIT_DEVELOPER_KEY", "the developer key, for a login with username and password"),
    ("REMOTEIT_USERNAME, REMOTEIT_PASSWORD", "the account's login (or REMOTEIT_TOKEN)"),
    (
        "R3_ACCESS_KEY_ID, R3_SECRET_ACCESS_KEY",
        "an access key (else ~/.remoteit/credentials; R3_PROFILE picks its section)",
    ),
    ("RITTUNNEL_PROFILES", "directories searched for NAME.yaml first (colon-separated)"),
    ("RITTUNNEL_API", "which remote.it API to use: rest or graphql"),
    ("RITTUNNEL_API_URL, RITTUNNEL_GRAPHQL_URL", "the API's URLs (the fake's, for a try)"),
    ("RITTUNNEL_API_TIMEOUT", "seconds one API call may take"),
    ("RITTUNNEL_START_TIMEOUT", "seconds to keep retrying the API at start-up"),
    ("RITTUNNEL_STOP_TIMEOUT", "seconds teardown spends stopping proxies"),
    ("RITTUNNEL_SERVICES_TTL", "seconds the service list is cached"),
    ("RITTUNNEL_RELAY_THREADS", "how many threads relay busy connections"),
    ("RITTUNNEL_DEBUG", "set: an internal error shows its traceback"),
    ("XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_CACHE_HOME", "where the files below live"),
)

FILES = (
    ("~/.config/rittunnel/profiles/NAME.yaml", "the profiles"),
    ("~/.remoteit/credentials", "remote.it's key file (access keys), mode 0600"),
    ("~/.local/state/rittunnel/", "one state file per running tunnel"),
    ("~/.cache/rittunnel/", "login tokens and the service list, mode 0600"),
)

EXIT_STATUS = (
    ("0", "success; also a tunnel ended by SIGINT, SIGTERM or SIGHUP"),
    ("1", "an error the user can act on (one line on stderr)"),
    ("2", "bad usage"),
    ("130", "a forced exit (a second Ctrl-C)"),
)


def roff(text: str) -> str:
    """``text`` safe in a roff line: backslashes escaped, hyphens as hyphens, and no
    line starting with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=10_000)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, "")
    return formatter.format_help().strip()


def _action(action: argparse.Action) -> str:
    if action.option_strings:
        flags = ", ".join(f"\\fB{roff(f)}\\fR" for f in action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or action.dest.upper()
            flags += f" \\fI{roff(str(metavar))}\\fR"
    else:
        flags = f"\\fI{roff(str(action.metavar or action.dest.upper()))}\\fR"
    return f".TP\n{flags}\n{roff(action.help or '')}"


def _table(rows: tuple[tuple[str, str], ...], bold: bool = True) -> list[str]:
    font = "\\fB" if bold else "\\fI"
    return [f".TP\n{font}{roff(name)}\\fR\n{roff(text)}" for name, text in rows]


def manpage() -> str:
    """The whole page, in roff (man(7) macros)."""
    parser = build_parser()
    parsers = command_parsers(parser)
    lines = [
        f'.TH RITTUNNEL 1 "" "rittunnel {__version__}" "User Commands"',
        ".SH NAME",
        "rittunnel \\- a stable localhost port for a remote.it service",
        ".SH SYNOPSIS",
        ".B rittunnel",
        "\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fINAME\\fR...]",
        ".br",
        ".B rittunnel",
        "\\fINAME\\fR... (short for \\fBrittunnel " + DEFAULT_COMMAND + "\\fR \\fINAME\\fR...)",
        ".SH DESCRIPTION",
        roff(
            "rittunnel opens a remote.it proxy for a service and serves it on a local port "
            "that never changes: it relays every local connection through the proxy, makes "
            "the next proxy before the current one expires, and stops the proxy at "
            "remote.it when it stops. A profile (NAME.yaml) names the service and the "
            "local port; `rittunnel init NAME` writes one."
        ),
        ".PP",
        roff(
            "Every command takes -v (log every connection), -q (only the ready line and "
            "errors) and -h (its help)."
        ),
        ".SH COMMANDS",
    ]
    for command in COMMANDS:
        sub = parsers[command.name]
        lines += [
            ".SS " + roff(command.name),
            ".nf",
            "\\fB" + roff(_usage(sub)) + "\\fR",
            ".fi",
            roff(command.help[:1].upper() + command.help[1:] + "."),
        ]
        shown = [
            a
            for a in sub._actions
            if a.help != argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)
            and a.dest not in ("verbose", "quiet")
        ]
        lines += [_action(a) for a in shown]
    lines += [".SH ENVIRONMENT", *_table(ENVIRONMENT)]
    lines += [".SH FILES", *_table(FILES, bold=False)]
    lines += [".SH EXIT STATUS", *_table(EXIT_STATUS)]
    lines += [
        ".SH SEE ALSO",
        roff(
            "ssh(1), ssh_config(5), systemd.unit(5). The README and docs/ of the source "
            "distribution: quick start, guides, and every error message with what to do."
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.stdout.write(manpage())
    return 0


if __name__ == "__main__":
    sys.exit(main())
