"""The fake's proxies (``rittunnel.fake.proxies``): real listeners that latch, restrict,
expire, and are replaced by a second connect (``docs/remoteit-api.md#hostip``,
``#lifetime``, ``#second-connect``); raw HTTP and TCP, no client code."""

from __future__ import annotations

import trio
import trio.testing

from .conftest import WEB_ID, World
from .fake_client import (
    DEADLINE,
    connect_proxy,
    cut,
    refused,
    rest_connect,
    talk,
)


async def test_latching_lets_only_the_first_ip_in(world: World) -> None:
    with trio.fail_after(DEADLINE):
        _, port = await connect_proxy(world, "255.255.255.255")
        assert await talk(port, "127.0.0.1") == b"hi"
        assert await talk(port, "127.0.0.2") == b""  # another IP is refused
        assert await talk(port, "127.0.0.1") == b"hi"


async def test_restricted_and_public(world: World) -> None:
    with trio.fail_after(DEADLINE):
        _, port = await connect_proxy(world, None)  # the caller's IP: 127.0.0.1
        assert await talk(port, "127.0.0.2") == b""
        assert await talk(port, "127.0.0.1") == b"hi"
        _, port = await connect_proxy(world, "203.0.113.7")
        assert await talk(port, "127.0.0.1") == b""
        _, port = await connect_proxy(world, "0.0.0.0")
        assert await talk(port, "127.0.0.3") == b"hi"
        assert await talk(port, "127.0.0.1") == b"hi"


async def test_expiry_and_kill_close_the_listener(
    world: World, loopback_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.knobs.expirationsec = 1
        cid, port = await connect_proxy(world, "0.0.0.0")
        assert await talk(port) == b"hi"
        await trio.sleep(1.5)
        assert world.fake.proxies[cid].ended == "expired"
        try:
            await talk(port)
            raise AssertionError("connected to an expired proxy")
        except OSError:
            pass
        world.fake.knobs.expirationsec = 100
        cid, port = await connect_proxy(world, "0.0.0.0")
        assert world.fake.kill_proxy(cid) == 1
        await trio.sleep(0.1)
        assert world.fake.proxies[cid].ended == "killed"


async def test_second_connect_replaces_the_open_proxy(world: World) -> None:
    with trio.fail_after(DEADLINE):
        first = await rest_connect(world)
        assert "connectionOverridden" not in first and "previousConnection" not in first
        old_port = int(first["proxyport"])
        live = await trio.open_tcp_stream("127.0.0.1", old_port)
        async with live:
            await live.send_all(b"ping")
            assert await live.receive_some(100) == b"ping"
            second = await rest_connect(world)
            assert second["connectionOverridden"] == "true"
            assert second["previousConnection"] == f"http://127.0.0.1:{old_port}"
            assert second["connectionid"] != first["connectionid"]
            with trio.fail_after(5):
                assert await cut(live)  # the old proxy's live connection is cut
        await refused(old_port)  # and it accepts no more
        assert world.fake.proxies[first["connectionid"]].ended == "replaced"
        assert await talk(int(second["proxyport"])) == b"hi"
        assert [p.connection_id for p in world.fake.open_proxies] == [second["connectionid"]]


async def test_a_replaced_reverse_proxy_is_named_by_its_url(world: World) -> None:
    with trio.fail_after(DEADLINE):
        first = await rest_connect(world, deviceaddress=WEB_ID)
        second = await rest_connect(world, deviceaddress=WEB_ID)
        assert second["previousConnection"] == first["proxy"]
        assert first["proxy"].startswith("https://")


async def test_concurrent_connects_keep_both_proxies(world: World) -> None:
    with trio.fail_after(DEADLINE):
        first = await rest_connect(world)
        second = await rest_connect(world, concurrent=True)
        third = await rest_connect(world, concurrent="true")
        for conn in (second, third):
            assert "connectionOverridden" not in conn and "previousConnection" not in conn
        for conn in (first, second, third):
            assert await talk(int(conn["proxyport"])) == b"hi"
        assert len(world.fake.open_proxies) == 3
        fourth = await rest_connect(world)  # not concurrent: every other one goes
        assert fourth["previousConnection"] == third["proxy"]
        assert [p.connection_id for p in world.fake.open_proxies] == [fourth["connectionid"]]
