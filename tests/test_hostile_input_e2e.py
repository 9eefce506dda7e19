"""Nothing leaks, nothing lies (issue 16), end to end: the installed ``rittunnel`` as a
subprocess against the fake remote.it, fed what a hostile or broken world gives it — a
closed or full stdout/stderr, an alias bomb of a profile, NaN and infinite numbers, URLs
that cannot work or carry a password, service names with terminal escapes, a body of
hundreds of MiB, a proxy field that is not one. Each ends in one clear line (or keeps
serving), never in "internal error". Real sockets on 127.0.0.1; each test has an
absolute deadline."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
import trio

from rittunnel.fake import FakeService

from .conftest import (
    RITTUNNEL,
    World,
    default_timeouts,
    free_port,
    record_output,
    roundtrip,
    run_cli,
    ssh_profile,
    start_cli,
)

DEADLINE = 60

#: a "billion laughs": nested aliases under ``service:`` that stand for 9**9 strings
LAUGHS = """\
service:
  - &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  - &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  - &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  - &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  - &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  - [*h, *h, *h, *h, *h, *h, *h, *h, *h]
local_port: 2222
"""

#: runs the CLI in-process and reports its peak memory on stderr
#: runs the CLI and prints its peak RSS: VmHWM of this address space, which exec made new
#: (getrusage's ru_maxrss is kept across exec, so it counts the forking test worker's
#: pages, hundreds of MiB after an xdist worker has run many tests)
PEAK_RSS = """
import sys
from rittunnel.cli import main
try:
    code = main(sys.argv[1:])
finally:
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"PEAK_RSS_KIB={kib}", file=sys.stderr)
sys.exit(code)
"""


def one_clear_line(text: str) -> str:
    """The output is one ``rittunnel: error:`` line and no internal error."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("rittunnel: error: "), text
    assert "internal error" not in text and "Traceback" not in text, text
    return lines[0]


def limit_memory(limit: int = 1 << 30) -> None:
    """A child's address space is capped: a memory bomb fails fast instead of eating the
    machine (a fixed rittunnel stays far below)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


async def relays(port: int, timeout: float = 20) -> None:
    """Wait until the local port relays to the echo service (no ready line to read)."""
    with trio.fail_after(timeout):
        while True:
            try:
                if await roundtrip(port, b"still here") == b"still here":
                    return
            except OSError:
                pass
            await trio.sleep(0.1)


# -- case 8: a closed or full stdout/stderr never stops a running tunnel ------------------


@pytest.mark.parametrize(
    "redirect",
    [">/dev/full", ">&-", "2>/dev/full", "2>&-", ">/dev/full 2>/dev/full", ">&- 2>&-"],
)
async def test_a_closed_or_full_stdout_or_stderr_does_not_stop_the_tunnel(
    world: World, nursery: trio.Nursery, redirect: str
) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port)
        cli = await start_cli(nursery, world.env, "up", "-v", "ssh-pi", redirect=redirect)
        await relays(port)
        payload = os.urandom(256 * 1024)
        assert await roundtrip(port, payload) == payload  # -v: a line per connection
        assert cli.proc.returncode is None, cli.all_output
        assert await cli.stop(signal.SIGINT) == 0, cli.all_output
        assert "internal error" not in cli.all_output
        assert len(world.fake.calls_to("stop")) == 1
        assert world.fake.open_proxies == []


async def test_a_run_command_never_inherits_a_socket_as_its_stdout(
    world: World, nursery: trio.Nursery
) -> None:
    """Started with stdout closed, rittunnel fills fd 1 with /dev/null: else a socket or
    pipe it opens takes that number, and the command would write into it."""
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        probe = "import os, sys; print(os.readlink('/proc/self/fd/1'), file=sys.stderr); print(1)"
        argv = ("run", "ssh-pi", "--", sys.executable, "-c", probe)
        cli = await start_cli(nursery, world.env, *argv, redirect=">&-")
        with trio.fail_after(30):
            code = await cli.exited()
        await cli.wait_for("stopped", stream="err")
        assert code == 0, cli.all_output
        assert "/dev/null" in cli.err, cli.all_output
        assert world.fake.open_proxies == []


# -- case 15: an alias bomb of a profile --------------------------------------------------


async def test_a_billion_laughs_profile_is_refused_at_once(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.profile("laughs", LAUGHS)
        assert len(LAUGHS) < 600
        started = time.monotonic()
        with trio.fail_after(20):
            proc = await trio.run_process(
                [RITTUNNEL, "up", "laughs"],
                env=world.env,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                preexec_fn=limit_memory,
            )
        err = proc.stderr.decode(errors="replace")
        record_output(err)
        assert time.monotonic() - started < 10
        line = one_clear_line(err)
        assert "laughs.yaml: line 2, column 5: YAML anchors and aliases" in line
        assert proc.returncode == 1

        # the listing shows it as invalid, and lists the good profile beside it
        ssh_profile(world, free_port())
        with trio.fail_after(20):
            proc = await trio.run_process(
                [RITTUNNEL, "profiles"],
                env=world.env,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                preexec_fn=limit_memory,
            )
        out = proc.stdout.decode(errors="replace")
        record_output(out)
        assert proc.returncode == 0, proc.stderr
        (row,) = [line for line in out.splitlines() if line.startswith("laughs")]
        assert "invalid:" in row and "anchors and aliases" in row
        assert any(line.startswith("ssh-pi") for line in out.splitlines())


# -- case 16: numbers and URLs that cannot be meant ---------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("hold_timeout: .nan\n", "hold_timeout: nan is not a positive number of seconds"),
        ("idle_timeout: .inf\n", "idle_timeout: inf is not a positive number of seconds"),
        ("local_port: 2223\n", "key 'local_port' appears twice"),
        ("api_url: http://[::1\n", "api_url: 'http://[::1' is not a URL"),
    ],
)
async def test_a_profile_value_that_cannot_be_meant_is_one_clear_line(
    world: World, extra: str, expected: str
) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port(), extra)
        result = await run_cli(world.env, "ssh-pi", timeout=20)
        assert result.code == 1
        assert expected in one_clear_line(result.err)
        assert world.fake.calls_to("connect") == []


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RITTUNNEL_API_TIMEOUT", "nan", "RITTUNNEL_API_TIMEOUT='nan' is not a positive number"),
        ("RITTUNNEL_START_TIMEOUT", "inf", "RITTUNNEL_START_TIMEOUT='inf' is not a positive"),
        ("RITTUNNEL_SERVICES_TTL", "1e999", "RITTUNNEL_SERVICES_TTL='1e999' is not a positive"),
        ("RITTUNNEL_API_URL", "http://:80/apv", "is not an http(s) URL with a host"),
        ("RITTUNNEL_API_URL", "http://exa mple.com/", "has spaces or control characters"),
    ],
)
async def test_an_environment_value_that_cannot_work_is_said_at_once_not_retried(
    world: World, variable: str, value: str, expected: str
) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        env = default_timeouts(world.env)  # retries would last the default 15 s
        started = time.monotonic()
        result = await run_cli({**env, variable: value}, "ssh-pi", timeout=30)
        assert time.monotonic() - started < 8  # not 12-15 s of retries
        assert result.code == 1
        assert expected in one_clear_line(result.err)
        assert "try again" not in result.err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["up", "--start-timeout", "nan", "ssh-pi"], "argument --start-timeout: 'nan' is not"),
        (["up", "--start-timeout", "0", "ssh-pi"], "argument --start-timeout: '0' is not"),
        (["up", "--start-timeout", "inf", "ssh-pi"], "argument --start-timeout: 'inf' is not"),
        (["wait", "--timeout", "nan", "ssh-pi"], "argument --timeout: 'nan' is not"),
        (["stop", "--timeout", "-1", "ssh-pi"], "argument --timeout: '-1' is not"),
        (["run", "-p", "70000", "ssh-pi", "--", "true"], "argument -p/--port: '70000' is not"),
        (["run", "-p", "-1", "ssh-pi", "--", "true"], "argument -p/--port: '-1' is not"),
        (["init", "x", "--port", "0"], "argument --port: '0' is not a port"),
        (["demo", "--mib", "-5"], "argument --mib: '-5' is not a number of MiB"),
        (["demo", "--mib", "100000"], "argument --mib: '100000' is not a number of MiB"),
    ],
)
async def test_a_number_on_the_command_line_that_cannot_be_meant_is_a_usage_error(
    world: World, args: list[str], expected: str
) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        result = await run_cli(world.env, *args, timeout=15)
        assert result.code == 2, result.all_output
        assert expected in result.err
        assert "internal error" not in result.err and "Traceback" not in result.err
        assert world.fake.calls_to("connect") == []


async def test_run_port_is_a_port_and_zero_means_any_free_one(world: World) -> None:
    with trio.fail_after(DEADLINE):
        ssh_profile(world, free_port())
        result = await run_cli(world.env, "run", "-p", "65536", "ssh-pi", "--", "true")
        assert result.code == 2 and "internal error" not in result.err, result.all_output
        result = await run_cli(
            world.env, "run", "-p", "0", "ssh-pi", "--", "sh", "-c", "echo {port}"
        )
        assert result.code == 0, result.all_output
        assert 1 <= int(result.out.strip()) <= 65535


@pytest.mark.parametrize("expirationsec", ["inf", "nan", "-5", "1e300"])
async def test_an_absurd_proxy_lifetime_from_the_api_is_unknown_not_a_crash(
    world: World, nursery: trio.Nursery, expirationsec: str
) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.answer_next_connect(expirationsec=expirationsec)
        port = free_port()
        ssh_profile(world, port)
        cli = await start_cli(nursery, world.env, "ssh-pi")
        line = await cli.ready()
        assert "expires" not in line  # unknown: not "expires in 0s", not a crash
        assert await roundtrip(port, b"lifetime") == b"lifetime"
        assert await cli.stop() == 0
        assert "internal error" not in cli.all_output
        assert world.fake.open_proxies == []


@pytest.mark.parametrize("proxy", ["http://127.0.0.1", "garbage with spaces", "127.0.0.1:99999"])
async def test_a_connect_answer_without_a_usable_proxy_is_an_error_and_the_proxy_is_stopped(
    world: World, proxy: str
) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.answer_next_connect(proxy=proxy)
        world.env["RITTUNNEL_START_TIMEOUT"] = "3"
        ssh_profile(world, free_port())
        result = await run_cli(world.env, "ssh-pi", timeout=30)
        assert result.code == 1, result.all_output
        assert "ready on" not in result.out  # not taken for a reverse proxy
        assert "the proxy field" in result.err
        assert "internal error" not in result.err
        # the connection the answer named was stopped, not left open at remote.it
        first = world.fake.calls_to("connect")[0]
        assert first.status == "true"
        assert world.fake.open_proxies == []


# -- case 17: text from the API never drives the terminal ---------------------------------


EVIL = "pi\x1b[2J\x1b[H\x9b31mFAKE ROW\x07\r\n80:00 forged\u202e"


async def test_service_names_with_terminal_escapes_are_shown_escaped(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.add_service(FakeService("80:00:00:00:01:02:03:09", EVIL, "SSH\x1b]0;x\x07"))
        result = await run_cli(world.env, "services", timeout=20)
        assert result.code == 0, result.all_output
        for control in ("\x1b", "\x9b", "\x07", "\r", "\u202e"):
            assert control not in result.out
        (row,) = [line for line in result.out.splitlines() if "03:09" in line]
        assert row.startswith("pi\\x1b[2J\\x1b[H\\x9b31mFAKE ROW\\x07\\r\\n80:00 forged\\u202e")
        assert len(result.out.splitlines()) == 1 + len(world.fake.services)  # no forged rows

        # init's numbered list (on stderr) too, and the profile it writes names it by ID
        answer = b"80:00:00:00:01:02:03:09\n"
        result = await run_cli(world.env, "init", "evil", "--port", "2999", stdin=answer)
        assert result.code == 0, result.all_output
        assert "\x1b" not in result.err and "\x9b" not in result.err
        assert "FAKE ROW" in result.err
        written = (world.profiles / "evil.yaml").read_text()
        assert "\x1b" not in written and "service: 80:00:00:00:01:02:03:09\n" in written


async def test_an_api_refusal_with_terminal_escapes_is_shown_escaped(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.fail_next("connect", "status_false:[0209] \x1b[2Jno such \x1b]0;pwned\x07device")
        ssh_profile(world, free_port())
        result = await run_cli(world.env, "ssh-pi", timeout=20)
        assert result.code == 1
        line = one_clear_line(result.err)
        assert "\x1b" not in result.err and "\x07" not in result.err
        assert "\\x1b[2Jno such \\x1b]0;pwned\\x07device" in line


# -- case 18: a body of hundreds of MiB ---------------------------------------------------


async def test_a_huge_api_body_is_refused_past_8_mib_without_reading_it(world: World) -> None:
    with trio.fail_after(DEADLINE):
        world.fake.fail_next("list", "huge:300000000")
        with trio.fail_after(45):
            proc = await trio.run_process(
                [sys.executable, "-c", PEAK_RSS, "services"],
                # the fake sends 8 MiB before it is cut off: the default API timeout's room
                env=default_timeouts(world.env),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        err = proc.stderr.decode(errors="replace")
        record_output(err, world.env)
        text, _, peak = err.rpartition("PEAK_RSS_KIB=")
        assert proc.returncode == 1
        line = one_clear_line(text)
        assert "answered HTTP 200 with more than 8.0 MiB" in line
        assert "empty body" not in line
        assert int(peak) < 150 * 1024  # KiB: not the 680 MiB it took to read it whole


async def test_the_body_cap_is_8_mib_and_a_body_under_it_is_read_whole(world: World) -> None:
    from rittunnel.errors import ApiUnavailable, ProtocolError
    from rittunnel.fake import DEVELOPER_KEY, PASSWORD, USERNAME
    from rittunnel.remoteit.credentials import Credentials
    from rittunnel.remoteit.rest import RestClient
    from rittunnel.remoteit.transport import MAX_BODY

    creds = Credentials(DEVELOPER_KEY, USERNAME, PASSWORD)
    with trio.fail_after(DEADLINE):
        async with RestClient(world.api_url, creds) as api:
            world.fake.fail_next("list", f"huge:{MAX_BODY + 1}", f"huge:{MAX_BODY}")
            with pytest.raises(ApiUnavailable, match="answered HTTP 200 with more than 8.0 MiB"):
                await api.list_services()
            # 8 MiB exactly is read (and is JSON without a device list)
            with pytest.raises(ProtocolError, match="without a devices list"):
                await api.list_services()
            assert len(await api.list_services()) == len(world.fake.services)


async def test_a_url_httpx_cannot_use_is_not_retried_as_an_outage() -> None:
    """The last line of defence behind the checks of Settings and profiles: a scheme
    httpx does not speak is an error that is not transient (not 12-15 s of retries)."""
    from rittunnel.errors import ApiError, ApiUnavailable
    from rittunnel.fake import DEVELOPER_KEY, PASSWORD, USERNAME
    from rittunnel.remoteit.credentials import Credentials
    from rittunnel.remoteit.rest import RestClient

    creds = Credentials(DEVELOPER_KEY, USERNAME, PASSWORD)
    with trio.fail_after(DEADLINE):
        async with RestClient("ftp://me:Secret99@example.com/apv", creds) as api:
            with pytest.raises(ApiError) as info:
                await api.connect("80:00:00:00:01:02:03:04", "latching", None)
        assert not isinstance(info.value, ApiUnavailable) and not info.value.transient
        assert "Secret99" not in str(info.value) and "example.com" in str(info.value)


# -- case 19: credentials in URLs, a tunnel open to the network ---------------------------


async def test_a_password_in_the_api_url_is_never_shown(world: World) -> None:
    with trio.fail_after(DEADLINE):
        env = {**world.env, "RITTUNNEL_API_URL": "http://apiuser:Hunter2Secret@127.0.0.1:1/apv"}
        result = await run_cli(env, "services", timeout=20)
        assert result.code == 1
        line = one_clear_line(result.err)
        assert "Hunter2Secret" not in result.all_output and "apiuser" not in result.all_output
        assert "127.0.0.1:1" in line

        # a bad URL with a password in it: the message quotes it without the password
        env["RITTUNNEL_API_URL"] = "ftp://apiuser:Hunter2Secret@example.com/"
        result = await run_cli(env, "services", timeout=20)
        assert "Hunter2Secret" not in result.all_output
        assert "ftp://***@example.com/" in one_clear_line(result.err)


async def test_listening_beyond_loopback_is_warned(world: World, nursery: trio.Nursery) -> None:
    with trio.fail_after(DEADLINE):
        port = free_port()
        ssh_profile(world, port, "bind: 0.0.0.0\n")
        cli = await start_cli(nursery, world.env, "ssh-pi")
        await cli.ready()
        warning = await cli.wait_for("anyone who can reach", stream="err")
        assert warning == (
            f"rittunnel: warning: ssh-pi: listening on 0.0.0.0: anyone who can reach this "
            f"machine on port {port} can use the tunnel"
        )
        assert await cli.stop() == 0

        # the default (loopback) says nothing of the kind
        ssh_profile(world, port)
        cli = await start_cli(nursery, world.env, "ssh-pi")
        await cli.ready()
        assert await cli.stop() == 0
        assert "anyone who can reach" not in cli.all_output
