"""The dev-session workflow end to end: ``up -d``, ``status``, ``wait``, ``stop``, ``run``,
``stdio``, several profiles in one process, JSON events, the spinner. The installed CLI
against the fake remote.it and a real echo service; real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import os
import pty
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
import trio

from .conftest import (
    EXIT_42_ON_SIGTERM,
    OFFLINE_ID,
    RITTUNNEL,
    World,
    free_port,
    record_output,
    roundtrip,
    run_cli,
    ssh_profile,
    start_cli,
    state_files,
)

DEADLINE = 60


@pytest.fixture
async def daemons(world: World) -> AsyncIterator[World]:
    """The world, and afterwards no background rittunnel left behind by a failed test."""
    yield world
    for state in state_files(world).values():
        pid = state["pid"]
        if isinstance(pid, int) and pid != os.getpid() and psutil.pid_exists(pid):
            os.kill(pid, signal.SIGKILL)


async def test_up_detach_then_status_wait_stop(daemons: World) -> None:
    world = daemons
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        started = await run_cli(world.env, "up", "-d", "ssh-pi")
        assert started.code == 0, started.all_output
        assert f"ssh-pi ready on 127.0.0.1:{port}" in started.out
        assert "running in the background as pid" in started.err
        # the port is ready the moment `up -d` returns
        assert await roundtrip(port, b"detached") == b"detached"

        waited = await run_cli(world.env, "wait", "ssh-pi", "--timeout", "5")
        assert waited.code == 0 and "ssh-pi ready on" in waited.out

        listed = await run_cli(world.env, "status", "--json")
        assert listed.code == 0
        [entry] = json.loads(listed.out)
        assert entry["name"] == "ssh-pi" and entry["local_port"] == port
        assert entry["alive"] and entry["ready"] and entry["connections"] == 0
        assert entry["upstream"].endswith(f":{world.fake.open_proxies[0].port}")
        pid = entry["pid"]
        assert psutil.Process(pid).is_running() and pid != os.getpid()
        log = Path(entry["log"])
        assert log.parent == world.tmp / "state" / "rittunnel"
        assert "ssh-pi ready on" in log.read_text()
        assert oct(log.stat().st_mode & 0o777) == "0o600"

        table = await run_cli(world.env, "status")
        assert "ssh-pi" in table.out and "ready" in table.out and str(pid) in table.out

        stopped = await run_cli(world.env, "stop", "ssh-pi")
        assert stopped.code == 0 and f"stopped ssh-pi (pid {pid})" in stopped.all_output
        assert world.fake.open_proxies == []
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        assert state_files(world) == {}

        again = await run_cli(world.env, "stop", "ssh-pi")
        assert again.code == 1 and "ssh-pi is not running" in again.err
        none = await run_cli(world.env, "status")
        assert none.code == 0 and "no tunnels running" in none.err


async def test_up_detach_failure_is_reported_and_leaves_nothing(daemons: World) -> None:
    world = daemons
    with trio.fail_after(DEADLINE):
        world.profile("off", f"service: {OFFLINE_ID}\nlocal_port: {free_port()}\n")
        result = await run_cli(world.env, "up", "-d", "off")
        assert result.code == 1
        assert "rittunnel: error:" in result.err and "is not active" in result.err
        assert "Traceback" not in result.all_output
        assert state_files(world) == {} and world.fake.open_proxies == []


async def test_two_profiles_serve_from_one_process_and_stop_one_by_one(daemons: World) -> None:
    world = daemons
    with trio.fail_after(DEADLINE):
        port_a, port_b = free_port(), free_port()
        ssh_profile(world, port_a, name="a")
        ssh_profile(world, port_b, name="b")
        started = await run_cli(world.env, "up", "-d", "a", "b")
        assert started.code == 0, started.all_output
        assert await roundtrip(port_a, b"A") == b"A" and await roundtrip(port_b, b"B") == b"B"
        entries = json.loads((await run_cli(world.env, "status", "--json")).out)
        assert {e["name"] for e in entries} == {"a", "b"}
        assert len({e["pid"] for e in entries}) == 1  # one process serves both
        assert len(world.fake.open_proxies) == 2

        assert (await run_cli(world.env, "stop", "a")).code == 0
        assert len(world.fake.open_proxies) == 1
        assert await roundtrip(port_b, b"still") == b"still"  # b is untouched
        left = json.loads((await run_cli(world.env, "status", "--json")).out)
        assert [e["name"] for e in left] == ["b"]

        assert (await run_cli(world.env, "stop", "--all")).code == 0
        assert world.fake.open_proxies == [] and state_files(world) == {}


async def test_status_counts_open_connections_and_bytes(daemons: World) -> None:
    world = daemons
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        assert (await run_cli(world.env, "up", "-d", "ssh-pi")).code == 0
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"x" * 5000)
            got = 0
            while got < 5000:
                got += len(await stream.receive_some(65536))
            # counters reach the state file about once a second (later on a loaded machine)
            with trio.fail_after(15):
                while True:
                    await trio.sleep(0.5)
                    [entry] = json.loads((await run_cli(world.env, "status", "--json")).out)
                    if entry["bytes_down"] == 5000:
                        break
            assert entry["connections"] == 1 and entry["opened"] == 1
            assert entry["bytes_up"] == 5000 and entry["bytes_down"] == 5000
        assert (await run_cli(world.env, "stop", "--all")).code == 0


async def test_run_substitutes_the_port_and_passes_the_exit_code(world: World) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        script = (
            "import os, socket, sys\n"
            "port = int(sys.argv[1])\n"
            "assert os.environ['RITTUNNEL_PORT'] == sys.argv[1]\n"
            "s = socket.create_connection((sys.argv[2], port))\n"
            "s.sendall(b'through run'); print(s.recv(100).decode()); sys.exit(7)\n"
        )
        result = await run_cli(
            world.env, "run", "ssh-pi", "--", sys.executable, "-c", script, "{port}", "{host}"
        )
        assert result.code == 7, result.all_output
        assert result.out == "through run\n"  # stdout is the command's alone
        assert len(world.fake.calls_to("connect")) == 1
        assert world.fake.open_proxies == [] and state_files(world) == {}


async def test_run_with_a_missing_command_exits_127(world: World) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        result = await run_cli(world.env, "run", "ssh-pi", "--", "/no/such/command")
        assert result.code == 127 and "cannot run '/no/such/command'" in result.err
        assert world.fake.open_proxies == []
        usage = await run_cli(world.env, "run", "ssh-pi")
        assert usage.code == 2 and "no command given" in usage.err  # a usage error


async def test_run_forwards_signals_to_the_command(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        cli = await start_cli(
            nursery, world.env, "run", "ssh-pi", "--", sys.executable, "-c", EXIT_42_ON_SIGTERM
        )
        await cli.wait_for("child waiting")
        assert await cli.stop(signal.SIGTERM) == 42
        assert world.fake.open_proxies == []


async def test_stdio_carries_a_byte_stream_and_stops_its_proxy(world: World) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        payload = os.urandom(2 * 1024 * 1024)
        result = await run_cli(world.env, "stdio", "ssh-pi", stdin=payload)
        assert result.code == 0, result.err
        assert result.raw_out == payload  # nothing but the relayed bytes
        assert result.err == ""
        assert len(world.fake.calls_to("stop")) == 1
        assert world.fake.open_proxies == [] and state_files(world) == {}


async def test_stdio_on_a_reverse_proxy_service_is_a_clear_error(world: World) -> None:
    from .conftest import WEB_ID

    with trio.fail_after(DEADLINE):
        world.profile("web", f"service: {WEB_ID}\nlocal_port: {free_port()}\n")
        result = await run_cli(world.env, "stdio", "web")
        assert result.code == 1 and "stdio needs a port" in result.err
        assert result.out == "" and world.fake.open_proxies == []


async def test_json_events_ready_renewed_stopped(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        cli = await start_cli(nursery, world.env, "up", "--json", "ssh-pi")
        ready = json.loads(await cli.wait_for('"event": "ready"'))
        assert ready["local_port"] == port and ready["pid"] == cli.proc.pid
        assert ready["upstream"] and ready["expires_in"] > 0 and ready["expires_at"] > 0
        world.fake.kill_proxy()
        assert await roundtrip(port, b"renew me") == b"renew me"
        renewed = json.loads(await cli.wait_for('"event": "renewed"'))
        assert renewed["name"] == "ssh-pi" and renewed["upstream"] != ready["upstream"]
        assert await cli.stop() == 0
        events = [json.loads(line)["event"] for line in cli.out]
        assert events[0] == "ready" and events[-1] == "stopped" and "renewed" in events


async def test_wait_times_out_for_a_tunnel_that_is_not_running(world: World) -> None:
    with trio.fail_after(DEADLINE):
        result = await run_cli(world.env, "wait", "nope", "--timeout", "0.3")
        assert result.code == 1
        assert "nope was not ready within 0.3s: it is not running" in result.err


async def test_stop_needs_a_name_or_all(world: World) -> None:
    with trio.fail_after(DEADLINE):
        result = await run_cli(world.env, "stop")
        assert result.code == 2 and "--all" in result.err


async def test_spinner_shows_on_a_terminal_only(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        world.fake.knobs.delay = 1.0
        master, slave = pty.openpty()
        try:
            proc = await trio.lowlevel.open_process(
                [RITTUNNEL, "ssh-pi"], env=world.env, stdout=-1, stderr=slave, stdin=-3
            )
            os.close(slave)
            seen = b""
            while b"connecting ssh-pi" not in seen:
                await trio.lowlevel.wait_readable(master)
                seen += os.read(master, 4096)
            assert b"\r" in seen  # redrawn in place
            assert proc.stdout is not None
            line = await proc.stdout.receive_some(4096)
            assert b"ready on" in line
            record_output((seen + line).decode(errors="replace"), world.env)
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
        finally:
            os.close(master)
        # on a pipe: no progress line at all
        piped = await start_cli(nursery, world.env, "ssh-pi")
        await piped.ready()
        assert await piped.stop() == 0
        assert not any("connecting" in line or "\r" in line for line in piped.err)
