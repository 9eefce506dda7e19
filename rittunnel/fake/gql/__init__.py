"""The fake remote.it's GraphQL API. A document goes through three steps, as in a real
GraphQL server: :mod:`.parser`, :mod:`.validator` (against :mod:`.schema`) and
:mod:`.executor`; :mod:`.api` is the endpoint, resolving fields through the fake's
:class:`~rittunnel.fake.backend.Backend`."""

from __future__ import annotations

from .api import PATH, GraphQLApi, endpoint_of, scripted
from .executor import FieldError, execute
from .parser import GraphQLError, parse
from .validator import Prepared, prepare

__all__ = [
    "PATH",
    "FieldError",
    "GraphQLApi",
    "GraphQLError",
    "Prepared",
    "endpoint_of",
    "execute",
    "parse",
    "prepare",
    "scripted",
]
