"""``stdio --persist`` without sockets: the persistent tunnel's name and profile, the
background process's command line, the lock, the option's durations, and when a port
counts as unused."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import pytest

from rittunnel.commands.arguments import persist_arg
from rittunnel.commands.options import StdioOptions
from rittunnel.commands.persist import (
    child_argv,
    locked,
    persistent_name,
    persistent_profile,
)
from rittunnel.errors import RittunnelError
from rittunnel.profiles import Profile
from rittunnel.profiles.name import MAX_NAME, name_problem
from rittunnel.profiles.service import profile_for_service
from rittunnel.tunnel.port import unused_at

SID = "80:00:00:00:01:02:03:04"


def test_the_persistent_name_is_a_tunnel_name_of_its_own() -> None:
    assert persistent_name("service-pi") == "service-pi.persist"
    long = "é" * 150  # 300 bytes
    name = persistent_name(long)
    assert name.endswith(".persist") and len(name.encode()) <= MAX_NAME
    assert name_problem(name) == ""


def test_the_persistent_profile_listens_on_a_free_loopback_port_for_a_port_proxy() -> None:
    profile = Profile(
        name="pi", source="/p/pi.yaml", service=SID, local_port=2222, bind=("0.0.0.0",)
    )
    mine = persistent_profile(profile)
    assert (mine.name, mine.local_port, mine.bind, mine.proxy) == (
        "pi.persist",
        0,
        ("127.0.0.1",),
        "port",
    )
    assert not mine.bind_is_default and mine.service == SID


def test_the_child_runs_the_same_stdio_with_internal_options(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    by_service = StdioOptions(service="-odd name", credentials="work", persist=600.0)
    argv = child_argv(by_service, profile_for_service("-odd name", "work"), 7, log)
    assert argv[:4] == [sys.executable, "-m", "rittunnel", "stdio"]
    assert argv[4:] == [
        "--service=-odd name",
        "--credentials=work",
        "--persist",
        "10m",
        "--notify-fd",
        "7",
        "--log-file",
        str(log),
    ]
    profile = Profile(name="pi", source="rel/pi.yaml", service=SID, local_port=1)
    by_name = StdioOptions(name="pi", persist=90.0, verbose=True, start_timeout=5.0)
    argv = child_argv(by_name, profile, 3, log)
    assert argv[4] == str(Path("rel/pi.yaml").resolve()) and os.path.isabs(argv[4])
    assert argv[5:7] == ["--persist", "90s"]
    assert argv[-3:] == ["--verbose", "--start-timeout", "5.0"]


def test_persist_takes_durations_and_zero() -> None:
    assert persist_arg("10m") == 600.0 and persist_arg("0") == 0.0
    for bad in ("nan", "inf", "-1", "1e9", "31d", "forever"):
        with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
            persist_arg(bad)


def test_a_port_is_unused_a_window_after_the_last_client_left() -> None:
    assert unused_at(None, 600.0) == math.inf  # a client is connected: no timer
    assert unused_at(100.0, 600.0) == 700.0


def test_the_lock_is_held_by_one_and_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "t.persist.lock"
    with locked(path, time.monotonic() + 1):
        started = time.monotonic()
        with (
            pytest.raises(RittunnelError, match="holds .* too long"),
            locked(path, time.monotonic() + 0.2),
        ):
            pass
        assert time.monotonic() - started >= 0.2
    with locked(path, time.monotonic()):  # let go: taken at once
        pass
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_lock_is_never_taken_through_a_symbolic_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    path = tmp_path / "t.persist.lock"
    path.symlink_to(target)
    with pytest.raises(RittunnelError, match="cannot open the lock file"), locked(path, 0.0):
        pass
    assert not target.exists()
