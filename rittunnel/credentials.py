"""Credentials from the environment. Pure: takes a mapping, returns a value or raises.

Secrets are kept out of ``repr`` so a stray log line or traceback cannot show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import CredentialsError

ENV_DEVELOPER_KEY = "REMOTEIT_DEVELOPER_KEY"
ENV_USERNAME = "REMOTEIT_USERNAME"
ENV_PASSWORD = "REMOTEIT_PASSWORD"  # noqa: S105 - a variable name
ENV_TOKEN = "REMOTEIT_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Credentials:
    developer_key: str = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def can_login(self) -> bool:
        return bool(self.username and self.password)

    def secrets(self) -> list[str]:
        """Every secret value, for redaction of anything printed."""
        return [s for s in (self.developer_key, self.password, self.token) if s]


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    key = env.get(ENV_DEVELOPER_KEY, "").strip()
    username = env.get(ENV_USERNAME, "").strip() or None
    password = env.get(ENV_PASSWORD, "") or None
    token = env.get(ENV_TOKEN, "").strip() or None
    how = (
        f"set {ENV_DEVELOPER_KEY} and either {ENV_USERNAME} + {ENV_PASSWORD} "
        f"or {ENV_TOKEN} (see README: Credentials)"
    )
    if not key:
        raise CredentialsError(f"missing credentials: {ENV_DEVELOPER_KEY} is not set; {how}")
    if username and not password:
        raise CredentialsError(
            f"missing credentials: {ENV_USERNAME} is set but {ENV_PASSWORD} is not"
        )
    if password and not username:
        raise CredentialsError(
            f"missing credentials: {ENV_PASSWORD} is set but {ENV_USERNAME} is not"
        )
    if not (username and password) and not token:
        raise CredentialsError(f"missing credentials: no login and no token; {how}")
    return Credentials(developer_key=key, username=username, password=password, token=token)
