from __future__ import annotations

import pytest

from rittunnel.credentials import credentials_from_env
from rittunnel.errors import CredentialsError


def test_login_credentials() -> None:
    c = credentials_from_env(
        {"REMOTEIT_DEVELOPER_KEY": "k", "REMOTEIT_USERNAME": "u", "REMOTEIT_PASSWORD": "secret-pw"}
    )
    assert c.can_login and c.token is None
    assert "secret-pw" not in repr(c) and "k'" not in repr(c)


def test_token_only() -> None:
    c = credentials_from_env({"REMOTEIT_DEVELOPER_KEY": "k", "REMOTEIT_TOKEN": "tok"})
    assert not c.can_login and c.token == "tok"
    assert set(c.secrets()) == {"k", "tok"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "REMOTEIT_DEVELOPER_KEY is not set"),
        ({"REMOTEIT_DEVELOPER_KEY": "k"}, "no login and no token"),
        ({"REMOTEIT_DEVELOPER_KEY": "k", "REMOTEIT_USERNAME": "u"}, "REMOTEIT_PASSWORD is not"),
        ({"REMOTEIT_DEVELOPER_KEY": "k", "REMOTEIT_PASSWORD": "p"}, "REMOTEIT_USERNAME is not"),
    ],
)
def test_missing(env: dict[str, str], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        credentials_from_env(env)
