"""One tunnel-name rule: a name a profile may have is a name a state file may have, and
the other way round."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rittunnel.errors import ProfileError, RittunnelError
from rittunnel.profiles import MAX_NAME, check_name, find_profile
from rittunnel.tunnel.state import check_name as state_check_name
from rittunnel.tunnel.store import StateStore

#: letters of every kind, the allowed punctuation, and what must never pass
ALPHABET = ["a", "Z", "7", "é", "日", "_", "-", ".", " ", "/", "\n", "\x00", "$", "²"]


def profile_accepts(name: str) -> bool:
    try:
        check_name(name)
    except ProfileError:
        return False
    return True


def state_accepts(name: str) -> bool:
    try:
        state_check_name(name)
    except RittunnelError:
        return False
    return True


def test_profiles_and_state_files_agree_on_every_short_name() -> None:
    """Every string of up to 4 characters over :data:`ALPHABET` (~41,000 of them)."""
    for n in range(5):
        for chars in itertools.product(ALPHABET, repeat=n):
            name = "".join(chars)
            assert profile_accepts(name) == state_accepts(name), repr(name)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ssh-pi", True),
        ("x.y", True),
        ("über", True),
        ("_", True),
        ("service-80-00-00-00-01-02-03-04.stdio-4194304", True),
        ("a" * MAX_NAME, True),
        ("é" * (MAX_NAME // 2), True),
        ("a..b", False),  # profiles took it; state files never did
        ("a" * (MAX_NAME + 1), False),  # so too: 201 bytes
        ("é" * (MAX_NAME // 2) + "a", False),
        ("a" * 210, False),
        ("", False),
        (".", False),
        ("..", False),
        (".hidden", False),
        ("a/b", False),
        ("a b", False),
        ("a\nb", False),
    ],
)
def test_the_rule(name: str, ok: bool) -> None:
    assert profile_accepts(name) == ok == state_accepts(name)


def test_a_name_a_profile_has_names_its_state_file(tmp_path: Path) -> None:
    name = "é" * (MAX_NAME // 2)
    (tmp_path / f"{name}.yaml").write_text("service: s\nlocal_port: 1\n")
    assert find_profile(name, {"RITTUNNEL_PROFILES": str(tmp_path)}).stem == name
    assert StateStore(tmp_path / "state").path(name).name == f"{name}.json"


def test_a_refused_profile_name_says_the_rule() -> None:
    with pytest.raises(ProfileError) as info:
        check_name("a..b")
    assert str(info.value) == (
        "'a..b' is not a profile name (letters, digits, '-', '_', '.'; no '..'; no leading "
        "'.'; at most 200 bytes); or give a path to a .yaml file"
    )
