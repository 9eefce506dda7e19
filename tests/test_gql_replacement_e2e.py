"""Replacement over GraphQL, end to end (the real CLI against the fake on 127.0.0.1):
whether remote.it's GraphQL connect replaces a service's earlier proxy is unknown
(docs/remoteit-api.md#graphql-replacement), so the fake's knob makes it do so, and a
renewal that cuts a live connection is said once, clearly."""

from __future__ import annotations

import trio

from rittunnel.fake.target import roundtrip

from .conftest import World, free_port, key_only, ssh_profile, start_cli

DEADLINE = 60


async def test_a_graphql_renewal_that_cuts_a_live_session_is_said(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        env = key_only(world)  # GraphQL
        world.fake.knobs.gql_connect_replaces = True
        world.fake.knobs.expirationsec = 12  # renewal due about 10 s in
        port = free_port()
        ssh_profile(world, port)
        cli = await start_cli(nursery, env, "ssh-pi")
        await cli.ready()
        session = trio.socket.socket()
        await session.connect(("127.0.0.1", port))
        await session.send(b"live")
        assert await session.recv(4) == b"live"
        # held through the renewal: remote.it (the knob) cuts it, the relay passes the
        # end on, the client closes (as ssh does), and rittunnel says what happened
        with trio.fail_after(30):
            assert await session.recv(4) == b""
        session.close()
        line = await cli.wait_for("ended as the next proxy was made", timeout=10, stream="err")
        assert "GraphQL connect" in line and "cuts live sessions" in line
        assert len(world.fake.calls_to("gql_connect")) == 2
        # and a new session goes through the new proxy
        assert await roundtrip(port, b"again") == b"again"
        assert await cli.stop() == 0
        said = [line for line in cli.err if "ended as the next proxy was made" in line]
        assert len(said) == 1
