"""Which API URLs get the user's credentials: the settings' and the profiles'."""

from __future__ import annotations

from pathlib import Path

from rittunnel.settings import Settings
from rittunnel.tunnel.trust import TrustedUrls


def test_trusted_urls_are_the_settings_and_the_profiles(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "work.yaml").write_text(
        "service: s\nlocal_port: 1\napi_url: http://Work.example:8/x/\n"
    )
    (profiles / "broken.yaml").write_text("service: [\n")
    env = {"RITTUNNEL_PROFILES": str(profiles), "HOME": str(tmp_path)}
    settings = Settings(
        state_dir=tmp_path,
        cache_dir=tmp_path,
        env=env,
        api_url="http://127.0.0.1:9/apv/v27",
        graphql_url="http://127.0.0.1:9/graphql/v1",
    )
    trusted = TrustedUrls(settings)
    assert trusted("http://127.0.0.1:9/apv/v27/") and trusted("http://127.0.0.1:9/graphql/v1")
    assert trusted("https://api.remot3.it/apv/v27") and trusted("https://api.remote.it/graphql/v1")
    assert trusted("http://work.example:8/x")  # a profile's api_url (host case ignored)
    assert not trusted("http://127.0.0.1:10/apv/v27") and not trusted("http://work.example:8/y")


def test_the_graphql_endpoint_rittunnel_derives_from_a_rest_url_is_trusted(
    tmp_path: Path,
) -> None:
    """GraphQL goes to /graphql/v1 on the host of a REST URL the user named (the
    variable's or a profile's): proxies made there are the user's too."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "p.yaml").write_text(
        "service: s\nlocal_port: 1\napi: graphql\napi_url: http://p.example:8/apv/v27\n"
    )
    env = {"RITTUNNEL_PROFILES": str(profiles), "HOME": str(tmp_path)}
    settings = Settings(state_dir=tmp_path, cache_dir=tmp_path, env=env, api_url="http://e:9/a")
    trusted = TrustedUrls(settings)
    assert trusted("http://e:9/graphql/v1") and trusted("http://p.example:8/graphql/v1")
    assert not trusted("http://p.example:8/other") and not trusted("http://e:10/graphql/v1")


def test_a_profile_directory_that_cannot_be_expanded_names_nothing(tmp_path: Path) -> None:
    env = {"RITTUNNEL_PROFILES": "~nosuchuser-rittunnel/x", "HOME": str(tmp_path)}
    trusted = TrustedUrls(Settings(state_dir=tmp_path, cache_dir=tmp_path, env=env))
    assert not trusted("http://elsewhere/apv/v27")  # no crash: status must not fail on it
