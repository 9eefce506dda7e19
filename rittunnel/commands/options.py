"""What each command is given: a frozen dataclass per command, its fields named as the
command's arguments are (:mod:`rittunnel.commands.registry` declares those), built from
the parsed command line by :func:`options_from`.

Cheap to import (no trio, no httpx, no yaml): the command table names these types, and
``--help``, ``status`` and ``stop`` build it."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

#: how long ``ssh-config``'s ProxyCommands keep a tunnel for the next ssh (ssh's
#: ``ControlPersist``): ``stdio --persist 10m``
SSH_PERSIST = 600.0

#: a command's options type
Opts = TypeVar("Opts", bound="DataclassInstance")


def options_from(cls: type[Opts], args: argparse.Namespace) -> Opts:
    """``cls`` with each field taken from the parsed argument of the same name (a list,
    as ``nargs`` gives, becomes a tuple: the options are frozen)."""
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name)
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


@dataclass(frozen=True)
class UpOptions:
    names: tuple[str, ...]
    json: bool = False
    detach: bool = False
    verbose: bool = False
    start_timeout: float | None = None
    #: internal: how ``up -d`` talks to the background process it starts
    notify_fd: int | None = None
    log_file: str | None = None


@dataclass(frozen=True)
class StatusOptions:
    json: bool = False


@dataclass(frozen=True)
class StopOptions:
    names: tuple[str, ...] = ()
    #: ``--all``
    every: bool = False
    timeout: float | None = None


@dataclass(frozen=True)
class WaitOptions:
    name: str
    timeout: float = 30.0


@dataclass(frozen=True)
class RunOptions:
    """``run``: a profile ``name`` or a ``service`` (checked by the command)."""

    name: str | None = None
    service: str | None = None
    credentials: str | None = None
    port: int | None = None
    command_argv: tuple[str, ...] = ()
    start_timeout: float | None = None


@dataclass(frozen=True)
class StdioOptions:
    """``stdio``: a profile ``name`` or a ``service`` (checked by the command)."""

    name: str | None = None
    service: str | None = None
    credentials: str | None = None
    verbose: bool = False
    start_timeout: float | None = None
    #: seconds a tunnel started for it outlives the last connection (0: none of its own)
    persist: float = 0.0
    #: internal: the background tunnel of ``stdio --persist`` (how it says it is ready)
    notify_fd: int | None = None
    log_file: str | None = None


@dataclass(frozen=True)
class NoOptions:
    """A command that takes no options of its own (``profiles``, ``cleanup``)."""


@dataclass(frozen=True)
class ServicesOptions:
    filter: str | None = None
    json: bool = False
    credentials: str | None = None


@dataclass(frozen=True)
class SshConfigOptions:
    filter: str | None = None
    credentials: str | None = None
    #: what each ProxyCommand's ``stdio --persist`` says (0: no ``--persist``)
    persist: float = SSH_PERSIST


@dataclass(frozen=True)
class InitOptions:
    name: str
    service: str | None = None
    port: int | None = None
    force: bool = False
    credentials: str | None = None


@dataclass(frozen=True)
class UnitOptions:
    names: tuple[str, ...]


@dataclass(frozen=True)
class DemoOptions:
    mib: int = 8


@dataclass(frozen=True)
class CompletionOptions:
    """``completion SHELL``, or (what the scripts run on Tab) ``completion --list KIND``."""

    shell: str | None = None
    list: str | None = None
