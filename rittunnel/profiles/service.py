"""A profile from the command line: ``stdio`` and ``run`` take a service instead of a
profile (``--service NAME|ID``). :func:`command_profile` applies their argument rules and
:func:`profile_for_service` makes the :class:`~rittunnel.profiles.model.Profile` such a
command line describes, so it goes through the same code as a profile read from a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import UsageError
from ..text import ascii_fold, printable, shown
from .model import Profile, ProxyKind, is_service_id, section_problem

#: what a profile made from ``--service`` names as its source (messages then read
#: ``command line: service: 'pi' names 2 services: …``)
COMMAND_LINE = "command line"
#: the longest service name taken from ``--service``
MAX_SERVICE_NAME = 200
#: the most characters of a service name that go into a tunnel name
MAX_NAME_PART = 60
#: a try at a service ID (hex groups and colons) that is not one: a typo, not a name
_ID_LIKE = re.compile(r"[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){3,}")
#: a run of characters a tunnel name made from a service name cannot have
_NOT_IN_NAME = re.compile(r"[^a-z0-9_-]+")


def service_problem(text: str) -> str:
    """What makes ``text`` (``--service``) neither a service ID nor a plausible service
    name ("" when nothing): empty, four or more colon-separated groups of up to four hex
    digits that are not eight bytes (:data:`_ID_LIKE`: a mistyped ID; looked up as a
    name, it would only fail later; three groups or fewer are taken as a name), control
    characters, or longer than :data:`MAX_SERVICE_NAME` characters. Pure."""
    value = text.strip()
    if not value:
        return "is empty; give a service name or ID (`rittunnel services` lists them)"
    if is_service_id(value):
        return ""
    if _ID_LIKE.fullmatch(value):
        return (
            "is not a service ID: eight hex bytes separated by colons, e.g. 80:00:00:00:01:02:03:04"
        )
    if printable(value) != value:
        return "has control characters: it is not a service name"
    if len(value) > MAX_SERVICE_NAME:
        return f"is longer than {MAX_SERVICE_NAME} characters: it is not a service name"
    return ""


def service_tunnel_name(service: str) -> str:
    """The tunnel name (state files, messages) of a tunnel made for ``--service``:
    ``service-`` and the ID with ``-`` for ``:`` (``service-80-00-00-00-01-02-03-04``),
    or the name folded to lower-case ASCII, each run of other characters than letters,
    digits, ``-`` and ``_`` made one ``-``, at most :data:`MAX_NAME_PART` of them
    (``My Pi!`` → ``service-my-pi``); ``service`` when nothing is left. Always a valid
    tunnel name, with no ``.`` (the suffixes ``.stdio-PID``, ``.run-PID`` keep it apart
    from other runs of the same service). Pure."""
    value = service.strip()
    if is_service_id(value):
        return "service-" + value.lower().replace(":", "-")
    part = _NOT_IN_NAME.sub("-", ascii_fold(value)).strip("-")[:MAX_NAME_PART].strip("-")
    return f"service-{part}" if part else "service"


def profile_for_service(
    service: str, credentials: str | None = None, *, proxy: ProxyKind = "auto"
) -> Profile:
    """The profile ``--service SERVICE [--credentials SECTION]`` describes: that service
    (an ID, or a name resolved as a profile's is), latching, the default account or the
    key file's ``credentials`` section, local port 0 (any free one), everything else as
    a profile's defaults; named by :func:`service_tunnel_name`, its source
    :data:`COMMAND_LINE`. ``proxy``: what the command needs (``stdio``: a port). A value
    that cannot be meant is a one-line :class:`UsageError`."""
    problem = service_problem(service)
    if problem:
        raise UsageError(f"--service {shown(service)} {problem}")
    if credentials is not None and (
        section_problem(credentials) or printable(credentials) != credentials
    ):
        raise UsageError(
            f"--credentials {shown(credentials)} is not a section name of ~/.remoteit/credentials"
        )
    return Profile(
        name=service_tunnel_name(service),
        source=COMMAND_LINE,
        service=service.strip(),
        local_port=0,
        proxy=proxy,
        credentials=credentials.strip() if credentials else None,
    )


def command_profile(
    command: str,
    name: str | None,
    service: str | None,
    credentials: str | None,
    env: Mapping[str, str],
    *,
    proxy: ProxyKind = "auto",
) -> Profile:
    """The profile a ``stdio`` or ``run`` command line names: profile ``name`` (loaded),
    or the one made for ``--service`` (:func:`profile_for_service`, with ``proxy``).
    Exactly one of the two; ``--credentials`` only with ``--service`` (a profile names
    its own section). Breaking a rule is a one-line :class:`UsageError`."""
    if name is not None and service is not None:
        extra = "; the command goes after `--`" if command == "run" else ""
        raise UsageError(f"{command}: give a profile NAME or --service, not both{extra}")
    if service is not None:
        return profile_for_service(service, credentials, proxy=proxy)
    if name is None:
        raise UsageError(f"{command}: give a profile NAME or --service NAME|ID")
    if credentials is not None:
        raise UsageError(
            f"{command}: --credentials goes with --service; profile {shown(name)} names its "
            "own section (its credentials: key)"
        )
    from .loader import load_profile  # lazy: --service needs no yaml

    return load_profile(name, env)
