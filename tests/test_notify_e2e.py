"""``rittunnel up`` under systemd's notification protocol, end to end: the installed CLI
against the fake remote.it, with ``NOTIFY_SOCKET`` naming a real AF_UNIX datagram socket
this test binds (as systemd does for a ``Type=notify`` unit)."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
import trio

from .conftest import World, free_port, roundtrip, run_cli, ssh_profile, start_cli

DEADLINE = 60


@pytest.fixture
async def notify_socket(tmp_path: Path) -> AsyncIterator[tuple[trio.socket.SocketType, str]]:
    """A bound datagram socket and the NOTIFY_SOCKET value naming it."""
    path = str(tmp_path / "notify")
    assert len(path) < 100  # sun_path
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with sock:
        await sock.bind(path)
        yield sock, path


async def message(sock: trio.socket.SocketType, timeout: float = 30) -> list[str]:
    """The next notification, as its lines."""
    with trio.fail_after(timeout):
        return (await sock.recv(65536)).decode().split("\n")


async def nothing_more(sock: trio.socket.SocketType, within: float = 0.5) -> bool:
    with trio.move_on_after(within):
        await sock.recv(65536)
        return False
    return True


async def test_ready_once_the_port_relays_and_stopping_at_sigterm(
    world: World, nursery: trio.Nursery, notify_socket: tuple[trio.socket.SocketType, str]
) -> None:
    sock, path = notify_socket
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        world.fake.knobs.connect_delay = 1.0  # remote.it takes its time to make the proxy
        cli = await start_cli(nursery, {**world.env, "NOTIFY_SOCKET": path}, "up", "ssh-pi")

        ready = await message(sock)
        # READY=1 only once the proxy exists and the port serves: relay at once
        assert len(world.fake.open_proxies) == 1
        assert await roundtrip(port, b"ready means ready" * 1000) == b"ready means ready" * 1000
        assert ready[0] == "READY=1" and len(ready) == 2
        assert ready[1].startswith(f"STATUS=ssh-pi on 127.0.0.1:{port}")
        assert len(world.fake.calls_to("connect")) == 1  # through the proxy READY saw

        world.fake.knobs.delay = 0.5  # a slow stop call: STOPPING must come before it
        cli.proc.send_signal(signal.SIGTERM)
        stopping = await message(sock)
        assert stopping == ["STOPPING=1", "STATUS=stopping (SIGTERM): stopping the proxies"]
        assert world.fake.calls_to("stop") == [] and len(world.fake.open_proxies) == 1

        with trio.fail_after(30):
            assert await cli.exited() == 0
        assert world.fake.open_proxies == [] and len(world.fake.calls_to("stop")) == 1
        assert "ssh-pi: stopped" in cli.all_output and "warning" not in cli.all_output
        assert await nothing_more(sock)


async def test_several_tunnels_are_ready_together(
    world: World, nursery: trio.Nursery, notify_socket: tuple[trio.socket.SocketType, str]
) -> None:
    sock, path = notify_socket
    with trio.fail_after(DEADLINE):
        ports = free_port(), free_port()
        ssh_profile(world, ports[0], name="a")
        ssh_profile(world, ports[1], "on_demand: true\n", name="b")
        cli = await start_cli(nursery, {**world.env, "NOTIFY_SOCKET": path}, "a", "b")
        ready = await message(sock)
        assert ready[0] == "READY=1"
        assert f"a on 127.0.0.1:{ports[0]}" in ready[1] and f"b on 127.0.0.1:{ports[1]}" in ready[1]
        for port in ports:
            assert await roundtrip(port, b"both") == b"both"
        assert await cli.stop(signal.SIGINT) == 0
        assert (await message(sock))[:2] == [
            "STOPPING=1",
            "STATUS=stopping (SIGINT): stopping the proxies",
        ]


async def test_a_bad_notify_socket_is_one_warning_and_the_tunnel_runs(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        env = {**world.env, "NOTIFY_SOCKET": "notify.sock"}
        cli = await start_cli(nursery, env, "ssh-pi")
        await cli.ready()
        assert await roundtrip(port, b"still works") == b"still works"
        assert await cli.stop() == 0
        warnings = [line for line in cli.err if "NOTIFY_SOCKET" in line]
        assert warnings == [
            "rittunnel: warning: NOTIFY_SOCKET='notify.sock' is not an absolute path or an "
            "@abstract socket name; not notifying"
        ]


async def test_up_detach_does_not_notify_and_says_so(
    world: World, notify_socket: tuple[trio.socket.SocketType, str]
) -> None:
    sock, path = notify_socket
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        env = {**world.env, "NOTIFY_SOCKET": path}
        try:
            started = await run_cli(env, "up", "-d", "ssh-pi")
            assert started.code == 0, started.all_output
            assert "NOTIFY_SOCKET is set, but the background process of `up -d`" in started.err
            pid = json.loads((world.tmp / "state" / "rittunnel" / "ssh-pi.json").read_text())["pid"]
            assert "NOTIFY_SOCKET" not in psutil.Process(pid).environ()
            stopped = await run_cli(env, "stop", "ssh-pi")
            assert stopped.code == 0, stopped.all_output
        finally:
            for state in (world.tmp / "state" / "rittunnel").glob("*.json"):
                leftover = json.loads(state.read_text())["pid"]
                if leftover != os.getpid() and psutil.pid_exists(leftover):
                    os.kill(leftover, signal.SIGKILL)
        # neither READY nor STOPPING from a process systemd does not watch
        assert await nothing_more(sock)
