"""No profile needed (issue 18, item 2), end to end: ``stdio --service NAME|ID`` and
``run --service NAME|ID`` against the fake remote.it and a real echo service, with the
installed CLI: bytes relayed with no profile directory at all, names resolved (an
ambiguous one is a one-line error), a free port for ``run``, a running tunnel of the
service (``up``) used with no API call, but never another ``run``'s (each has its own)."""

from __future__ import annotations

import os
import sys

import trio

from rittunnel.fake import FakeService

from .conftest import SSH_ID, World, free_port, run_cli, start_cli, up
from .test_share_e2e import ROUND_TRIP, echo, state_names

DEADLINE = 60
TWIN_ID = "80:00:00:00:01:02:03:08"

#: a ``run`` command that prints its port and waits (a signal ends it)
HOLD = "import os, sys, time\nprint(os.environ['RITTUNNEL_PORT'], flush=True)\ntime.sleep(60)\n"


async def test_stdio_by_id_relays_with_no_profile_at_all(world: World) -> None:
    with trio.fail_after(DEADLINE):
        payload = os.urandom(300_000)
        result = await run_cli(world.env, "stdio", "--service", SSH_ID, stdin=payload)
        assert result.code == 0, result.err
        assert result.raw_out == payload and result.err == ""
        assert not world.profiles.exists()
        [connect] = world.fake.calls_to("connect")
        assert connect.body["deviceaddress"] == SSH_ID
        assert connect.body["hostip"] == "255.255.255.255"  # latching
        assert connect.body["proxyType"] == "port"  # ssh needs a port, whatever the type
        assert world.fake.calls_to("list") == []  # an ID needs no lookup
        assert world.fake.open_proxies == [] and state_names(world) == []


async def test_stdio_by_name_resolves_it(world: World) -> None:
    with trio.fail_after(DEADLINE):
        result = await run_cli(world.env, "-v", "stdio", "--service", "PI-SSH", stdin=b"by name")
        assert result.code == 0, result.err
        assert result.raw_out == b"by name"
        assert f"service 'PI-SSH' is {SSH_ID} (SSH, active)" in result.err
        assert [c.body["deviceaddress"] for c in world.fake.calls_to("connect")] == [SSH_ID]
        assert world.fake.open_proxies == [] and state_names(world) == []


async def test_run_by_name_gets_a_free_port_and_the_command_round_trips(world: World) -> None:
    with trio.fail_after(DEADLINE):
        ran = await run_cli(
            world.env,
            "run",
            "--service",
            "pi-ssh",
            "--",
            sys.executable,
            "-c",
            ROUND_TRIP,
            "{port}",
        )
        assert ran.code == 7, ran.all_output
        [line] = [ln for ln in ran.err.splitlines() if " ready on 127.0.0.1:" in ln]
        assert line.startswith("service-pi-ssh.run-")
        port = line.split(" ready on 127.0.0.1:")[1].split()[0]
        assert int(port) > 0 and ran.out == f"through run ['{port}']\n"
        assert not world.profiles.exists()
        assert len(world.fake.calls_to("connect")) == 1
        assert world.fake.open_proxies == [] and state_names(world) == []


async def test_beside_a_running_up_tunnel_neither_calls_the_api(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        tunnel, port = await up(world, nursery)  # profile ssh-pi: service by ID
        calls = len(world.fake.calls)
        stdio = await run_cli(world.env, "stdio", "--service", SSH_ID, stdin=b"shared")
        assert stdio.code == 0 and stdio.raw_out == b"shared", stdio.err
        ran = await run_cli(
            world.env, "run", "--service", SSH_ID.upper(), "--", sys.executable, "-c", ROUND_TRIP
        )
        assert ran.code == 7 and ran.out == "through run []\n", ran.all_output
        assert f"using the running tunnel ssh-pi (pid {tunnel.proc.pid}) on 127.0.0.1:{port}" in (
            ran.err
        )
        assert world.fake.calls[calls:] == []
        assert state_names(world) == ["ssh-pi.json"]


async def test_a_profile_naming_the_service_is_shared_by_name(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        world.profile("named", f"service: pi-ssh\nlocal_port: {free_port()}\n")
        tunnel = await start_cli(nursery, world.env, "named")
        await tunnel.ready()
        calls = len(world.fake.calls)
        stdio = await run_cli(world.env, "stdio", "--service", "pi-ssh", stdin=b"by name")
        assert stdio.code == 0 and stdio.raw_out == b"by name", stdio.err
        assert world.fake.calls[calls:] == []


async def test_runs_of_the_same_service_each_have_their_own_tunnel_and_never_refuse(
    world: World, nursery: trio.Nursery
) -> None:
    # the tunnel of a run ends with its command: another run (or stdio) that used it would
    # be cut then, so each makes its own proxy; remote.it keeps both (concurrent)
    with trio.fail_after(DEADLINE):
        first = await start_cli(
            nursery, world.env, "run", "--service", "pi-ssh", "--", sys.executable, "-c", HOLD
        )
        await first.wait_for("ready on", stream="err")
        first_port = int(await first.wait_for(""))  # the command's first line
        [own] = state_names(world)
        assert own == f"service-pi-ssh.run-{first.proc.pid}.json"
        live = await trio.open_tcp_stream("127.0.0.1", first_port)
        async with live:
            assert await echo(live, b"first") == b"first"
            script = "import os; print(os.environ['RITTUNNEL_PORT'])"
            for n, service in enumerate(("pi-ssh", SSH_ID), start=2):
                again = await run_cli(
                    world.env, "run", "--service", service, "--", sys.executable, "-c", script
                )
                assert again.code == 0, again.all_output
                assert again.out != f"{first_port}\n" and "running tunnel" not in again.err
                assert len(world.fake.calls_to("connect")) == n  # its own tunnel
                assert await echo(live, b"still") == b"still"  # the first run's is not cut
            assert all(c.body["concurrent"] for c in world.fake.calls_to("connect"))
        assert await first.stop() == 128 + 15  # SIGTERM: passed to the command
        assert world.fake.open_proxies == [] and state_names(world) == []


async def test_run_without_a_command_is_a_usage_error(world: World) -> None:
    with trio.fail_after(DEADLINE):
        for rest in ([], ["--"]):
            result = await run_cli(world.env, "run", "--service", "pi-ssh", *rest)
            assert result.code == 2 and result.out == ""
            assert result.err == (
                "rittunnel: error: run: no command given; usage: rittunnel run NAME -- CMD "
                "[ARGS…] (or run --service NAME|ID -- CMD [ARGS…])\n"
            )
        assert world.fake.calls == []


async def test_an_ambiguous_or_unknown_name_is_a_one_line_error(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_service(FakeService(TWIN_ID, "pi-ssh", "SSH", target=world.echo))
        for argv in (["stdio"], ["run"]):
            rest = ["--", "true"] if argv == ["run"] else []
            result = await run_cli(world.env, *argv, "--service", "pi-ssh", *rest)
            assert result.code == 1 and result.out == ""
            assert result.err == (
                "rittunnel: error: command line: service: 'pi-ssh' names 2 services: "
                f"pi-ssh = {SSH_ID} (SSH, active); pi-ssh = {TWIN_ID} (SSH, active); "
                "use the service ID of the one you mean instead of the name\n"
            )
        unknown = await run_cli(world.env, "stdio", "--service", "pi-sh")
        assert unknown.code == 1 and unknown.err.count("\n") == 1
        assert "command line: service: no service named 'pi-sh'" in unknown.err
        assert "close names: pi-ssh" in unknown.err
        assert world.fake.calls_to("connect") == [] and state_names(world) == []


async def test_a_missing_credentials_section_is_a_one_line_error(world: World) -> None:
    with trio.fail_after(DEADLINE):
        keys = world.tmp / "home" / ".remoteit" / "credentials"
        keys.parent.mkdir(parents=True)
        keys.write_text("[DEFAULT]\nR3_ACCESS_KEY_ID = x\nR3_SECRET_ACCESS_KEY = eA==\n")
        keys.chmod(0o600)
        env = {k: v for k, v in world.env.items() if not k.startswith("REMOTEIT_")}
        result = await run_cli(
            env, "stdio", "--service", SSH_ID, "--credentials", "nosuch", stdin=b"x"
        )
        assert result.code == 1 and result.out == "" and result.err.count("\n") == 1
        assert result.err.startswith("rittunnel: error: command line: credentials: ")
        assert "nosuch" in result.err
        assert world.fake.calls == []
