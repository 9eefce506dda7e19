"""The fake's GraphQL parser and validator (``rittunnel.fake.gql``) read what clients send;
no server (the refusals over HTTP are in ``test_fake_graphql.py``)."""

from __future__ import annotations

import pytest

from rittunnel.fake.gql import GraphQLError, parse, prepare
from rittunnel.remoteit.queries import DEVICES


def test_parser_reads_what_clients_send() -> None:
    [op] = parse(
        '# the desktop\'s\nmutation Connect($serviceId: String!, $hostIP: String = "0.0.0.0") '
        "{ c: connect(serviceId: $serviceId, hostIP: $hostIP, type: PORT_PROXY) { id, port } }"
    )
    assert (op.kind, op.name) == ("mutation", "Connect")
    assert op.variables["hostIP"].default == "0.0.0.0"
    [field] = op.selections
    assert (field.name, field.alias, field.key) == ("connect", "c", "c")
    assert field.args["type"] == "PORT_PROXY"
    assert [f.name for f in field.selections or []] == ["id", "port"]
    prepared = prepare({"query": DEVICES, "variables": {"size": 5}})
    assert prepared.values == {"size": 5}
    with pytest.raises(GraphQLError, match="multiple operations"):
        prepare({"query": "query A { login { id } } query B { login { id } }"})
    assert (
        prepare(
            {"query": "query A { login { id } } query B { login { id } }", "operationName": "B"}
        ).operation.name
        == "B"
    )
