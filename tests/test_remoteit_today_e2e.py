"""remote.it as it is today, end to end: the real CLI as a subprocess against the fake
(GraphQL, concurrent REST proxies, two-factor accounts, port proxies for web services,
offline devices), real sockets on 127.0.0.1."""

from __future__ import annotations

import os
import time

import trio

from rittunnel.fake import DEVELOPER_KEY, FakeService
from rittunnel.fake.target import roundtrip

from .conftest import (
    SSH_ID,
    World,
    default_timeouts,
    free_port,
    key_only,
    run_cli,
    ssh_profile,
    start_cli,
    up,
)

DEADLINE = 60


async def test_an_access_key_alone_goes_over_graphql_end_to_end(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        # the service the profile names is on the second page of devices
        for i in range(3):
            world.fake.add_service(FakeService(f"80:00:00:00:00:00:0a:{i:02x}", f"other-{i}"))
        world.fake.add_service(
            FakeService("80:00:00:00:00:00:0b:01", "far-ssh", "SSH", target=world.echo)
        )
        world.fake.knobs.page_max = 2
        world.fake.fail_next("gql_connect", "http429:1")  # throttled once: ridden out
        world.env = key_only(world)
        port = free_port()
        world.profile("far", f"service: far-ssh\nlocal_port: {port}\n")
        cli = await start_cli(nursery, world.env, "far")
        await cli.ready()
        assert await roundtrip(port, b"over graphql" * 1000) == b"over graphql" * 1000
        assert len(world.fake.calls_to("gql_devices")) >= 2  # paged
        assert len(world.fake.calls_to("gql_connect")) == 2  # a 429, then the proxy
        assert world.fake.calls_to("connect") == [] and world.fake.calls_to("list") == []
        assert await cli.stop() == 0
        assert len(world.fake.calls_to("gql_disconnect")) == 1
        assert world.fake.open_proxies == []
        for call in world.fake.calls:
            assert call.headers["authorization"].startswith("Signature ")
            assert "developerkey" not in call.headers  # GraphQL needs none


async def test_a_port_proxy_relays_an_http_service_byte_exact(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        web = FakeService("80:00:00:00:00:00:0c:01", "web-port", "HTTP", target=world.echo)
        world.fake.add_service(web)
        port = free_port()
        world.profile("web", f"service: {web.address}\nlocal_port: {port}\nproxy: port\n")
        cli = await start_cli(nursery, world.env, "web")
        line = await cli.ready()
        assert "reverse proxy" not in line and "127.0.0.1:" in line.split("→")[1]
        payload = os.urandom(3 * 1024 * 1024)
        assert await roundtrip(port, payload) == payload
        [connect] = world.fake.calls_to("connect")
        assert connect.body["proxyType"] == "port"
        assert await cli.stop() == 0


async def test_a_two_factor_login_fails_at_once_pointing_to_access_keys(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.knobs.mfa = "SOFTWARE_TOKEN_MFA"
        ssh_profile(world, free_port())
        env = default_timeouts(world.env)  # retries would last the default 15 s
        started = time.monotonic()
        result = await run_cli(env, "ssh-pi")
        assert time.monotonic() - started < 8  # no retries: nothing to wait for
        assert result.code == 1
        assert "two-factor" in result.err and "use an access key" in result.err
        assert result.err.count("\n") == 1  # one line
        assert len(world.fake.calls_to("login")) == 1 and world.fake.calls_to("connect") == []


async def test_a_signed_rest_connect_carries_the_developer_key(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        world.env = key_only(world, developer_key=True)
        cli, port = await up(world, nursery)
        assert await roundtrip(port, b"rest") == b"rest"
        [connect] = world.fake.calls_to("connect")
        assert connect.headers["developerkey"] == DEVELOPER_KEY
        assert connect.headers["authorization"].startswith("Signature ")
        assert connect.body["concurrent"] is True
        assert await cli.stop() == 0


async def test_two_rest_proxies_of_one_service_both_keep_their_live_connections(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        first, port1 = await up(world, nursery, name="pi-a")
        async with await trio.open_tcp_stream("127.0.0.1", port1) as live:
            await live.send_all(b"before ")
            assert await live.receive_some(100) == b"before "
            # a second tunnel of the same service: a second connect at remote.it
            second, port2 = await up(world, nursery, name="pi-b")
            assert await roundtrip(port2, b"second") == b"second"
            await live.send_all(b"after")  # the first session was not cut
            assert await live.receive_some(100) == b"after"
        assert len(world.fake.open_proxies) == 2
        assert "replaced" not in first.all_output + second.all_output
        assert await first.stop() == 0 and await second.stop() == 0


async def test_a_device_not_responding_twice_then_working_gets_its_tunnel_up(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        reason = "status_false:[0212] Device 80:00:00:00:01:02:03:04 is not responding"
        world.fake.fail_next("connect", reason, reason)
        cli, port = await up(world, nursery)
        assert await roundtrip(port, b"back") == b"back"
        assert len(world.fake.calls_to("connect")) == 3
        assert cli.all_output.count("not responding") == 2  # two warnings, retried
        assert await cli.stop() == 0


async def test_a_device_that_stays_offline_says_so(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.profile("off", f"service: 80:00:00:00:01:02:03:06\nlocal_port: {free_port()}\n")
        result = await run_cli({**world.env, "RITTUNNEL_START_TIMEOUT": "2"}, "off")
        assert result.code == 1
        last = result.err.strip().splitlines()[-1]
        assert last.startswith("rittunnel: error: off: the device seems offline")
        assert len(world.fake.calls_to("connect")) >= 2  # retried, within the timeout


async def test_cleanup_stops_a_graphql_orphan_over_graphql(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.env = key_only(world)
        ssh_profile(world, free_port())
        async with trio.open_nursery() as nursery:
            cli = await start_cli(nursery, world.env, "ssh-pi")
            await cli.ready()
            cli.proc.kill()  # kill -9: no teardown
            await cli.exited()
            nursery.cancel_scope.cancel()
        assert len(world.fake.open_proxies) == 1
        result = await run_cli(world.env, "cleanup")
        assert result.code == 0 and "stopped 1 orphaned proxy" in result.out
        assert len(world.fake.calls_to("gql_disconnect")) == 1
        assert world.fake.calls_to("stop") == [] and world.fake.open_proxies == []


async def test_services_and_stdio_over_graphql(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.env = key_only(world)
        listing = await run_cli(world.env, "services", "--json")
        assert listing.code == 0 and SSH_ID in listing.out and "pi-ssh" in listing.out
        ssh_profile(world, free_port())
        result = await run_cli(world.env, "stdio", "ssh-pi", stdin=b"through stdio")
        assert result.code == 0 and result.raw_out == b"through stdio"
        assert len(world.fake.calls_to("gql_disconnect")) == 1
        assert world.fake.open_proxies == []


async def test_a_deprecation_warning_from_remote_it_is_said_once(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.knobs.warning = "121 - this client is deprecated"
        cli, port = await up(world, nursery)  # a login and a connect, both warned
        assert await roundtrip(port, b"still works") == b"still works"
        assert await cli.stop() == 0  # and a stop call
        assert cli.all_output.count("says this client is deprecated") == 1, cli.all_output
        assert world.fake.open_proxies == []
