from __future__ import annotations

import base64
from pathlib import Path

import pytest

from rittunnel.errors import CredentialsError
from rittunnel.remoteit.credentials import credentials_from_env


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


def key_file(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / ".remoteit" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


SECRET = base64.b64encode(b"s" * 32).decode()


def test_access_keys_from_the_file_default_and_named_sections(tmp_path: Path) -> None:
    key_file(
        tmp_path,
        f"[DEFAULT]\nR3_ACCESS_KEY_ID = AK1\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
        f"[work]\nR3_ACCESS_KEY_ID = AK2\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
        "R3_DEVELOPER_API_KEY = dev2\n",
    )
    c = credentials_from_env({"HOME": str(tmp_path)})
    assert c.access_key is not None and c.access_key.key_id == "AK1"
    assert c.access_key.secret == b"s" * 32 and c.developer_key == ""
    assert SECRET in c.secrets() and SECRET not in repr(c)
    w = credentials_from_env({"HOME": str(tmp_path), "R3_PROFILE": "work"})
    assert w.access_key is not None and w.access_key.key_id == "AK2"
    assert w.developer_key == "dev2"
    with pytest.raises(CredentialsError, match=r"no section \[nope\] \(it has: DEFAULT, work\)"):
        credentials_from_env({"HOME": str(tmp_path), "R3_PROFILE": "nope"})


def test_precedence_env_keys_over_file_and_login_over_keys(tmp_path: Path) -> None:
    key_file(tmp_path, f"[DEFAULT]\nR3_ACCESS_KEY_ID = FILE\nR3_SECRET_ACCESS_KEY = {SECRET}\n")
    env = {"HOME": str(tmp_path), "R3_ACCESS_KEY_ID": "ENV", "R3_SECRET_ACCESS_KEY": SECRET}
    c = credentials_from_env(env)
    assert c.access_key is not None and c.access_key.key_id == "ENV"
    login = credentials_from_env(
        {**env, "REMOTEIT_DEVELOPER_KEY": "k", "REMOTEIT_USERNAME": "u", "REMOTEIT_PASSWORD": "p"}
    )
    assert login.access_key is None and login.can_login


def test_key_file_problems_are_clear(tmp_path: Path) -> None:
    warnings: list[str] = []
    path = key_file(
        tmp_path, "[DEFAULT]\nR3_ACCESS_KEY_ID = AK\nR3_SECRET_ACCESS_KEY = not*base64\n", 0o644
    )
    with pytest.raises(CredentialsError, match="R3_SECRET_ACCESS_KEY is not valid base64"):
        credentials_from_env({"HOME": str(tmp_path)}, warn=warnings.append)
    assert warnings == [f"{path} can be read by other users; run `chmod 600 {path}`"]
    key_file(tmp_path, "[DEFAULT]\nR3_ACCESS_KEY_ID = AK\n")
    with pytest.raises(CredentialsError, match=r"\[DEFAULT\] has no R3_SECRET_ACCESS_KEY"):
        credentials_from_env({"HOME": str(tmp_path)})
    with pytest.raises(CredentialsError, match="R3_ACCESS_KEY_ID is set but R3_SECRET"):
        credentials_from_env({"HOME": str(tmp_path), "R3_ACCESS_KEY_ID": "x"})


def test_a_profile_section_beats_r3_profile_and_must_exist(tmp_path: Path) -> None:
    key_file(
        tmp_path,
        f"[DEFAULT]\nR3_ACCESS_KEY_ID = AK1\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
        f"[work]\nR3_ACCESS_KEY_ID = AK2\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
        f"[home]\nR3_ACCESS_KEY_ID = AK3\nR3_SECRET_ACCESS_KEY = {SECRET}\n",
    )
    env = {"HOME": str(tmp_path), "R3_PROFILE": "work"}
    c = credentials_from_env(env, section="home")
    assert c.access_key is not None and c.access_key.key_id == "AK3"
    assert c.identity == "key:AK3"
    c = credentials_from_env(env)
    assert c.access_key is not None and c.access_key.key_id == "AK2"
    # env keys still win over any section of the file
    c = credentials_from_env({**env, "R3_ACCESS_KEY_ID": "ENV", "R3_SECRET_ACCESS_KEY": SECRET})
    assert c.access_key is not None and c.access_key.key_id == "ENV"
    (tmp_path / ".remoteit" / "credentials").unlink()
    with pytest.raises(CredentialsError, match=r"section \[home\] asked for, but .* not exist"):
        credentials_from_env({"HOME": str(tmp_path)}, section="home")


def test_identity_names_the_account_without_a_secret() -> None:
    login = credentials_from_env(
        {"REMOTEIT_DEVELOPER_KEY": "k", "REMOTEIT_USERNAME": "u", "REMOTEIT_PASSWORD": "pw"}
    )
    assert login.identity == "user:u"
    token = credentials_from_env({"REMOTEIT_DEVELOPER_KEY": "k", "REMOTEIT_TOKEN": "tok-123"})
    assert token.identity.startswith("token:") and "tok-123" not in token.identity


def test_with_access_keys_the_key_files_developer_key_comes_first(tmp_path: Path) -> None:
    key_file(
        tmp_path,
        f"[DEFAULT]\nR3_ACCESS_KEY_ID = AK\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
        "R3_DEVELOPER_API_KEY = from-file\n",
    )
    env = {"HOME": str(tmp_path), "REMOTEIT_DEVELOPER_KEY": "from-env"}
    assert credentials_from_env(env).developer_key == "from-file"
    assert credentials_from_env({**env, "R3_DEVELOPER_API_KEY": "r3"}).developer_key == "r3"
    key_file(tmp_path, f"[DEFAULT]\nR3_ACCESS_KEY_ID = AK\nR3_SECRET_ACCESS_KEY = {SECRET}\n")
    assert credentials_from_env(env).developer_key == "from-env"
