"""status/stop/wait decisions against real state files; the signals are recorded by a
fake ``kill`` that plays the tunnel process."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rittunnel.commands.control import (
    Entry,
    ask_for_counters,
    entries,
    status,
    status_command,
    status_table,
    stop,
    stop_command,
    stop_wait,
    wait,
)
from rittunnel.commands.options import StatusOptions, StopOptions
from rittunnel.errors import RittunnelError
from rittunnel.report import Reporter
from rittunnel.settings import Settings
from rittunnel.tunnel.procs import holds, process_start_time
from rittunnel.tunnel.state import TunnelState
from rittunnel.tunnel.store import StateStore

from .conftest import dead_pid

ME = os.getpid()
DEAD = dead_pid()


def any_pid(pid: int) -> bool:
    """Plays :func:`is_rittunnel_process` for a test whose tunnel is played by pytest."""
    return True


def state(name: str, *, alive: bool = True, **kw: object) -> TunnelState:
    kw.setdefault("pid", ME if alive else DEAD)
    kw.setdefault("pid_started", (process_start_time(ME) or 0.0) if alive else 0.0)
    kw.setdefault("api_url", "http://api")
    return TunnelState(name=name, service="svc", **kw)  # type: ignore[arg-type]


def reporter() -> tuple[Reporter, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Reporter(out=out, err=err), out, err


def test_status_table_marks_dead_entries() -> None:
    now = time.time()
    live = state(
        "ssh-pi",
        service_name="pi-ssh",
        addresses=["127.0.0.1:2222"],
        upstream="proxy18.rt3.io:38575",
        mode="latching",
        started=now - 3700,
        ready=True,
        connections=2,
        bytes_up=2048,
        bytes_down=5 * 1024 * 1024,
        expires_at=now + 600,
    )
    dead = state("db", alive=False, proxies=["C9"], started=now - 60, connections=4)
    lines = status_table([Entry(live, True), Entry(dead, False)], now)
    assert lines[0].split() == [
        "NAME", "SERVICE", "PID", "STATE", "LOCAL", "UPSTREAM", "MODE",
        "UPTIME", "CONNS", "UP", "DOWN", "EXPIRES",
    ]  # fmt: skip
    assert lines[1].split() == [
        "ssh-pi", "pi-ssh", str(ME), "ready", "127.0.0.1:2222", "proxy18.rt3.io:38575",
        "latching", "1h01m", "2", "2.0", "KiB", "5.0", "MiB", "10m00s",
    ]  # fmt: skip
    # a profile that gave the ID shows the ID; a dead tunnel has no conns
    assert lines[2].split()[1:4] == ["svc", str(DEAD), "dead"]
    assert lines[2].split()[8] == "0"
    assert f"pid {DEAD} is gone; proxies left open: C9" in lines[3]


def test_stop_signals_a_process_whose_every_tunnel_is_named(tmp_path: Path) -> None:
    # a real process plays the tunnel: stop waits for it to exit, not only for its files
    child = subprocess.Popen(["sleep", "60"])
    try:
        started = process_start_time(child.pid)
        store = StateStore(tmp_path)
        for name in ("a", "b"):
            store.write(state(name, pid=child.pid, pid_started=started))
        sent: list[int] = []

        def kill(pid: int, sig: int) -> None:
            assert pid == child.pid
            sent.append(sig)
            store.remove("a")
            store.remove("b")
            os.kill(pid, sig)

        r, _, err = reporter()
        assert stop(store, r, ["a", "b"], every=False, kill=kill, ours=any_pid) == 0
        assert sent == [signal.SIGTERM] and child.poll() is not None
    finally:
        child.kill()
        child.wait()
    assert "stopped a" in err.getvalue() and "stopped b" in err.getvalue()


def test_stop_one_of_several_sends_a_stop_request(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.write(state("a"))
    store.write(state("b"))
    sent: list[int] = []

    def kill(pid: int, sig: int) -> None:
        sent.append(sig)
        assert store.stop_requested("a") and not store.stop_requested("b")
        store.remove("a")

    r, _, _ = reporter()
    assert stop(store, r, ["a"], every=False, kill=kill, ours=any_pid) == 0
    assert sent == [signal.SIGUSR1] and store.get("b") is not None


def test_stop_fails_for_unknown_dead_and_stuck_tunnels(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.write(state("dead", alive=False, proxies=["C1"]))
    store.write(state("stuck"))
    r, _, err = reporter()
    code = stop(
        store,
        r,
        ["nope", "dead", "stuck"],
        every=False,
        timeout=0.2,
        kill=lambda *_: None,
        ours=any_pid,
    )
    assert code == 1
    text = err.getvalue()
    assert "nope is not running" in text
    assert f"dead is not running: pid {DEAD} is gone" in text
    assert "stuck (pid" in text and "did not stop within 0.2s" in text


def test_stop_all_with_nothing_running(tmp_path: Path) -> None:
    r, _, err = reporter()
    assert stop(StateStore(tmp_path), r, [], every=True) == 0
    assert "no tunnels running" in err.getvalue()


def test_wait(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.write(state("up", ready=True, addresses=["127.0.0.1:5"], upstream="h:1"))
    store.write(state("starting"))
    store.write(state("gone", alive=False, log="/x.log"))
    r, out, _ = reporter()
    assert wait(store, r, "up", 1) == 0
    assert out.getvalue() == "up ready on 127.0.0.1:5 → h:1\n"
    with pytest.raises(RittunnelError, match="still starting"):
        wait(store, r, "starting", 0.1)
    with pytest.raises(RittunnelError, match=rf"pid {DEAD}\) is gone; see /x.log"):
        wait(store, r, "gone", 0.1)


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this user that is not rittunnel."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("names", [["x"], ["--all"], ["x", "y"], ["y"]])
def test_stop_never_signals_a_process_that_is_not_rittunnel(
    tmp_path: Path, stranger: subprocess.Popen[bytes], names: list[str]
) -> None:
    # state files naming the stranger with its real start time; "y" alone: the SIGUSR1 path
    store = StateStore(tmp_path)
    started = process_start_time(stranger.pid)
    for name in ("x", "y"):
        store.write(state(name, pid=stranger.pid, pid_started=started, proxies=["C1"]))
    r, _, err = reporter()
    every = names == ["--all"]
    code = stop(store, r, [] if every else names, every=every, timeout=1)  # the real kill
    time.sleep(0.1)
    assert code == 1 and stranger.poll() is None
    assert f"pid {stranger.pid} is not a rittunnel process of yours; not signalling it" in (
        err.getvalue()
    )
    assert not store.stop_requested("y") and list(tmp_path.glob("*.stop")) == []


def play_a_failed_teardown(
    store: StateStore, child: subprocess.Popen[bytes] | None
) -> Callable[[int, int], None]:
    """A fake ``kill``: the tunnel could not stop its proxy, so it releases its file
    with the proxy in it; with ``child`` it then exits (a zombie: nobody reaps it yet)."""

    def kill(pid: int, sig: int) -> None:
        for _, s in store.all():
            if s.pid == pid and (sig == signal.SIGTERM or store.stop_requested(s.name)):
                s.released, s.ready = True, False
                store.write(s)
        if child is not None:
            child.kill()

    return kill


def test_stop_says_when_the_process_exited_but_left_its_proxy_open(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        store = StateStore(tmp_path)
        started = process_start_time(child.pid)
        store.write(state("a", pid=child.pid, pid_started=started, proxies=["C7"]))
        r, _, err = reporter()
        kill = play_a_failed_teardown(store, child)
        code = stop(store, r, ["a"], every=False, timeout=5, kill=kill, ours=any_pid)
    finally:
        child.kill()
        child.wait()
    assert code == 1
    assert (
        "a stopped, but proxy C7 may still be open at remote.it; `rittunnel cleanup` will try again"
    ) in err.getvalue()
    assert "proxy is stopped" not in err.getvalue()


def test_stop_one_of_several_says_when_its_proxy_was_left_open(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.write(state("a", proxies=["C1"]))
    store.write(state("b", proxies=["C2"], ready=True))
    r, _, err = reporter()
    kill = play_a_failed_teardown(store, None)  # the process keeps serving b
    started = time.monotonic()
    code = stop(store, r, ["a"], every=False, timeout=30, kill=kill, ours=any_pid)
    assert code == 1 and time.monotonic() - started < 15  # not the 30 s timeout
    assert "a stopped, but proxy C1 may still be open at remote.it" in err.getvalue()
    table = status_table([Entry(s, holds(s)) for _, s in store.all()], time.time())
    assert table[1].split()[3] == "stopped" and table[2].split()[3] == "ready"
    assert table[3] == (
        f"a: stopped (pid {ME}); proxies left open: C1; `rittunnel cleanup` stops them and "
        "removes it"
    )


def test_status_reports_a_malformed_file_once_and_carries_on(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.write(state("good"))
    bad = {"name": "bad", "pid": -1, "pid_started": 1, "api_url": "http://a", "service": "s"}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    r, out, err = reporter()
    assert status(store, r, as_json=True) == 0
    assert [e["name"] for e in json.loads(out.getvalue())] == ["good"]
    assert f"warning: state file {tmp_path / 'bad.json'}: pid: -1 is not within" in err.getvalue()
    r, _, err = reporter()
    assert status(StateStore(tmp_path), r, as_json=True) == 0 and err.getvalue() == ""


def test_status_refuses_a_state_directory_others_may_write(tmp_path: Path) -> None:
    directory = tmp_path / "rittunnel"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    r, _, _ = reporter()
    with pytest.raises(RittunnelError, match="writable by group and others"):
        status(StateStore(directory), r, as_json=False)


def test_a_dead_tunnel_of_an_api_url_no_setting_names_is_not_sent_to_cleanup(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    store.write(state("mine", alive=False, proxies=["C1"], api_url="https://api.remote.it/apv/v27"))
    store.write(state("planted", alive=False, proxies=["C2"], api_url="http://u:pw@evil.example/"))
    store.write(
        state("gql", alive=False, proxies=["C3"], api="graphql", api_url="http://g.example/")
    )
    trusted = {"https://api.remote.it/apv/v27"}.__contains__
    rows = {e.state.name: e for e in entries(store, Reporter(err=io.StringIO()), trusted)}
    assert [rows[n].trusted for n in ("mine", "planted", "gql")] == [True, False, False]
    lines = status_table(list(rows.values()), time.time())
    [mine] = [line for line in lines if line.startswith("mine: ")]
    assert mine.endswith("`rittunnel cleanup` stops them and removes it")
    [planted] = [line for line in lines if line.startswith("planted: ")]
    assert "through API URL http://***@evil.example/" in planted and "pw" not in planted
    assert "`rittunnel cleanup` leaves them alone" in planted
    assert (
        "name it in RITTUNNEL_API_URL or a profile's api_url; else remove planted.json" in planted
    )
    [gql] = [line for line in lines if line.startswith("gql: ")]
    assert "name it in RITTUNNEL_GRAPHQL_URL" in gql


def test_stop_waits_for_a_connect_in_flight_and_the_stop_calls() -> None:
    assert stop_wait(Settings.from_env({})) == 30 + 10 + 10
    assert stop_wait(Settings.from_env({"RITTUNNEL_STOP_TIMEOUT": "45"})) == 30 + 45 + 10
    quick = {"RITTUNNEL_STOP_TIMEOUT": "1", "RITTUNNEL_API_TIMEOUT": "2"}
    assert stop_wait(Settings.from_env(quick)) == 20  # never less


def test_status_judges_dead_tunnels_by_the_users_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path), "HOME": str(tmp_path), "RITTUNNEL_PROFILES": "/none"}
    settings = Settings.from_env(env)
    store = StateStore(settings.state_dir)
    store.write(state("mine", alive=False, proxies=["C1"], api_url="https://api.remot3.it/apv/v27"))
    store.write(state("odd", alive=False, proxies=["C2"], api_url="http://odd.example/apv/v27"))
    options = StatusOptions(json=True)
    assert status_command(options, settings, Reporter(err=io.StringIO())) == 0
    rows = {e["name"]: e["cleanup"] for e in json.loads(capsys.readouterr().out)}
    assert rows == {"mine": True, "odd": False}
    err = io.StringIO()
    assert stop_command(StopOptions(names=("odd",)), settings, Reporter(err=err)) == 1
    assert "`rittunnel cleanup` leaves them alone" in err.getvalue()


def test_status_asks_only_busy_tunnels_for_counters_and_shows_what_they_write(
    tmp_path: Path,
) -> None:
    """A tunnel with a connection open may have counted bytes it has not written: status
    sends it SIGUSR1 and shows the file it rewrites. Idle tunnels, tunnels still
    starting and stdio proxies are left asleep."""
    store = StateStore(tmp_path)
    store.write(state("busy", ready=True, connections=1, bytes_up=10))
    store.write(state("idle", ready=True, connections=0))
    store.write(state("starting", ready=False, connections=1))
    store.write(state("pipe.stdio-1", ready=True, connections=1, addresses=["stdio"]))
    sent: list[tuple[int, int]] = []

    def kill(pid: int, signum: int) -> None:
        sent.append((pid, signum))
        store.write(state("busy", ready=True, connections=1, bytes_up=5000))  # the tunnel

    r, out, _ = reporter()
    assert status(store, r, as_json=True, kill=kill, ours=any_pid) == 0
    assert sent == [(ME, signal.SIGUSR1)]
    shown = {e["name"]: e for e in json.loads(out.getvalue())}
    assert shown["busy"]["bytes_up"] == 5000


def test_status_does_not_signal_a_process_that_is_not_ours_and_waits_a_bounded_time(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    store.write(state("busy", ready=True, connections=1))
    sent: list[int] = []
    rows = [Entry(store.get("busy"), True)]  # type: ignore[arg-type]
    start = time.monotonic()
    asked = ask_for_counters(store, rows, kill=lambda p, s: sent.append(p), ours=lambda p: False)
    assert not asked and sent == [] and time.monotonic() - start < 0.1  # no wait for it
    start = time.monotonic()
    assert ask_for_counters(store, rows, kill=lambda p, s: None, ours=any_pid, wait=0.2)
    assert 0.2 <= time.monotonic() - start < 1.0  # an old tunnel that does not answer
