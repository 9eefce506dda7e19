"""Finding services and writing profiles for them: ``rittunnel services`` and
``rittunnel init``.

The choices (which service an answer means, which local port to suggest, the profile's
text) are pure functions; the commands around them do the I/O: one service-list call,
prompts on stderr, answers from stdin, one file written.

Names, types and states come from the API: they are shown with their control characters
escaped (:func:`~rittunnel.report.printable`), so a name carrying terminal escapes cannot
clear the screen or forge rows, and written to a profile only through yaml's own
quoting, checked to read back as exactly the keys meant (:func:`profile_text`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import sys
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TextIO, TypeVar

import trio

from ..errors import ProfileError, RittunnelError, ServiceNameError, UsageError
from ..profiles import find_profile, is_service_id, list_profiles, new_profile_path
from ..profiles.loader import dump_profile, load_profile_file
from ..profiles.service import service_problem
from ..remoteit.accounts import Accounts
from ..remoteit.names import (
    ServiceCache,
    describe,
    filter_services,
    list_services,
    match_service,
)
from ..remoteit.protocol import ServiceInfo
from ..report import Reporter
from ..settings import Settings
from ..text import printable, shown
from .options import InitOptions, ServicesOptions
from .tables import render_table

#: the local port first suggested for a service type (the usual port, moved out of the
#: privileged range or off the port a local server of that kind would use)
PORT_BY_TYPE = {
    "ssh": 2222,
    "http": 8080,
    "https": 8443,
    "rdp": 13389,
    "vnc": 15900,
    "postgresql": 15432,
    "postgres": 15432,
    "mysql": 13306,
    "redis": 16379,
    "mongodb": 27018,
    "samba": 1445,
    "smb": 1445,
}
DEFAULT_PORT = 20000
#: the widest a name, type or state from the API is shown in a table
CELL = 60
T = TypeVar("T")

#: how many wrong answers ``init`` takes before giving up
ATTEMPTS = 3


def fetch_services(
    settings: Settings, reporter: Reporter, section: str | None
) -> tuple[list[ServiceInfo], str]:
    """A fresh service list of the environment's account (or ``section``'s), every page,
    and the credentials section it came from (``services``, ``init``, ``ssh-config``)."""
    accounts = Accounts(settings, reporter)
    account = accounts.default_account(section)
    cache = ServiceCache.from_settings(settings)

    async def main() -> list[ServiceInfo]:
        try:
            services, _ = await list_services(accounts, account, cache, fresh=True)
            return services
        finally:
            await accounts.aclose()

    return trio.run(main), account.section


# -- rittunnel services ----------------------------------------------------------------


def services(args: ServicesOptions, settings: Settings, reporter: Reporter) -> int:
    """List the account's services (those matching FILTER): name, type, state, address."""
    found, _ = fetch_services(settings, reporter, args.credentials)
    found.sort(key=lambda s: (s.name.casefold(), s.address))
    if args.filter:
        found = filter_services(found, args.filter)
    if args.json:
        reporter.output_json([as_json(s) for s in found])
    elif found:
        reporter.output(table(found))
    if not found:
        if args.filter:
            reporter.error(f"no service matches {shown(args.filter)}; run `rittunnel services`")
            return 1
        reporter.info("this remote.it account has no services")
    return 0


def as_json(service: ServiceInfo) -> dict[str, str]:
    """A service for ``--json``: ``account`` (its organisation) only when it has one."""
    out = dataclasses.asdict(service)
    if not service.account:
        del out["account"]
    return out


def table(services: Iterable[ServiceInfo]) -> str:
    """The services as aligned columns; what the API said is shown escaped (and a name,
    type or state at most :data:`CELL` characters wide). An organisation's service says
    whose after its address."""
    rows = [
        (
            s.name or "-",
            s.type or "-",
            s.state or "-",
            s.address + (f"  (organisation {s.account[:CELL]})" if s.account else ""),
        )
        for s in services
    ]
    return "\n".join(
        render_table(("NAME", "TYPE", "STATE", "ADDRESS"), rows, limits=(CELL, CELL, CELL))
    )


# -- rittunnel init --------------------------------------------------------------------


def choose(answer: str, services: list[ServiceInfo]) -> ServiceInfo:
    """The service an answer means: its number in the list, its ID, or its name."""
    answer = answer.strip()
    if not answer:
        raise ServiceNameError("no answer; type a number, a name or a service ID")
    if answer.isdigit():
        index = int(answer)
        if not 1 <= index <= len(services):
            raise ServiceNameError(f"{index} is not in the list; pick 1-{len(services)}")
        return services[index - 1]
    if is_service_id(answer):
        for s in services:
            if s.address.casefold() == answer.casefold():
                return s
        raise ServiceNameError(f"no service with ID {answer} in this remote.it account")
    return match_service(answer, services)


def named(name: str, services: list[ServiceInfo]) -> ServiceInfo | None:
    """The one service called ``name`` (as a profile's ``service:`` would find it), the
    default ``init NAME`` offers; None when no service, or several, have that name."""
    try:
        return match_service(name, services)
    except ServiceNameError:
        return None


def start_command(name: str, command_names: Collection[str]) -> str:
    """How to start profile ``name``: ``rittunnel NAME``, or ``rittunnel up NAME`` when
    NAME is also a command's name (``rittunnel demo`` runs the demo)."""
    return f"rittunnel up {name}" if name in command_names else f"rittunnel {name}"


def suggest_port(service_type: str, taken: set[int], is_free: Callable[[int], bool]) -> int:
    """The first port from the type's usual one up that no profile uses and that is free."""
    port = PORT_BY_TYPE.get(service_type.strip().casefold(), DEFAULT_PORT)
    for candidate in range(port, min(port + 100, 65536)):
        if candidate not in taken and is_free(candidate):
            return candidate
    return port


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def parse_port(answer: str, suggested: int) -> int:
    answer = answer.strip()
    if not answer:
        return suggested
    if not answer.isdigit() or not 1 <= int(answer) <= 65535:
        raise ProfileError(f"{answer!r} is not a port number; use 1-65535")
    return int(answer)


def name_fits(name: str) -> bool:
    """Whether a profile may name its service by ``name``: a plausible service name
    (:func:`~rittunnel.profiles.service.service_problem`: no control characters, not
    too long, nothing like an ID), no spaces around it (the loader strips them), and
    not a service ID itself (it would mean another service)."""
    return (
        bool(name)
        and name == name.strip()
        and not service_problem(name)
        and not is_service_id(name)
        and printable(name) == name
    )


def profile_text(
    service: ServiceInfo, unique_name: bool, port: int, section: str, today: str
) -> str:
    """The YAML of a new profile. It names the service by name when the name is unique
    in the account and a profile can hold it (:func:`name_fits`), else by ID. What
    remote.it said is written only through yaml's quoting
    (:func:`~rittunnel.profiles.loader.dump_profile`, which refuses what would not read
    back as exactly these keys) or in comments, escaped; an ID that is not a service ID
    is refused (:class:`RittunnelError`)."""
    by_name = unique_name and name_fits(service.name)
    if not by_name and not is_service_id(service.address):
        raise RittunnelError(
            f"init: remote.it gave service {shown(service.name)} the ID "
            f"{shown(service.address)}, which is not a service ID; no profile written"
        )
    values: dict[str, str | int] = {
        "service": service.name if by_name else service.address,
        "local_port": port,
    }
    if section:
        values["credentials"] = section
    try:
        body = dump_profile(values)
    except ProfileError as exc:
        raise RittunnelError(f"init: {exc}; no profile written") from None
    lines = [
        f"# written by `rittunnel init` on {printable(today)}",
        f"# {printable(service.name or 'unnamed', CELL)} = {printable(describe(service))}",
    ]
    return "\n".join(lines) + "\n" + body


class Prompter:
    """Questions on stderr, answers from stdin; EOF is an error naming the flag to use."""

    def __init__(self, stdin: TextIO, stderr: TextIO) -> None:
        self.stdin, self.stderr = stdin, stderr

    def say(self, text: str) -> None:
        """One line on stderr, its control characters escaped (it may quote the API)."""
        with contextlib.suppress(OSError, ValueError):
            self.stderr.write(printable(text) + "\n")
            self.stderr.flush()

    def ask(self, question: str, flag: str) -> str:
        self.stderr.write(question)
        self.stderr.flush()
        line = self.stdin.readline()
        if not line:
            self.say("")
            raise UsageError(f"init: no answer on stdin; pass {flag} instead")
        return line


def init(
    args: InitOptions,
    settings: Settings,
    reporter: Reporter,
    stdin: TextIO | None = None,
    command_names: Collection[str] = (),
) -> int:
    """Write profile NAME for one of the account's services, asking what is not given;
    the service named NAME, when there is one, is what Enter takes. ``command_names``:
    the commands, which ``rittunnel NAME`` would run instead of the profile."""
    prompt = Prompter(stdin or sys.stdin, reporter.err)
    env = settings.env
    target = new_profile_path(args.name, env)
    try:
        existing: Path | None = find_profile(args.name, env)
    except ProfileError:
        existing = None
    if existing is not None:
        if not args.force:
            raise RittunnelError(
                f"init: profile {args.name} already exists ({existing}); "
                "pass --force to overwrite it"
            )
        target = existing

    found, section = fetch_services(settings, reporter, args.credentials)
    if not found:
        raise RittunnelError("init: this remote.it account has no services to tunnel to")
    found.sort(key=lambda s: (s.name.casefold(), s.address))

    if args.service:
        service = choose(args.service, found)
    else:
        for i, s in enumerate(found, 1):
            prompt.say(f"{i:3}. {printable(s.name, CELL) or '-'}  {describe(s)}")
        default = named(args.name, found)
        offer = ""
        if default is not None:
            offer = f"; Enter: {found.index(default) + 1}, {printable(default.name, CELL)}"
        service = _ask(
            prompt,
            f"service [1-{len(found)}, a name or an ID{offer}]: ",
            "--service",
            lambda answer: (
                default if default is not None and not answer.strip() else choose(answer, found)
            ),
        )

    if args.port is not None:
        if not 1 <= args.port <= 65535:
            raise UsageError(f"init: --port {args.port} is out of range; use 1-65535")
        port = args.port
    else:
        taken = set()
        for path in list_profiles(env):
            try:
                taken.add(load_profile_file(path).local_port)
            except RittunnelError:
                continue
        suggested = suggest_port(service.type, taken, port_is_free)
        port = _ask(
            prompt,
            f"local port [{suggested}]: ",
            "--port",
            lambda answer: parse_port(answer, suggested),
        )

    unique = bool(service.name) and sum(s.name == service.name for s in found) == 1
    text = profile_text(service, unique, port, section, time.strftime("%Y-%m-%d"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    profile = load_profile_file(target)  # what we wrote must load
    shown_name = printable(service.name, CELL) or service.address
    reporter.info(f"wrote {target}: {shown_name} on local port {port}")
    reporter.info(f"start it with: {start_command(profile.name, command_names)}")
    return 0


def _ask(prompt: Prompter, question: str, flag: str, parse: Callable[[str], T]) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        answer = prompt.ask(question, flag)
        try:
            return parse(answer)
        except RittunnelError as exc:
            if attempt == ATTEMPTS:
                raise UsageError(f"init: {exc}") from None
            prompt.say(str(exc))
    raise AssertionError("unreachable")
