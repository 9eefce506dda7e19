"""The fake's package layout: the server reaches each API through its own module, the
public names stay, and ``import rittunnel.fake`` stays cheap (no trio)."""

from __future__ import annotations

import subprocess
import sys

import rittunnel.fake

from .test_layout import import_graph


def test_the_fake_server_reaches_both_apis_through_their_own_modules() -> None:
    # size and import loops of the fake are checked with the whole package in test_layout
    graph = import_graph()
    assert graph["rittunnel.fake.server"] >= {"rittunnel.fake.rest", "rittunnel.fake.gql"}
    assert not any(t.startswith("rittunnel.fake.server") for t in graph["rittunnel.fake.rest"])


def test_importing_the_package_does_not_load_trio() -> None:
    code = (
        "import sys, rittunnel.fake as f; f.__all__; "
        "sys.exit('trio' in sys.modules or 'rittunnel.fake.server' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_public_names_are_unchanged() -> None:
    assert sorted(rittunnel.fake.__all__) == [
        "ACCESS_KEY_ID",
        "ACCESS_SECRET",
        "DEVELOPER_KEY",
        "FakeRemoteIt",
        "FakeService",
        "Knobs",
        "PASSWORD",
        "USERNAME",
        "client_env",
        "graphql_url_for",
    ]
    for name in rittunnel.fake.__all__:
        assert getattr(rittunnel.fake, name) is not None
