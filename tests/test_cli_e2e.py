"""End to end: the installed ``rittunnel`` as a subprocess, the fake remote.it and a real
echo service, real sockets on 127.0.0.1. Each test has an absolute deadline."""

from __future__ import annotations

import os
import re
import signal
import socket

import pytest
import trio

from rittunnel.fake import DEVELOPER_KEY, PASSWORD

from .conftest import (
    OFFLINE_ID,
    SSH_ID,
    WEB_ID,
    Result,
    World,
    free_port,
    record_output,
    roundtrip,
    run_cli,
    ssh_profile,
    start_cli,
    up,
)

DEADLINE = 60


async def test_tunnel_relays_8_mib_and_32_concurrent_then_stops_on_sigterm(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        cli = await start_cli(nursery, world.env, "ssh-pi")
        line = await cli.ready()
        assert f"127.0.0.1:{port}" in line and "latching" in line

        payload = os.urandom(8 * 1024 * 1024)
        assert await roundtrip(port, payload) == payload

        results: dict[int, bool] = {}

        async def one(i: int) -> None:
            data = os.urandom(64 * 1024 + i)
            results[i] = await roundtrip(port, data) == data

        async with trio.open_nursery() as n:
            for i in range(32):
                n.start_soon(one, i)
        assert len(results) == 32 and all(results.values())

        # the default mode is latching: hostip 255.255.255.255, with a JSON content type
        (connect,) = world.fake.calls_to("connect")
        assert connect.body["hostip"] == "255.255.255.255"
        assert connect.body["wait"] == "true"
        assert connect.headers["content-type"] == "application/json"
        assert len(world.fake.open_proxies) == 1
        cid = world.fake.open_proxies[0].connection_id

        assert await cli.stop(signal.SIGTERM) == 0
        (stop,) = world.fake.calls_to("stop")
        assert stop.body == {"deviceaddress": SSH_ID, "connectionid": cid}
        assert stop.status == "true"
        assert world.fake.open_proxies == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
async def test_signals_stop_the_proxy_and_exit_zero(
    world: World, nursery: trio.Nursery, sig: int
) -> None:
    with trio.fail_after(DEADLINE):
        cli, port = await up(world, nursery)
        assert await roundtrip(port, b"hello") == b"hello"
        assert await cli.stop(sig) == 0
        assert len(world.fake.calls_to("stop")) == 1
        assert world.fake.open_proxies == []


async def test_signal_during_a_live_connection_still_stops_the_proxy(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        cli, port = await up(world, nursery)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"ping")
        assert await stream.receive_some(10) == b"ping"
        assert await cli.stop(signal.SIGINT) == 0
        assert world.fake.open_proxies == []
        # the local client sees its connection end
        with trio.fail_after(5):
            while await stream.receive_some(10):
                pass
        await stream.aclose()


async def test_public_mode_warns_and_restricted_sends_hostip(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port, "mode: public\n")
        cli = await start_cli(nursery, world.env, "ssh-pi")
        await cli.ready()
        warning = await cli.wait_for("anyone who learns", stream="err")
        assert "public" in warning
        assert world.fake.calls_to("connect")[0].body["hostip"] == "0.0.0.0"
        assert await cli.stop() == 0

        world.profile("r", f"service: {SSH_ID}\nlocal_port: {port}\nmode: restricted\n")
        cli = await start_cli(nursery, world.env, "r")
        await cli.ready()
        assert "hostip" not in world.fake.calls_to("connect")[1].body
        # no hostip: the fake restricts to the caller's IP, 127.0.0.1 — our relay's IP
        assert await roundtrip(port, b"ok") == b"ok"
        assert await cli.stop() == 0
        assert world.fake.open_proxies == []


async def test_reverse_proxy_redirects_keeping_path_and_query(
    world: World, nursery: trio.Nursery
) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        world.profile("web", f"service: {WEB_ID}\nlocal_port: {port}\n")
        cli = await start_cli(nursery, world.env, "web")
        line = await cli.ready()
        url = re.search(r"https://[a-z0-9]+\.p18\.rt3\.io", line)
        assert url, line
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += await stream.receive_some(4096)
        assert head.startswith(b"HTTP/1.1 307 Temporary Redirect\r\n"), head
        assert f"location: {url.group(0)}/a/b?x=1&y=2".encode() in head.lower()
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:  # not HTTP (a TLS hello): a whole 400, then the end
            await stream.send_all(b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n")
            answer = b""
            while chunk := await stream.receive_some(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert await cli.stop() == 0
        assert world.fake.open_proxies == []


async def test_port_in_use_names_the_holder_and_calls_no_api(world: World) -> None:
    with trio.fail_after(DEADLINE):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        try:
            ssh_profile(world, port)
            result = await run_cli(world.env, "ssh-pi")
        finally:
            holder.close()
        assert result.code == 1
        assert (
            f"local port {port} on 127.0.0.1 is already in use by pid {os.getpid()}" in result.err
        )
        assert "Traceback" not in result.all_output
        assert world.fake.calls == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ("status_false:[0209] nope", "remote.it said no: [0209] nope"),
        ("html502", "HTTP 502 with an HTML page (502 Bad Gateway)"),
        ("reset", "the connection to 127.0.0.1"),
    ],
)
async def test_api_failures_at_start_are_one_line_errors(
    world: World, failure: str, expected: str
) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        world.fake.fail_next("connect", *[failure] * 20)
        env = {**world.env, "RITTUNNEL_START_TIMEOUT": "1"}
        result = await run_cli(env, "ssh-pi")
        assert result.code == 1, result
        errors = [line for line in result.err.splitlines() if "error:" in line]
        assert len(errors) == 1 and expected in errors[0], result.err
        assert "Traceback" not in result.all_output
        assert world.fake.open_proxies == []


async def test_api_timeout_is_a_one_line_error(world: World) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        world.fake.fail_next("connect", *["hang:30"] * 10)
        env = {**world.env, "RITTUNNEL_API_TIMEOUT": "1", "RITTUNNEL_START_TIMEOUT": "2"}
        result = await run_cli(env, "ssh-pi")
        assert result.code == 1
        assert "connect: no answer from 127.0.0.1" in result.err and "within 1s" in result.err
        assert "Traceback" not in result.all_output


async def test_wrong_password_and_unknown_service(world: World) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        result = await run_cli({**world.env, "REMOTEIT_PASSWORD": "wrong-pass"}, "ssh-pi")
        assert result.code == 1
        assert "[0102] The username or password is invalid" in result.err
        assert "wrong-pass" not in result.all_output

        world.profile("off", f"service: {OFFLINE_ID}\nlocal_port: {free_port()}\n")
        result = await run_cli(world.env, "off")
        assert result.code == 1 and "is not active" in result.err


async def test_user_errors_are_one_line_without_traceback(world: World) -> None:
    results: list[Result] = []

    async def fails(env: dict[str, str], *args: str) -> Result:
        result = await run_cli(env, *args)
        results.append(result)
        assert result.code == 1, result.all_output
        return result

    with trio.fail_after(DEADLINE):
        r = await fails(world.env, "nope")
        assert "no profile 'nope'" in r.err and "RITTUNNEL_PROFILES" in r.err

        world.profile("bad", "service: [unclosed\n")
        r = await fails(world.env, "bad")
        assert "bad.yaml: not valid YAML at line" in r.err

        world.profile("port", f"service: {SSH_ID}\nlocal_port: 70000\n")
        r = await fails(world.env, "port")
        assert "port.yaml: local_port: 70000 is out of range" in r.err

        ssh_profile(world, free_port())
        env = {k: v for k, v in world.env.items() if k != "REMOTEIT_DEVELOPER_KEY"}
        r = await fails(env, "ssh-pi")
        assert "REMOTEIT_DEVELOPER_KEY is not set" in r.err

        assert len(results) == 4
        for result in results:  # every one of them, not only the last
            assert len(result.err.strip().splitlines()) == 1, result.err
            assert "Traceback" not in result.all_output


async def test_secrets_never_appear_in_output(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        cli = await start_cli(nursery, world.env, "-v", "ssh-pi")
        await cli.ready()
        assert await roundtrip(port, b"x") == b"x"
        assert await cli.stop() == 0
        tokens = list(world.fake.tokens)
        for secret in [PASSWORD, DEVELOPER_KEY, *tokens]:
            assert secret not in cli.all_output


async def test_python_dash_m_and_help(world: World) -> None:
    with trio.fail_after(DEADLINE):
        r = await run_cli(world.env, "--help")
        assert r.code == 0 and "rittunnel" in r.out
        import sys

        proc = await trio.run_process(
            [sys.executable, "-m", "rittunnel", "--version"], capture_stdout=True
        )
        assert proc.stdout.startswith(b"rittunnel ")
        record_output(proc.stdout.decode())
