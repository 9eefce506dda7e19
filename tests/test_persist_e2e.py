"""``stdio --persist DURATION`` end to end (issue 26, item 4): the tunnel it leaves
behind serves the next ``stdio`` of the service without an API call, two racing ones
start one, ``status`` and ``stop`` see it, and once the window passes with no connection
its proxy is stopped, its process gone and its state file removed. Real processes: the
installed CLI against the fake remote.it and a real echo service."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import trio

from rittunnel.tunnel.procs import process_start_time

from .conftest import SSH_ID, World, run_cli

DEADLINE = 60
#: the persistent tunnel of ``--service SSH_ID``
NAME = "service-80-00-00-00-01-02-03-04.persist"


def state_dir(world: World) -> Path:
    return world.tmp / "state" / "rittunnel"


def state(world: World) -> dict[str, object] | None:
    path = state_dir(world) / f"{NAME}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


async def stdio(world: World, data: bytes, *options: str) -> bytes:
    """One ``stdio --service SSH_ID OPTIONS`` relaying ``data``: what came back."""
    result = await run_cli(world.env, "stdio", "--service", SSH_ID, *options, stdin=data)
    assert result.code == 0, result.err
    assert result.err == ""  # nothing on ssh's terminal
    return result.raw_out


async def gone(world: World, pid: int, timeout: float) -> None:
    """Wait until ``pid`` has exited and the persistent tunnel's state file is removed."""
    with trio.fail_after(timeout):
        while process_start_time(pid) is not None or state(world) is not None:
            await trio.sleep(0.05)


async def test_racing_persists_start_one_tunnel_that_status_shows_and_stop_stops(
    world: World,
) -> None:
    with trio.fail_after(DEADLINE):
        got: dict[int, bytes] = {}

        async def one(i: int) -> None:
            got[i] = await stdio(world, f"client {i}".encode() * 100, "--persist", "10m")

        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(one, i)
        assert got == {i: f"client {i}".encode() * 100 for i in range(3)}
        assert len(world.fake.calls_to("connect")) == 1
        assert len(world.fake.open_proxies) == 1  # kept for the next one
        record = state(world)
        assert record is not None and record["ready"] and record["shareable"]
        assert record["addresses"] == [f"127.0.0.1:{record['local_port']}"]
        assert not list(state_dir(world).glob("*.stdio-*.json"))

        calls = len(world.fake.calls)
        assert await stdio(world, b"next", "--persist", "10m") == b"next"
        assert await stdio(world, b"plain") == b"plain"  # without --persist: the same
        assert world.fake.calls[calls:] == []

        status = await run_cli(world.env, "status", "--json")
        [row] = json.loads(status.out)
        assert row["name"] == NAME and row["pid"] == record["pid"]
        stopped = await run_cli(world.env, "stop", NAME)
        assert stopped.code == 0, stopped.err
        pid = record["pid"]
        assert isinstance(pid, int)
        await gone(world, pid, 20)
        assert world.fake.open_proxies == []
        log = (state_dir(world) / f"{NAME}.log").read_text()
        assert "persistent tunnel" in log


async def test_the_window_passes_then_the_proxy_and_the_process_are_gone(world: World) -> None:
    with trio.fail_after(DEADLINE):
        assert await stdio(world, b"hello", "--persist", "1s") == b"hello"
        record = state(world)
        assert record is not None
        pid = record["pid"]
        assert isinstance(pid, int)
        assert len(world.fake.open_proxies) == 1
        await gone(world, pid, 20)
        assert world.fake.open_proxies == []
        assert len(world.fake.calls_to("stop")) == 1
        log = (state_dir(world) / f"{NAME}.log").read_text()
        assert "no connection for 1s; stopping" in log
        # the next one starts a new tunnel
        assert await stdio(world, b"again", "--persist", "1s") == b"again"
        assert len(world.fake.calls_to("connect")) == 2
        again = state(world)
        assert again is not None and isinstance(again["pid"], int)
        await gone(world, again["pid"], 20)
        assert world.fake.open_proxies == []


async def test_a_connection_keeps_it_past_the_window(world: World) -> None:
    with trio.fail_after(DEADLINE):
        assert await stdio(world, b"first", "--persist", "1s") == b"first"
        record = state(world)
        assert record is not None
        host, port = "127.0.0.1", record["local_port"]
        assert isinstance(port, int)
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await trio.sleep(2.0)  # twice the window, connected
            await stream.send_all(b"still here")
            assert await stream.receive_some(100) == b"still here"
            assert state(world) is not None
        assert isinstance(record["pid"], int)
        await gone(world, record["pid"], 20)
        assert world.fake.open_proxies == []


async def test_ssh_config_proxy_commands_share_one_persistent_tunnel(world: World) -> None:
    """What an ``ssh``, ``scp``, ``rsync`` sequence does through ``ssh-config``: one
    ProxyCommand after the other, one proxy for all of them."""
    with trio.fail_after(DEADLINE):
        config = await run_cli(world.env, "ssh-config", "pi-ssh")
        assert config.code == 0, config.err
        [line] = [x for x in config.out.splitlines() if "ProxyCommand" in x]
        argv = shlex.split(line.split("ProxyCommand", 1)[1].replace("%%", "%"))
        assert argv[-5:] == ["stdio", "--service", SSH_ID, "--persist", "10m"]
        for i in range(3):
            data = os.urandom(50_000)
            proc = await trio.run_process(
                argv, env=world.env, stdin=data, capture_stdout=True, capture_stderr=True
            )
            assert proc.stdout == data and proc.stderr == b""
            if i == 0:
                calls = len(world.fake.calls)
        assert world.fake.calls[calls:] == []
        assert len(world.fake.calls_to("connect")) == 1
        assert len(world.fake.open_proxies) == 1
        record = state(world)
        assert record is not None and isinstance(record["pid"], int)
        stopped = await run_cli(world.env, "stop", "--all")
        assert stopped.code == 0, stopped.err
        await gone(world, record["pid"], 20)
        assert world.fake.open_proxies == []
