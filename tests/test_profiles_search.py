"""Where profiles are found: the search path, names and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from rittunnel.errors import ProfileError
from rittunnel.profiles import find_profile, list_profiles
from rittunnel.profiles.loader import load_profile


def test_search_path_order_and_paths(tmp_path: Path) -> None:
    a, b, cfg = tmp_path / "a", tmp_path / "b", tmp_path / "cfg"
    for d in (a, b, cfg / "rittunnel" / "profiles"):
        d.mkdir(parents=True)
    (b / "x.yml").write_text("service: s\nlocal_port: 1\n")
    (cfg / "rittunnel" / "profiles" / "x.yaml").write_text("service: t\nlocal_port: 2\n")
    (cfg / "rittunnel" / "profiles" / "y.yaml").write_text("service: u\nlocal_port: 3\n")
    env = {"RITTUNNEL_PROFILES": f"{a}:{b}", "XDG_CONFIG_HOME": str(cfg)}
    assert find_profile("x", env) == b / "x.yml"
    assert load_profile("y", env).service == "u"
    assert [p.name for p in list_profiles(env)] == ["x.yml", "y.yaml"]
    assert load_profile(str(b / "x.yml"), env).local_port == 1
    with pytest.raises(ProfileError, match=r"no profile 'z': looked for z.yaml in .*a, .*b"):
        find_profile("z", env)
    with pytest.raises(ProfileError, match="does not exist"):
        find_profile(str(tmp_path / "nope.yaml"), env)
    with pytest.raises(ProfileError, match="is not a profile name"):
        find_profile("..", env)


def test_default_config_dir_is_under_home(tmp_path: Path) -> None:
    d = tmp_path / ".config" / "rittunnel" / "profiles"
    d.mkdir(parents=True)
    (d / "h.yaml").write_text("service: s\nlocal_port: 9\n")
    assert load_profile("h", {"HOME": str(tmp_path)}).local_port == 9
