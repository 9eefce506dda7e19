"""End to end: access keys per profile, services by name, `rittunnel services` and
`rittunnel init`, each running the real CLI against the fake remote.it on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import signal

import trio

from rittunnel.fake import ACCESS_KEY_ID, ACCESS_SECRET, DEVELOPER_KEY, FakeService

from .conftest import OFFLINE_ID, SSH_ID, WEB_ID, World, free_port, roundtrip, run_cli, start_cli

DEADLINE = 30
WORK_KEY_ID = "FAKEACCESSKEYID0002"
WORK_SECRET = base64.b64encode(b"the work account's secret key!!!").decode()
OTHER_SSH_ID = "80:00:00:00:01:02:03:07"


def keys_only(world: World, sections: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """The world's environment with the password login removed and a 0600 access-key
    file holding ``sections`` (default: the fake's key as DEFAULT), each with the
    developer key, so the REST API is used (GraphQL: test_remoteit_today_e2e)."""
    sections = sections or {"DEFAULT": (ACCESS_KEY_ID, ACCESS_SECRET)}
    path = world.tmp / "home" / ".remoteit" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            f"[{name}]\nR3_ACCESS_KEY_ID = {kid}\nR3_SECRET_ACCESS_KEY = {secret}\n"
            f"R3_DEVELOPER_API_KEY = {DEVELOPER_KEY}\n"
            for name, (kid, secret) in sections.items()
        )
    )
    path.chmod(0o600)
    world.fake.access_keys[WORK_KEY_ID] = base64.b64decode(WORK_SECRET)
    return {k: v for k, v in world.env.items() if not k.startswith("REMOTEIT_")}


def key_id(call: object) -> str:
    header: str = call.headers["authorization"]  # type: ignore[attr-defined]
    assert header.startswith('Signature keyId="')
    return header.split('"')[1]


async def test_key_file_and_a_service_name_sign_tunnel_and_stop(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        env = keys_only(world)
        port = free_port()
        world.profile("ssh-pi", f"service: pi-ssh\nlocal_port: {port}\n")
        cli = await start_cli(nursery, env, "ssh-pi")
        await cli.ready()
        assert await roundtrip(port, b"by name") == b"by name"
        status = await run_cli(env, "status", "--json")
        [tunnel] = json.loads(status.out)
        assert (tunnel["service"], tunnel["service_name"]) == (SSH_ID, "pi-ssh")
        table = await run_cli(env, "status")
        assert table.out.splitlines()[1].split()[:2] == ["ssh-pi", "pi-ssh"]
        assert await cli.stop() == 0
        calls = world.fake.calls
        assert [c.endpoint for c in calls] == ["list", "connect", "stop"]  # no login
        assert {key_id(c) for c in calls} == {ACCESS_KEY_ID}
        assert all(c.http_status == 200 for c in calls)
        assert calls[1].body["deviceaddress"] == SSH_ID
        assert world.fake.open_proxies == []
        cache = world.tmp / "cache" / "rittunnel" / "services.json"
        assert os.stat(cache).st_mode & 0o777 == 0o600

        # a second run within the cache's lifetime needs no list call
        cli = await start_cli(nursery, env, "ssh-pi")
        await cli.ready()
        assert await cli.stop() == 0
        assert len(world.fake.calls_to("list")) == 1


async def test_an_ambiguous_name_fails_listing_the_candidates(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_service(FakeService(OTHER_SSH_ID, "pi-ssh", "SSH", state="inactive"))
        world.profile("ssh-pi", f"service: pi-ssh\nlocal_port: {free_port()}\n")
        result = await run_cli(world.env, "ssh-pi")
        assert result.code == 1
        [line] = result.err.splitlines()
        assert "ssh-pi.yaml: service: 'pi-ssh' names 2 services" in line
        assert f"{SSH_ID} (SSH, active)" in line and f"{OTHER_SSH_ID} (SSH, inactive)" in line
        assert world.fake.calls_to("connect") == []

        world.profile("typo", f"service: Pi-Webb\nlocal_port: {free_port()}\n")
        result = await run_cli(world.env, "typo")
        assert result.code == 1
        assert "no service named 'Pi-Webb' in this remote.it account; close names: pi-web" in (
            result.err
        )


async def test_services_lists_names_types_states_and_addresses(world: World) -> None:
    with trio.fail_after(DEADLINE):
        env = keys_only(world)
        result = await run_cli(env, "services")
        assert result.code == 0, result.err
        rows = [line.split() for line in result.out.splitlines()]
        assert rows == [
            ["NAME", "TYPE", "STATE", "ADDRESS"],
            ["pi-off", "SSH", "inactive", OFFLINE_ID],
            ["pi-ssh", "SSH", "active", SSH_ID],
            ["pi-web", "HTTP", "active", WEB_ID],
        ]
        result = await run_cli(env, "services", "web", "--json")
        assert json.loads(result.out) == [
            {"address": WEB_ID, "name": "pi-web", "type": "HTTP", "state": "active"}
        ]
        result = await run_cli(env, "services", "printer")
        assert result.code == 1 and "no service matches 'printer'" in result.err
        assert {key_id(c) for c in world.fake.calls} == {ACCESS_KEY_ID}


async def test_init_writes_a_profile_that_tunnels(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        # a wrong answer is asked again; the port suggestion is replaced by ours
        result = await run_cli(world.env, "init", "pi", stdin=f"9\npi-ssh\n{port}\n".encode())
        assert result.code == 0, result.err
        assert "9 is not in the list; pick 1-3" in result.err
        path = world.profiles / "pi.yaml"
        assert f"service: pi-ssh\nlocal_port: {port}\n" in path.read_text()
        cli = await start_cli(nursery, world.env, "pi")
        await cli.ready()
        assert await roundtrip(port, b"init") == b"init"
        assert await cli.stop() == 0

        result = await run_cli(world.env, "init", "pi", "--service", "pi-web", "--port", "8080")
        assert result.code == 1
        assert f"profile pi already exists ({path}); pass --force" in result.err
        assert "service: pi-ssh" in path.read_text()
        result = await run_cli(
            world.env, "init", "pi", "--service", "pi-web", "--port", "8080", "--force"
        )
        assert result.code == 0 and "service: pi-web\nlocal_port: 8080" in path.read_text()

        result = await run_cli(world.env, "init", "db")  # stdin is empty: nobody to ask
        assert result.code == 2 and "no answer on stdin; pass --service instead" in result.err
        assert not (world.profiles / "db.yaml").exists()


async def test_each_profile_signs_with_its_own_section_even_for_orphans(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        env = keys_only(
            world, {"DEFAULT": (ACCESS_KEY_ID, ACCESS_SECRET), "work": (WORK_KEY_ID, WORK_SECRET)}
        )
        home, work = free_port(), free_port()
        world.profile("home", f"service: {SSH_ID}\nlocal_port: {home}\n")
        world.profile("work", f"service: pi-off\nlocal_port: {work}\ncredentials: work\n")
        world.fake.services[OFFLINE_ID].state = "active"
        cli = await start_cli(nursery, env, "up", "home", "work")
        await cli.wait_for("work ready on ")
        await cli.wait_for("home ready on ")
        by_service = {c.body["deviceaddress"]: key_id(c) for c in world.fake.calls_to("connect")}
        assert by_service == {SSH_ID: ACCESS_KEY_ID, OFFLINE_ID: WORK_KEY_ID}
        assert key_id(world.fake.calls_to("list")[0]) == WORK_KEY_ID

        cli.proc.send_signal(signal.SIGKILL)  # both proxies are orphaned
        await cli.exited()
        assert len(world.fake.open_proxies) == 2
        result = await run_cli(env, "cleanup")
        assert result.code == 0 and "stopped 2 orphaned proxies" in result.out
        stops = {c.body["deviceaddress"]: key_id(c) for c in world.fake.calls_to("stop")}
        assert stops == {SSH_ID: ACCESS_KEY_ID, OFFLINE_ID: WORK_KEY_ID}
        assert world.fake.open_proxies == []

        world.profile("bad", f"service: {SSH_ID}\nlocal_port: {free_port()}\ncredentials: ops\n")
        result = await run_cli(env, "bad")
        assert result.code == 1
        assert "bad.yaml: credentials: " in result.err
        assert "no section [ops] (it has: DEFAULT, work)" in result.err
