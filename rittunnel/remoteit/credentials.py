"""Credentials from the environment or remote.it's access-key file.

Precedence (first that applies wins):

1. ``REMOTEIT_USERNAME`` + ``REMOTEIT_PASSWORD``, or ``REMOTEIT_TOKEN``: password login;
2. ``R3_ACCESS_KEY_ID`` + ``R3_SECRET_ACCESS_KEY`` in the environment: signed requests;
3. ``~/.remoteit/credentials`` (INI, read as remote.it's tools read it:
   :mod:`rittunnel.remoteit.keyfile`): signed requests. The section is the profile's
   ``credentials:`` key, else ``R3_PROFILE``, else ``DEFAULT`` (matched without case); a
   section asked for by name must exist (and so must the file).

The developer key is required for password login (``REMOTEIT_DEVELOPER_KEY``). With
access keys it is ``R3_DEVELOPER_API_KEY`` (the environment, then the key file's section),
else ``REMOTEIT_DEVELOPER_KEY``; signed REST calls need it, signed GraphQL calls do not
(``docs/remoteit-api.md#auth-signed-rest``; :mod:`rittunnel.remoteit.accounts` picks the
API). Secrets are kept out
of ``repr`` so a stray log line or traceback cannot show them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CredentialsError
from .keyfile import DEFAULT, parse_key_file, read_key_file

ENV_DEVELOPER_KEY = "REMOTEIT_DEVELOPER_KEY"
ENV_USERNAME = "REMOTEIT_USERNAME"
ENV_PASSWORD = "REMOTEIT_PASSWORD"  # noqa: S105 - a variable name
ENV_TOKEN = "REMOTEIT_TOKEN"  # noqa: S105 - a variable name
ENV_KEY_ID = "R3_ACCESS_KEY_ID"
ENV_SECRET = "R3_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name
ENV_R3_DEVELOPER_KEY = "R3_DEVELOPER_API_KEY"
ENV_R3_PROFILE = "R3_PROFILE"
#: the variables whose values are secrets (redacted from all output from the start)
SECRET_ENV_VARS = (ENV_DEVELOPER_KEY, ENV_PASSWORD, ENV_TOKEN, ENV_SECRET, ENV_R3_DEVELOPER_KEY)


@dataclass(frozen=True)
class AccessKey:
    key_id: str
    secret: bytes = field(repr=False)
    #: the secret as written (base64), for redaction
    secret_text: str = field(repr=False, default="")
    source: str = ""


@dataclass(frozen=True)
class Credentials:
    developer_key: str = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    access_key: AccessKey | None = None

    @property
    def can_login(self) -> bool:
        return bool(self.username and self.password)

    @property
    def identity(self) -> str:
        """Who these credentials are, without a secret (for cache keys)."""
        if self.access_key is not None:
            return f"key:{self.access_key.key_id}"
        if self.username:
            return f"user:{self.username}"
        import hashlib  # lazy: a token alone needs it

        return "token:" + hashlib.sha256((self.token or "").encode()).hexdigest()[:16]

    def secrets(self) -> list[str]:
        """Every secret value, for redaction of anything printed."""
        ak = self.access_key.secret_text if self.access_key else None
        return [s for s in (self.developer_key, self.password, self.token, ak) if s]


def credentials_file(env: Mapping[str, str]) -> Path:
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".remoteit" / "credentials"


def _access_key(key_id: str, secret_text: str, source: str) -> AccessKey:
    try:
        secret = base64.b64decode(secret_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if not secret:
        raise CredentialsError(
            f"{source}: {ENV_SECRET} is not valid base64; copy it again from remote.it "
            "(Account → Access keys)"
        )
    return AccessKey(key_id.strip(), secret, secret_text.strip(), source)


def keys_from_file(
    path: Path, section: str, warn: Callable[[str], None] | None = None
) -> tuple[AccessKey, str] | None:
    """The access key (and developer key, maybe "") in ``section`` of the key file at
    ``path`` (read as :mod:`rittunnel.remoteit.keyfile` says); None if there is no such
    file. Warns when others may read the file."""
    found = read_key_file(path)
    if found is None:
        return None
    text, mode = found
    if mode & 0o077 and warn is not None:
        warn(f"{path} can be read by other users; run `chmod 600 {path}`")
    keys = parse_key_file(text, str(path))
    values = keys.section(section)
    if values is None:
        raise CredentialsError(f"{path}: no section [{section}] (it has: {keys.listed()})")
    key_id, secret = values.get(ENV_KEY_ID, ""), values.get(ENV_SECRET, "")
    if not key_id or not secret:
        missing = ENV_KEY_ID if not key_id else ENV_SECRET
        raise CredentialsError(f"{path}: [{section}] has no {missing}")
    return _access_key(key_id, secret, f"{path} [{section}]"), values.get(
        ENV_R3_DEVELOPER_KEY, ""
    ).strip()


def file_section(env: Mapping[str, str], section: str | None = None) -> str | None:
    """The credentials-file section asked for by name (a profile's ``credentials:``, else
    ``R3_PROFILE``); None means ``DEFAULT``, used only if the file exists."""
    return section or env.get(ENV_R3_PROFILE, "").strip() or None


def credentials_from_env(
    env: Mapping[str, str],
    warn: Callable[[str], None] | None = None,
    section: str | None = None,
) -> Credentials:
    """The credentials to use; ``section`` is the profile's ``credentials:`` key."""
    key = env.get(ENV_DEVELOPER_KEY, "").strip()
    explicit = any(env.get(n, "").strip() for n in (ENV_USERNAME, ENV_PASSWORD, ENV_TOKEN))
    if not explicit:
        access = _access_from(env, warn, file_section(env, section))
        if access is not None:
            ak, file_dev_key = access
            # signed REST calls need a developer key (docs/remoteit-api.md#auth-signed-rest):
            # R3_DEVELOPER_API_KEY from the environment, else the key file's, else
            # REMOTEIT_DEVELOPER_KEY
            dev = env.get(ENV_R3_DEVELOPER_KEY, "").strip() or file_dev_key or key
            return Credentials(developer_key=dev, access_key=ak)
    username = env.get(ENV_USERNAME, "").strip() or None
    password = env.get(ENV_PASSWORD, "") or None
    token = env.get(ENV_TOKEN, "").strip() or None
    how = (
        f"set {ENV_DEVELOPER_KEY} and either {ENV_USERNAME} + {ENV_PASSWORD} "
        f"or {ENV_TOKEN}, or use access keys in ~/.remoteit/credentials "
        "(see docs/reference.md#credentials)"
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


def _access_from(
    env: Mapping[str, str], warn: Callable[[str], None] | None, section: str | None
) -> tuple[AccessKey, str] | None:
    key_id, secret = env.get(ENV_KEY_ID, ""), env.get(ENV_SECRET, "")
    if key_id or secret:
        if not (key_id and secret):
            have, missing = (ENV_KEY_ID, ENV_SECRET) if key_id else (ENV_SECRET, ENV_KEY_ID)
            raise CredentialsError(f"missing credentials: {have} is set but {missing} is not")
        return _access_key(key_id, secret, "environment"), ""
    path = credentials_file(env)
    found = keys_from_file(path, section or DEFAULT, warn)
    if found is None and section is not None:
        raise CredentialsError(
            f"credentials section [{section}] asked for, but {path} does not exist; "
            "create it with your access key (see docs/reference.md#credentials)"
        )
    return found
