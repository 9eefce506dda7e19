"""The state directory: claims, reads that set bad files aside, permissions, names that
never leave it, stop requests."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from rittunnel.errors import RittunnelError
from rittunnel.tunnel.procs import process_start_time
from rittunnel.tunnel.store import StateStore

from .conftest import dead_pid, my_state, state_fields


def test_claim_write_and_mode(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    assert store.claim(my_state()) is None
    path = store.path("p")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    state = my_state(connections=["A"])
    store.write(state)
    assert store.read(path) == state


def test_live_holder_is_named(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    other = my_state(local_port=2222)
    other.pid = os.getppid()
    other.pid_started = process_start_time(os.getppid()) or 0.0
    store.write(other)
    with pytest.raises(RittunnelError, match=f"already running as pid {os.getppid()} on port 2222"):
        store.claim(my_state())
    other.shareable = False  # a `rittunnel run`: it ends with its command
    store.write(other)
    with pytest.raises(RittunnelError, match="it is a `rittunnel run` and ends with its command"):
        store.claim(my_state())


def test_dead_holder_is_taken_over_and_its_record_kept_beside(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    dead = my_state(connections=["X"])
    dead.pid = dead_pid()
    store.write(dead)
    assert [s.proxies for _, s in store.orphans()] == [["X"]]
    previous = store.claim(my_state())
    # its proxies are still open: their record is kept under another name until stopped
    assert previous is not None and previous.proxies == ["X"]
    assert previous.name == f"p.orphan-{dead.pid}"
    assert [(p.name, s.proxies) for p, s in store.orphans()] == [
        (f"p.orphan-{dead.pid}.json", ["X"])
    ]
    claimed = store.get("p")
    assert claimed is not None and claimed.pid == os.getpid()


def test_names_never_leave_the_state_directory(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    for name in ("../x", "a/b", ".hidden", "a..b", "x\x00", "", "é" * 101):
        with pytest.raises(RittunnelError, match="is not a tunnel name|longer than 200 bytes"):
            store.path(name)
    with pytest.raises(RittunnelError):
        store.request_stop("../../x")
    assert store.path("ssh-pi.stdio-42").parent == tmp_path


def test_state_files_are_read_without_following_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    text = json.dumps(state_fields())
    outside.write_text(text)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "t.json").symlink_to(outside)
    store = StateStore(state)
    assert list(store.all()) == []
    assert store.problems == [
        f"state file {state / 't.json'}: it is a symbolic link; ignored it (moved to t.json.bad)"
    ]
    assert (state / "t.json.bad").is_symlink() and outside.read_text() == text


def test_a_state_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.write(my_state())
    store.path("p").chmod(0o644)
    assert store.get("p") is not None
    assert stat.S_IMODE(store.path("p").stat().st_mode) == 0o600


def test_a_state_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    StateStore(directory).write(my_state())
    directory.chmod(0o777)
    with pytest.raises(RittunnelError, match=r"writable by group and others \(mode 0777\)"):
        list(StateStore(directory).all())
    directory.chmod(0o720)
    with pytest.raises(RittunnelError, match="writable by group"):
        StateStore(directory).claim(my_state("q"))
    directory.chmod(0o755)  # readable is fine, as for ~/.ssh
    assert [s.name for _, s in StateStore(directory).all()] == ["p"]


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory away needs root")
def test_a_state_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    os.chown(directory, 65534, 65534)
    with pytest.raises(RittunnelError, match="is owned by uid 65534, not by you"):
        list(StateStore(directory).all())


def test_a_stop_request_is_honoured_only_by_its_process_since_it_started(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.request_stop("a", pid=dead_pid())  # for an earlier process: stale
    assert not store.stop_requested("a")
    store.request_stop("a")  # for this one
    assert store.stop_requested("a")
    old = (process_start_time(os.getpid()) or 0.0) - 60
    os.utime(store.stop_request_path("a"), (old, old))  # made before this process started
    assert not store.stop_requested("a")


def test_a_problem_is_said_once_however_often_it_is_found(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    said: list[str] = []
    store.problems += ["state files a.json and b.json name the same port", "other"]
    store.report(said.append)
    store.problems += ["state files a.json and b.json name the same port"]  # looked again
    store.report(said.append)
    assert said == ["state files a.json and b.json name the same port", "other"]
    assert store.problems == []
