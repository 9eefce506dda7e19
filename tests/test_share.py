"""rittunnel.tunnel.share: which running tunnel ``stdio`` and ``run`` may use, from real
state files in a temporary directory, verified against real processes: a rittunnel
process that listens on two ports of 127.0.0.1 (``python -m rittunnel.fake --port P
--echo``: its API and its echo service), this test process (alive, listening, but not
rittunnel), and a process that has exited."""

from __future__ import annotations

import os
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from rittunnel.errors import RittunnelError
from rittunnel.remoteit.accounts import Account
from rittunnel.tunnel.procs import process_start_time
from rittunnel.tunnel.share import (
    Running,
    candidates,
    client_end,
    find_running,
    fit_for_run,
    open_running,
    relay_stdio,
)
from rittunnel.tunnel.state import TunnelState
from rittunnel.tunnel.store import StateStore

from .conftest import SSH_ID, WEB_ID, free_port

URL = "http://127.0.0.1:9/apv/v27"
ACCOUNT = Account(URL, "", "rest")


@dataclass
class Listener:
    """A rittunnel process listening on 127.0.0.1 at ``port`` and ``second``."""

    pid: int
    port: int
    second: int


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rittunnel.fake", "--port", str(port), "--echo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        bufsize=0,  # unbuffered: select() sees every line not read yet
    )
    try:
        assert proc.stdout is not None
        echo = " demo-echo TCP -> 127.0.0.1:"
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            line = ""
            while echo not in line:
                left = deadline - time.monotonic()
                assert left > 0 and sel.select(timeout=left), "the fake did not start in 30 s"
                line = proc.stdout.readline().decode()
                assert line, "the fake exited"
        yield Listener(proc.pid, port, int(line.rsplit(":", 1)[1]))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


def tunnel(listener: Listener, name: str = "ssh-pi", **fields: object) -> TunnelState:
    """The state file of a ready tunnel run by ``listener`` (``fields`` change it)."""
    state = TunnelState(
        name=name,
        pid=listener.pid,
        pid_started=process_start_time(listener.pid) or 0.0,
        api_url=URL,
        service=SSH_ID,
        service_name="pi-ssh",
        local_port=listener.port,
        addresses=[f"127.0.0.1:{listener.port}", f"[::1]:{listener.port}"],
        ready=True,
    )
    return replace(state, **fields)  # type: ignore[arg-type]


def find(store: StateStore, **kwargs: object) -> Running | None:
    args: dict[str, object] = {"account": ACCOUNT, "service": SSH_ID, **kwargs}
    return find_running(store, **args)  # type: ignore[arg-type]


def test_a_ready_verified_tunnel_of_the_service_and_account_is_found(
    store: StateStore, listener: Listener
) -> None:
    store.write(tunnel(listener))
    found = find(store)
    assert found is not None
    assert (found.name, found.pid, found.host, found.port) == (
        "ssh-pi",
        listener.pid,
        "127.0.0.1",
        listener.port,
    )


@pytest.mark.parametrize(
    ("service", "matches"),
    [
        (SSH_ID, True),
        (SSH_ID.lower(), True),  # an ID ignoring case
        ("pi-ssh", True),  # the name the profile gave
        ("PI-SSH", False),  # a name is compared as the profile wrote it
        ("pi", False),
        (WEB_ID, False),
    ],
)
def test_same_service_by_id_or_by_the_profiles_name(
    store: StateStore, listener: Listener, service: str, matches: bool
) -> None:
    store.write(tunnel(listener))
    assert (find(store, service=service) is not None) is matches


def test_a_name_does_not_match_a_tunnel_whose_profile_gave_the_id(
    store: StateStore, listener: Listener
) -> None:
    store.write(tunnel(listener, service_name=""))
    assert find(store, service="pi-ssh") is None
    assert find(store, service=SSH_ID) is not None


@pytest.mark.parametrize(
    ("account", "matches"),
    [
        (ACCOUNT, True),
        (Account("HTTP://127.0.0.1:9/apv/v27/", "", "rest"), True),  # the same URL
        (Account("http://127.0.0.1:10/apv/v27", "", "rest"), False),
        (Account(URL, "work", "rest"), False),  # another credentials section
        (Account(URL, "", "graphql"), False),
    ],
)
def test_same_account_only(
    store: StateStore, listener: Listener, account: Account, matches: bool
) -> None:
    store.write(tunnel(listener))
    assert (find(store, account=account) is not None) is matches


@pytest.mark.parametrize(
    "fields",
    [
        {"ready": False},  # still starting
        {"released": True},  # over, proxies left for cleanup
        {"local_port": 0},
        {"addresses": []},
        {"addresses": ["localhost:2222"]},  # not an IP: never connect by a file's name
        {"addresses": ["127.0.0.1:1"]},  # not its local port
        {"addresses": ["127.0.0.1"]},
    ],
)
def test_a_tunnel_that_is_not_ready_to_serve_is_skipped(
    store: StateStore, listener: Listener, fields: dict[str, object]
) -> None:
    store.write(replace(tunnel(listener), **fields))  # type: ignore[arg-type]
    assert find(store) is None


# the stdio record names this (live) process: its pid is filled in by the test so the
# test ID stays the same in every process (pytest-xdist compares the workers' IDs)
@pytest.mark.parametrize("name", ["ssh-pi.stdio-{pid}", "ssh-pi.orphan-12"])
def test_stdio_and_orphan_records_are_not_tunnels(
    store: StateStore, listener: Listener, name: str
) -> None:
    store.write(tunnel(listener, name=name.format(pid=os.getpid())))
    assert find(store) is None


def test_a_dead_process_or_a_reused_pid_is_skipped(store: StateStore, listener: Listener) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    store.write(tunnel(listener, name="dead", pid=gone.pid))
    started = process_start_time(listener.pid) or 0.0
    store.write(tunnel(listener, name="reused", pid_started=started - 100))
    assert find(store) is None


def test_a_planted_file_whose_pid_does_not_listen_on_its_port_is_skipped(
    store: StateStore, listener: Listener
) -> None:
    with socket.socket() as other:  # a port something listens on: not that process
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        store.write(tunnel(listener, local_port=port, addresses=[f"127.0.0.1:{port}"]))
        assert find(store) is None


def test_a_file_naming_a_process_that_is_not_rittunnel_is_skipped(
    store: StateStore, listener: Listener
) -> None:
    with socket.socket() as mine:  # this pytest process listens, but is not rittunnel
        mine.bind(("127.0.0.1", 0))
        mine.listen()
        port = mine.getsockname()[1]
        pid = os.getpid()
        store.write(
            tunnel(
                listener,
                pid=pid,
                pid_started=process_start_time(pid) or 0.0,
                local_port=port,
                addresses=[f"127.0.0.1:{port}"],
            )
        )
        assert find(store) is None


@pytest.mark.parametrize("address", ["127.0.0.2", "[::1]", "192.0.2.1", "[::]"])
def test_a_file_whose_address_the_process_does_not_listen_on_is_skipped(
    store: StateStore, listener: Listener, address: str
) -> None:
    # the listener listens on 127.0.0.1 only: a client sent to that address and port
    # would reach something else (another machine, another process)
    store.write(tunnel(listener, addresses=[f"{address}:{listener.port}"]))
    assert find(store) is None


def test_every_address_means_loopback(store: StateStore, listener: Listener) -> None:
    store.write(tunnel(listener, addresses=[f"0.0.0.0:{listener.port}"]))
    found = find(store)
    assert found is not None and (found.host, found.port) == ("127.0.0.1", listener.port)


def test_the_tunnel_of_a_run_is_no_ones_to_use(store: StateStore, listener: Listener) -> None:
    # it is torn down when its command exits: whoever borrowed it would be cut
    store.write(tunnel(listener, name="service-pi.run-12", shareable=False))
    assert find(store) is None
    assert find(store, port_proxy_only=True) is None
    store.write(tunnel(listener, name="ssh-pi", local_port=listener.second,
                       addresses=[f"127.0.0.1:{listener.second}"]))  # fmt: skip
    assert (found := find(store)) is not None and found.name == "ssh-pi"


def test_two_files_naming_one_port_of_a_process_are_both_distrusted(
    store: StateStore, listener: Listener
) -> None:
    store.write(tunnel(listener, name="ssh-pi"))
    # a copy naming another service (and account) on that very port of that process
    store.write(tunnel(listener, name="a8", service=WEB_ID, service_name="", credentials="w"))
    assert find(store) is None
    assert store.problems == [
        f"state files a8.json and ssh-pi.json name the same port {listener.port} of pid "
        f"{listener.pid}: using neither (remove the one that pid does not run)"
    ]
    store.problems.clear()
    assert find(store, service=WEB_ID, account=Account(URL, "w", "rest")) is None
    assert len(store.problems) == 1
    store.problems.clear()
    store.write(tunnel(listener, name="a8", service=SSH_ID))  # of the same service: the same
    assert find(store) is None and len(store.problems) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"released": True},  # over: it holds nothing
        {"pid_started": 1.0},  # a process before this one with the same pid
        {"local_port": 0, "addresses": ["stdio"]},  # a stdio connection's own proxy
    ],
)
def test_a_record_that_does_not_hold_the_port_is_no_copy(
    store: StateStore, listener: Listener, fields: dict[str, object]
) -> None:
    store.write(tunnel(listener))
    store.write(replace(tunnel(listener, name="old"), **fields))  # type: ignore[arg-type]
    assert (found := find(store)) is not None and found.name == "ssh-pi"
    assert store.problems == []


def test_a_reverse_proxy_tunnel_is_no_use_to_stdio(store: StateStore, listener: Listener) -> None:
    store.write(tunnel(listener, reverse=True))
    assert find(store, port_proxy_only=True) is None
    assert find(store) is not None  # `run` may use it


def test_the_preferred_name_wins_else_the_first_by_name(
    store: StateStore, listener: Listener
) -> None:
    second = [f"127.0.0.1:{listener.second}"]
    store.write(tunnel(listener, name="b-pi"))
    store.write(tunnel(listener, name="a-pi", local_port=listener.second, addresses=second))
    assert [r.name for r in candidates(store, account=ACCOUNT, service=SSH_ID)] == [
        "a-pi",
        "b-pi",
    ]
    assert (found := find(store, prefer="b-pi")) is not None and found.name == "b-pi"
    assert found.port == listener.port
    assert (found := find(store)) is not None and found.name == "a-pi"
    assert found.port == listener.second
    assert (found := find(store, prefer="zz")) is not None and found.name == "a-pi"


def test_no_state_directory_means_none(tmp_path: Path) -> None:
    assert find(StateStore(tmp_path / "nowhere")) is None


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("127.0.0.1:2222", "127.0.0.1"),
        ("[::1]:2222", "::1"),
        ("0.0.0.0:2222", "127.0.0.1"),
        ("[::]:2222", "::1"),
        ("192.168.1.5:2222", "192.168.1.5"),
        ("example.com:2222", None),
        ("127.0.0.1", None),
        ("127.0.0.1:x", None),
        ("stdio", None),
    ],
)
def test_client_end_is_the_host_a_local_client_dials(address: str, host: str | None) -> None:
    end = client_end(address)
    assert (None if end is None else end[0]) == host


def _running(name: str, port: int) -> Running:
    state = TunnelState(name=name, pid=7, pid_started=0, api_url=URL, service=SSH_ID)
    return Running(name, 7, "127.0.0.1", port, state)


@pytest.mark.parametrize("port_option", [None, 0, 2222])
def test_run_uses_its_profiles_tunnel_unless_p_asks_for_another_port(
    port_option: int | None,
) -> None:
    mine = _running("ssh-pi", 2222)
    assert fit_for_run([_running("a", 2222), mine], "ssh-pi", port_option, 2222) is mine


def test_run_with_another_port_than_its_running_profile_is_an_error() -> None:
    with pytest.raises(RittunnelError) as err:
        fit_for_run([_running("ssh-pi", 2222)], "ssh-pi", 3333, 2222)
    assert str(err.value) == (
        "profile ssh-pi is already running on port 2222 (pid 7); "
        "`run` uses it when -p is omitted, 0 or 2222"
    )


def test_run_uses_another_profiles_tunnel_on_the_port_it_would_use() -> None:
    other, third = _running("other", 2222), _running("third", 4444)
    assert fit_for_run([other, third], "ssh-pi", None, 2222) is other  # the profile's port
    assert fit_for_run([other, third], "ssh-pi", 4444, 2222) is third  # -p
    assert fit_for_run([other, third], "ssh-pi", 0, 2222) is other  # any: the first
    assert fit_for_run([other, third], "ssh-pi", None, 5555) is None  # its own tunnel
    assert fit_for_run([], "ssh-pi", None, 2222) is None


def test_open_running_connects_and_fails_fast_on_a_closed_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with open_running(_running("x", port)) as sock:
            assert sock.gettimeout() is None
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    with pytest.raises(OSError):
        open_running(_running("x", free_port()), timeout=1)


def test_relay_stdio_carries_both_ways_and_half_closes() -> None:
    ours, service = socket.socketpair()
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    got = bytearray()

    def echo_service() -> None:  # echoes until EOF (our stdin's), then closes
        with service:
            while data := service.recv(65536):
                service.sendall(data)

    def read_stdout() -> None:
        with os.fdopen(stdout_r, "rb") as out:
            while data := out.read(65536):
                got.extend(data)

    threads = [threading.Thread(target=f) for f in (echo_service, read_stdout)]
    for t in threads:
        t.start()
    payload = os.urandom(300_000)
    os.write(stdin_w, payload[:1000])
    writer = threading.Thread(target=lambda: _write_and_close(stdin_w, payload[1000:]))
    writer.start()
    with ours:
        assert relay_stdio(ours, stdin_r, stdout_w, bufsize=4096) == len(payload)
    os.close(stdout_w)
    for t in (*threads, writer, *_stdin_threads()):
        t.join(timeout=10)
        assert not t.is_alive()
    os.close(stdin_r)
    assert bytes(got) == payload


def _stdin_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "stdin"]


def _write_and_close(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def test_relay_stdio_ends_when_the_reader_of_stdout_went_away() -> None:
    ours, service = socket.socketpair()
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    os.close(stdout_r)  # ssh exited
    os.close(stdin_w)
    with service, ours:
        service.sendall(b"banner")
        # returns: EPIPE is the end, not an error
        assert relay_stdio(ours, stdin_r, stdout_w) == len(b"banner")
        for t in _stdin_threads():
            t.join(timeout=10)
    for fd in (stdin_r, stdout_w):
        os.close(fd)


@pytest.mark.parametrize("reset", [False, True])
def test_relay_stdio_says_nothing_came_back(reset: bool) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        ours = socket.create_connection(server.getsockname())
        tunnel_side, _ = server.accept()
    got = bytearray()

    def tunnel() -> None:  # takes the client's first bytes, then closes (or resets): no proxy
        with tunnel_side:
            got.extend(tunnel_side.recv(100))
            if reset:
                tunnel_side.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    os.write(stdin_w, b"SSH-2.0-client\r\n")
    os.close(stdin_w)
    side = threading.Thread(target=tunnel)
    side.start()
    with ours:
        assert relay_stdio(ours, stdin_r, stdout_w) == 0
    for t in (side, *_stdin_threads()):
        t.join(timeout=10)
        assert not t.is_alive()
    assert bytes(got) == b"SSH-2.0-client\r\n"
    os.close(stdout_w)
    with os.fdopen(stdout_r, "rb") as out:
        assert out.read() == b""
    os.close(stdin_r)
