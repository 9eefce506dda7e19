"""The one rule for a tunnel's name: what a profile may be called, and what a state file
may be named after (:mod:`rittunnel.tunnel.state`). A profile's name is its tunnel's
name, so both sides ask :func:`name_problem` and agree by construction. Pure."""

from __future__ import annotations

import re

from ..errors import ProfileError
from ..text import shown

#: the most UTF-8 bytes in a tunnel name (what is left of 255 for suffixes and temp files)
MAX_NAME = 200
#: a tunnel name: a profile name (or ``service-…`` for ``--service``), maybe with
#: ``.stdio-PID``, ``.run-PID`` or ``.orphan-PID``
_NAME = re.compile(r"[\w-][\w.-]*")
#: the rule, as messages say it
RULE = "letters, digits, '-', '_', '.'; no '..'; no leading '.'"


def name_problem(name: object) -> str:
    """What makes ``name`` unfit to name a tunnel ("" if nothing): :data:`RULE`, at most
    :data:`MAX_NAME` bytes."""
    if not isinstance(name, str):
        return "is not a string"
    if not _NAME.fullmatch(name) or ".." in name:
        return f"is not a tunnel name ({RULE})"
    if len(name.encode("utf-8")) > MAX_NAME:
        return f"is longer than {MAX_NAME} bytes"
    return ""


def check_name(name: str) -> None:
    """A one-line :class:`ProfileError` when ``name`` cannot name a profile (the
    tunnel-name rule, :func:`name_problem`)."""
    if name_problem(name):
        raise ProfileError(
            f"{shown(name)} is not a profile name ({RULE}; at most {MAX_NAME} bytes); "
            "or give a path to a .yaml file"
        )
