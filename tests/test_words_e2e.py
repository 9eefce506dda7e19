"""End to end: words that say what happened (issue 25, item 6) — the real CLI against
the fake remote.it on 127.0.0.1: a reverse tunnel's mode in ``status`` and
``profiles``, ``stdio`` refusing a web service before any API call, and ``init NAME``
offering the service named NAME."""

from __future__ import annotations

import json
import re

import trio

from .conftest import SSH_ID, WEB_ID, World, free_port, roundtrip, run_cli, start_cli, up

DEADLINE = 60


async def test_status_and_profiles_say_reverse_proxy(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        world.profile("web", f"service: {WEB_ID}\nlocal_port: {port}\n")
        world.profile("named", f"service: pi-web\nlocal_port: {free_port()}\n")
        world.profile("asked", f"service: {SSH_ID}\nlocal_port: 1\nproxy: reverse\n")
        world.profile("ssh", f"service: {SSH_ID}\nlocal_port: {free_port()}\n")
        cli = await start_cli(nursery, world.env, "web")
        assert "reverse proxy" in await cli.ready()
        result = await run_cli(world.env, "status")
        [row] = [line for line in result.out.splitlines() if line.startswith("web ")]
        assert "reverse proxy" in row and "latching" not in row, result.out
        status = json.loads((await run_cli(world.env, "status", "--json")).out)
        assert [(s["name"], s["reverse"]) for s in status] == [("web", True)]
        assert await cli.stop() == 0

        def modes(out: str) -> dict[str, str]:
            return {
                line.split()[0]: "reverse proxy" if "reverse proxy" in line else "latching"
                for line in out.splitlines()[1:]
            }

        # before any service list is cached, a name says nothing of the type
        listed = modes((await run_cli(world.env, "profiles")).out)
        assert listed["asked"] == "reverse proxy" and listed["ssh"] == "latching"
        await run_cli(world.env, "services")  # caches the list: pi-web is HTTP
        calls = len(world.fake.calls)
        listed = modes((await run_cli(world.env, "profiles")).out)
        assert listed == {
            "asked": "reverse proxy",
            "named": "reverse proxy",
            "ssh": "latching",
            "web": "reverse proxy",
        }
        assert len(world.fake.calls) == calls  # `profiles` never calls the API


async def test_stdio_refuses_a_known_web_service_before_any_api_call(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        refusal = "is an HTTP(S) service"
        world.profile("asked", f"service: {SSH_ID}\nlocal_port: 1\nproxy: reverse\n")
        result = await run_cli(world.env, "stdio", "asked")
        assert result.code == 1 and refusal in result.err and "proxy: reverse" in result.err
        assert world.fake.calls == []

        # by name: the first run lists the services (no connect), the next needs no call
        world.profile("named", "service: pi-web\nlocal_port: 1\n")
        result = await run_cli(world.env, "stdio", "named")
        assert result.code == 1 and "as type HTTP" in result.err, result.err
        assert [c.endpoint for c in world.fake.calls if c.endpoint != "login"] == ["list"]
        calls = len(world.fake.calls)
        result = await run_cli(world.env, "stdio", "named")
        assert result.code == 1 and "as type HTTP" in result.err
        assert len(world.fake.calls) == calls

        # by ID beside a running tunnel that holds the service's reverse proxy
        world.profile("web", f"service: {WEB_ID}\nlocal_port: {free_port()}\n")
        world.profile("by-id", f"service: {WEB_ID}\nlocal_port: 1\n")
        cli = await start_cli(nursery, world.env, "web")
        await cli.ready()
        calls = len(world.fake.calls)
        result = await run_cli(world.env, "stdio", "by-id")
        assert result.code == 1 and "the running tunnel web serves it" in result.err
        assert len(world.fake.calls) == calls
        assert await cli.stop() == 0

        # `proxy: port` is the way out the message gives: that still works
        world.profile("port", f"service: {WEB_ID}\nlocal_port: 1\nproxy: port\n")
        result = await run_cli(world.env, "stdio", "port", stdin=b"")
        assert refusal not in result.err


async def test_init_name_offers_the_service_named_name(world: World) -> None:
    with trio.fail_after(DEADLINE):
        result = await run_cli(world.env, "init", "pi-web", stdin=b"\n\n")
        assert result.code == 0, result.err
        assert "a name or an ID; Enter: 3, pi-web]: " in result.err
        text = (world.profiles / "pi-web.yaml").read_text()
        # Enter took both defaults: the service, and the first free port from 8080 up
        assert re.search(r"service: pi-web\nlocal_port: 80\d\d\n", text), text
        assert "start it with: rittunnel pi-web" in result.err

        # no service of that name: nothing is offered, Enter is not an answer
        result = await run_cli(world.env, "init", "other", stdin=b"\n1\n\n")
        assert result.code == 0, result.err
        assert "a name or an ID]: " in result.err and "Enter:" not in result.err
        assert "no answer; type a number" in result.err

        # a profile named like a command starts with `up`
        result = await run_cli(world.env, "init", "demo", "--service", "pi-ssh", "--port", "2")
        assert result.code == 0 and "start it with: rittunnel up demo" in result.err


async def test_an_expiry_that_closes_live_connections_is_said(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.knobs.expirationsec = 8
        cli, port = await up(world, nursery)
        streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(2)]
        for stream in streams:  # both through the first proxy, and kept open
            await stream.send_all(b"hi")
            assert await stream.receive_some(2) == b"hi"
        for stream in streams:  # remote.it closes them when that proxy expires
            while await stream.receive_some(4096):
                pass
            await stream.aclose()
        with trio.move_on_after(20):
            await cli.wait_for("expired and remote.it closed", stream="err")
        [line] = [e for e in cli.err if "expired and remote.it closed" in e] or [cli.all_output]
        assert "warning: ssh-pi: proxy 127.0.0.1:" in line, line
        assert "closed its 2 live connections: remote.it ends every proxy after about" in line
        assert "(this one after 8s)" in line and "cannot keep old ones open" in line
        assert await roundtrip(port, b"new") == b"new"  # the renewed proxy serves
        assert await cli.stop() == 0
        assert sum("expired and remote.it closed" in e for e in cli.err) == 1
