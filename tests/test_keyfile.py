"""remote.it's key file read as its own tools read it: every form, and every file that is
not one, as one line at once."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

from rittunnel.errors import CredentialsError
from rittunnel.remoteit.credentials import credentials_from_env
from rittunnel.remoteit.keyfile import MAX_SIZE, parse_key_file, read_key_file

SECRET = base64.b64encode(b"s" * 32).decode()
OTHER = base64.b64encode(b"o" * 32).decode()


def key_id(home: Path, text: str | bytes, **env: str) -> str:
    path = home / ".remoteit" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(0o600)
    creds = credentials_from_env({"HOME": str(home), **env})
    assert creds.access_key is not None
    return creds.access_key.key_id


def test_section_names_match_without_case(tmp_path: Path) -> None:
    text = f"[default]\nR3_ACCESS_KEY_ID = AK1\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
    text += f"[Work]\nR3_ACCESS_KEY_ID = AK2\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
    assert key_id(tmp_path, text) == "AK1"
    assert key_id(tmp_path, text, R3_PROFILE="work") == "AK2"
    assert key_id(tmp_path, text, R3_PROFILE="WORK") == "AK2"


def test_keys_before_any_section_are_the_default_section(tmp_path: Path) -> None:
    text = f"R3_ACCESS_KEY_ID=AK0\nR3_SECRET_ACCESS_KEY={SECRET}\n"
    assert key_id(tmp_path, text) == "AK0"
    with_work = text + f"[work]\nR3_ACCESS_KEY_ID=AK2\nR3_SECRET_ACCESS_KEY={SECRET}\n"
    assert key_id(tmp_path, with_work) == "AK0"
    assert key_id(tmp_path, with_work, R3_PROFILE="work") == "AK2"


def test_quoted_values_and_export_lines_as_bash_reads_them(tmp_path: Path) -> None:
    text = f"[DEFAULT]\nR3_ACCESS_KEY_ID='AK1'\nR3_SECRET_ACCESS_KEY=\"{SECRET}\"\n"
    assert key_id(tmp_path, text) == "AK1"
    exported = f"export R3_ACCESS_KEY_ID=\"AK3\"\nexport R3_SECRET_ACCESS_KEY='{SECRET}'\n"
    assert key_id(tmp_path, exported) == "AK3"
    parsed = parse_key_file('a = "x\'\nb = \'\nc = ""\n', "f")
    assert parsed.section("default") == {"a": "\"x'", "b": "'", "c": ""}  # only pairs


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    text = f"[DEFAULT]\nR3_ACCESS_KEY_ID = AK1\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
    assert key_id(tmp_path, b"\xef\xbb\xbf" + text.encode()) == "AK1"
    assert key_id(tmp_path, b"\xef\xbb\xbf" + text.encode().replace(b"[DEFAULT]\n", b"")) == "AK1"


def test_a_named_section_never_inherits_from_default(tmp_path: Path) -> None:
    text = (
        f"[DEFAULT]\nR3_ACCESS_KEY_ID = AK1\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
        "R3_DEVELOPER_API_KEY = default-dev\n"
        f"[work]\nR3_ACCESS_KEY_ID = AK2\n"
    )
    with pytest.raises(CredentialsError, match=r"\[work\] has no R3_SECRET_ACCESS_KEY$"):
        key_id(tmp_path, text, R3_PROFILE="work")
    text += f"R3_SECRET_ACCESS_KEY = {OTHER}\n"
    assert key_id(tmp_path, text, R3_PROFILE="work") == "AK2"
    creds = credentials_from_env({"HOME": str(tmp_path), "R3_PROFILE": "work"})
    assert creds.access_key is not None and creds.access_key.secret == b"o" * 32
    assert creds.developer_key == ""  # not the default section's: GraphQL stays GraphQL


def test_comments_the_desktops_email_line_and_colons(tmp_path: Path) -> None:
    text = "# me@example.com\n; old\n[DEFAULT]\nR3_ACCESS_KEY_ID: AK1\n"
    text += f"R3_SECRET_ACCESS_KEY = {SECRET}\n"
    assert key_id(tmp_path, text) == "AK1"


def test_repeated_sections_merge_and_a_later_key_wins() -> None:
    parsed = parse_key_file("[a]\nk = 1\n[b]\nk = 2\n[A]\nk = 3\nj = 4\n", "f")
    assert parsed.section("a") == {"k": "3", "j": "4"} and parsed.listed() == "a, b"


@pytest.mark.parametrize(
    ("text", "line"),
    [("[DEFAULT]\nR3_ACCESS_KEY_ID\n", 2), ("[]\n", 1), ("[open\n", 1), ("two words = x\n", 1)],
)
def test_a_line_that_is_not_ini_names_its_number_not_its_text(text: str, line: int) -> None:
    with pytest.raises(CredentialsError, match=rf"^f: line {line} is not") as caught:
        parse_key_file(text, "f")
    assert "\n" not in str(caught.value) and "R3_" not in str(caught.value)


def test_a_missing_section_lists_those_the_file_has(tmp_path: Path) -> None:
    text = f"[Work]\nR3_ACCESS_KEY_ID = AK2\nR3_SECRET_ACCESS_KEY = {SECRET}\n"
    with pytest.raises(CredentialsError, match=r"no section \[DEFAULT\] \(it has: Work\)"):
        key_id(tmp_path, text)


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / ".remoteit" / "credentials"
    path.parent.mkdir(parents=True)
    os.mkfifo(path, 0o600)  # nobody writes to it: reading would block forever
    started = time.monotonic()
    with pytest.raises(CredentialsError, match=r"credentials: is not a regular file \(a FIFO\)$"):
        credentials_from_env({"HOME": str(tmp_path)})
    assert time.monotonic() - started < 1


def test_a_device_and_a_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"/dev/zero: is not a regular file \(a device\)"):
        read_key_file(Path("/dev/zero"))
    with pytest.raises(CredentialsError, match=r"is not a regular file \(a directory\)"):
        read_key_file(tmp_path)


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    with path.open("wb") as f:
        f.truncate(10 * 1024**3)  # sparse: 10 GiB that cost nothing
    with pytest.raises(CredentialsError, match=rf"is 10737418240 bytes; .* at most {MAX_SIZE}$"):
        read_key_file(path)


def test_text_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_bytes(b"[DEFAULT]\nR3_ACCESS_KEY_ID = \xe9t\xe9\n")
    with pytest.raises(CredentialsError, match=rf"^{path}: is not UTF-8 text \(byte 29\)"):
        read_key_file(path)


def test_an_unreadable_file_says_so(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = tmp_path / "credentials"
    path.write_text("x = y\n")
    path.chmod(0)
    with pytest.raises(CredentialsError, match="cannot read: Permission denied"):
        read_key_file(path)
    assert read_key_file(tmp_path / "none") is None
