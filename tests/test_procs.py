"""Process liveness: a state file's pid and start time, rittunnel command lines, and
which process listens on a port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace

import psutil
import pytest

from rittunnel.tunnel.procs import (
    holds,
    is_alive,
    is_rittunnel_argv,
    is_rittunnel_process,
    listens_on,
    process_start_time,
)

from .conftest import dead_pid, my_state


def test_reused_pid_is_not_alive() -> None:
    state = my_state()
    state.pid_started -= 1000  # same pid, another process's start time
    assert not is_alive(state)
    assert is_alive(my_state())


def test_a_zombie_is_dead() -> None:
    """Killed and not reaped (a parent that never reaps keeps it so for ever): the
    process still has a pid and a start time, but it holds nothing."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state = replace(my_state(), pid=child.pid, pid_started=process_start_time(child.pid) or 0)
        assert is_alive(state) and holds(state)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:  # never reaped
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert process_start_time(child.pid) is None
        assert not is_alive(state) and not holds(state)
    finally:
        child.kill()
        child.wait()


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


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc")
def test_the_proc_reading_agrees_with_psutil() -> None:
    """listens_on reads /proc itself on Linux (psutil parses every socket of the machine:
    slow where there are thousands); both say the same."""
    import ipaddress

    import psutil

    from rittunnel.tunnel import procs

    with socket.socket() as listening, socket.socket() as bound_only:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        bound_only.bind(("127.0.0.1", 0))
        loopback = {ipaddress.ip_address("127.0.0.1")}
        for port in (listening.getsockname()[1], bound_only.getsockname()[1]):
            by_psutil = any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == port
                for c in psutil.Process().net_connections(kind="tcp")
            )
            assert procs._listens_on_linux(os.getpid(), loopback, port) is by_psutil
        assert procs._listens_on_linux(dead_pid(), loopback, 1) is False


def test_stat_and_cmdline_as_proc_writes_them() -> None:
    """The pure parsers of /proc/PID/stat and /proc/PID/cmdline (psutil's rules)."""
    from rittunnel.tunnel.procs import split_cmdline, stat_facts

    tail = " ".join(str(n) for n in range(1, 40))
    assert stat_facts(f"42 (a (b) c) S {tail}".encode()) == ("S", 19)  # field 22
    assert stat_facts(b"42 (x) Z 1 2") is None
    assert split_cmdline("python\x00-m\x00rittunnel\x00") == ["python", "-m", "rittunnel"]
    assert split_cmdline("chrome --type=renderer") == ["chrome", "--type=renderer"]
    assert split_cmdline("title with spaces\x00") == ["title", "with", "spaces"]
    assert split_cmdline("") == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc")
def test_serves_from_proc_agrees_with_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    """serves() reads /proc on Linux (importing psutil would cost stdio more than the
    rest of its start-up); it says what the psutil path says, for a rittunnel listener,
    another start time, a dead pid and a process that is no rittunnel."""
    from rittunnel.tunnel import procs

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        states = [
            replace(my_state(), local_port=port),
            replace(my_state(), local_port=port, pid_started=my_state().pid_started - 1000),
            replace(my_state(), local_port=port, pid=dead_pid()),
            replace(my_state(), local_port=port + 1 if port < 65535 else port - 1),
        ]
        for ours in (True, False):
            monkeypatch.setattr(procs, "is_rittunnel_argv", lambda argv, ours=ours: ours)
            fast = [procs._serves_linux(s, "127.0.0.1") for s in states]
            monkeypatch.setattr(procs, "_serves_linux", lambda state, host: None)
            slow = [procs.serves(s, "127.0.0.1") for s in states]
            monkeypatch.undo()
            monkeypatch.setattr(procs, "is_rittunnel_argv", lambda argv, ours=ours: ours)
            assert fast == slow == [ours, False, False, False]
            monkeypatch.undo()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc")
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_netlink_and_proc_net_tables_agree(
    family: socket.AddressFamily, monkeypatch: pytest.MonkeyPatch
) -> None:
    """listens_on asks the kernel for listeners over netlink (sock_diag), else reads
    /proc/net/tcp[6]: both say the same, for a listener, a socket only bound, and a
    listener on every address."""
    from rittunnel.tunnel import procs

    loopback, anywhere = ("127.0.0.1", "0.0.0.0") if family == socket.AF_INET else ("::1", "::")
    try:
        socks = [socket.socket(family) for _ in range(3)]
    except OSError:
        pytest.skip("no such address family here")
    with socks[0] as listening, socks[1] as bound_only, socks[2] as wildcard:
        listening.bind((loopback, 0))
        listening.listen()
        bound_only.bind((loopback, 0))
        wildcard.bind((anywhere, 0))
        wildcard.listen()
        ports = [s.getsockname()[1] for s in (listening, bound_only, wildcard)]
        fast = [procs.listens_on(os.getpid(), loopback, port) for port in ports]
        assert procs._listening_netlink({procs._ip(loopback)}, ports[0]) == {  # type: ignore[arg-type]
            os.fstat(listening.fileno()).st_ino
        }
        monkeypatch.setattr(procs, "_listening_netlink", lambda accepted, port: None)
        slow = [procs.listens_on(os.getpid(), loopback, port) for port in ports]
        assert fast == slow == [True, False, True]
