"""sd_notify: the messages, the address check, real AF_UNIX datagram sockets (a path in
a tmp dir, and an abstract name), and the session's ``on_stopping`` hook (in-memory API,
real signals)."""

from __future__ import annotations

import io
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from rittunnel.errors import RittunnelError
from rittunnel.report import Reporter
from rittunnel.tunnel.notify import (
    MAX_STATUS,
    Notifier,
    ServiceNotify,
    notify_address,
    ready_message,
    status_line,
    stopping_message,
)

from .conftest import MemoryApi
from .test_session import make_session

DEADLINE = 20


# -- pure ------------------------------------------------------------------------------


def test_addresses_systemd_gives_are_taken_as_sendto_wants_them() -> None:
    assert notify_address("/run/user/1000/systemd/notify") == "/run/user/1000/systemd/notify"
    assert notify_address("@/org/freedesktop/systemd1/notify/42") == (
        "\0/org/freedesktop/systemd1/notify/42"
    )


@pytest.mark.parametrize(
    "raw",
    ["notify.sock", "./notify", "vsock:2:1234", "@", "~/x", "/" + "x" * 107, "/a\0b", "@a\0b"],
)
def test_anything_else_is_refused_with_what_it_is_not(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^(an absolute path|a socket address) "):
        notify_address(raw)


def test_the_longest_path_and_abstract_name_pass() -> None:
    assert notify_address("/" + "x" * 106) == "/" + "x" * 106
    assert notify_address("@" + "x" * 107) == "\0" + "x" * 107


def test_ready_says_where_every_tunnel_serves() -> None:
    status = status_line(
        [("ssh-pi", ["127.0.0.1:2222", "[::1]:2222"]), ("postgres", ["127.0.0.1:5432"])]
    )
    assert status == "ssh-pi on 127.0.0.1:2222 and [::1]:2222; postgres on 127.0.0.1:5432"
    assert ready_message(status) == f"READY=1\nSTATUS={status}"


def test_stopping_says_why() -> None:
    assert (
        stopping_message("SIGTERM") == "STOPPING=1\nSTATUS=stopping (SIGTERM): stopping the proxies"
    )


def test_a_status_is_one_line_of_bounded_length() -> None:
    assert ready_message("a\nREADY=0") == "READY=1\nSTATUS=a\\nREADY=0"
    many = status_line([(f"tunnel{i}", ["127.0.0.1:1"]) for i in range(500)])
    assert len(many) == MAX_STATUS and many.endswith("…")


# -- real sockets ------------------------------------------------------------------------


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound in a tmp dir, as systemd's notify socket is; yields it and
    the NOTIFY_SOCKET value naming it. (A sync test: blocking stdlib sockets are fine.)"""
    path = tmp_path / "notify"
    assert len(str(path)) < 100
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(DEADLINE)
        yield sock, str(path)


def test_a_message_is_one_datagram_on_a_path_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    debug: list[str] = []
    notifier = Notifier(notify_address(path), debug.append)
    assert notifier.send(ready_message("ssh-pi on 127.0.0.1:2222"))
    assert sock.recv(4096) == b"READY=1\nSTATUS=ssh-pi on 127.0.0.1:2222"
    assert debug == ["told systemd READY=1"]


def test_an_abstract_socket_works_too() -> None:
    name = f"@rittunnel-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name[1:])
        sock.settimeout(DEADLINE)
        assert Notifier(notify_address(name), lambda _: None).send(stopping_message("SIGTERM"))
        assert sock.recv(4096).startswith(b"STOPPING=1\nSTATUS=stopping (SIGTERM)")


def test_no_listener_is_a_debug_line_not_an_error(tmp_path: Path) -> None:
    debug: list[str] = []
    notifier = Notifier(str(tmp_path / "gone"), debug.append)
    assert notifier.send("READY=1") is False
    assert len(debug) == 1 and "cannot notify systemd at" in debug[0] and "gone" in debug[0]


def test_a_full_queue_never_blocks(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener  # never read: its queue fills up
    notifier = Notifier(path, lambda _: None)
    started = time.monotonic()
    sent = [notifier.send("STATUS=" + "x" * 2000) for _ in range(2000)]
    assert time.monotonic() - started < 5
    assert sent[0] and not all(sent)  # some were dropped, none waited
    assert sock.recv(4096).startswith(b"STATUS=x")


def test_from_env_unset_invalid_and_valid(listener: tuple[socket.socket, str]) -> None:
    err = io.StringIO()
    reporter = Reporter(err=err)
    assert Notifier.from_env({}, reporter) is None
    assert Notifier.from_env({"NOTIFY_SOCKET": ""}, reporter) is None
    assert err.getvalue() == ""
    assert Notifier.from_env({"NOTIFY_SOCKET": "relative/sock"}, reporter) is None
    assert err.getvalue() == (
        "rittunnel: warning: NOTIFY_SOCKET='relative/sock' is not an absolute path or an "
        "@abstract socket name; not notifying\n"
    )
    notifier = Notifier.from_env({"NOTIFY_SOCKET": listener[1]}, reporter)
    assert notifier is not None and notifier.address == listener[1]


def test_service_notify_follows_the_ready_events(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    reporter = Reporter(out=io.StringIO(), err=io.StringIO())
    systemd = ServiceNotify(Notifier(path, reporter.debug))
    reporter.sinks.append(systemd.sink)
    reporter.ready("ssh-pi", ["127.0.0.1:2222"], 2222, "latching", proxy="proxy1.rt3.io:3")
    reporter.warn("a warning is not a tunnel")
    reporter.ready("db", ["127.0.0.1:5432", "[::1]:5432"], 5432, "latching")
    systemd.ready()
    assert sock.recv(4096) == (
        b"READY=1\nSTATUS=ssh-pi on 127.0.0.1:2222; db on 127.0.0.1:5432 and [::1]:5432"
    )
    systemd.stopping("SIGHUP")
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping (SIGHUP): stopping the proxies"


# -- the session's hook ----------------------------------------------------------------


async def test_a_stop_signal_says_stopping_before_any_proxy_stops(tmp_path: Path) -> None:
    api = MemoryApi(latency=0)
    session, _ = make_session(tmp_path, {"a": api})
    events: list[str] = []

    def stopping(why: str) -> None:
        events.append(f"stopping {why}; stopped so far {api.stopped}")

    def ready() -> None:
        events.append("ready")
        os.kill(os.getpid(), signal.SIGTERM)  # what systemd sends at `systemctl stop`

    with trio.fail_after(DEADLINE):
        outcome = await session.run(on_ready=ready, on_stopping=stopping)
    assert events == ["ready", "stopping SIGTERM; stopped so far []"]
    assert api.stopped == ["C1"] and outcome.signal == signal.SIGTERM


async def test_the_last_tunnel_ending_says_stopping_once(tmp_path: Path) -> None:
    apis = {"a": MemoryApi(latency=0), "b": MemoryApi(latency=0)}
    session, _ = make_session(tmp_path, apis)
    said: list[tuple[str, list[str], list[str]]] = []
    ready = trio.Event()

    def stopping(why: str) -> None:
        said.append((why, list(apis["a"].stopped), list(apis["b"].stopped)))

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as n:
            n.start_soon(lambda: session.run(on_ready=ready.set, on_stopping=stopping))
            await ready.wait()
            session.slots[0].scope.cancel()  # `rittunnel stop a`: b keeps serving
            while not session.slots[0].finished:
                await trio.sleep(0.01)
            assert said == [] and apis["a"].stopped == ["C1"]
            session.slots[1].scope.cancel()  # the last one: the process tears down
    assert said == [("the last tunnel ended", ["C1"], [])]
    assert apis["b"].stopped == ["C1"]


async def test_a_failure_at_start_up_tears_down_saying_so(tmp_path: Path) -> None:
    api = MemoryApi(latency=0)
    api.failures.append(RittunnelError("nope"))
    session, _ = make_session(tmp_path, {"a": api})
    said: list[str] = []
    with trio.fail_after(DEADLINE), pytest.raises(BaseExceptionGroup):
        await session.run(on_ready=lambda: said.append("ready"), on_stopping=said.append)
    assert said == ["the last tunnel ended"]
