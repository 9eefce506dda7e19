"""``rittunnel init``'s choices (pure): which service an answer means, which port to
suggest, and the profile text, which must load back as a valid profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from rittunnel.commands.discover import choose, parse_port, profile_text, suggest_port, table
from rittunnel.errors import ProfileError, ServiceNameError
from rittunnel.profiles.loader import load_profile_file
from rittunnel.remoteit.protocol import ServiceInfo

A = ServiceInfo("80:00:00:00:01:02:03:04", "pi-ssh", "SSH", "active")
B = ServiceInfo("80:00:00:00:01:02:03:05", "pi-ssh", "SSH", "inactive")
C = ServiceInfo("80:00:00:00:01:02:03:06", "db", "PostgreSQL", "active")
LISTED = [A, B, C]


def test_choose_by_number_id_or_unique_name() -> None:
    assert choose("2\n", LISTED) == B
    assert choose("80:00:00:00:01:02:03:06", LISTED) == C
    assert choose(" db ", LISTED) == C


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("", "no answer"),
        ("4", "4 is not in the list; pick 1-3"),
        ("0", "0 is not in the list"),
        ("80:00:00:00:0a:0b:0c:0d", "no service with ID 80:00:00:00:0a:0b:0c:0d"),
        ("pi-ssh", "'pi-ssh' names 2 services"),
        ("dbb", "close names: db"),
    ],
)
def test_choose_explains_a_bad_answer(answer: str, message: str) -> None:
    with pytest.raises(ServiceNameError, match=message):
        choose(answer, LISTED)


def test_suggested_port_follows_the_type_and_skips_taken_and_busy_ports() -> None:
    assert suggest_port("SSH", set(), lambda p: True) == 2222
    assert suggest_port("ssh", {2222, 2223}, lambda p: True) == 2224
    assert suggest_port("SSH", set(), lambda p: p != 2222) == 2223
    assert suggest_port("PostgreSQL", set(), lambda p: True) == 15432
    assert suggest_port("Bulk Service", set(), lambda p: True) == 20000


def test_parse_port() -> None:
    assert parse_port("\n", 2222) == 2222
    assert parse_port("2300\n", 2222) == 2300
    for bad in ("0", "65536", "ssh", "-1"):
        with pytest.raises(ProfileError, match="is not a port number"):
            parse_port(bad, 2222)


def test_profile_text_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "pi.yaml"
    path.write_text(profile_text(A, True, 2222, "", "2026-11-22"))
    p = load_profile_file(path)
    assert (p.service, p.local_port, p.credentials) == ("pi-ssh", 2222, None)
    path.write_text(profile_text(A, False, 2223, "work", "2026-11-22"))
    p = load_profile_file(path)
    assert (p.service, p.local_port, p.credentials) == (A.address, 2223, "work")
    assert p.service_is_id


def test_table_lines_up_columns() -> None:
    lines = table([A, C]).splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "STATE", "ADDRESS"]
    assert lines[2].split() == ["db", "PostgreSQL", "active", C.address]
    assert len({line.index("80:") for line in lines[1:]}) == 1


# -- issue 17: names from the API never drive the terminal --------------------------------

EVIL = ServiceInfo(
    "80:00:00:00:01:02:03:07", "pi\x1b[2J\x1b[H\r\nFAKE 80:00\x9b31m\u202e", "SSH\x07", "active"
)


def test_the_table_escapes_what_the_api_says() -> None:
    text = table([A, EVIL])
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    assert "\r" not in text and "\u202e" not in text
    lines = text.splitlines()
    assert len(lines) == 3  # no forged row
    assert lines[2].startswith("pi\\x1b[2J\\x1b[H\\r\\nFAKE 80:00\\x9b31m\\u202e  SSH\\x07")
    long = ServiceInfo("80:00:00:00:01:02:03:08", "n" * 5000, "t" * 5000, "s" * 5000)
    assert len(table([long]).splitlines()[1]) < 250


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Pi: SSH", "service: 'Pi: SSH'"),
        ("true", "service: 'true'"),
        ("#hash", "service: '#hash'"),
        ("- dash", "service: '- dash'"),
        ("[x]", "service: '[x]'"),
        ("pi\x1b[2J", "service: 80:00:00:00:01:02:03:04"),
        ("pi\nlocal_port: 1", "service: 80:00:00:00:01:02:03:04"),
        (" padded ", "service: 80:00:00:00:01:02:03:04"),
    ],
)
def test_a_profile_written_for_any_name_loads_back_as_that_service(
    tmp_path: Path, name: str, written: str
) -> None:
    service = ServiceInfo(A.address, name, "SSH", "active")
    text = profile_text(service, True, 2222, "", "2026-11-22")
    assert written in text.splitlines()
    assert "\x1b" not in text
    path = tmp_path / "p.yaml"
    path.write_text(text)
    p = load_profile_file(path)
    assert p.service in (name, A.address) and p.local_port == 2222


def test_init_offers_the_one_service_named_like_the_profile() -> None:
    from rittunnel.commands.discover import named

    found = [ServiceInfo("80:00:00:00:01:02:03:04", "Pi", "SSH", "active")]
    assert named("pi", found) == found[0]  # as a profile's service: finds it
    assert named("db", found) is None
    assert named("pi", [*found, ServiceInfo("80:00:00:00:01:02:03:05", "pi", "SSH", "")]) == (
        ServiceInfo("80:00:00:00:01:02:03:05", "pi", "SSH", "")
    )  # the exact name wins over one that differs in case
    twice = [*found, ServiceInfo("80:00:00:00:01:02:03:06", "Pi", "HTTP", "")]
    assert named("pi", twice) is None  # ambiguous: nothing is offered


def test_a_profile_named_like_a_command_starts_with_up() -> None:
    from rittunnel.commands.discover import start_command
    from rittunnel.commands.registry import BY_NAME

    assert start_command("pi", BY_NAME) == "rittunnel pi"
    assert start_command("demo", BY_NAME) == "rittunnel up demo"
    assert start_command("status", BY_NAME) == "rittunnel up status"
