"""Step two of a GraphQL request: :func:`prepare` checks the operation against
:data:`~.schema.SCHEMA` (unknown field, unknown or missing argument, a variable of the
wrong type, a missing selection on an object field, a selection on a scalar, an unused
variable) and coerces the variables; every problem is a :class:`~.parser.GraphQLError`
(HTTP 400 ``{"errors": [{"message": …}]}``) with graphql-js's wording."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .parser import Field, GraphQLError, Operation, Var, choose, parse
from .schema import ENUMS, SCALARS, SCHEMA, Arg, FieldDef, fits, named_type, plain, show


@dataclass
class Prepared:
    operation: Operation
    values: dict[str, Any]


def prepare(body: Mapping[str, Any]) -> Prepared:
    """The operation to run and its variables' values; raises :class:`GraphQLError`."""
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise GraphQLError("Must provide query string.", "BAD_REQUEST")
    variables = body.get("variables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise GraphQLError("Variables must be provided as an Object.", "BAD_REQUEST")
    op = choose(parse(query), body.get("operationName"))
    if op.kind == "subscription":
        raise GraphQLError("Schema is not configured to execute subscription operation.")
    used: set[str] = set()
    _check_fields(op.selections, "Mutation" if op.kind == "mutation" else "Query", op, used)
    for name in op.variables:
        if name not in used:
            raise GraphQLError(f'Variable "${name}" is never used{_in(op)}.')
    return Prepared(op, _variable_values(op, variables))


def _in(op: Operation) -> str:
    return f' in operation "{op.name}"' if op.name else ""


def _check_fields(fields: list[Field], parent: str, op: Operation, used: set[str]) -> None:
    for f in fields:
        if f.name == "__typename":
            if f.args or f.selections is not None:
                raise GraphQLError('Field "__typename" takes no arguments and no selection.')
            continue
        definition = SCHEMA[parent].get(f.name)
        if definition is None:
            raise GraphQLError(f'Cannot query field "{f.name}" on type "{parent}".')
        _check_args(f, parent, definition, op, used)
        named = named_type(definition.type)
        if named in SCHEMA:
            if f.selections is None:
                raise GraphQLError(
                    f'Field "{f.name}" of type "{definition.type}" must have a selection of '
                    f'subfields. Did you mean "{f.name} {{ ... }}"?'
                )
            _check_fields(f.selections, named, op, used)
        elif f.selections is not None:
            raise GraphQLError(
                f'Field "{f.name}" must not have a selection since type "{definition.type}" '
                "has no subfields."
            )


def _check_args(f: Field, parent: str, definition: FieldDef, op: Operation, used: set[str]) -> None:
    for name, value in f.args.items():
        arg = definition.args.get(name)
        if arg is None:
            raise GraphQLError(f'Unknown argument "{name}" on field "{parent}.{f.name}".')
        if isinstance(value, Var):
            _check_variable_use(value, arg, op)
            used.add(value.name)
        elif not fits(value, arg.type, literal=True):
            raise GraphQLError(f'Expected value of type "{arg.type}", found {show(value)}.')
    for name, arg in definition.args.items():
        if arg.type.endswith("!") and not arg.has_default and name not in f.args:
            raise GraphQLError(
                f'Field "{f.name}" argument "{name}" of type "{arg.type}" is required, but it '
                "was not provided."
            )


def _check_variable_use(var: Var, arg: Arg, op: Operation) -> None:
    definition = op.variables.get(var.name)
    if definition is None:
        raise GraphQLError(f'Variable "${var.name}" is not defined{_in(op)}.')
    nullable_into_non_null = (
        arg.type.endswith("!")
        and not arg.has_default
        and not definition.type.endswith("!")
        and not definition.has_default
    )
    if named_type(definition.type) != named_type(arg.type) or nullable_into_non_null:
        raise GraphQLError(
            f'Variable "${var.name}" of type "{definition.type}" used in position expecting '
            f'type "{arg.type}".'
        )


def _variable_values(op: Operation, given: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, definition in op.variables.items():
        named = named_type(definition.type)
        if named not in SCALARS and named not in ENUMS:
            raise GraphQLError(f'Unknown type "{named}".')
        if name in given:
            value = given[name]
        elif definition.has_default:
            value = plain(definition.default)
        elif definition.type.endswith("!"):
            raise GraphQLError(
                f'Variable "${name}" of required type "{definition.type}" was not provided.',
                "BAD_USER_INPUT",
            )
        else:
            continue
        if not fits(value, definition.type, literal=False):
            raise GraphQLError(
                f'Variable "${name}" got invalid value {json.dumps(value)}; Expected type '
                f'"{definition.type}".',
                "BAD_USER_INPUT",
            )
        values[name] = value
    return values
