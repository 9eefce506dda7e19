"""Settings: every knob read once from the environment, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from rittunnel.errors import RittunnelError
from rittunnel.settings import Settings


def test_defaults_and_paths() -> None:
    s = Settings.from_env({"HOME": "/home/u"})
    assert (s.api_url, s.api_timeout, s.start_timeout, s.stop_timeout) == (None, 30, 15, 10)
    assert (s.services_ttl, s.relay_threads) == (60, 64)
    assert s.state_dir == Path("/home/u/.local/state/rittunnel")
    assert s.cache_dir == Path("/home/u/.cache/rittunnel")


def test_every_variable_is_read() -> None:
    s = Settings.from_env(
        {
            "RITTUNNEL_API_URL": "http://127.0.0.1:9/apv/v27/",
            "RITTUNNEL_API_TIMEOUT": "2.5",
            "RITTUNNEL_START_TIMEOUT": "7",
            "RITTUNNEL_STOP_TIMEOUT": "45",
            "RITTUNNEL_SERVICES_TTL": "0.5",
            "RITTUNNEL_RELAY_THREADS": "0",
            "XDG_STATE_HOME": "/s",
            "XDG_CACHE_HOME": "/c",
        }
    )
    assert s.api_url == "http://127.0.0.1:9/apv/v27"
    assert (s.api_timeout, s.start_timeout, s.services_ttl, s.relay_threads) == (2.5, 7, 0.5, 0)
    assert s.stop_timeout == 45
    assert (s.state_dir, s.cache_dir) == (Path("/s/rittunnel"), Path("/c/rittunnel"))
    assert s.replace(start_timeout=3).start_timeout == 3 and s.start_timeout == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RITTUNNEL_API_TIMEOUT", "soon"),
        ("RITTUNNEL_START_TIMEOUT", "-1"),
        ("RITTUNNEL_STOP_TIMEOUT", "nan"),
        ("RITTUNNEL_SERVICES_TTL", "0"),
        ("RITTUNNEL_RELAY_THREADS", "many"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(RittunnelError, match=f"^{name}={value!r} is not"):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://:80/apv", "is not an http(s) URL with a host"),
        ("http://@/apv", "is not an http(s) URL with a host"),
        ("http://h:0/", "is not an http(s) URL with a valid port"),
        ("http://exa mple.com/", "is not a URL (it is empty or has spaces or control"),
        ("http://h/\x1b[2J", "is not a URL (it is empty or has spaces or control"),
    ],
)
@pytest.mark.parametrize("name", ["RITTUNNEL_API_URL", "RITTUNNEL_GRAPHQL_URL"])
def test_an_api_url_that_cannot_work_is_refused_up_front(
    name: str, value: str, problem: str
) -> None:
    with pytest.raises(RittunnelError) as info:
        Settings.from_env({name: value})
    assert str(info.value).startswith(f"{name}=")
    assert problem in str(info.value)
    assert "\x1b" not in str(info.value)


def test_urls_that_work_and_a_password_never_quoted() -> None:
    for url in ("https://api.remot3.it/apv/v27", "HTTP://127.0.0.1:9/x", "http://[::1]:8/a"):
        assert Settings.from_env({"RITTUNNEL_API_URL": url}).api_url == url
    with pytest.raises(RittunnelError) as info:
        Settings.from_env({"RITTUNNEL_API_URL": "ftp://me:Secret99@h/"})
    assert "Secret99" not in str(info.value) and "'ftp://***@h/'" in str(info.value)


@pytest.mark.parametrize("value", ["nan", "inf", "1e999", "2592001"])
@pytest.mark.parametrize(
    "name", ["RITTUNNEL_API_TIMEOUT", "RITTUNNEL_START_TIMEOUT", "RITTUNNEL_SERVICES_TTL"]
)
def test_a_timeout_that_is_not_finite_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(RittunnelError, match=f"^{name}={value!r} is not a positive number"):
        Settings.from_env({name: value})


def test_one_xdg_rule_for_config_state_and_cache_directories() -> None:
    from rittunnel.commands.unit import env_file_path
    from rittunnel.files import cache_dir, config_dir, state_dir
    from rittunnel.profiles import profile_dirs

    home = {"HOME": "/h"}
    assert config_dir(home) == Path("/h/.config/rittunnel")
    assert state_dir(home) == Path("/h/.local/state/rittunnel")
    assert cache_dir(home) == Path("/h/.cache/rittunnel")
    env = {**home, "XDG_CONFIG_HOME": "~/cfg"}  # ~ is the environment's HOME
    assert config_dir(env) == Path("/h/cfg/rittunnel")
    # a profile directory and the unit's env file are both under it
    assert profile_dirs(env)[-1] == config_dir(env) / "profiles"
    assert env_file_path(env) == config_dir(env) / "env"
