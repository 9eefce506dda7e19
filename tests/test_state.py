"""State files: the schema and its per-field checks (a file that fails one is set aside)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from rittunnel.files import cache_dir, state_dir
from rittunnel.remoteit.credentials import Credentials
from rittunnel.remoteit.tokencache import TokenCache, cache_key
from rittunnel.tunnel.state import MAX_FILE
from rittunnel.tunnel.store import StateStore

from .conftest import my_state, state_fields


def test_dirs_follow_xdg_and_home(tmp_path: Path) -> None:
    assert state_dir({"XDG_STATE_HOME": "/x"}) == Path("/x/rittunnel")
    assert cache_dir({"HOME": str(tmp_path)}) == tmp_path / ".cache" / "rittunnel"


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
    path = plant(tmp_path, "t", json.dumps(state_fields(**fields)))
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
    state = my_state(connections=["C1"], local_port=2222)
    state.expires_at, state.released, state.name = 12.5, True, "p.orphan-77"
    state.reverse, state.shareable = True, False
    store.write(state)
    assert store.get("p.orphan-77") == state and store.problems == []


def test_a_file_of_an_older_rittunnel_without_shareable_counts_as_shareable(
    tmp_path: Path,
) -> None:
    assert "shareable" not in state_fields()
    plant(tmp_path, "t", json.dumps(state_fields()))
    state = StateStore(tmp_path).get("t")
    assert state is not None and state.shareable is True
    assert my_state().shareable is True  # and a new one is, unless its maker says not
