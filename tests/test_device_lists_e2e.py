"""Device lists as remote.it sends them, end to end (the real CLI against the fake on
127.0.0.1): REST's device entries beside services, GraphQL's pages, organisations and
partial answers (docs/remoteit-api.md#rest-list-devices, #organisations,
#graphql-paging)."""

from __future__ import annotations

import json

import trio

from rittunnel.fake import FakeService
from rittunnel.fake.target import roundtrip

from .conftest import SSH_ID, World, free_port, key_only, run_cli, start_cli

DEADLINE = 60
ORG_SSH = "80:00:00:00:00:00:0e:01"
ORG_DB = "80:00:00:00:00:00:0e:02"


async def test_rest_device_entries_are_neither_listed_nor_matched(
    world: World, nursery: trio.Nursery
) -> None:
    """Each service of the fake is a device of its own named as the service, so the
    REST list holds a "Bulk Service" entry of the same name beside each: no ambiguity,
    and the name resolves to the service, never to the device."""
    with trio.fail_after(DEADLINE):
        env = key_only(world, developer_key=True)  # REST
        result = await run_cli(env, "services", "--json")
        assert result.code == 0, result.err
        listed = json.loads(result.out)
        assert {s["name"] for s in listed} == {"pi-ssh", "pi-web", "pi-off"}
        assert all(s["type"] != "Bulk Service" for s in listed)
        port = free_port()
        world.profile("by-name", f"service: pi-ssh\nlocal_port: {port}\n")
        cli = await start_cli(nursery, env, "by-name")
        await cli.ready()
        assert await roundtrip(port, b"not the device") == b"not the device"
        assert await cli.stop() == 0
        [connect] = world.fake.calls_to("connect")
        assert connect.body["deviceaddress"] == SSH_ID
        assert world.fake.calls_to("list")[0].http_status == 200


async def test_graphql_lists_every_page_and_organisation(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        env = key_only(world)  # GraphQL
        # two pages of devices without services before the service the profile names
        for i in range(4):
            world.fake.add_service(FakeService(f"80:00:00:00:00:00:0a:{i:02x}", "", device=f"d{i}"))
        world.fake.add_organization("ORG-1", "Acme")
        world.fake.add_service(
            FakeService(ORG_DB, "acme-db", "TCP", target=world.echo, org="ORG-1")
        )
        world.fake.add_service(FakeService(ORG_SSH, "pi-ssh", org="ORG-1"))
        world.fake.knobs.page_max = 2
        result = await run_cli(env, "services")
        assert result.code == 0, result.err
        rows = {line.split()[-3 if "organisation" in line else -1]: line
                for line in result.out.splitlines()[1:]}  # fmt: skip
        assert rows[ORG_DB].startswith("acme-db") and rows[ORG_DB].endswith("(organisation Acme)")
        assert rows[ORG_SSH].startswith("pi-ssh") and "organisation" not in rows[SSH_ID]

        # a service of an organisation tunnels by name
        port = free_port()
        world.profile("db", f"service: acme-db\nlocal_port: {port}\n")
        cli = await start_cli(nursery, env, "db")
        await cli.ready()
        assert await roundtrip(port, b"org bytes") == b"org bytes"
        assert await cli.stop() == 0

        # a name in two accounts is an ambiguity naming both
        world.profile("ssh", f"service: pi-ssh\nlocal_port: {free_port()}\n")
        result = await run_cli(env, "ssh")
        assert result.code == 1
        assert f"{SSH_ID} (SSH, active)" in result.err
        assert f"{ORG_SSH} (SSH, active, organisation Acme)" in result.err


async def test_a_partial_graphql_answer_lists_the_rest_and_blames_no_key(world: World) -> None:
    with trio.fail_after(DEADLINE):
        env = key_only(world)
        world.fake.knobs.broken_devices = ["pi-web"]
        result = await run_cli(env, "services")
        assert result.code == 0, result.err
        names = [line.split()[0] for line in result.out.splitlines()[1:]]
        assert names == ["pi-off", "pi-ssh"]
        [warning] = [line for line in result.err.splitlines() if "pi-web" in line]
        assert "did not give the services of device 'pi-web'" in warning
        assert "access key" not in result.err
