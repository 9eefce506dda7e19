"""Every proxy accounted for at exit, end to end: the real CLI against the fake when
remote.it's stop hangs, when a connect is still in flight at SIGTERM, when the proxy is
already gone, and when a connect answer is unusable."""

from __future__ import annotations

import signal

import trio

from .conftest import World, free_port, run_cli, ssh_profile, start_cli, state_files, up

DEADLINE = 60


async def test_a_stop_that_hangs_at_exit_is_not_called_stopped(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        # a stop timeout of 1 s: waiting out the hang is all the run does meanwhile
        cli = await start_cli(nursery, {**world.env, "RITTUNNEL_STOP_TIMEOUT": "1"}, "ssh-pi")
        await cli.ready()
        world.fake.fail_next("stop", "hang:600")
        code = await cli.stop()
        assert code == 1  # something the user must act on
        assert "ssh-pi: stopped" not in cli.all_output
        assert "may still be open at remote.it" in cli.all_output
        [proxy] = world.fake.open_proxies
        assert state_files(world)["ssh-pi"]["proxies"] == [proxy.connection_id]  # recorded
        result = await run_cli(world.env, "cleanup")
        assert result.code == 0 and world.fake.open_proxies == []
        assert state_files(world) == {}


async def test_the_stop_timeout_is_the_users_to_set(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        cli = await start_cli(nursery, {**world.env, "RITTUNNEL_STOP_TIMEOUT": "1.5"}, "ssh-pi")
        await cli.ready()
        world.fake.fail_next("stop", "hang:600")
        assert await cli.stop() == 1
        assert "no answer to the stop call within 1.5s" in cli.all_output  # not 10 s
        assert len(world.fake.open_proxies) == 1  # recorded for cleanup, as ever


async def test_sigterm_while_the_connect_is_in_flight_leaves_nothing_open(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        world.fake.knobs.delay = 1.5  # remote.it slow to answer every call
        cli = await start_cli(nursery, world.env, "ssh-pi")
        while not world.fake.calls_to("login"):  # recorded once answered
            await trio.sleep(0.05)
        await trio.sleep(0.5)  # the connect is on its way now
        cli.proc.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            await cli.exited()
        assert len(world.fake.calls_to("connect")) == 1  # it was made at remote.it...
        assert len(world.fake.calls_to("stop")) == 1  # ...and stopped
        assert world.fake.open_proxies == [] and state_files(world) == {}


async def test_a_proxy_already_gone_at_exit_is_stopped_quietly(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        cli, _ = await up(world, nursery)
        assert world.fake.kill_proxy() == 1  # remote.it dropped it (expired, killed)
        assert await cli.stop() == 0
        assert "warning" not in cli.all_output and "ssh-pi: stopped" in cli.all_output
        assert state_files(world) == {}
        status = await run_cli(world.env, "status")
        assert "no tunnels running" in status.err
