"""Step one of a GraphQL request: :func:`parse`, a small recursive-descent parser of
operations (``query``/``mutation``, optional name, variable definitions with defaults),
selection sets, aliases and arguments (variables or inline literals). Fragments,
directives and block strings are refused (HTTP 400), so a client that sends them learns
it here, not in production. :func:`choose` picks the operation a request runs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


class GraphQLError(Exception):
    """A request the server does not accept: HTTP 400 with ``errors``."""

    def __init__(self, message: str, code: str = VALIDATION_FAILED) -> None:
        super().__init__(message)
        self.code = code


# -- documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    name: str


class EnumValue(str):
    """An enum literal in a document (a bare name, not a quoted string)."""

    __slots__ = ()


@dataclass
class Field:
    name: str
    alias: str | None = None
    #: argument name -> a literal or a :class:`Var`
    args: dict[str, Any] = field(default_factory=dict)
    selections: list[Field] | None = None

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class VarDef:
    type: str
    default: Any = None
    has_default: bool = False


@dataclass
class Operation:
    kind: str
    name: str | None
    variables: dict[str, VarDef]
    selections: list[Field]


_TOKENS = re.compile(
    r"(?P<skip>[\s,\ufeff]+|#[^\n\r]*)"
    r"|(?P<spread>\.\.\.)"
    r'|(?P<block>""")'
    r'|(?P<string>"(?:[^"\\\n\r]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*")'
    r"|(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)"
    r"|(?P<punct>[!$&():=@\[\]{|}])"
)


def _unsupported(what: str) -> GraphQLError:
    return GraphQLError(
        f"Syntax Error: {what} are not supported by the fake remote.it.", PARSE_FAILED
    )


def _tokens(document: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(document):
        match = _TOKENS.match(document, pos)
        if match is None:
            raise GraphQLError(
                f'Syntax Error: Unexpected character: "{document[pos]}".', PARSE_FAILED
            )
        kind = match.lastgroup or ""
        if kind == "block":
            raise _unsupported("Block strings")
        if kind != "skip":
            out.append((kind, match.group()))
        pos = match.end()
    out.append(("eof", "<EOF>"))
    return out


class _Parser:
    def __init__(self, document: str) -> None:
        self.tokens = _tokens(document)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i]

    def at(self, punct: str) -> bool:
        kind, value = self.peek()
        return kind in ("punct", "spread") and value == punct

    def skip(self, punct: str) -> bool:
        if self.at(punct):
            self.i += 1
            return True
        return False

    def expect(self, punct: str) -> None:
        if not self.skip(punct):
            self.fail(f'"{punct}"')

    def name(self) -> str:
        kind, value = self.peek()
        if kind != "name":
            self.fail("Name")
        self.i += 1
        return value

    def fail(self, expected: str) -> NoReturn:
        kind, value = self.peek()
        found = "<EOF>" if kind == "eof" else f'"{value}"'
        raise GraphQLError(f"Syntax Error: Expected {expected}, found {found}.", PARSE_FAILED)

    def no_directives(self) -> None:
        if self.at("@"):
            raise _unsupported("Directives")

    def document(self) -> list[Operation]:
        operations = [self.definition()]
        while self.peek()[0] != "eof":
            operations.append(self.definition())
        return operations

    def definition(self) -> Operation:
        if self.at("{"):
            return Operation("query", None, {}, self.selection_set())
        kind = self.name()
        if kind == "fragment":
            raise _unsupported("Fragments")
        if kind not in ("query", "mutation", "subscription"):
            raise GraphQLError(f'Syntax Error: Unexpected Name "{kind}".', PARSE_FAILED)
        name = self.name() if self.peek()[0] == "name" else None
        variables = self.variable_definitions() if self.at("(") else {}
        self.no_directives()
        return Operation(kind, name, variables, self.selection_set())

    def variable_definitions(self) -> dict[str, VarDef]:
        self.expect("(")
        defs: dict[str, VarDef] = {}
        while True:
            self.expect("$")
            name = self.name()
            self.expect(":")
            type_ = self.type_ref()
            if self.skip("="):
                defs[name] = VarDef(type_, self.value(const=True), True)
            else:
                defs[name] = VarDef(type_)
            self.no_directives()
            if self.skip(")"):
                return defs

    def type_ref(self) -> str:
        if self.skip("["):
            type_ = f"[{self.type_ref()}]"
            self.expect("]")
        else:
            type_ = self.name()
        return type_ + "!" if self.skip("!") else type_

    def selection_set(self) -> list[Field]:
        self.expect("{")
        fields: list[Field] = []
        while True:
            if self.at("..."):
                raise _unsupported("Fragments")
            fields.append(self.field())
            if self.skip("}"):
                return fields

    def field(self) -> Field:
        name = self.name()
        alias = None
        if self.skip(":"):
            alias, name = name, self.name()
        args = self.arguments() if self.at("(") else {}
        self.no_directives()
        selections = self.selection_set() if self.at("{") else None
        return Field(name, alias, args, selections)

    def arguments(self) -> dict[str, Any]:
        self.expect("(")
        args: dict[str, Any] = {}
        while True:
            name = self.name()
            self.expect(":")
            if name in args:
                raise GraphQLError(f'There can be only one argument named "{name}".')
            args[name] = self.value(const=False)
            if self.skip(")"):
                return args

    def value(self, const: bool) -> Any:
        if not const and self.skip("$"):
            return Var(self.name())
        if self.skip("["):
            items = []
            while not self.skip("]"):
                items.append(self.value(const))
            return items
        if self.skip("{"):
            fields: dict[str, Any] = {}
            while not self.skip("}"):
                name = self.name()
                self.expect(":")
                fields[name] = self.value(const)
            return fields
        return self.scalar()

    def scalar(self) -> Any:
        kind, token = self.peek()
        if kind not in ("string", "number", "name"):
            self.fail("value")
        self.i += 1
        if kind == "string":
            return json.loads(token, strict=False)
        if kind == "number":
            return float(token) if re.search(r"[.eE]", token) else int(token)
        keywords: dict[str, Any] = {"true": True, "false": False, "null": None}
        return keywords[token] if token in keywords else EnumValue(token)


def parse(document: str) -> list[Operation]:
    """The operations in ``document``; raises :class:`GraphQLError` on a syntax error."""
    return _Parser(document).document()


def choose(operations: list[Operation], name: Any) -> Operation:
    if name is None:
        if len(operations) > 1:
            raise GraphQLError("Must provide operation name if query contains multiple operations.")
        return operations[0]
    for op in operations:
        if op.name == name:
            return op
    raise GraphQLError(f'Unknown operation named "{name}".')
