from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rittunnel.errors import RittunnelError
from rittunnel.files import cache_dir, state_dir
from rittunnel.remoteit.credentials import Credentials
from rittunnel.remoteit.tokencache import TokenCache, cache_key
from rittunnel.tunnel.state import (
    MAX_FILE,
    StateStore,
    TunnelState,
    is_alive,
    is_rittunnel_argv,
    is_rittunnel_process,
    listens_on,
    process_start_time,
)


def me(
    name: str = "p", *, connections: list[str] | None = None, local_port: int = 0
) -> TunnelState:
    started = process_start_time(os.getpid()) or 0.0
    return TunnelState(
        name=name,
        pid=os.getpid(),
        pid_started=started,
        api_url="http://api.example",
        service="s",
        proxies=connections or [],
        local_port=local_port,
    )


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dirs_follow_xdg_and_home(tmp_path: Path) -> None:
    assert state_dir({"XDG_STATE_HOME": "/x"}) == Path("/x/rittunnel")
    assert cache_dir({"HOME": str(tmp_path)}) == tmp_path / ".cache" / "rittunnel"


def test_claim_write_and_mode(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    assert store.claim(me()) is None
    path = store.path("p")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    state = me(connections=["A"])
    store.write(state)
    assert store.read(path) == state


def test_live_holder_is_named(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    other = me(local_port=2222)
    other.pid = os.getppid()
    other.pid_started = process_start_time(os.getppid()) or 0.0
    store.write(other)
    with pytest.raises(RittunnelError, match=f"already running as pid {os.getppid()} on port 2222"):
        store.claim(me())
    other.shareable = False  # a `rittunnel run`: it ends with its command
    store.write(other)
    with pytest.raises(RittunnelError, match="it is a `rittunnel run` and ends with its command"):
        store.claim(me())


def test_dead_holder_is_taken_over_and_its_record_kept_beside(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    dead = me(connections=["X"])
    dead.pid = dead_pid()
    store.write(dead)
    assert [s.proxies for _, s in store.orphans()] == [["X"]]
    previous = store.claim(me())
    # its proxies are still open: their record is kept under another name until stopped
    assert previous is not None and previous.proxies == ["X"]
    assert previous.name == f"p.orphan-{dead.pid}"
    assert [(p.name, s.proxies) for p, s in store.orphans()] == [
        (f"p.orphan-{dead.pid}.json", ["X"])
    ]
    claimed = store.get("p")
    assert claimed is not None and claimed.pid == os.getpid()


def test_reused_pid_is_not_alive() -> None:
    state = me()
    state.pid_started -= 1000  # same pid, another process's start time
    assert not is_alive(state)
    assert is_alive(me())


def test_token_cache(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "c" / "tokens.json")
    creds = Credentials("key", "user", "pw")
    key = cache_key("u", creds)
    assert "key" not in key and cache.get(key) is None
    cache.put(key, "tok", 2000.0)
    assert cache.get(key, now=1000.0) == "tok"
    assert cache.get(key, now=1999.0) is None  # about to expire
    assert cache.get(cache_key("other", creds), now=0) is None
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    cache.path.write_text("{not json")
    assert cache.get(key) is None


def plant(directory: Path, stem: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{stem}.json"
    path.write_text(text)
    return path


def good(**fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "t",
        "pid": dead_pid(),
        "pid_started": 1.0,
        "api_url": "http://api.example",
        "service": "s",
        "proxies": ["C1"],
    }
    data.update(fields)
    return data


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"pid": -1}, "pid: -1 is not within 1-"),
        ({"pid": "abc"}, "pid: 'abc' is not an integer"),
        ({"pid": 0}, "pid: 0 is not within"),
        ({"pid": 2**40}, "pid: 1099511627776 is not within"),
        ({"pid": True}, "pid: True is not an integer"),
        ({"pid_started": "x"}, "pid_started: 'x' is not a number"),
        ({"started": float("nan")}, "started: nan is not a time"),
        ({"expires_at": float("inf")}, "expires_at: inf is not a time"),
        ({"proxies": "C1"}, "proxies: 'C1' is not a list"),
        ({"proxies": [1]}, "proxies: [1] has an item that is not a string"),
        ({"proxies": ["x"] * 1001}, "proxies: ['x', "),
        ({"local_port": 70000}, "local_port: 70000 is not within 0-65535"),
        ({"api": "soap"}, "api: 'soap' is not rest or graphql"),
        ({"api_url": "file:///etc/passwd"}, "api_url: 'file:///etc/passwd' is not an http(s) URL"),
        ({"upstream": "h:1\x1b[2J"}, "upstream: 'h:1\\x1b[2J' contains control characters"),
        ({"service": None}, "service: None is not a string"),
        ({"ready": "yes"}, "ready: 'yes' is not true or false"),
        ({"reverse": 1}, "reverse: 1 is not true or false"),
        ({"shareable": "no"}, "shareable: 'no' is not true or false"),
        ({"name": "other"}, "name: 'other' is not its file's name 't'"),
        ({"name": "../../t"}, "name: '../../t' is not a tunnel name"),
    ],
)
def test_a_malformed_state_file_is_set_aside_and_said_once(
    tmp_path: Path, fields: dict[str, object], said: str
) -> None:
    path = plant(tmp_path, "t", json.dumps(good(**fields)))
    store = StateStore(tmp_path)
    assert list(store.all()) == [] and store.orphans() == []
    [problem] = store.problems
    assert problem.startswith(f"state file {path}: {said}")
    assert problem.endswith("ignored it (moved to t.json.bad)")
    assert not path.exists() and path.with_name("t.json.bad").exists()
    store.problems.clear()
    assert list(store.all()) == [] and store.problems == []  # said once


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ("[" * 100_000, "not JSON"),
        (json.dumps({"name": "t", "pid": 5}), "pid_started: missing"),
        ("x" * (MAX_FILE + 1), "it is larger than"),
    ],
)
def test_a_file_that_is_not_a_state_is_set_aside(tmp_path: Path, text: str, said: str) -> None:
    path = plant(tmp_path, "t", text)
    store = StateStore(tmp_path)
    assert store.get("t") is None
    assert said in store.problems[0] and path.with_name("t.json.bad").exists()


def test_a_state_file_passes_validation_as_written(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    state = me(connections=["C1"], local_port=2222)
    state.expires_at, state.released, state.name = 12.5, True, "p.orphan-77"
    state.reverse, state.shareable = True, False
    store.write(state)
    assert store.get("p.orphan-77") == state and store.problems == []


def test_a_file_of_an_older_rittunnel_without_shareable_counts_as_shareable(
    tmp_path: Path,
) -> None:
    assert "shareable" not in good()
    plant(tmp_path, "t", json.dumps(good()))
    state = StateStore(tmp_path).get("t")
    assert state is not None and state.shareable is True
    assert me().shareable is True  # and a new one is, unless its maker says not


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
    text = json.dumps(good())
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
    store.write(me())
    store.path("p").chmod(0o644)
    assert store.get("p") is not None
    assert stat.S_IMODE(store.path("p").stat().st_mode) == 0o600


def test_a_state_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    StateStore(directory).write(me())
    directory.chmod(0o777)
    with pytest.raises(RittunnelError, match=r"writable by group and others \(mode 0777\)"):
        list(StateStore(directory).all())
    directory.chmod(0o720)
    with pytest.raises(RittunnelError, match="writable by group"):
        StateStore(directory).claim(me("q"))
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


@pytest.mark.parametrize(
    ("argv", "ours"),
    [
        (["/venv/bin/python", "/venv/bin/rittunnel", "up", "a"], True),
        (["/venv/bin/rittunnel", "stdio", "a"], True),
        (["python3", "-m", "rittunnel", "up"], True),
        (["python3", "-X", "dev", "-u", "-m", "rittunnel", "up"], True),
        (["python3", "-mrittunnel"], True),
        (["sleep", "60"], False),
        (["python3", "-c", "import rittunnel"], False),
        (["python3", "-m", "rittunnelx"], False),
        (["python3", "/bin/other", "rittunnel"], False),
        ([], False),
    ],
)
def test_what_a_rittunnel_command_line_looks_like(argv: list[str], ours: bool) -> None:
    assert is_rittunnel_argv(argv) is ours


def test_only_a_process_whose_command_line_is_rittunnels_counts() -> None:
    # the CLI itself is signalled in the end-to-end tests (`up` and `up -d`, then `stop`)
    assert not is_rittunnel_process(os.getpid())  # pytest
    assert not is_rittunnel_process(dead_pid())
    proc = subprocess.Popen(["bash", "-c", "exec -a rittunnel sleep 60"])
    try:
        deadline = time.monotonic() + 10
        while not is_rittunnel_process(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # until bash has become "rittunnel"
        assert is_rittunnel_process(proc.pid) and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_listens_on_looks_at_that_process_and_that_port() -> None:
    with socket.socket() as listening, socket.socket() as bound_only:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        bound_only.bind(("127.0.0.1", 0))
        port, other = listening.getsockname()[1], bound_only.getsockname()[1]
        assert listens_on(os.getpid(), "127.0.0.1", port)
        assert not listens_on(os.getpid(), "127.0.0.1", other)  # bound, not listening
        assert not listens_on(dead_pid(), "127.0.0.1", port)
        assert not listens_on(1, "127.0.0.1", port)  # another process (we may not look)


def test_listens_on_wants_that_very_address() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        for host in ("127.0.0.2", "0.0.0.0", "::1", "192.0.2.1", "localhost", ""):
            assert not listens_on(os.getpid(), host, port), host


def test_a_wildcard_listener_counts_for_loopback_only() -> None:
    with socket.socket() as listening:
        listening.bind(("0.0.0.0", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert listens_on(os.getpid(), "127.0.0.1", port)
        assert listens_on(os.getpid(), "0.0.0.0", port)
        assert not listens_on(os.getpid(), "127.0.0.2", port)  # another IP: only itself
        assert not listens_on(os.getpid(), "::1", port)  # another family


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_an_ipv6_listener_by_address_or_wildcard() -> None:
    try:
        exact, wildcard = socket.socket(socket.AF_INET6), socket.socket(socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 sockets")
    with exact, wildcard:
        wildcard.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            exact.bind(("::1", 0))
            wildcard.bind(("::", 0))
        except OSError:
            pytest.skip("no IPv6 loopback")
        exact.listen()
        wildcard.listen()
        one, anywhere = exact.getsockname()[1], wildcard.getsockname()[1]
        assert listens_on(os.getpid(), "::1", one)
        assert listens_on(os.getpid(), "0:0:0:0:0:0:0:1", one)  # the same IP, spelled out
        assert not listens_on(os.getpid(), "127.0.0.1", one)
        assert listens_on(os.getpid(), "::1", anywhere)
        assert not listens_on(os.getpid(), "127.0.0.1", anywhere)


def test_a_problem_is_said_once_however_often_it_is_found(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    said: list[str] = []
    store.problems += ["state files a.json and b.json name the same port", "other"]
    store.report(said.append)
    store.problems += ["state files a.json and b.json name the same port"]  # looked again
    store.report(said.append)
    assert said == ["state files a.json and b.json name the same port", "other"]
    assert store.problems == []
