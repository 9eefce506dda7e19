"""A profile's keys, each checked: defaults, what is refused and how it is said."""

from __future__ import annotations

import pytest

from rittunnel.errors import ProfileError
from rittunnel.profiles import DEFAULT_BIND, Profile, is_service_id
from rittunnel.profiles.model import parse_profile


def parse(data: object) -> object:
    return parse_profile(data, source="p.yaml", name="p")


def test_minimal_profile_gets_safe_defaults() -> None:
    p = parse_profile(
        {"service": "80:00:00:00:01:02:03:04", "local_port": 2222}, source="x", name="x"
    )
    assert p.mode == "latching" and p.bind == DEFAULT_BIND and p.bind_is_default
    assert p.hostip is None and p.idle_timeout is None and not p.on_demand


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "p.yaml: the file is empty"),
        ([1], "p.yaml: expected a mapping"),
        ({"local_port": 1}, "p.yaml: service: missing"),
        ({"service": "s"}, "p.yaml: local_port: missing"),
        ({"service": "s", "local_port": 0}, "local_port: 0 is out of range; use 1-65535"),
        ({"service": "s", "local_port": 65536}, "local_port: 65536 is out of range"),
        ({"service": "s", "local_port": "22"}, "local_port: '22' is not a port number"),
        ({"service": "s", "local_port": True}, "local_port: True is not a port number"),
        ({"service": 5, "local_port": 22}, "service: 5 is not a service name or ID"),
        ({"service": "s", "local_port": 22, "mode": "open"}, "mode: 'open' is not a mode"),
        ({"service": "s", "local_port": 22, "colour": 1}, "unknown key 'colour'"),
        ({"service": "s", "local_port": 22, "bind": "nowhere"}, "bind: 'nowhere' is not an IP"),
        ({"service": "s", "local_port": 22, "bind": []}, "bind: an empty list"),
        (
            {"service": "s", "local_port": 22, "hostip": "1.2.3.4"},
            "only used with mode: restricted",
        ),
        (
            {"service": "s", "local_port": 22, "mode": "restricted", "hostip": "x"},
            "hostip: 'x' is not an IP address",
        ),
        ({"service": "s", "local_port": 22, "api_url": "ftp://x"}, "api_url: 'ftp://x' is not"),
        (
            {"service": "s", "local_port": 22, "idle_timeout": -1},
            "idle_timeout: -1 is not a positive",
        ),
        ({"service": "s", "local_port": 22, "on_demand": "yes!"}, "on_demand: 'yes!' is not true"),
        ({"service": "s", "local_port": 22, "api": "soap"}, "api: 'soap' is not an API; use rest"),
        ({"service": "s", "local_port": 22, "proxy": "tcp"}, "proxy: 'tcp' is not a proxy kind"),
        ({"service": "s", "local_port": 22, "warm": 1}, "warm: 1 is not true or false"),
        (
            {"service": "s", "local_port": 22, "warm": True, "on_demand": True},
            "warm: true contradicts on_demand: true",
        ),
        (
            {"service": "s", "local_port": 22, "warm": True, "idle_timeout": 60},
            "warm: true contradicts idle_timeout",
        ),
    ],
)
def test_bad_profiles_name_file_key_and_value(data: object, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse(data)
    assert message in str(info.value)
    assert str(info.value).startswith("p.yaml")


def test_warm_is_off_unless_asked() -> None:
    assert not parse_profile({"service": "s", "local_port": 1}, source="x", name="x").warm
    on = {"service": "s", "local_port": 1, "warm": True}
    assert parse_profile(on, source="x", name="x").warm


def test_bind_accepts_list_and_localhost_and_normalises() -> None:
    p = parse_profile(
        {"service": "s", "local_port": 1, "bind": ["0:0:0:0:0:0:0:1", "localhost"]},
        source="x",
        name="x",
    )
    assert p.bind == ("::1", "127.0.0.1") and not p.bind_is_default


def test_restricted_with_hostip() -> None:
    p = parse_profile(
        {"service": "s", "local_port": 1, "mode": "restricted", "hostip": "203.0.113.5"},
        source="x",
        name="x",
    )
    assert p.hostip == "203.0.113.5"


def test_credentials_section_and_service_names() -> None:
    p = parse({"service": "pi-ssh", "local_port": 2222, "credentials": "work"})
    assert isinstance(p, Profile)
    assert p.credentials == "work" and not p.service_is_id
    assert is_service_id("80:00:00:00:01:02:03:04") and is_service_id("80:00:00:00:0A:0b:0c:0d")
    assert not is_service_id("80:00:00:00:01:02:03") and not is_service_id("pi:ssh")
    for bad in ("", 5, "a]b"):
        with pytest.raises(ProfileError, match="credentials: .* is not a section name"):
            parse({"service": "s", "local_port": 1, "credentials": bad})


def test_api_and_proxy_kind() -> None:
    p = parse_profile({"service": "s", "local_port": 8080}, source="p.yaml", name="p")
    assert (p.api, p.proxy) == (None, "auto")  # the API is chosen from the credentials
    p = parse_profile(
        {"service": "s", "local_port": 8080, "api": "graphql", "proxy": "port"},
        source="p.yaml",
        name="p",
    )
    assert (p.api, p.proxy) == ("graphql", "port")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "api_url: 'http://[::1' is not a URL"),
        ("http://:80/apv", "api_url: 'http://:80/apv' is not an http(s) URL with a host"),
        ("http://h:99999/", "is not a URL (its host or port cannot be read)"),
        ("http://exa mple.com/", "has spaces or control characters"),
        ("ftp://me:Secret99@host/", "api_url: 'ftp://***@host/' is not an http:// or https://"),
    ],
)
def test_an_api_url_that_cannot_work_is_refused(url: str, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse({"service": "s", "local_port": 1, "api_url": url})
    assert message in str(info.value)
    assert "Secret99" not in str(info.value)


def test_values_in_messages_are_bounded_and_escaped() -> None:
    for value in ("x" * 100_000, [["y" * 100] * 100] * 100, "a\x1b[2Jb"):
        with pytest.raises(ProfileError) as info:
            parse({"service": "s", "local_port": value})
        message = str(info.value)
        assert len(message) < 200 and "\x1b" not in message
    with pytest.raises(ProfileError) as info:
        parse({"service": "s", "local_port": 1, "k" * 100_000: 1})
    assert len(str(info.value)) < 400


def test_null_is_left_out_only_where_a_key_may_be_left_out() -> None:
    optional = ("hostip", "api_url", "api", "idle_timeout", "credentials")
    p = parse({"service": "s", "local_port": 1, **dict.fromkeys(optional)})
    assert p == parse({"service": "s", "local_port": 1})
    for key in ("hold_timeout", "mode", "proxy", "warm", "on_demand"):
        with pytest.raises(ProfileError, match=f"^p.yaml: {key}: None is not"):
            parse({"service": "s", "local_port": 1, key: None})
