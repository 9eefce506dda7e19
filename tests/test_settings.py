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
            "RITTUNNEL_SERVICES_TTL": "0.5",
            "RITTUNNEL_RELAY_THREADS": "0",
            "XDG_STATE_HOME": "/s",
            "XDG_CACHE_HOME": "/c",
        }
    )
    assert s.api_url == "http://127.0.0.1:9/apv/v27"
    assert (s.api_timeout, s.start_timeout, s.services_ttl, s.relay_threads) == (2.5, 7, 0.5, 0)
    assert (s.state_dir, s.cache_dir) == (Path("/s/rittunnel"), Path("/c/rittunnel"))
    assert s.replace(start_timeout=3).start_timeout == 3 and s.start_timeout == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RITTUNNEL_API_TIMEOUT", "soon"),
        ("RITTUNNEL_START_TIMEOUT", "-1"),
        ("RITTUNNEL_SERVICES_TTL", "0"),
        ("RITTUNNEL_RELAY_THREADS", "many"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(RittunnelError, match=f"^{name}={value!r} is not"):
        Settings.from_env({name: value})
