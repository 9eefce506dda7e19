"""State files that lie, end to end (issue 16): a teardown that could not stop its proxy,
a killed tunnel's orphan whose stop fails, files naming other processes, other API URLs,
names outside the state directory, malformed fields, planted symlinks and a state
directory others may write, stale stop requests. The installed CLI against the fake
remote.it (a second one where a file points elsewhere); real processes and files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
import trio

from rittunnel.fake import FakeRemoteIt, FakeService
from rittunnel.tunnel.procs import is_rittunnel_process

from .conftest import (
    SSH_ID,
    World,
    dead_pid,
    free_port,
    key_only,
    roundtrip,
    run_cli,
    ssh_profile,
    start_cli,
    up,
)

DEADLINE = 60


def state_dir(world: World) -> Path:
    return world.tmp / "state" / "rittunnel"


def plant(world: World, stem: str, **fields: object) -> Path:
    """A state file ``STEM.json`` as a killed tunnel, or a hostile hand, leaves it."""
    data: dict[str, object] = {
        "name": stem,
        "pid": dead_pid(),
        "pid_started": 1.0,
        "api_url": world.api_url,
        "service": SSH_ID,
        "proxies": ["C-PLANTED"],
    }
    data.update(fields)
    state_dir(world).mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir(world) / f"{stem}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
async def daemons(world: World) -> AsyncIterator[World]:
    """The world, and afterwards no background rittunnel left behind by a failed test."""
    yield world
    for path in state_dir(world).glob("*.json"):
        try:
            pid = json.loads(path.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            continue
        if isinstance(pid, int) and pid > 1 and is_rittunnel_process(pid):
            os.kill(pid, signal.SIGKILL)


# -- 1: stop tells the truth -------------------------------------------------------------


async def test_stop_says_so_when_the_tunnel_could_not_stop_its_proxy(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        cli, _ = await up(world, nursery)
        (proxy,) = world.fake.open_proxies
        world.fake.fail_next("stop", "html502", "html502", "html502")
        stopped = await run_cli(world.env, "stop", "ssh-pi", "--timeout", "15")
        assert stopped.code == 1, stopped.all_output
        assert (
            f"ssh-pi stopped, but proxy {proxy.connection_id} may still be open at remote.it; "
            "`rittunnel cleanup` will try again"
        ) in stopped.err
        assert "proxy is stopped" not in stopped.all_output
        assert cli.proc.returncode is not None or psutil.Process(cli.proc.pid).status() == "zombie"
        world.fake.knobs.failures.pop("stop", None)
        cleaned = await run_cli(world.env, "cleanup")
        assert cleaned.code == 0 and "stopped 1 orphaned proxy" in cleaned.out
        assert world.fake.open_proxies == []


# -- 3: an orphan whose stop fails is not forgotten --------------------------------------


async def test_a_killed_tunnels_orphan_whose_stop_fails_is_kept_beside_the_new_run(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        first, _ = await up(world, nursery)
        (orphan,) = world.fake.open_proxies
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
        world.fake.fail_next("stop", "html502", "html502")  # the next run's two tries fail
        second, port = await up(world, nursery)
        assert await roundtrip(port, b"new run") == b"new run"
        assert [c.http_status for c in world.fake.calls_to("stop")] == [502, 502]
        kept = state_dir(world) / f"ssh-pi.orphan-{first.proc.pid}.json"
        assert json.loads(kept.read_text())["proxies"] == [orphan.connection_id]

        listed = json.loads((await run_cli(world.env, "status", "--json")).out)
        by_name = {e["name"]: e for e in listed}
        assert by_name["ssh-pi"]["alive"] and by_name["ssh-pi"]["pid"] == second.proc.pid
        dead = by_name[f"ssh-pi.orphan-{first.proc.pid}"]
        assert not dead["alive"] and dead["proxies"] == [orphan.connection_id]

        cleaned = await run_cli(world.env, "cleanup")
        assert cleaned.code == 0 and "stopped 1 orphaned proxy" in cleaned.out
        assert orphan.ended == "stopped" and not kept.exists()
        assert await second.stop() == 0
        assert world.fake.open_proxies == []


# -- 9: a state file naming another process ----------------------------------------------


async def test_stop_all_never_signals_a_process_that_is_not_rittunnel(world: World) -> None:
    with trio.fail_after(DEADLINE):
        stranger = subprocess.Popen(["sleep", "60"])
        try:
            started = psutil.Process(stranger.pid).create_time()
            plant(world, "x", pid=stranger.pid, pid_started=started)
            result = await run_cli(world.env, "stop", "--all")
            await trio.sleep(0.2)
            assert result.code == 1 and stranger.poll() is None
            assert f"x: pid {stranger.pid} is not a rittunnel process of yours" in result.err
        finally:
            stranger.kill()
            stranger.wait()


# -- 10: no credentials to an API URL nobody configured ----------------------------------


async def test_an_orphan_made_through_another_api_url_gets_no_credentials(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        elsewhere = FakeRemoteIt([FakeService(SSH_ID, "pi-ssh", "SSH", target=world.echo)])
        url = await nursery.start(elsewhere.serve)
        path = plant(world, "victim", api_url=url, proxies=["C-ELSEWHERE"])
        said = (
            f"proxy C-ELSEWHERE of victim was made through API URL {url}, which none of "
            f"your settings name; not sending credentials there; remove {path} if it is not "
            "yours"
        )
        cli, _ = await up(world, nursery, name="other")
        await cli.wait_for(said, stream="err")
        cleaned = await run_cli(world.env, "cleanup")
        assert cleaned.code == 1 and said in cleaned.err
        assert elsewhere.calls == [] and path.exists()
        assert await cli.stop() == 0


# -- 11: names stay inside the state directory -------------------------------------------


async def test_a_state_name_that_climbs_out_is_set_aside_not_followed(world: World) -> None:
    with trio.fail_after(DEADLINE):
        path = plant(world, "evil", name="../../escape")
        world.fake.fail_next("stop", "html502")  # a failed stop writes the file back
        result = await run_cli(world.env, "cleanup")
        assert result.code == 0, result.all_output
        assert f"state file {path}: name: '../../escape' is not a tunnel name" in result.err
        assert list(world.tmp.rglob("escape*")) == [] and world.fake.calls_to("stop") == []
        assert path.with_name("evil.json.bad").exists()


# -- 12: malformed fields never stop a command -------------------------------------------

BAD: dict[str, dict[str, object]] = {
    "minus": {"pid": -1},
    "abc": {"pid": "abc"},
    "started": {"pid_started": "x"},
}


@pytest.mark.parametrize("command", ["status", "cleanup", "up"])
async def test_malformed_state_files_are_said_once_and_set_aside(
    world: World, nursery: trio.Nursery, command: str
) -> None:
    with trio.fail_after(DEADLINE):
        paths = [plant(world, stem, **fields) for stem, fields in BAD.items()]
        if command == "up":
            cli, _ = await up(world, nursery)
            await cli.wait_for("abc.json", stream="err")
            assert await cli.stop() == 0
            output, code = cli.all_output, 0
        else:
            result = await run_cli(world.env, command)
            output, code = result.all_output, result.code
        assert code == 0 and "internal error" not in output, output
        for path in paths:
            assert output.count(f"warning: state file {path}: ") == 1
            assert not path.exists() and path.with_name(path.name + ".bad").exists()
        again = await run_cli(world.env, "status")
        assert again.code == 0 and "warning" not in again.all_output


# -- 13: a private state directory, no symlinks followed ---------------------------------


async def test_a_planted_log_symlink_is_not_written_through(daemons: World) -> None:
    world = daemons
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        victim = world.tmp / "victim.txt"
        victim.write_text("untouched\n")
        state_dir(world).mkdir(parents=True, mode=0o700)
        log = state_dir(world) / "ssh-pi.log"
        log.symlink_to(victim)
        result = await run_cli(world.env, "up", "-d", "ssh-pi")
        assert result.code == 1
        assert result.err == (
            f"rittunnel: error: {log} is a symbolic link; refusing to write the log through "
            "it: remove it\n"
        )
        assert victim.read_text() == "untouched\n" and world.fake.calls == []


async def test_a_log_readable_by_others_is_made_private(daemons: World) -> None:
    world = daemons
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        state_dir(world).mkdir(parents=True, mode=0o700)
        log = state_dir(world) / "ssh-pi.log"
        log.write_text("an earlier run\n")
        log.chmod(0o644)
        started = await run_cli(world.env, "up", "-d", "ssh-pi")
        assert started.code == 0, started.all_output
        assert oct(log.stat().st_mode & 0o777) == "0o600"
        assert log.read_text().startswith("an earlier run\n")
        assert (await run_cli(world.env, "stop", "ssh-pi")).code == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["status", "--json"],
        ["stop", "ssh-pi"],
        ["wait", "ssh-pi", "--timeout", "1"],
        ["cleanup"],
        ["ssh-pi"],
        ["up", "-d", "ssh-pi"],
    ],
)
async def test_a_state_directory_others_may_write_is_refused_by_every_command(
    daemons: World, argv: list[str]
) -> None:
    world = daemons
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        state_dir(world).mkdir(parents=True)
        state_dir(world).chmod(0o777)
        result = await run_cli(world.env, *argv)
        assert result.code == 1, result.all_output
        assert result.err == (
            f"rittunnel: error: {state_dir(world)} is writable by group and others (mode "
            "0777): `chmod 700` it; refusing to use it (as ssh does for ~/.ssh)\n"
        )
        assert world.fake.calls_to("connect") == []


# -- 14: a stale stop request stops nobody -----------------------------------------------


async def test_a_stale_stop_request_neither_survives_nor_stops_a_sibling(daemons: World) -> None:
    world = daemons
    with trio.fail_after(DEADLINE):
        port_a, port_b = free_port(), free_port()
        ssh_profile(world, port_a, name="a")
        ssh_profile(world, port_b, name="b")
        state_dir(world).mkdir(parents=True, mode=0o700)
        stale = state_dir(world) / "a.stop"
        stale.write_text(f"{dead_pid()}\n")  # left by an earlier `stop a`
        started = await run_cli(world.env, "up", "-d", "a", "b")
        assert started.code == 0, started.all_output
        assert not stale.exists()

        stale.write_text(f"{dead_pid()}\n")  # and one that appears while they run
        assert (await run_cli(world.env, "stop", "b")).code == 0
        await trio.sleep(0.3)
        [entry] = json.loads((await run_cli(world.env, "status", "--json")).out)
        assert entry["name"] == "a" and entry["alive"] and entry["ready"]
        assert await roundtrip(port_a, b"still here") == b"still here"
        assert (await run_cli(world.env, "cleanup")).code == 0
        assert not stale.exists()
        assert (await run_cli(world.env, "stop", "a")).code == 0
        assert world.fake.open_proxies == []


# -- a proxy the API no longer knows is gone, quietly ------------------------------------


@pytest.mark.parametrize("api", ["rest", "graphql"])
async def test_an_orphan_whose_proxy_is_already_gone_is_cleaned_up_quietly(
    world: World, nursery: trio.Nursery, api: str
) -> None:
    with trio.fail_after(DEADLINE):
        env = world.env if api == "rest" else key_only(world)
        ssh_profile(world, free_port())
        cli = await start_cli(nursery, env, "ssh-pi")
        await cli.ready()
        assert await cli.stop(signal.SIGKILL) == -signal.SIGKILL
        assert world.fake.kill_proxy() == 1  # it died at remote.it meanwhile
        result = await run_cli(env, "cleanup")
        assert result.code == 0 and "stopped 0 orphaned proxies" in result.out
        assert "warning" not in result.err, result.err
        endpoint = "stop" if api == "rest" else "gql_disconnect"
        assert [c.http_status for c in world.fake.calls_to(endpoint)] == [
            401 if api == "rest" else 200
        ]
        assert list(state_dir(world).glob("*.json")) == []
