"""remote.it as its own tools see it, end to end (issue 23): the key file in every form
remote.it's tools write or accept, refusals as the real service sends them, and a proxy
remote.it no longer has is stopped. The real CLI as a subprocess against the fake."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import trio

from rittunnel.fake import ACCESS_KEY_ID, ACCESS_SECRET, DEVELOPER_KEY
from rittunnel.fake.server import FakeProxy

from .conftest import SSH_ID, World, free_port, key_only, run_cli, ssh_profile, start_cli, up

DEADLINE = 60
KEYS = f"R3_ACCESS_KEY_ID = {ACCESS_KEY_ID}\nR3_SECRET_ACCESS_KEY = {ACCESS_SECRET}\n"
WRONG = f"R3_ACCESS_KEY_ID = {ACCESS_KEY_ID}\nR3_SECRET_ACCESS_KEY = d3Jvbmctc2VjcmV0\n"


def key_file(world: World, data: bytes) -> dict[str, str]:
    """``~/.remoteit/credentials`` holding ``data``; the environment without a login."""
    path = world.tmp / "home" / ".remoteit" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)
    return {k: v for k, v in world.env.items() if not k.startswith("REMOTEIT_")}


def state_files(world: World) -> list[Path]:
    return list((world.tmp / "state" / "rittunnel").glob("*.json"))


# -- 1: the key file -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "data", "section"),
    [
        ("lower-case [default]", f"[default]\n{KEYS}".encode(), ""),
        ("no section header", KEYS.encode(), ""),
        ("the desktop's file", f"# me@example.com\n[DEFAULT]\n{KEYS}".encode(), ""),
        (
            "quoted values",
            f"[DEFAULT]\nR3_ACCESS_KEY_ID='{ACCESS_KEY_ID}'\n"
            f'R3_SECRET_ACCESS_KEY="{ACCESS_SECRET}"\n'.encode(),
            "",
        ),
        ("a byte-order mark", b"\xef\xbb\xbf" + f"[DEFAULT]\n{KEYS}".encode(), ""),
        ("R3_PROFILE in another case", f"[DEFAULT]\n{WRONG}[Work]\n{KEYS}".encode(), "WORK"),
    ],
)
async def test_each_form_of_the_key_file_works(
    world: World, form: str, data: bytes, section: str
) -> None:
    with trio.fail_after(DEADLINE):
        env = key_file(world, data)
        if section:
            env["R3_PROFILE"] = section
        listing = await run_cli(env, "services", "--json")
        assert listing.code == 0, (form, listing.all_output)
        assert SSH_ID in listing.out and listing.err == ""
        assert world.fake.calls_to("gql_devices")  # signed with the key: GraphQL


async def test_a_named_section_never_borrows_the_default_sections_keys(world: World) -> None:
    with trio.fail_after(DEADLINE):
        dev = f"R3_DEVELOPER_API_KEY = {DEVELOPER_KEY}\n"
        env = key_file(world, f"[DEFAULT]\n{KEYS}{dev}[work]\nR3_ACCESS_KEY_ID = AK2\n".encode())
        result = await run_cli({**env, "R3_PROFILE": "work"}, "services")
        assert result.code == 1 and result.err.count("\n") == 1, result.err
        assert "[work] has no R3_SECRET_ACCESS_KEY" in result.err
        assert world.fake.calls == []  # nothing signed with the default account's key


@pytest.mark.parametrize("kind", ["fifo", "huge", "latin-1", "directory"])
async def test_a_key_file_that_is_not_one_is_one_line_at_once(world: World, kind: str) -> None:
    with trio.fail_after(DEADLINE):
        env = {k: v for k, v in world.env.items() if not k.startswith("REMOTEIT_")}
        path = world.tmp / "home" / ".remoteit" / "credentials"
        path.parent.mkdir(parents=True, exist_ok=True)
        expected = "is not a regular file"
        if kind == "fifo":
            os.mkfifo(path, 0o600)  # nobody ever writes to it
        elif kind == "directory":
            path.mkdir()
        elif kind == "huge":
            with path.open("wb") as f:
                f.truncate(1 << 30)
            expected = "is 1073741824 bytes"
        else:
            path.write_bytes(f"[DEFAULT]\n# caf\xe9\n{KEYS}".encode("latin-1"))
            expected = "is not UTF-8 text"
        started = time.monotonic()
        result = await run_cli(env, "services")
        assert time.monotonic() - started < 10  # at once (the process start is most of it)
        assert result.code == 1 and result.err.count("\n") == 1, result.err
        assert f"{path}: {expected}" in result.err
        assert world.fake.calls == []


# -- 3: refusals as the real service sends them ----------------------------------------


@pytest.mark.parametrize(
    ("failure", "said"),
    [("http401", "(HTTP 401): Unauthorized"), ("http403", "(HTTP 403): Forbidden")],
)
async def test_a_rest_refusal_that_is_not_json_is_the_keys_fault_at_once(
    world: World, failure: str, said: str
) -> None:
    with trio.fail_after(DEADLINE):
        world.env = key_only(world, developer_key=True)  # signed REST
        world.fake.fail_next("connect", failure)
        ssh_profile(world, free_port())
        started = time.monotonic()
        result = await run_cli(world.env, "ssh-pi")
        assert time.monotonic() - started < 10  # not retried for the start timeout
        assert result.code == 1 and result.err.count("\n") == 1, result.err
        assert said in result.err and "check the access key" in result.err
        assert len(world.fake.calls_to("connect")) == 1


async def test_a_wrong_secret_over_rest_is_refused_as_the_gateway_does(world: World) -> None:
    with trio.fail_after(DEADLINE):
        dev = f"R3_DEVELOPER_API_KEY = {DEVELOPER_KEY}\n"
        env = key_file(world, f"[DEFAULT]\n{WRONG}{dev}".encode())
        ssh_profile(world, free_port())
        started = time.monotonic()
        result = await run_cli(env, "ssh-pi")
        assert time.monotonic() - started < 10
        assert result.code == 1 and "(HTTP 401): Unauthorized" in result.err, result.err
        assert "check the access key" in result.err and "outage" not in result.err
        [call] = world.fake.calls_to("connect")
        assert call.http_status == 401


async def test_a_password_session_refused_by_the_gateway_fails_after_one_login_more(
    world: World,
) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.fail_next("connect", "http401", "http401")
        ssh_profile(world, free_port())
        started = time.monotonic()
        result = await run_cli(world.env, "ssh-pi")
        assert time.monotonic() - started < 10
        assert result.code == 1 and "(HTTP 401): Unauthorized" in result.err, result.err
        assert len(world.fake.calls_to("login")) == 2


async def test_a_wrong_password_gets_the_credentials_hint(world: World) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        result = await run_cli({**world.env, "REMOTEIT_PASSWORD": "wrong"}, "ssh-pi")
        assert result.code == 1 and result.err.count("\n") == 1, result.err
        assert "The username or password is invalid" in result.err
        assert "check REMOTEIT_USERNAME, REMOTEIT_PASSWORD" in result.err
        assert len(world.fake.calls_to("login")) == 1


async def test_a_rest_429_waits_for_retry_after(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.fail_next("connect", "http429:1")
        started = time.monotonic()
        cli, _ = await up(world, nursery)
        assert time.monotonic() - started >= 1
        assert "connect: throttled by remote.it; waiting 1s" in cli.all_output
        assert len(world.fake.calls_to("connect")) == 2
        assert await cli.stop() == 0


# -- 4: a proxy remote.it no longer has is stopped ---------------------------------------


async def end_proxy(world: World, proxy: FakeProxy, how: str) -> None:
    """Make the fake drop ``proxy`` as remote.it does: it expires, it is dropped for
    idleness, or it is killed (the user's IP changed)."""
    if how == "expired":
        proxy.expires_at = trio.current_time()
    elif how == "idle":
        world.fake.knobs.idle_sec = 0
    else:
        world.fake.kill_proxy(proxy.connection_id)
    while not proxy.ended:
        await trio.sleep(0.05)
    assert proxy.ended == how


@pytest.mark.parametrize("api", ["rest", "graphql"])
async def test_sigterm_after_the_proxy_expired_under_a_held_connection_exits_0(
    world: World, nursery: trio.Nursery, api: str
) -> None:
    with trio.fail_after(DEADLINE):
        if api == "graphql":
            world.env = key_only(world)
        cli, port = await up(world, nursery)
        held = await trio.open_tcp_stream("127.0.0.1", port)
        await held.send_all(b"held")
        assert await held.receive_some(4) == b"held"
        [proxy] = world.fake.open_proxies
        await end_proxy(world, proxy, "expired")  # remote.it cuts the held connection too
        assert await cli.stop() == 0, cli.all_output
        assert "warning" not in cli.all_output and "may still be open" not in cli.all_output
        assert state_files(world) == [] and world.fake.open_proxies == []
        stops = world.fake.calls_to("stop" if api == "rest" else "gql_disconnect")
        gone = [c for c in stops if c.body and proxy.connection_id in json.dumps(c.body)]
        assert gone and all(c.http_status == (401 if api == "rest" else 200) for c in gone)
        await held.aclose()


@pytest.mark.parametrize("how", ["expired", "idle", "killed"])
@pytest.mark.parametrize("api", ["rest", "graphql", "rest-documented-words"])
async def test_cleanup_after_remote_it_dropped_the_proxy_exits_0_and_leaves_nothing(
    world: World, how: str, api: str
) -> None:
    with trio.fail_after(DEADLINE):
        if api == "graphql":
            world.env = key_only(world)
        if api == "rest-documented-words":
            world.fake.knobs.stop_gone_reason = "[0212] connectionid incorrect or missing"
        ssh_profile(world, free_port())
        async with trio.open_nursery() as nursery:
            cli = await start_cli(nursery, world.env, "ssh-pi")
            await cli.ready()
            cli.proc.kill()  # kill -9: no teardown, the proxy is orphaned
            await cli.exited()
            nursery.cancel_scope.cancel()
        [proxy] = world.fake.open_proxies
        assert len(state_files(world)) == 1
        await end_proxy(world, proxy, how)
        result = await run_cli(world.env, "cleanup")
        assert result.code == 0, result.all_output
        assert "stopped 0 orphaned proxies" in result.out and "warning" not in result.err
        assert state_files(world) == []
        again = await run_cli(world.env, "cleanup")
        assert again.code == 0 and again.err == ""
        status = await run_cli(world.env, "status")
        assert "no tunnels running" in status.err
