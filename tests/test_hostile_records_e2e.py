"""What a tunnel records, end to end (issue 24): hostile text from a profile or from
remote.it still makes a state file that ``status`` lists and ``cleanup`` acts on after
``kill -9``; a killed tunnel nobody reaped (a zombie) is dead to every command; signals
after "stopped" change nothing; a forced exit during a connect says what cleanup cannot
find. The installed CLI against the fake remote.it; real processes."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import psutil
import trio

from rittunnel.fake import FakeService

from .conftest import WEB_ID, World, free_port, run_cli, ssh_profile, start_cli, up

DEADLINE = 60
LONG_NAME = "pi\tssh " + "n" * 1100
HOSTILE_ID = "80:00:00:00:0A:0B:0C:0D"


async def listed(world: World) -> dict[str, dict[str, Any]]:
    result = await run_cli(world.env, "status", "--json")
    assert result.code == 0, result.all_output
    return {e["name"]: e for e in json.loads(result.out)}


async def kill_and_clean(world: World, cli: Any, name: str) -> None:
    """``kill -9`` the tunnel, then ``cleanup`` must stop its proxy."""
    [proxy] = world.fake.open_proxies
    assert await cli.stop(signal.SIGKILL) == -signal.SIGKILL
    dead = (await listed(world))[name]
    assert not dead["alive"] and dead["proxies"] == [proxy.connection_id]
    cleaned = await run_cli(world.env, "cleanup")
    assert cleaned.code == 0 and "stopped 1 orphaned proxy" in cleaned.out, cleaned.all_output
    assert world.fake.open_proxies == [] and "moved to" not in cleaned.all_output


async def test_a_service_name_with_a_tab_and_over_1024_characters(
    world: World, nursery: trio.Nursery
) -> None:
    world.fake.add_service(FakeService(HOSTILE_ID, LONG_NAME, "SSH", target=world.echo))
    port = free_port()
    world.profile("odd", f"service: {json.dumps(LONG_NAME)}\nlocal_port: {port}\n")
    with trio.fail_after(DEADLINE):
        cli = await start_cli(nursery, world.env, "odd")
        await cli.ready()
        entry = (await listed(world))["odd"]  # listed while it runs, not set aside
        assert entry["alive"] and entry["service"] == HOSTILE_ID
        assert entry["service_name"].startswith("pi\\tssh nnn")
        await kill_and_clean(world, cli, "odd")


async def test_a_reverse_proxy_url_over_1024_characters(
    world: World, nursery: trio.Nursery
) -> None:
    proxies = world.fake._proxies  # where the fake makes its proxies
    opened = proxies.open_proxy

    async def long_url(*args: Any, **kwargs: Any) -> Any:
        proxy = await opened(*args, **kwargs)
        if proxy.url.startswith("https://"):
            proxy.host = "h" * 1100 + ".p18.rt3.io"
            proxy.url = f"https://{proxy.host}"
        return proxy

    proxies.open_proxy = long_url  # type: ignore[method-assign]
    world.profile("web", f"service: {WEB_ID}\nlocal_port: {free_port()}\n")
    with trio.fail_after(DEADLINE):
        cli = await start_cli(nursery, world.env, "web")
        await cli.ready()
        entry = (await listed(world))["web"]
        assert entry["alive"] and entry["upstream"].startswith("https://hhh")
        await kill_and_clean(world, cli, "web")


async def zombie(cli: Any) -> None:
    """``kill -9`` the tunnel and leave it unreaped (its parent, this test, waits not)."""
    os.kill(cli.proc.pid, signal.SIGKILL)
    with trio.fail_after(10):
        while psutil.Process(cli.proc.pid).status() != psutil.STATUS_ZOMBIE:
            await trio.sleep(0.02)


async def test_a_zombie_tunnel_is_dead_to_every_command(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        cli, _ = await up(world, nursery)
        [proxy] = world.fake.open_proxies
        await zombie(cli)
        entry = (await listed(world))["ssh-pi"]
        assert not entry["alive"] and entry["proxies"] == [proxy.connection_id]
        text = await run_cli(world.env, "status")
        assert "ready" not in text.out, text.out
        stopped = await run_cli(world.env, "stop", "ssh-pi")
        assert "forged" not in stopped.all_output and "not running" in stopped.err
        cleaned = await run_cli(world.env, "cleanup")
        assert "stopped 1 orphaned proxy" in cleaned.out, cleaned.all_output
        assert world.fake.open_proxies == [] and (await listed(world)) == {}

        again, _ = await up(world, nursery)  # a second zombie, for up -d
        await zombie(again)
        started = await run_cli(world.env, "up", "-d", "ssh-pi")
        assert started.code == 0 and "already running" not in started.all_output
        assert (await run_cli(world.env, "stop", "ssh-pi")).code == 0
        assert world.fake.open_proxies == []


async def test_signals_after_stopped_change_nothing(world: World, nursery: trio.Nursery) -> None:
    storms = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP] * 30
    with trio.fail_after(DEADLINE):
        for _ in range(3):
            cli, _ = await up(world, nursery)
            cli.proc.send_signal(signal.SIGTERM)
            await cli.wait_for("ssh-pi: stopped", stream="err")
            for signum in storms:
                if cli.proc.returncode is not None:
                    break
                cli.proc.send_signal(signum)
            assert await cli.exited() == 0, cli.all_output
            assert "forced exit" not in cli.all_output


async def test_a_forced_exit_during_a_connect_says_cleanup_cannot_find_it(
    world: World, nursery: trio.Nursery
) -> None:
    ssh_profile(world, free_port())
    world.fake.knobs.connect_delay = 20
    proxies = world.fake._proxies
    opened, asked = proxies.open_proxy, trio.Event()

    async def noted(*args: Any, **kwargs: Any) -> Any:
        asked.set()
        return await opened(*args, **kwargs)

    proxies.open_proxy = noted  # type: ignore[method-assign]
    # only the signals may end this run: no start or API timeout inside the connect's 20 s
    env = {**world.env, "RITTUNNEL_START_TIMEOUT": "40", "RITTUNNEL_API_TIMEOUT": "40"}
    with trio.fail_after(DEADLINE):
        cli = await start_cli(nursery, env, "ssh-pi")
        await asked.wait()  # the connect is at remote.it, unanswered for 20 s
        cli.proc.send_signal(signal.SIGTERM)
        await cli.wait_for("again to force", stream="err")
        cli.proc.send_signal(signal.SIGTERM)
        assert await cli.exited() == 130
        assert "cannot be found by `rittunnel cleanup` (its ID never arrived)" in cli.all_output
