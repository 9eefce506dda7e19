"""status/stop/wait decisions against real state files; the signals are recorded by a
fake ``kill`` that plays the tunnel process."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rittunnel.commands.control import Entry, status_table, stop, wait
from rittunnel.errors import RittunnelError
from rittunnel.report import Reporter
from rittunnel.tunnel.state import StateStore, TunnelState, process_start_time

ME = os.getpid()


def state(name: str, *, alive: bool = True, **kw: object) -> TunnelState:
    kw.setdefault("pid", ME if alive else 999_999_999)
    kw.setdefault("pid_started", (process_start_time(ME) or 0.0) if alive else 0.0)
    return TunnelState(
        name=name,
        api_url="http://api",
        service="svc",
        **kw,  # type: ignore[arg-type]
    )


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
    assert lines[2].split()[1:4] == ["svc", "999999999", "dead"]
    assert lines[2].split()[8] == "0"
    assert "pid 999999999 is gone; proxies left open: C9" in lines[3]


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
        assert stop(store, r, ["a", "b"], every=False, kill=kill) == 0
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
    assert stop(store, r, ["a"], every=False, kill=kill) == 0
    assert sent == [signal.SIGUSR1] and store.get("b") is not None


def test_stop_fails_for_unknown_dead_and_stuck_tunnels(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.write(state("dead", alive=False, proxies=["C1"]))
    store.write(state("stuck"))
    r, _, err = reporter()
    code = stop(store, r, ["nope", "dead", "stuck"], every=False, timeout=0.2, kill=lambda *_: None)
    assert code == 1
    text = err.getvalue()
    assert "nope is not running" in text
    assert "dead is not running: pid 999999999 is gone" in text
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
    with pytest.raises(RittunnelError, match=r"pid 999999999\) is gone; see /x.log"):
        wait(store, r, "gone", 0.1)
