"""The part of remote.it's GraphQL schema the fake models, and what fits its types.

It is the schema of ``docs/remoteit-api.md#graphql-schema``, field for field
(``tests/test_schema_conformance.py`` compares them): names, types, arguments and
nullability; where that schema is our inference, the doc says so."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .parser import EnumValue, Var


@dataclass(frozen=True)
class Arg:
    type: str
    has_default: bool = False


@dataclass(frozen=True)
class FieldDef:
    type: str
    args: Mapping[str, Arg] = field(default_factory=dict)


def _fields(**types: str) -> dict[str, FieldDef]:
    return {name: FieldDef(type_) for name, type_ in types.items()}


#: ``devices(from: Int = 0, size: Int = 100)``
_PAGING = {"from": Arg("Int", has_default=True), "size": Arg("Int", has_default=True)}

#: the part of remote.it's schema the fake models: type -> field -> definition
SCHEMA: dict[str, dict[str, FieldDef]] = {
    "Query": {"login": FieldDef("User")},
    "Mutation": {
        "connect": FieldDef(
            "Connection!",
            {
                "serviceId": Arg("String!"),
                "hostIP": Arg("String!", has_default=True),
                "type": Arg("ProxyType!", has_default=True),
            },
        ),
        "disconnect": FieldDef(
            "Boolean!", {"connectionId": Arg("String!"), "serviceId": Arg("String")}
        ),
    },
    "User": {
        **_fields(id="ID!", email="String!", membership="[Membership!]!"),
        "devices": FieldDef("PaginatedDeviceResponse!", _PAGING),
        "account": FieldDef("Account", {"id": Arg("String")}),
    },
    "Account": {
        **_fields(id="ID!", email="String"),
        "devices": FieldDef("PaginatedDeviceResponse!", _PAGING),
    },
    "Membership": _fields(organization="Organization!"),
    "Organization": _fields(id="ID!", name="String", account="Account!"),
    "PaginatedDeviceResponse": _fields(total="Int!", hasMore="Boolean!", items="[Device!]!"),
    "Device": _fields(id="ID!", name="String", state="String!", services="[Service!]"),
    "Service": _fields(id="ID!", name="String", state="String!", title="String"),
    "Connection": _fields(
        id="ID!",
        host="String!",
        port="Int",
        reverseProxy="Boolean!",
        url="String!",
        created="DateTime!",
        timeout="Int!",
        session="Session",
    ),
    "Session": _fields(id="ID!"),
}
ENUMS: dict[str, tuple[str, ...]] = {"ProxyType": ("AUTO_PROXY", "REVERSE_PROXY", "PORT_PROXY")}


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, EnumValue)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31


SCALARS: dict[str, Callable[[Any], bool]] = {
    "String": _is_str,
    "DateTime": _is_str,
    "ID": lambda v: _is_str(v) or _is_int(v),
    "Int": _is_int,
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
}


def named_type(type_: str) -> str:
    return type_.strip("[]!")


def fits(value: Any, type_: str, literal: bool) -> bool:
    """Whether ``value`` is a valid input of ``type_`` (``literal``: written in the
    document, where an enum value is a bare name; else from ``variables``)."""
    if value is None:
        return not type_.endswith("!")
    inner = type_.removesuffix("!")
    if inner.startswith("["):
        items = value if isinstance(value, list) else [value]
        return all(fits(item, inner[1:-1], literal) for item in items)
    if inner in ENUMS:
        right_kind = isinstance(value, EnumValue) if literal else isinstance(value, str)
        return right_kind and value in ENUMS[inner]
    check = SCALARS.get(inner)
    return check is not None and check(value)


def show(value: Any) -> str:
    """A literal as graphql-js prints it in an error: enum names bare, strings quoted."""
    if isinstance(value, EnumValue):
        return str(value)
    return json.dumps(value, default=lambda v: f"${v.name}" if isinstance(v, Var) else str(v))


def plain(value: Any) -> Any:
    """A literal as a variable's value would be: enum names as strings."""
    if isinstance(value, EnumValue):
        return str(value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
