"""Step three of a GraphQL request: :func:`execute` resolves the root fields and cuts
every result down to what the selection set asks for. A refusal (:class:`FieldError`)
nulls its field and adds ``{"message", "path"}`` to ``errors`` (HTTP 200)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .parser import Field, Var
from .schema import SCHEMA, named_type, plain
from .validator import Prepared


class FieldError(Exception):
    """A refusal: its field becomes null and its message goes in ``errors``."""


Resolver = Callable[[dict[str, Any]], Awaitable[Any]]


def _args(f: Field, values: dict[str, Any]) -> dict[str, Any]:
    """``f``'s arguments with variables replaced; a variable without a value is left out
    (the resolver's default applies)."""
    out: dict[str, Any] = {}
    for name, value in f.args.items():
        if not isinstance(value, Var):
            out[name] = plain(value)
        elif value.name in values:
            out[name] = values[value.name]
    return out


def _error(exc: FieldError, path: list[str | int]) -> dict[str, Any]:
    return {"message": str(exc), "path": path}


async def execute(prepared: Prepared, roots: Mapping[str, Resolver]) -> dict[str, Any]:
    """Run the operation: each root field by its resolver, in order (mutations are
    serial), then cut down to the selection sets."""
    op, values = prepared.operation, prepared.values
    root = "Mutation" if op.kind == "mutation" else "Query"
    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for f in op.selections:
        if f.name == "__typename":
            data[f.key] = root
            continue
        try:
            value = await roots[f.name](_args(f, values))
        except FieldError as exc:
            data[f.key] = None
            errors.append(_error(exc, [f.key]))
            continue
        type_ = SCHEMA[root][f.name].type
        data[f.key] = _project(value, f, type_, [f.key], values, errors)
    return {"data": data, "errors": errors} if errors else {"data": data}


def _project(
    value: Any,
    f: Field,
    type_: str,
    path: list[str | int],
    values: dict[str, Any],
    errors: list[dict[str, Any]],
) -> Any:
    """``value`` with only what ``f``'s selection set asks for. An object's field may be
    a callable of its arguments (resolved here)."""
    if value is None or f.selections is None:
        return value
    if isinstance(value, list):
        return [
            _project(item, f, type_, [*path, i], values, errors) for i, item in enumerate(value)
        ]
    named = named_type(type_)
    out: dict[str, Any] = {}
    for sub in f.selections:
        if sub.name == "__typename":
            out[sub.key] = named
            continue
        raw = value[sub.name]
        try:
            got = raw(_args(sub, values)) if callable(raw) else raw
        except FieldError as exc:
            out[sub.key] = None
            errors.append(_error(exc, [*path, sub.key]))
            continue
        sub_type = SCHEMA[named][sub.name].type
        out[sub.key] = _project(got, sub, sub_type, [*path, sub.key], values, errors)
    return out
