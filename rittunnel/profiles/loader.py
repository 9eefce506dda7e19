"""Reading a profile file: at most :data:`MAX_PROFILE_BYTES` of UTF-8, parsed as YAML by
:class:`ProfileLoader`, then validated (:func:`~rittunnel.profiles.model.parse_profile`).
The only module of the package that imports yaml: ``status``, ``stop`` and ``--help``
never load it.

A profile is a small flat file, and is read as one: at most :data:`MAX_PROFILE_BYTES`,
no YAML anchors or aliases (``&a``, ``*a``: a few hundred bytes of nested aliases expand
to gigabytes), no key twice (YAML would silently keep the last), nothing nested deeper
than :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ProfileError
from ..text import shown
from .model import SHOWN, Profile, parse_profile
from .search import find_profile

#: the largest profile file read (a profile is a dozen short lines)
MAX_PROFILE_BYTES = 64 * 1024
#: the deepest nesting of lists and mappings a profile may have
MAX_DEPTH = 8


class ProfileRefused(yaml.MarkedYAMLError):
    """Valid YAML that a profile may not use (an alias, a key twice, deep nesting)."""

    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class ProfileLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (same safety) without YAML 1.1's base-60 numbers, and without
    what a profile never needs but an attacker or a typo can use: anchors and aliases
    (the "billion laughs": nested aliases expand a few hundred bytes to gigabytes), a
    key given twice (YAML keeps the last one silently), deep nesting.

    Under YAML 1.1 an unquoted ``service: 80:00:00:00:01:02:03:04`` is the *integer*
    223948800223384; service IDs are written unquoted, so here ``a:b:c`` stays a string.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ProfileRefused(
                "YAML anchors and aliases (&name, *name) are not allowed in a profile; "
                "write each value out",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ProfileRefused(
                    f"nested more than {MAX_DEPTH} levels deep; a profile is a flat list of keys",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ProfileRefused(
                    "YAML merge keys (<<) are not allowed in a profile; write each key out",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader says so below
                continue
            if twice:
                raise ProfileRefused(
                    f"key {shown(key, SHOWN)} appears twice; keep one", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
ProfileLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ProfileLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0b[01_]+|0o?[0-7_]+)$"),
    list("-+0123456789"),
)
ProfileLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> object:
    return yaml.load(text, Loader=ProfileLoader)  # noqa: S506 - a SafeLoader subclass


class ProfileDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` deciding what needs quotes by :class:`ProfileLoader`'s rules
    (a plain scalar that would read back as a number or a boolean is quoted)."""


ProfileDumper.yaml_implicit_resolvers = ProfileLoader.yaml_implicit_resolvers


def dump_profile(values: Mapping[str, str | int]) -> str:
    """``values`` as the keys of a profile, one a line, every value written with yaml's
    own quoting. Raises :class:`ProfileError` unless the text reads back as exactly
    ``values`` (no more keys, none changed: text from remote.it never becomes a key) and
    those make a valid profile."""
    try:
        text = yaml.dump(
            dict(values),
            Dumper=ProfileDumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=MAX_PROFILE_BYTES,
        )
        ok = load_yaml(text) == dict(values)
    except (yaml.YAMLError, RecursionError):
        ok = False
    if not ok or len(text.encode("utf-8")) > MAX_PROFILE_BYTES // 2:
        raise ProfileError(f"cannot write {shown(dict(values), SHOWN)} as a profile")
    parse_profile(dict(values), source="the profile", name="profile")  # it must load too
    return text


def load_profile(name: str, env: Mapping[str, str]) -> Profile:
    """Find, read, parse and validate profile ``name``."""
    path = find_profile(name, env)
    return load_profile_file(path)


def load_profile_file(path: Path) -> Profile:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise ProfileError(
            f"{path}: cannot read: {exc.strerror or exc.__class__.__name__}"
        ) from None
    if len(raw) > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"{path}: larger than {MAX_PROFILE_BYTES // 1024} KiB, too large for a profile "
            "(a dozen short lines); is it the right file?"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the profile as UTF-8"
        ) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if isinstance(exc, ProfileRefused):  # valid YAML, but not in a profile
            raise ProfileError(f"{path}: {place}: {problem}") from None
        where = f" at {place}" if place else ""
        raise ProfileError(f"{path}: not valid YAML{where}: {problem}") from None
    except RecursionError:  # the parser's own nesting, before compose_node sees it
        raise ProfileError(f"{path}: nested too deeply; a profile is a flat list of keys") from None
    return parse_profile(data, source=str(path), name=path.stem)
