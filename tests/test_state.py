from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rittunnel.errors import RittunnelError
from rittunnel.files import cache_dir, state_dir
from rittunnel.remoteit.credentials import Credentials
from rittunnel.remoteit.tokencache import TokenCache, cache_key
from rittunnel.tunnel.state import StateStore, TunnelState, is_alive, process_start_time


def me(
    name: str = "p", *, connections: list[str] | None = None, local_port: int = 0
) -> TunnelState:
    started = process_start_time(os.getpid()) or 0.0
    return TunnelState(
        name=name,
        pid=os.getpid(),
        pid_started=started,
        api_url="u",
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


def test_dead_holder_is_taken_over_and_returned(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    dead = me(connections=["X"])
    dead.pid = dead_pid()
    store.write(dead)
    assert [s.proxies for _, s in store.orphans()] == [["X"]]
    previous = store.claim(me())
    assert previous is not None and previous.proxies == ["X"]
    assert store.orphans() == []


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
