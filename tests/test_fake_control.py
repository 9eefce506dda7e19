"""The fake's knobs (``rittunnel.fake.control``): scripted failures, ``/_fake/`` endpoints,
``connect_delay``, the ``fake-api`` command line."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
import trio.testing

from rittunnel.fake import (
    DEVELOPER_KEY,
    FakeRemoteIt,
)

from .conftest import SSH_ID, World
from .fake_client import (
    DEADLINE,
    login,
)


async def test_knobs_over_http(world: World) -> None:
    with trio.fail_after(DEADLINE):
        base = world.api_url.rsplit("/apv/", 1)[0]
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{base}/_fake/control", json={"fail": {"login": ["html502"]}})
            assert r.json()["ok"]
            r = await c.post(f"{world.api_url}/user/login", json={})
            assert r.status_code == 502 and b"502 Bad Gateway" in r.content
            state = (await c.get(f"{base}/_fake/state")).json()
            assert state["calls"][-1]["http_status"] == 502


def test_fail_next_refuses_unknown_failures() -> None:
    fake = FakeRemoteIt([])
    for endpoint, failure in (
        ("connect", "http429:soon"),
        ("gql_connect", "status_false:x"),  # REST only
        ("login", "explode"),
        ("connect", "hang:soon"),
    ):
        with pytest.raises(ValueError):
            fake.fail_next(endpoint, failure)
    fake.fail_next("gql_devices", "http429:3", "errors:boom", "reset", "delay:0.1")
    assert fake.knobs.failures == {
        "gql_devices": ["http429:3", "errors:boom", "reset", "delay:0.1"]
    }


async def test_an_empty_fail_list_clears_what_is_queued(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.fail_next("gql_connect", "http429:5", "http429:5")
        async with httpx.AsyncClient() as http:
            r = await http.post(world.api_url.replace("/apv/v27", "") + "/_fake/control",
                                json={"fail": {"gql_connect": []}})  # fmt: skip
            assert r.status_code == 200
        assert world.fake.knobs.failures.get("gql_connect", []) == []


async def test_connect_delay_slows_connects_only(
    world: World, loopback_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(DEADLINE):
        base = world.api_url.rsplit("/apv/", 1)[0]
        async with httpx.AsyncClient() as c:
            r = await c.post(f"{base}/_fake/control", json={"connect_delay": 3})
            assert r.json()["ok"] and world.fake.knobs.connect_delay == 3
            start = trio.current_time()
            token = await login(c, world.api_url)
            h = {"developerkey": DEVELOPER_KEY, "token": token}
            r = await c.get(f"{world.api_url}/device/list/all", headers=h)
            assert r.json()["status"] == "true"
            assert trio.current_time() - start < 2.5  # login and listing do not wait
            answers: list[dict[str, Any]] = []

            async def connect() -> None:
                body = {"deviceaddress": SSH_ID, "wait": "true", "hostip": "0.0.0.0"}
                r = await c.post(f"{world.api_url}/device/connect", headers=h, json=body)
                answers.append(r.json())

            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(connect)
                await trio.sleep(0.3)
                assert world.fake.open_proxies == []  # no proxy before the answer
            assert trio.current_time() - start >= 3
            assert answers[0]["status"] == "true" and len(world.fake.open_proxies) == 1
            # a refused connect (unknown service) opens nothing and does not wait
            start = trio.current_time()
            r = await c.post(
                f"{world.api_url}/device/connect", headers=h, json={"deviceaddress": "nope"}
            )
            assert r.json()["status"] == "false" and trio.current_time() - start < 2.5


async def test_connect_delay_over_control_refuses_nonsense(world: World) -> None:
    with trio.fail_after(DEADLINE):
        base = world.api_url.rsplit("/apv/", 1)[0]
        async with httpx.AsyncClient() as c:
            for bad in (-1, "1", None, True):
                r = await c.post(f"{base}/_fake/control", json={"connect_delay": bad})
                assert r.status_code == 400 and "connect_delay" in r.json()["error"], bad
            r = await c.post(f"{base}/_fake/control", json={"connect_delay": 0})
            assert r.json()["ok"]
            state = (await c.get(f"{base}/_fake/state")).json()
        assert state["knobs"]["connect_delay"] == 0


def test_fake_api_command_line_sets_lifetime_idle_drop_and_connect_delay() -> None:
    from rittunnel.commands.options import options_from
    from rittunnel.commands.registry import build_parser
    from rittunnel.fake.cli import FakeApiOptions, knobs_from

    parser = build_parser()
    argv = ["fake-api", "--expirationsec", "8", "--idle-sec", "3", "--connect-delay", "1.2"]
    knobs = knobs_from(options_from(FakeApiOptions, parser.parse_args(argv)))
    assert (knobs.expirationsec, knobs.idle_sec, knobs.connect_delay) == (8, 3.0, 1.2)
    knobs = knobs_from(options_from(FakeApiOptions, parser.parse_args(["fake-api"])))
    assert (knobs.idle_sec, knobs.connect_delay) == (900.0, 0.0)
    for bad in ("-1", "soon", "nan", "inf"):
        with pytest.raises(SystemExit):
            parser.parse_args(["fake-api", "--connect-delay", bad])
        with pytest.raises(SystemExit):
            parser.parse_args(["fake-api", "--idle-sec", bad])
