"""The fake remote.it's GraphQL API, ``POST /graphql/v1`` (see :mod:`.server` for what it
models and which parts are inferences).

A document goes through three steps, as in a real GraphQL server:

* :func:`parse`: a small recursive-descent parser of operations (``query``/``mutation``,
  optional name, variable definitions with defaults), selection sets, aliases and
  arguments (variables or inline literals). Fragments, directives and block strings
  are refused (HTTP 400), so a client that sends them learns it here, not in production.
* :func:`prepare`: the operation is checked against :data:`SCHEMA` (unknown field,
  unknown or missing argument, a variable of the wrong type, a missing selection on an
  object field, a selection on a scalar, an unused variable) and the variables are
  coerced; every problem is HTTP 400 ``{"errors": [{"message": …}]}`` with graphql-js's
  wording.
* :func:`execute`: root fields are resolved by :class:`GraphQLApi` and every result is cut
  down to what the selection set asks for. A refusal (:class:`FieldError`) nulls its
  field and adds ``{"message", "path"}`` to ``errors`` (HTTP 200).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from .model import LATCH, Answer, FakeProxy, FakeService, text

if TYPE_CHECKING:
    from .server import FakeRemoteIt

PATH = "/graphql/v1"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
#: most devices a ``devices`` page may ask for, and what it gets when it does not say
MAX_SIZE = 1000
DEFAULT_SIZE = 100


class GraphQLError(Exception):
    """A request the server does not accept: HTTP 400 with ``errors``."""

    def __init__(self, message: str, code: str = VALIDATION_FAILED) -> None:
        super().__init__(message)
        self.code = code


class FieldError(Exception):
    """A refusal: its field becomes null and its message goes in ``errors``."""


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


# -- schema ------------------------------------------------------------------------------


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
        **_fields(id="ID!", email="String!"),
        "devices": FieldDef("DeviceList", {"size": Arg("Int"), "from": Arg("Int")}),
    },
    "DeviceList": _fields(total="Int!", hasMore="Boolean!", items="[Device!]!"),
    "Device": _fields(id="ID!", name="String!", state="String!", services="[Service!]!"),
    "Service": _fields(id="ID!", name="String!", state="String!", title="String!"),
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


_SCALARS: dict[str, Callable[[Any], bool]] = {
    "String": _is_str,
    "DateTime": _is_str,
    "ID": lambda v: _is_str(v) or _is_int(v),
    "Int": _is_int,
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
}


def _named(type_: str) -> str:
    return type_.strip("[]!")


def _fits(value: Any, type_: str, literal: bool) -> bool:
    """Whether ``value`` is a valid input of ``type_`` (``literal``: written in the
    document, where an enum value is a bare name; else from ``variables``)."""
    if value is None:
        return not type_.endswith("!")
    inner = type_.removesuffix("!")
    if inner.startswith("["):
        items = value if isinstance(value, list) else [value]
        return all(_fits(item, inner[1:-1], literal) for item in items)
    if inner in ENUMS:
        right_kind = isinstance(value, EnumValue) if literal else isinstance(value, str)
        return right_kind and value in ENUMS[inner]
    check = _SCALARS.get(inner)
    return check is not None and check(value)


def _show(value: Any) -> str:
    """A literal as graphql-js prints it in an error: enum names bare, strings quoted."""
    if isinstance(value, EnumValue):
        return str(value)
    return json.dumps(value, default=lambda v: f"${v.name}" if isinstance(v, Var) else str(v))


def _plain(value: Any) -> Any:
    """A literal as a variable's value would be: enum names as strings."""
    if isinstance(value, EnumValue):
        return str(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# -- validation --------------------------------------------------------------------------


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


def choose(operations: list[Operation], name: Any) -> Operation:
    if name is None:
        if len(operations) > 1:
            raise GraphQLError("Must provide operation name if query contains multiple operations.")
        return operations[0]
    for op in operations:
        if op.name == name:
            return op
    raise GraphQLError(f'Unknown operation named "{name}".')


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
        named = _named(definition.type)
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
        elif not _fits(value, arg.type, literal=True):
            raise GraphQLError(f'Expected value of type "{arg.type}", found {_show(value)}.')
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
    if _named(definition.type) != _named(arg.type) or nullable_into_non_null:
        raise GraphQLError(
            f'Variable "${var.name}" of type "{definition.type}" used in position expecting '
            f'type "{arg.type}".'
        )


def _variable_values(op: Operation, given: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, definition in op.variables.items():
        named = _named(definition.type)
        if named not in _SCALARS and named not in ENUMS:
            raise GraphQLError(f'Unknown type "{named}".')
        if name in given:
            value = given[name]
        elif definition.has_default:
            value = _plain(definition.default)
        elif definition.type.endswith("!"):
            raise GraphQLError(
                f'Variable "${name}" of required type "{definition.type}" was not provided.',
                "BAD_USER_INPUT",
            )
        else:
            continue
        if not _fits(value, definition.type, literal=False):
            raise GraphQLError(
                f'Variable "${name}" got invalid value {json.dumps(value)}; Expected type '
                f'"{definition.type}".',
                "BAD_USER_INPUT",
            )
        values[name] = value
    return values


# -- execution ---------------------------------------------------------------------------

Resolver = Callable[[dict[str, Any]], Awaitable[Any]]


def _args(f: Field, values: dict[str, Any]) -> dict[str, Any]:
    """``f``'s arguments with variables replaced; a variable without a value is left out
    (the resolver's default applies)."""
    out: dict[str, Any] = {}
    for name, value in f.args.items():
        if not isinstance(value, Var):
            out[name] = _plain(value)
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
    named = _named(type_)
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


# -- the API -----------------------------------------------------------------------------


def _answer(status: int, data: dict[str, Any]) -> Answer:
    return Answer(status, "application/json", json.dumps(data).encode())


def endpoint_of(body: Mapping[str, Any]) -> str:
    """The name a GraphQL call is recorded and scripted under: ``gql_connect``,
    ``gql_disconnect``, ``gql_devices``; ``graphql`` for anything else."""
    query = body.get("query")
    try:
        op = choose(parse(query), body.get("operationName")) if isinstance(query, str) else None
    except GraphQLError:
        op = None
    if op is None:
        return "graphql"
    first = op.selections[0]
    if op.kind == "mutation" and first.name in ("connect", "disconnect"):
        return f"gql_{first.name}"
    asks_devices = any(sub.name == "devices" for sub in first.selections or [])
    if op.kind == "query" and first.name == "login" and asks_devices:
        return "gql_devices"
    return "graphql"


def _refusal(endpoint: str, message: str) -> dict[str, Any]:
    if endpoint == "gql_devices":
        data: dict[str, Any] = {"login": {"devices": None}}
        path: list[str | int] = ["login", "devices"]
    else:
        op = endpoint.removeprefix("gql_")
        data, path = {op: None}, [op]
    return {"data": data, "errors": [{"message": message, "path": path}]}


def scripted(kind: str, arg: str, endpoint: str) -> Answer | None:
    """The answer of a GraphQL-only scripted failure (``fail_next``), or None."""
    if kind == "http429":
        retry = (("retry-after", arg),) if arg else ()
        return text(429, "Your API usage has been throttled", *retry)
    if kind == "http401":
        return text(401, "Unauthorized")
    if kind == "http403":
        return text(403, "Forbidden")
    if kind == "errors":
        return _answer(200, _refusal(endpoint, arg or "Internal server error"))
    return None


def _iso(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix)) + f".{int(unix % 1 * 1000):03d}Z"


def connection(proxy: FakeProxy) -> dict[str, Any]:
    """A proxy as a GraphQL ``Connection``."""
    return {
        "id": proxy.connection_id,
        "host": proxy.host,
        "port": None if proxy.reverse else proxy.port,
        "reverseProxy": proxy.reverse,
        "url": proxy.url,
        "created": _iso(proxy.created_at),
        "timeout": round(proxy.expires_at - proxy.created),
        "session": {"id": proxy.session_id},
    }


def _device(members: list[FakeService]) -> dict[str, Any]:
    first = members[0]
    return {
        "id": first.device_id,
        "name": first.device_name,
        "state": "active" if any(s.state == "active" for s in members) else "inactive",
        "services": [
            {"id": s.address, "name": s.name, "state": s.state, "title": s.type} for s in members
        ],
    }


class GraphQLApi:
    """``POST /graphql/v1`` of a :class:`~rittunnel.fake.server.FakeRemoteIt`."""

    def __init__(self, fake: FakeRemoteIt) -> None:
        self.fake = fake

    async def handle(self, headers: dict[str, str], body: dict[str, Any], peer: str) -> Answer:
        if self.fake.signature_problem(headers) is not None:
            return text(401, "Unauthorized")
        try:
            prepared = prepare(body)
        except GraphQLError as exc:
            return _answer(
                400, {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}
            )

        async def connect(args: dict[str, Any]) -> dict[str, Any]:
            return await self.connect(args, peer)

        roots = {"connect": connect, "disconnect": self.disconnect, "login": self.login}
        return _answer(200, await execute(prepared, roots))

    async def connect(self, args: dict[str, Any], peer: str) -> dict[str, Any]:
        """``connect``: a new proxy of the service, after the fake's ``connect_delay``
        (as the REST connect; see :meth:`FakeRemoteIt.open_proxy`)."""
        service_id = args["serviceId"]
        service = self.fake.services.get(service_id)
        if service is None:
            raise FieldError(f"Service not found: {service_id}")
        if service.state != "active":
            raise FieldError(
                f"Device of service {service_id} is inactive: ensure that the device is online"
            )
        kind = args.get("type") or "AUTO_PROXY"
        reverse = kind == "REVERSE_PROXY" or (kind == "AUTO_PROXY" and service.is_web)
        if reverse and not service.is_web:
            raise FieldError(f"Service {service_id} is not an HTTP/HTTPS service: no reverse proxy")
        hostip = args.get("hostIP")
        proxy = await self.fake.open_proxy(
            service, LATCH if hostip is None else hostip, peer, reverse=reverse
        )
        if self.fake.knobs.gql_connect_replaces:
            self.fake.replace_open(service, keep=proxy)
        return connection(proxy)

    async def disconnect(self, args: dict[str, Any]) -> bool:
        cid = args["connectionId"]
        proxy = self.fake.proxies.get(cid)
        if proxy is None or proxy.ended:  # expired, killed or stopped: gone
            raise FieldError(f"Connection not found: {cid}")
        service_id = args.get("serviceId")
        if service_id is not None and service_id != proxy.service.address:
            raise FieldError(f"Connection {cid} is not a connection of service {service_id}")
        self.fake.stop_proxy(proxy)
        return True

    async def login(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.fake.username)),
            "email": self.fake.username,
            "devices": self.devices,
        }

    def devices(self, args: dict[str, Any]) -> dict[str, Any]:
        size = args.get("size")
        size = DEFAULT_SIZE if size is None else size
        start = args.get("from") or 0
        if size > MAX_SIZE:
            raise FieldError(f"size must be at most {MAX_SIZE}")
        if size < 0 or start < 0:
            raise FieldError("size and from must not be negative")
        groups: dict[str, list[FakeService]] = {}
        for service in self.fake.services.values():
            groups.setdefault(service.device_key, []).append(service)
        devices = [_device(members) for members in groups.values()]
        page = devices[start : start + min(size, self.fake.knobs.page_max)]
        return {"total": len(devices), "hasMore": start + len(page) < len(devices), "items": page}
