"""``rittunnel ssh-config [FILTER]``: an ssh_config block for every SSH service of the
account, so that ``ssh pi@NAME`` (scp, rsync, ansible) reaches each device through
``rittunnel stdio --service ID`` with no profile.

Decisions (all pure functions below; :func:`ssh_config` does the one API call and prints):

* **Which services**: those whose type (REST ``servicetitle``, GraphQL ``title``) is
  ``SSH``, ignoring case and surrounding spaces; every page of either API (the client's
  ``list_services``). Inactive ones too: their comment says so, and they work once the
  device is back. A service whose ID is not a service ID is left out, with a warning
  (the ID goes into a command line).
* **Host names** (:func:`host_name`): the service name folded to ASCII and lower-cased
  (ssh matches ``Host`` as typed: one case to remember; ``Pi`` and ``pi`` then come out
  the same and are made distinct below), every run of characters other than letters,
  digits, ``-`` and ``_`` made one ``-`` (so no whitespace, ``*?!,#%``, quotes, and no
  ``.``), no ``-`` at either end (a leading ``-`` would read as an ssh option), at most
  :data:`MAX_HOST` characters; nothing left → ``remoteit-`` and the ID's hex digits.
  **No real host is shadowed**: the file is Included before the user's own ``Host``
  blocks, so a ``Host github.com`` made from a service someone shared would send
  ``ssh git@github.com`` through that device. With no ``.``, no host name is a domain
  name or a dotted IP address; a loopback name (:data:`LOOPBACK`: ``localhost``…) or a
  number (``2130706433`` and ``0x7f000001`` are IPv4 addresses to ``getaddrinfo``) gets
  :data:`NOT_REAL` after it (``localhost-remoteit``).
  Names that come out the same are made distinct (:func:`host_names`): ordered by ID,
  the first keeps the name, the next get ``-2``, ``-3``…, skipping any name another
  service has. Names are chosen over every SSH service before FILTER is applied, so a
  filtered config names each host as the full one does.
* **HostKeyAlias** ``rittunnel-`` and the ID's hex digits (lower case): remote.it hands
  out a new host:port per proxy, so the host key is remembered per service; it survives
  renaming the service, and stays right when a rename moves a ``-2`` suffix.
* **No device name** in the comment: the service list (:class:`ServiceInfo`) does not
  carry one.
* **ProxyCommand** runs this very rittunnel by absolute path (``common.self_argv``) as
  ``stdio --service ID``, with ``--credentials SECTION`` when the listing used a
  credentials section (``--credentials``, or ``R3_PROFILE``), so each host goes through
  the account it was listed from, and ``--persist 10m`` (``ssh-config --persist
  DURATION``; ``0``: none): with no tunnel of the service running, the first ssh starts
  one in the background that the next ssh, scp or rsync uses without an API call, gone
  10 minutes after the last connection (ssh's ``ControlPersist``). Every word is
  quoted for the shell ssh runs it with, then ``%`` doubled (ssh expands ``%h``-style
  tokens there) (:func:`ssh_quote`).
* **FILTER**: a shell glob (``*``, ``?``, ``[…]``) matched against the whole service
  name, host name or ID, ignoring case; without those characters, a substring of any.
* **Nothing matches**: an account with no SSH service prints the header alone, says so on
  stderr and exits 0 (like ``kubectl get`` finding nothing, and like ``rittunnel
  services``); a FILTER that matches no SSH service is an error, exit 1 (like
  ``services FILTER``), with nothing on stdout.

The output holds no secret and no date: run twice against the same account it is the
same, so a changed file means changed devices. Text from remote.it appears only in
comments, its control characters escaped (a newline in a name cannot add a config line).
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import RittunnelError
from ..profiles import is_service_id
from ..quantities import duration_text
from ..remoteit.protocol import ServiceInfo
from ..report import Reporter
from ..settings import Settings
from ..text import ascii_fold, printable, shown
from .common import self_argv
from .options import SSH_PERSIST, SshConfigOptions

#: the longest host name made from a service name
MAX_HOST = 64
#: how a service's type says SSH (compared ignoring case)
SSH_TYPE = "ssh"
#: the widest a name, type or state from the API is shown in a comment
COMMENT = 60
#: a run of characters a host name cannot have, with any ``-`` around it (one ``-``);
#: ``.`` among them, so that no host name is a domain name or a dotted IP address
_UNSAFE = re.compile(r"-*[^a-z0-9_-][^a-z0-9_]*")
#: names that mean this machine to ssh (``/etc/hosts``' loopback names): never a Host
LOOPBACK = frozenset({"localhost", "localhost4", "localhost6", "ip6-localhost", "ip6-loopback"})
#: a host name ``getaddrinfo`` reads as an IPv4 address (a number, decimal, octal or hex)
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")
#: put after a host name that would name a real host (:data:`LOOPBACK`, a number)
NOT_REAL = "-remoteit"
_GLOB = re.compile(r"[*?\[]")
#: an ssh_config token written as it is (no quotes, no glob, no ``%``, no ``.``)
_TOKEN = re.compile(r"[a-z0-9_-]+")


@dataclass(frozen=True)
class Entry:
    """One ssh_config block: a service and the host name it gets."""

    service: ServiceInfo
    host: str


def is_ssh(service: ServiceInfo) -> bool:
    """Whether the service's type is SSH (either API's name for it, ignoring case)."""
    return service.type.strip().casefold() == SSH_TYPE


def id_digits(address: str) -> str:
    """A service ID's hex digits, lower case: ``8000000001020304``."""
    return address.replace(":", "").lower()


def host_name(name: str, address: str) -> str:
    """``name`` as an ssh ``Host`` name (see the module docstring): never empty, never
    with a ``.``, never a name or address of a real host (``localhost``, a number)."""
    host = _UNSAFE.sub("-", ascii_fold(name))[:MAX_HOST].strip("-")
    if not host:
        return f"remoteit-{id_digits(address)}"
    if host in LOOPBACK or _NUMBER.fullmatch(host):
        return host[: MAX_HOST - len(NOT_REAL)] + NOT_REAL
    return host


def host_names(services: Iterable[ServiceInfo]) -> dict[str, str]:
    """Each service's host name, by service ID: distinct, and the same for the same
    services whatever order they come in."""
    by_base: dict[str, list[ServiceInfo]] = {}
    for s in services:
        by_base.setdefault(host_name(s.name, s.address), []).append(s)
    taken = set(by_base)
    out: dict[str, str] = {}
    for base in sorted(by_base):
        first, *others = sorted(by_base[base], key=lambda s: s.address.casefold())
        out[first.address] = base
        n = 2
        for s in others:
            while f"{base}-{n}" in taken:
                n += 1
            out[s.address] = f"{base}-{n}"
            taken.add(out[s.address])
    return out


def matches(entry: Entry, pattern: str) -> bool:
    """FILTER: a glob on the whole name, host or ID, else a substring of one (ignoring
    case)."""
    needle = pattern.casefold()
    fields = [entry.service.name.casefold(), entry.host, entry.service.address.casefold()]
    if _GLOB.search(pattern):
        return any(fnmatch.fnmatchcase(f, needle) for f in fields)
    return any(needle in f for f in fields)


def entries(services: Iterable[ServiceInfo], pattern: str | None = None) -> list[Entry]:
    """The SSH services (with a service ID; an ID listed twice, once) as blocks, sorted
    by host name; with ``pattern``, only those it matches (host names are chosen before
    filtering)."""
    by_id = {s.address.casefold(): s for s in reversed(list(services))}  # the first of each
    ssh = [s for s in by_id.values() if is_ssh(s) and is_service_id(s.address)]
    hosts = host_names(ssh)
    found = sorted((Entry(s, hosts[s.address]) for s in ssh), key=lambda e: e.host)
    return [e for e in found if pattern is None or matches(e, pattern)]


def ssh_quote(word: str) -> str:
    """One word of a ProxyCommand: quoted for the shell ssh runs it with, ``%`` doubled
    (ssh turns ``%%`` back into ``%``)."""
    return shlex.quote(word).replace("%", "%%")


def proxy_command(
    program: Sequence[str], address: str, section: str, persist: float = SSH_PERSIST
) -> str:
    """The ProxyCommand value for one service (``persist``: its ``--persist``, 0: none)."""
    argv = [*program, "stdio", "--service", address]
    if section:
        argv += ["--credentials", section]
    if persist:
        argv += ["--persist", duration_text(persist)]
    return " ".join(ssh_quote(word) for word in argv)


def invocation(pattern: str | None, section: str, persist: float = SSH_PERSIST) -> str:
    """The command line that makes this output, for its header."""
    argv = ["rittunnel", "ssh-config"]
    if pattern is not None:
        argv.append(pattern)
    if section:
        argv += ["--credentials", section]
    if persist != SSH_PERSIST:
        argv += ["--persist", duration_text(persist)]
    return printable(" ".join(shlex.quote(w) for w in argv), 200)


def header(pattern: str | None, section: str, persist: float = SSH_PERSIST) -> str:
    """The comment at the top: what this is, the command that made it, how to use it."""
    command = invocation(pattern, section, persist)
    which = "every SSH service" if pattern is None else "each SSH service (filtered)"
    if persist:
        own = [
            "# (`rittunnel up`), else one it starts in the background and leaves running",
            f"# until {duration_text(persist)} pass with no connection (--persist), for the "
            "next ssh.",
        ]
    else:
        own = ["# (`rittunnel up`), else a remote.it proxy of its own."]
    return "\n".join(
        [
            f"# ssh_config: a Host block for {which} of your remote.it account;",
            "# ssh reaches each through `rittunnel stdio`: a running tunnel of the service",
            *own,
            "# No Host name has a dot, is localhost or is a number: none is a domain name,",
            "# an IP address or this machine. Made by:",
            f"#     {command}",
            "# Save it, and include it at the top of ~/.ssh/config (before any Host line):",
            f"#     {command} > ~/.ssh/rittunnel.conf",
            "#     Include ~/.ssh/rittunnel.conf",
            "# Then ssh USER@HOST, scp, rsync and ansible reach each one by its Host name.",
            "# Run it again when your devices change. A Host block of yours with a name used",
            "# here shares settings with this one: see docs/guide-ssh.md.",
        ]
    )


def token(value: str) -> str:
    """``value`` as one ssh_config token that needs no quoting (letters, digits, ``-``,
    ``_``: what :func:`host_name` and :func:`id_digits` make); anything else is refused
    (:class:`RittunnelError`), never written."""
    if not _TOKEN.fullmatch(value):
        raise RittunnelError(f"ssh-config: {shown(value)} cannot be an ssh_config token")
    return value


def one_line(value: str) -> str:
    """``value`` as the rest of a directive's line (ProxyCommand's): refused
    (:class:`RittunnelError`) when it has a line break or any control character."""
    if not value.strip() or printable(value) != value:
        raise RittunnelError(f"ssh-config: {shown(value)} cannot be one ssh_config line")
    return value


def block(entry: Entry, program: Sequence[str], section: str, persist: float = SSH_PERSIST) -> str:
    """One service's ssh_config block, its comment quoting what remote.it said. Its
    service ID must be one (:func:`is_service_id`, a full match), and every token passes
    :func:`token` or :func:`one_line`, else :class:`RittunnelError`."""
    s = entry.service
    if not is_service_id(s.address):
        raise RittunnelError(f"ssh-config: {shown(s.address)} is not a service ID")
    details = ", ".join(printable(x.strip(), COMMENT) for x in (s.type, s.state) if x.strip())
    name = printable(s.name, COMMENT) or "(no name)"
    return "\n".join(
        [
            one_line(f"# {name}: service {s.address} ({details})"),
            f"Host {token(entry.host)}",
            f"    HostKeyAlias {token('rittunnel-' + id_digits(s.address))}",
            f"    ProxyCommand {one_line(proxy_command(program, s.address, section, persist))}",
        ]
    )


def render(
    found: Sequence[Entry],
    program: Sequence[str],
    pattern: str | None,
    section: str,
    persist: float = SSH_PERSIST,
) -> str:
    """The whole output: the header, then a block per entry, blank lines between."""
    parts = [
        header(pattern, section, persist),
        *(block(e, program, section, persist) for e in found),
    ]
    return "\n\n".join(parts) + "\n"


def check_words(words: Sequence[str]) -> None:
    """Words ssh_config cannot carry on one line (a line break, any control character:
    the executable's path, a ``--credentials`` section) are an error."""
    for word in words:
        if printable(word) != word:
            raise RittunnelError(
                f"ssh-config: cannot put {shown(word)} in a ProxyCommand: it has control characters"
            )


# -- the command -----------------------------------------------------------------------


def ssh_config(args: SshConfigOptions, settings: Settings, reporter: Reporter) -> int:
    """Print an ssh_config block for every SSH service (matching FILTER)."""
    program = self_argv(sys.argv[0], sys.executable)
    check_words([*program, args.credentials or ""])
    from .discover import fetch_services

    services, section = fetch_services(settings, reporter, args.credentials)
    check_words([section])
    for s in services:
        if is_ssh(s) and not is_service_id(s.address):
            reporter.warn(
                f"ssh-config: left out service {shown(s.name)}: its ID "
                f"{shown(s.address)} is not a service ID"
            )
    found = entries(services, args.filter)
    if not found and args.filter is not None:
        raise RittunnelError(
            f"ssh-config: no SSH service matches {shown(args.filter)}; "
            "run `rittunnel services ssh` to list them"
        )
    try:
        reporter.output(render(found, program, args.filter, section, args.persist))
    except OSError as exc:  # a full disk, a reader gone: the config is not complete
        raise RittunnelError(f"ssh-config: cannot write the output: {exc.strerror}") from None
    if not found:
        reporter.info("this remote.it account has no SSH services")
    return 0
