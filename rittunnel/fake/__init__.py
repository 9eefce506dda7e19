"""The fake remote.it API used by the tests, the demo and the benchmark.

The names below load :mod:`rittunnel.fake.server` (and trio) on first use only, so that
``rittunnel --help`` can describe ``fake-api`` without importing it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import (
        ACCESS_KEY_ID,
        ACCESS_SECRET,
        DEVELOPER_KEY,
        PASSWORD,
        USERNAME,
        FakeRemoteIt,
        FakeService,
        Knobs,
        client_env,
        graphql_url_for,
    )

__all__ = [
    "ACCESS_KEY_ID",
    "ACCESS_SECRET",
    "DEVELOPER_KEY",
    "PASSWORD",
    "USERNAME",
    "FakeRemoteIt",
    "FakeService",
    "Knobs",
    "client_env",
    "graphql_url_for",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(name)
