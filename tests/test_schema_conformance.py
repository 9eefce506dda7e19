"""Conformance, not agreement: every GraphQL document rittunnel sends, and the variables
it sends with it, validate against the schema subset written down in
docs/remoteit-api.md#graphql-schema (parsed by graphql-core, not by our fake's parser),
and the fake's schema is that same schema, field for field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from rittunnel.fake.gql.schema import ENUMS, SCHEMA
from rittunnel.remoteit import queries

DOC = Path(__file__).resolve().parent.parent / "docs" / "remoteit-api.md"


def sdl() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index('<a id="graphql-schema"></a>') :]
    found = re.search(r"```graphql\n(.*?)```", section, re.S)
    assert found is not None, "no ```graphql block in the schema section"
    return found.group(1)


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(sdl())


def variables_of(document: str) -> list[dict[str, Any]]:
    """The variables rittunnel sends with ``document`` (each form it takes)."""
    if document == queries.CONNECT:
        return [
            queries.connect_variables("80:00:00:00:01:02:03:04", mode, "203.0.113.9", proxy)
            for mode in ("latching", "restricted", "public")
            for proxy in ("auto", "port", "reverse")
        ]
    if document == queries.DISCONNECT:
        return [queries.disconnect_variables("80:00:00:00:01:02:03:04", "C1")]
    if document == queries.DEVICES:
        return [queries.devices_variables(0), queries.devices_variables(1000, 10)]
    if document == queries.ACCOUNT_DEVICES:
        return [queries.devices_variables(0, account="ORG")]
    return [{}]


@pytest.mark.parametrize("document", queries.DOCUMENTS, ids=lambda d: d.split("(")[0].split()[1])
def test_every_document_rittunnel_sends_validates(schema: GraphQLSchema, document: str) -> None:
    ast = parse(document)
    assert validate(schema, ast) == []
    [op] = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    for variables in variables_of(document):
        coerced = get_variable_values(schema, op.variable_definitions or (), variables)
        assert not isinstance(coerced, list), coerced  # a list: the errors


def test_the_fakes_schema_is_the_documented_one(schema: GraphQLSchema) -> None:
    documented = {
        name: t
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__")
    }
    assert set(SCHEMA) == set(documented)
    for name, fields in SCHEMA.items():
        sdl_fields = documented[name].fields
        assert set(fields) == set(sdl_fields), name
        for field_name, definition in fields.items():
            sdl_field = sdl_fields[field_name]
            where = f"{name}.{field_name}"
            assert definition.type == str(sdl_field.type), where
            assert set(definition.args) == set(sdl_field.args), where
            for arg_name, arg in definition.args.items():
                sdl_arg = sdl_field.args[arg_name]
                assert arg.type == str(sdl_arg.type), f"{where}({arg_name})"
                node = sdl_arg.ast_node
                assert node is not None
                assert arg.has_default == (node.default_value is not None), arg_name
    enums = {
        name: tuple(t.values)
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLEnumType) and not name.startswith("__")
    }
    assert enums == ENUMS
