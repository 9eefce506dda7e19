"""One proxy per service, end to end (issue 17, item 1): ``stdio`` and ``run`` beside a
running tunnel of the same service use its local port, make no API call, and leave its
live session alone; the tunnel of a ``run`` (gone with its command) is nobody else's; a
running tunnel that cannot reach the service makes ``stdio`` fail, not succeed. Real
processes: the installed CLI against the fake remote.it and a real echo service."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import trio

from rittunnel.fake import FakeService

from .conftest import (
    EXIT_42_ON_SIGTERM,
    RITTUNNEL,
    SSH_ID,
    WEB_ID,
    World,
    free_port,
    key_only,
    run_cli,
    ssh_profile,
    start_cli,
    up,
)

DEADLINE = 60
OTHER_ID = "80:00:00:00:01:02:03:07"

#: a ``run`` command: an echo round trip through $RITTUNNEL_HOST:$RITTUNNEL_PORT, exit 7
ROUND_TRIP = (
    "import os, socket, sys\n"
    "s = socket.create_connection((os.environ['RITTUNNEL_HOST'], "
    "int(os.environ['RITTUNNEL_PORT'])), timeout=20)\n"
    "s.sendall(b'through run'); s.shutdown(socket.SHUT_WR)\n"
    "got = b''\n"
    "while chunk := s.recv(100): got += chunk\n"
    "print(got.decode(), sys.argv[1:]); sys.exit(7)\n"
)


def state_names(world: World) -> list[str]:
    return sorted(p.name for p in (world.tmp / "state" / "rittunnel").glob("*.json"))


def state_of(world: World, name: str) -> dict[str, object]:
    data = json.loads((world.tmp / "state" / "rittunnel" / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return data


async def echo(stream: trio.SocketStream, data: bytes) -> bytes:
    """One round trip on a live connection to the echo service."""
    await stream.send_all(data)
    got = b""
    while len(got) < len(data):
        chunk = await stream.receive_some(65536)
        assert chunk, "the live session was cut"
        got += chunk
    return got


async def status_entry(world: World, name: str, opened: int) -> dict[str, object]:
    """``status --json``'s entry for ``name`` once it counts ``opened`` connections (the
    tunnel writes its counters about once a second)."""
    while True:
        result = await run_cli(world.env, "status", "--json")
        assert result.code == 0, result.all_output
        [entry] = [e for e in json.loads(result.out) if e["name"] == name]
        assert isinstance(entry["opened"], int)
        if entry["opened"] >= opened:
            return dict(entry)
        await trio.sleep(0.2)


async def test_stdio_and_run_use_the_running_tunnel_and_leave_its_session_alone(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        tunnel, port = await up(world, nursery)
        live = await trio.open_tcp_stream("127.0.0.1", port)
        async with live:
            assert await echo(live, b"before") == b"before"
            calls = len(world.fake.calls)

            payload = os.urandom(512 * 1024)
            stdio = await run_cli(world.env, "stdio", "ssh-pi", stdin=payload)
            assert stdio.code == 0, stdio.err
            assert stdio.raw_out == payload and stdio.err == ""
            assert await echo(live, b"after stdio") == b"after stdio"

            ran = await run_cli(
                world.env, "run", "ssh-pi", "--", sys.executable, "-c", ROUND_TRIP, "{port}"
            )
            assert ran.code == 7, ran.all_output
            assert ran.out == f"through run ['{port}']\n"
            assert f"using the running tunnel ssh-pi (pid {tunnel.proc.pid})" in ran.err
            assert await echo(live, b"after run") == b"after run"

            assert world.fake.calls[calls:] == []  # neither logged in nor connected
            assert len(world.fake.calls_to("connect")) == 1
            assert len(world.fake.open_proxies) == 1
            assert state_names(world) == ["ssh-pi.json"]
            entry = await status_entry(world, "ssh-pi", opened=3)  # live + stdio + run
            assert entry["opened"] == 3 and entry["connections"] == 1
            assert entry["bytes_up"] == entry["bytes_down"]
            assert isinstance(entry["bytes_up"], int) and entry["bytes_up"] >= len(payload)
        assert tunnel.proc.returncode is None


async def test_a_service_named_finds_the_tunnel_whose_profile_gave_its_id(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        tunnel, port = await up(world, nursery)  # ssh-pi's profile gives SSH_ID
        live = await trio.open_tcp_stream("127.0.0.1", port)
        async with live:
            assert await echo(live, b"before") == b"before"
            stdio = await run_cli(world.env, "stdio", "--service", "pi-ssh", stdin=b"by name")
            assert stdio.code == 0, stdio.err
            assert stdio.raw_out == b"by name" and stdio.err == ""
            assert len(world.fake.calls_to("connect")) == 1  # through the running tunnel
            ran = await run_cli(
                world.env, "run", "--service", "PI-SSH", "--", sys.executable, "-c", ROUND_TRIP
            )
            assert ran.code == 7, ran.all_output
            assert f"using the running tunnel ssh-pi (pid {tunnel.proc.pid})" in ran.err
            assert await echo(live, b"after") == b"after"
            # the name was looked up (once: the list is cached), no second proxy made
            assert len(world.fake.calls_to("list")) == 1
            assert len(world.fake.calls_to("connect")) == 1
            assert state_names(world) == ["ssh-pi.json"]


async def test_a_name_looked_up_reads_the_credentials_once(world: World) -> None:
    with trio.fail_after(DEADLINE):
        env = key_only(world, mode=0o644)
        keys = world.tmp / "home" / ".remoteit" / "credentials"
        # no tunnel runs: looked for by name, the name looked up, looked for by ID, then
        # a proxy of its own; the key file's warning is said once, not once per look
        stdio = await run_cli(env, "stdio", "--service", "pi-ssh", stdin=b"own, by name")
        assert stdio.code == 0, stdio.err
        assert stdio.raw_out == b"own, by name"
        assert (
            stdio.err
            == f"rittunnel: warning: {keys} can be read by other users; run `chmod 600 {keys}`\n"
        )
        assert len(world.fake.calls_to("gql_connect")) == 1


async def test_stdio_beside_a_tunnel_of_another_service_opens_its_own_proxy(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_service(FakeService(OTHER_ID, "pi-two", "SSH", target=world.echo))
        world.profile("two", f"service: {OTHER_ID}\nlocal_port: {free_port()}\n")
        other = await start_cli(nursery, world.env, "two")
        await other.ready()
        ssh_profile(world, free_port())
        result = await run_cli(world.env, "stdio", "ssh-pi", stdin=b"own proxy")
        assert result.code == 0, result.err
        assert result.raw_out == b"own proxy"
        connects = world.fake.calls_to("connect")
        assert [c.body["deviceaddress"] for c in connects] == [OTHER_ID, SSH_ID]
        assert len(world.fake.calls_to("stop")) == 1  # its own, stopped
        assert state_names(world) == ["two.json"]


async def test_stdio_does_not_use_a_tunnel_that_redirects_but_run_does(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        world.profile("web", f"service: {WEB_ID}\nlocal_port: {free_port()}\n")
        web = await start_cli(nursery, world.env, "web")
        await web.ready()
        assert state_of(world, "web")["reverse"] is True
        stdio = await run_cli(world.env, "stdio", "web", stdin=b"GET / HTTP/1.0\r\n\r\n")
        assert stdio.code == 1 and "stdio needs a port" in stdio.err  # tried its own proxy
        connects = len(world.fake.calls_to("connect"))
        ran = await run_cli(world.env, "run", "web", "--", sys.executable, "-c", "print('ok')")
        assert ran.code == 0 and ran.out == "ok\n", ran.all_output
        assert len(world.fake.calls_to("connect")) == connects


async def test_a_port_tunnel_records_it_is_no_reverse_proxy(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        await up(world, nursery)
        assert state_of(world, "ssh-pi")["reverse"] is False


async def test_run_with_another_port_than_its_running_profile_is_one_line_error(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        tunnel, port = await up(world, nursery)
        other = free_port()
        result = await run_cli(world.env, "run", "-p", str(other), "ssh-pi", "--", "true")
        assert result.code == 1 and result.out == ""
        assert result.err == (
            f"rittunnel: error: profile ssh-pi is already running on port {port} "
            f"(pid {tunnel.proc.pid}); `run` uses it when -p is omitted, 0 or {port}\n"
        )
        for p in ("0", str(port)):
            ok = await run_cli(world.env, "run", "-p", p, "ssh-pi", "--", "true")
            assert ok.code == 0, ok.all_output
        assert len(world.fake.calls_to("connect")) == 1


async def test_run_of_another_profile_of_the_service_uses_it_on_its_port(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        _, port = await up(world, nursery)
        ssh_profile(world, free_port(), name="ssh-too")
        script = "import os; print(os.environ['RITTUNNEL_PORT'])"
        beside = await run_cli(
            world.env, "run", "-p", "0", "ssh-too", "--", sys.executable, "-c", script
        )
        assert beside.code == 0 and beside.out == f"{port}\n", beside.all_output
        assert len(world.fake.calls_to("connect")) == 1
        own = await run_cli(world.env, "run", "ssh-too", "--", sys.executable, "-c", script)
        assert own.code == 0 and own.out != f"{port}\n", own.all_output
        assert len(world.fake.calls_to("connect")) == 2  # its own tunnel, on its own port


async def test_run_beside_a_tunnel_forwards_signals_to_the_command(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        await up(world, nursery)
        cli = await start_cli(
            nursery, world.env, "run", "ssh-pi", "--", sys.executable, "-c", EXIT_42_ON_SIGTERM
        )
        await cli.wait_for("child waiting")
        assert await cli.stop(signal.SIGTERM) == 42
        assert len(world.fake.calls_to("connect")) == 1


async def receive_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = await stream.receive_some(size - len(got))
        assert chunk, f"the stream ended after {got!r}"
        got += chunk
    return got


async def test_stdio_beside_a_run_has_its_own_proxy_and_outlives_the_run(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        ran = await start_cli(
            nursery, world.env, "run", "--service", SSH_ID, "--", sys.executable, "-c",
            EXIT_42_ON_SIGTERM,
        )  # fmt: skip
        await ran.wait_for("child waiting")
        [own] = state_names(world)
        assert state_of(world, own.removesuffix(".json"))["shareable"] is False
        stdio = await trio.lowlevel.open_process(
            [RITTUNNEL, "-v", "stdio", "--service", SSH_ID],
            env=world.env,
            stdin=-1,
            stdout=-1,
            stderr=-1,
        )
        try:
            assert stdio.stdin is not None and stdio.stdout is not None
            assert stdio.stderr is not None
            await stdio.stdin.send_all(b"during the run")
            assert await receive_exactly(stdio.stdout, 14) == b"during the run"
            assert len(world.fake.calls_to("connect")) == 2  # its own proxy
            assert await ran.stop() == 42  # the run's tunnel is torn down
            assert len(world.fake.open_proxies) == 1
            await stdio.stdin.send_all(b"after the run")
            assert await receive_exactly(stdio.stdout, 13) == b"after the run"
            await stdio.stdin.aclose()
            assert await stdio.stdout.receive_some(100) == b""  # the service closed
            err = b""
            while chunk := await stdio.stderr.receive_some(65536):
                err += chunk
            assert await stdio.wait() == 0, err
        finally:
            if stdio.returncode is None:
                stdio.kill()
                with trio.CancelScope(shield=True):
                    await stdio.wait()
        assert b"running tunnel" not in err
        assert world.fake.open_proxies == [] and state_names(world) == []


@pytest.mark.parametrize("detached", [False, True])
async def test_stdio_through_a_tunnel_that_cannot_reach_the_service_fails(
    world: World, nursery: trio.Nursery, detached: bool
) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port, "hold_timeout: 1\n")
        if detached:
            started = await run_cli(world.env, "up", "-d", "ssh-pi")
            assert started.code == 0, started.all_output
        else:
            await (await start_cli(nursery, world.env, "ssh-pi")).ready()
        state = state_of(world, "ssh-pi")
        world.fake.kill_proxy()  # its proxy is gone, and the device went offline
        world.fake.fail_next("connect", *["status_false:[0211] Device is not active"] * 30)
        result = await run_cli(world.env, "stdio", "ssh-pi", stdin=b"SSH-2.0-OpenSSH\r\n")
        assert result.code == 1 and result.raw_out == b""
        where = f"its log {state['log']}" if detached else "its output"
        assert result.err == (
            f"rittunnel: error: stdio: the running tunnel ssh-pi (pid {state['pid']}, port "
            f"{port}) closed the connection before the service sent anything; see {where} "
            "and `rittunnel status`\n"
        )
        assert state_names(world) == ["ssh-pi.json"]  # stdio made no proxy of its own
        assert state_of(world, "ssh-pi")["pid"] == state["pid"]  # the tunnel keeps running
        if detached:
            assert "no proxy for a client" in Path(str(state["log"])).read_text()
            assert (await run_cli(world.env, "stop", "ssh-pi")).code == 0
