"""A profile from the command line: ``--service NAME|ID``, ``--credentials``."""

from __future__ import annotations

from pathlib import Path

import pytest

from rittunnel.errors import UsageError
from rittunnel.profiles import Profile, name_problem
from rittunnel.profiles.service import (
    COMMAND_LINE,
    command_profile,
    profile_for_service,
    service_problem,
    service_tunnel_name,
)

SID = "80:00:00:00:01:02:03:04"


def test_a_service_profile_is_a_latching_tunnel_of_the_default_account_on_any_port() -> None:
    by_id = profile_for_service(f" {SID} ")
    assert by_id == Profile(
        name="service-80-00-00-00-01-02-03-04",
        source=COMMAND_LINE,
        service=SID,
        local_port=0,
    )
    assert by_id.mode == "latching" and by_id.credentials is None and by_id.service_is_id
    by_name = profile_for_service("Kitchen Pi #2", "work", proxy="port")
    assert (by_name.name, by_name.service, by_name.credentials) == (
        "service-kitchen-pi-2",
        "Kitchen Pi #2",
        "work",
    )
    assert by_name.proxy == "port" and not by_name.service_is_id


@pytest.mark.parametrize(
    ("service", "name"),
    [
        ("80:00:00:00:01:02:03:0A", "service-80-00-00-00-01-02-03-0a"),
        ("pi-ssh", "service-pi-ssh"),
        ("Café Pi.local", "service-cafe-pi-local"),
        ("..", "service"),
        ("☃", "service"),
        ("x" * 500, "service-" + "x" * 60),
    ],
)
def test_a_service_gives_a_valid_tunnel_name(service: str, name: str) -> None:
    assert service_tunnel_name(service) == name
    assert name_problem(name) == "" and "." not in name
    assert name_problem(f"{name}.run-4194304") == ""


@pytest.mark.parametrize(
    ("service", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("80:00:00:00:01:02:03", "is not a service ID: eight hex bytes"),
        ("80:00:00:00:01:02:03:04:05", "is not a service ID"),
        ("80:00:00:00:01:02:03:4g", ""),  # not hex: a (strange) name
        ("pi\nHost evil", "has control characters"),
        ("pi\x1b[2J", "has control characters"),
        ("p" * 201, "is longer than 200 characters"),
        ("p" * 200, ""),
        ("12:30 backup", ""),
    ],
)
def test_a_service_value_that_cannot_be_meant_is_refused(service: str, problem: str) -> None:
    assert service_problem(service).startswith(problem)
    assert bool(service_problem(service)) == bool(problem)
    if problem:
        with pytest.raises(UsageError) as info:
            profile_for_service(service)
        message = str(info.value)
        assert message.startswith("--service '") and problem in message
        assert "\x1b" not in message and "\n" not in message and len(message) < 200


@pytest.mark.parametrize("section", ["", " ", "a]b", "w\nork"])
def test_a_credentials_section_that_cannot_be_meant_is_refused(section: str) -> None:
    with pytest.raises(UsageError, match="^--credentials .* is not a section name"):
        profile_for_service(SID, section)


def test_stdio_and_run_take_a_profile_or_a_service_exactly(tmp_path: Path) -> None:
    env = {"RITTUNNEL_PROFILES": str(tmp_path), "HOME": str(tmp_path)}
    (tmp_path / "ssh-pi.yaml").write_text(f"service: {SID}\nlocal_port: 2222\n")
    loaded = command_profile("stdio", "ssh-pi", None, None, env, proxy="port")
    assert loaded.name == "ssh-pi" and loaded.proxy == "auto"  # a profile says its own
    made = command_profile("stdio", None, "pi-ssh", "work", env, proxy="port")
    assert made == profile_for_service("pi-ssh", "work", proxy="port")
    cases = [
        (("stdio", "ssh-pi", "pi-ssh", None), "stdio: give a profile NAME or --service, not both"),
        (("run", "true", "pi-ssh", None), "not both; the command goes after `--`"),
        (("run", None, None, None), "run: give a profile NAME or --service NAME|ID"),
        (("stdio", None, None, "work"), "stdio: give a profile NAME or --service NAME|ID"),
        (
            ("stdio", "ssh-pi", None, "work"),
            "stdio: --credentials goes with --service; profile 'ssh-pi' names its own section",
        ),
    ]
    for (command, name, service, credentials), message in cases:
        with pytest.raises(UsageError) as info:
            command_profile(command, name, service, credentials, env)
        assert message in str(info.value) and info.value.exit_code == 2
