"""Reading a profile file: YAML within bounds, one clear line for what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rittunnel.errors import ProfileError
from rittunnel.profiles.loader import load_profile_file, load_yaml

REPO = Path(__file__).resolve().parent.parent


def test_unquoted_service_id_stays_text() -> None:
    data = load_yaml("service: 80:00:00:00:01:02:03:04\nlocal_port: 2222\nhold_timeout: 1.5\n")
    assert data == {"service": "80:00:00:00:01:02:03:04", "local_port": 2222, "hold_timeout": 1.5}


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("service: s\nlocal_port: [1\n")
    with pytest.raises(ProfileError, match=r"bad.yaml: not valid YAML at line \d+"):
        load_profile_file(path)


@pytest.mark.parametrize("path", sorted((REPO / "profiles").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_profile_loads(path: Path) -> None:
    profile = load_profile_file(path)
    assert profile.service and 1 <= profile.local_port <= 65535


def test_examples_cover_ssh_postgres_and_http() -> None:
    names = {p.stem for p in (REPO / "profiles").glob("*.yaml")}
    assert {"ssh-pi", "postgres", "router-web"} <= names


# -- issue 16: a profile is a small flat file, read as one --------------------------------

LAUGHS = "service:\n  - &a [" + ", ".join(['"lol"'] * 9) + "]\n"
for _prev, _key in zip("abcdefg", "bcdefgh", strict=True):
    LAUGHS += f"  - &{_key} [{', '.join([f'*{_prev}'] * 9)}]\n"
LAUGHS += "  - [" + ", ".join(["*h"] * 9) + "]\nlocal_port: 2222\n"


def write(tmp_path: Path, text: str | bytes, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_a_billion_laughs_is_refused_before_it_expands() -> None:
    # load_yaml only: should the refusal ever break, this stays cheap (the aliases share
    # one object; it is quoting the value in a message that takes gigabytes), and the
    # end-to-end test runs the whole load in a child with capped memory
    assert len(LAUGHS) < 600
    with pytest.raises(yaml.MarkedYAMLError) as info:
        load_yaml(LAUGHS)
    assert info.value.problem == (
        "YAML anchors and aliases (&name, *name) are not allowed in a profile; write each value out"
    )
    mark = info.value.problem_mark
    assert mark is not None and (mark.line + 1, mark.column + 1) == (2, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("service: &s x\nlocal_port: 1\n", "line 1, column 10: YAML anchors and aliases"),
        ("base: {local_port: 1}\nservice: x\n<<: {local_port: 2}\n", "YAML merge keys (<<)"),
        (
            "service: x\nlocal_port: 1\nlocal_port: 2\n",
            "line 3, column 1: key 'local_port' appears",
        ),
        ("service: x\nlocal_port: 1\nbind: {a: 1, a: 2}\n", "key 'a' appears twice; keep one"),
        ("service: " + "[" * 20 + "]" * 20 + "\nlocal_port: 1\n", "nested more than 8 levels"),
        ("service: " + "[" * 30000 + "\n", "nested more than 8 levels"),
    ],
)
def test_what_a_profile_never_needs_is_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile_file(write(tmp_path, text))
    assert message in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "p.yaml"))


def test_a_file_too_large_or_not_text_is_one_clear_line(tmp_path: Path) -> None:
    big = "service: x\nlocal_port: 1\n" + "#" * 70000 + "\n"
    with pytest.raises(ProfileError, match=r"p.yaml: larger than 64 KiB, too large for a profile"):
        load_profile_file(write(tmp_path, big))
    with pytest.raises(ProfileError, match=r"p.yaml: not UTF-8 text \(byte 9\)"):
        load_profile_file(write(tmp_path, b"service: \xff\nlocal_port: 1\n"))
    ok = "service: x\nlocal_port: 1\n" + "#" * 60000 + "\n"
    assert load_profile_file(write(tmp_path, ok)).local_port == 1


@pytest.mark.parametrize("key", ["hold_timeout", "idle_timeout"])
@pytest.mark.parametrize("value", [".nan", ".inf", "1e300", "2592001"])
def test_a_timeout_that_cannot_be_meant_is_refused(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ProfileError, match=f"{key}: .* is not a positive number of seconds"):
        load_profile_file(write(tmp_path, f"service: x\nlocal_port: 1\n{key}: {value}\n"))
    assert load_profile_file(write(tmp_path, f"service: x\nlocal_port: 1\n{key}: 2592000\n"))
