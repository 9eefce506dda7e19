"""The command line's arguments: each command's (declared in
:mod:`rittunnel.commands.registry`'s table by the function here that adds them), the
ones several commands share, and the types that check numbers as argparse reads them."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..quantities import MAX_SECONDS, duration_text, parse_duration, parse_seconds
from ..text import shown
from .options import SSH_PERSIST

#: what adds a command's arguments to its parser
Arguments = Callable[[argparse.ArgumentParser], None]
#: the most MiB ``demo --mib`` sends through
MAX_DEMO_MIB = 1024

# -- argument types --------------------------------------------------------------------


def seconds_arg(text: str) -> float:
    """An argparse type: a finite number of seconds, more than 0, at most 30 days."""
    value = parse_seconds(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"{shown(text, 40)} is not a number of seconds (more than 0, at most {MAX_SECONDS:.0f})"
        )
    return value


def persist_arg(text: str) -> float:
    """An argparse type: ``--persist``, a duration (seconds, or with ``s``/``m``/``h``),
    at most 30 days; ``0``: none."""
    value = parse_duration(text, zero=True)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"{shown(text, 40)} is not a duration: seconds, or a number with s, m or h "
            f"(10m, 1h), at most {duration_text(MAX_SECONDS)}; 0 for none"
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


def common_arguments(p: argparse.ArgumentParser) -> None:
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


def profile_names(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="NAME", help="profile name or path to a .yaml")


def target_arguments(p: argparse.ArgumentParser) -> None:
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


def up_arguments(p: argparse.ArgumentParser) -> None:
    _start_timeout(p)
    profile_names(p)
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


def stdio_arguments(p: argparse.ArgumentParser) -> None:
    target_arguments(p)
    p.add_argument(
        "--persist",
        type=persist_arg,
        default=0.0,
        metavar="DURATION",
        help="with no tunnel of the service running, start one in the background and keep "
        "it until DURATION passes with no connection (10m, 1h; ssh's ControlPersist)",
    )
    # internal: how `stdio --persist` talks to the background tunnel it starts
    p.add_argument("--notify-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--log-file", default=None, help=argparse.SUPPRESS)


def stop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", dest="every", action="store_true", help="stop every running tunnel")
    p.add_argument(
        "--timeout",
        type=seconds_arg,
        default=None,
        metavar="S",
        help="seconds to wait (default: API timeout + stop timeout + 10, 50 s)",
    )


def wait_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--timeout", type=seconds_arg, default=30.0, metavar="S", help="seconds (default 30)"
    )


def run_arguments(p: argparse.ArgumentParser) -> None:
    target_arguments(p)
    p.add_argument(
        "-p",
        "--port",
        type=port_or_any_arg,
        default=None,
        help="local port instead of the profile's (0: any; with --service, any unless given)",
    )
    p.add_argument("command_argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def services_arguments(p: argparse.ArgumentParser) -> None:
    _credentials(p)
    p.add_argument(
        "filter", nargs="?", metavar="FILTER", help="only names, types or IDs containing this"
    )
    _json(p, "a JSON list on stdout")


def ssh_config_arguments(p: argparse.ArgumentParser) -> None:
    _credentials(p)
    p.add_argument(
        "filter",
        nargs="?",
        metavar="FILTER",
        help="only services whose name, host or ID matches this glob (or contains it)",
    )
    p.add_argument(
        "--persist",
        type=persist_arg,
        default=SSH_PERSIST,
        metavar="DURATION",
        help="each ProxyCommand keeps its tunnel this long after the last connection "
        f"(stdio --persist; default {duration_text(SSH_PERSIST)}; 0: none)",
    )


def init_arguments(p: argparse.ArgumentParser) -> None:
    _credentials(p)
    p.add_argument("name", metavar="NAME", help="the profile name (or a path to a .yaml)")
    p.add_argument("--service", metavar="S", help="service name, ID or number (else: asked)")
    p.add_argument("--port", type=port_arg, metavar="P", help="local port (else: asked)")
    p.add_argument("--force", action="store_true", help="overwrite an existing profile")


def demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mib", type=mib_arg, default=8, help=f"MiB to send through (1-{MAX_DEMO_MIB}, default 8)"
    )


def no_arguments(p: argparse.ArgumentParser) -> None:
    """No arguments of its own."""


def status_arguments(p: argparse.ArgumentParser) -> None:
    _json(p, "a JSON list on stdout")


def completion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", nargs="?", choices=("bash", "zsh", "fish"), help="the shell")
    # what the scripts run on Tab: the names to offer, one a line
    p.add_argument(
        "--list", choices=("profiles", "tunnels", "services"), default=None, help=argparse.SUPPRESS
    )
