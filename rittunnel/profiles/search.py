"""Where profiles are: the directories searched for ``NAME.yaml`` (``RITTUNNEL_PROFILES``,
then ``$XDG_CONFIG_HOME/rittunnel/profiles``), finding one by name or path, listing them,
and where a new one is written. Looks at the file system; reads no file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import NoSuchProfile, ProfileError
from ..files import config_dir
from ..settings import ENV_PROFILES
from ..text import shown
from .name import check_name

SUFFIXES = (".yaml", ".yml")


def profile_dirs(env: Mapping[str, str]) -> list[Path]:
    """The directories searched for ``NAME.yaml``, in order."""
    dirs = [Path(p).expanduser() for p in env.get(ENV_PROFILES, "").split(os.pathsep) if p]
    dirs.append(config_dir(env) / "profiles")
    return dirs


def looks_like_path(name: str) -> bool:
    return name.endswith(SUFFIXES) or os.sep in name or "/" in name


def new_profile_path(name: str, env: Mapping[str, str]) -> Path:
    """Where a new profile ``name`` is written: the first directory searched."""
    if looks_like_path(name):
        path = Path(name).expanduser()
        return path if path.suffix in SUFFIXES else path.with_name(path.name + ".yaml")
    check_name(name)
    return profile_dirs(env)[0] / f"{name}.yaml"


def find_profile(name: str, env: Mapping[str, str]) -> Path:
    """Return the file for profile ``name`` (a bare name, or a path to a .yaml file)."""
    if looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ProfileError(f"profile file {name} does not exist")
        return path
    check_name(name)
    dirs = profile_dirs(env)
    for d in dirs:
        for suffix in SUFFIXES:
            candidate = d / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    searched = ", ".join(str(d) for d in dirs)
    raise NoSuchProfile(name, shown(name), searched)


def list_profiles(env: Mapping[str, str]) -> list[Path]:
    """Every profile file visible through the search path; earlier directories win."""
    seen: dict[str, Path] = {}
    for d in profile_dirs(env):
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            if path.suffix in SUFFIXES and path.is_file():
                seen.setdefault(path.stem, path)
    return list(seen.values())
