"""``rittunnel unit``: the decisions (systemd's quoting: test_systemd.py), and the
installed CLI's unit parsed with configparser, checked by ``systemd-analyze
verify`` where the machine has it, and finally run the way systemd would run it."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import pytest
import trio

from rittunnel.commands.common import self_argv
from rittunnel.commands.unit import (
    CREDENTIAL_VARS,
    Unit,
    carried_env,
    env_file_path,
    timeouts,
)
from rittunnel.fake import ACCESS_SECRET, DEVELOPER_KEY, PASSWORD, USERNAME
from rittunnel.settings import Settings
from rittunnel.systemd import parse_env_file

from .conftest import (
    RITTUNNEL,
    World,
    default_timeouts,
    free_port,
    record_output,
    roundtrip,
    run_cli,
    ssh_profile,
)
from .test_systemd import exec_argv, parse_unit

DEADLINE = 60


# -- pure ------------------------------------------------------------------------------


def test_carried_settings_are_absolute_and_never_a_secret() -> None:
    env = {
        "HOME": "/home/me",
        "RITTUNNEL_PROFILES": "profiles:~/more:/abs",
        "XDG_STATE_HOME": "~/state",
        "RITTUNNEL_API": "graphql",
        "RITTUNNEL_API_URL": "https://user:hunter2@api.example.com/apv/v27",
        "RITTUNNEL_GRAPHQL_URL": "https://api.example.com/graphql/v1",
        "RITTUNNEL_START_TIMEOUT": "40",
        "RITTUNNEL_DEBUG": "1",
        "R3_PROFILE": "work",
        "NOTIFY_SOCKET": "/run/notify",
        **{name: "secret-value" for name in CREDENTIAL_VARS},
    }
    carried, secret = carried_env(env, "/work")
    assert carried == {
        "RITTUNNEL_PROFILES": "/work/profiles:/home/me/more:/abs",
        "XDG_STATE_HOME": "/home/me/state",
        "RITTUNNEL_API": "graphql",
        "RITTUNNEL_GRAPHQL_URL": "https://api.example.com/graphql/v1",
        "RITTUNNEL_START_TIMEOUT": "40",
        "R3_PROFILE": "work",
    }
    assert secret == ["RITTUNNEL_API_URL"]


def test_timeouts_leave_room_for_a_connect_in_flight_and_the_stop_calls() -> None:
    settings = Settings(state_dir=Path("/s"), cache_dir=Path("/c"))
    start, stop = timeouts(settings)
    assert stop > settings.api_timeout + settings.stop_timeout and stop == 55
    assert start >= 90
    slow = settings.replace(api_timeout=120.0, start_timeout=300.0)
    assert timeouts(slow) == (300 + 240 + 10 + 15, 120 + 10 + 15)


def test_a_unit_made_without_timeouts_has_the_default_ones() -> None:
    unit = Unit(names=["a"], command="", argv=["/x"], env_file="/e")
    default = Settings(state_dir=Path("/s"), cache_dir=Path("/c"))
    assert (unit.start_sec, unit.stop_sec) == timeouts(default)


def test_the_env_file_follows_xdg_config_home() -> None:
    assert env_file_path({"HOME": "/h"}) == Path("/h/.config/rittunnel/env")
    assert env_file_path({"HOME": "/h", "XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/rittunnel/env")


def test_self_argv_is_the_console_script_else_python_m(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "rittunnel"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert self_argv("bin/rittunnel", "/usr/bin/python3", str(tmp_path)) == [str(script)]
    assert self_argv(str(script), "python3", "/") == [str(script)]
    python = ["/venv/bin/python", "-m", "rittunnel"]
    assert self_argv("/x/rittunnel/__main__.py", "/venv/bin/python", "/") == python
    assert self_argv("/venv/bin/pytest", "/venv/bin/python", "/") == python  # not us
    assert self_argv("bin/python", "bin/python", "/venv") == python
    assert self_argv("bin/./rittunnel", "/usr/bin/python3", str(tmp_path)) == [str(script)]
    script.chmod(0o644)  # not something one can run
    assert self_argv(str(script), "/venv/bin/python", "/") == python


def test_the_text_has_every_setting_systemd_needs() -> None:
    unit = Unit(
        names=["ssh-pi"],
        command="rittunnel unit ssh-pi",
        argv=["/usr/bin/rittunnel", "up", "ssh-pi"],
        env_file="/home/me/.config/rittunnel/env",
        environment={"RITTUNNEL_PROFILES": "/home/me/my profiles"},
    )
    parser, environment = parse_unit(unit.text())
    assert dict(parser["Unit"]) == {
        "Description": "rittunnel: remote.it tunnel ssh-pi",
        "Wants": "network-online.target",
        "After": "network-online.target",
    }
    service = parser["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert exec_argv(service["ExecStart"]) == ["/usr/bin/rittunnel", "up", "ssh-pi"]
    assert service["EnvironmentFile"] == "-/home/me/.config/rittunnel/env"
    assert environment == {"RITTUNNEL_PROFILES": "/home/me/my profiles"}
    assert service["Restart"] == "on-failure" and int(service["RestartSec"]) > 0
    assert service["KillMode"] == "mixed" and int(service["TimeoutStopSec"]) > 10
    assert dict(parser["Install"]) == {"WantedBy": "default.target"}
    assert "systemctl --user enable --now rittunnel-ssh-pi" in unit.text()


def install_commands(text: str) -> dict[str, list[str]]:
    """The shell commands in a unit's comment as the shell splits them (``~`` left as it
    is), by first word; of two, the last (``systemctl``: ``enable``)."""
    commands: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#   "):
            words = shlex.split(line.removeprefix("#   "))
            commands[words[0]] = words
    return commands


def test_the_install_commands_quote_the_unit_name_for_the_shell() -> None:
    unit = Unit(
        names=["über", "x.y"],
        command="rittunnel unit über x.y",
        argv=["/usr/bin/rittunnel", "up", "über", "x.y"],
        env_file="/e",
    )
    name = "rittunnel-\\xc3\\xbcber-x.y"
    commands = install_commands(unit.text())
    assert commands["rittunnel"][-2:] == [">", f"~/.config/systemd/user/{name}.service"]
    assert commands["systemctl"][-1] == name and commands["journalctl"][-2:] == [name, "-f"]
    # a name cannot add a line to the unit, in its comment or its Description
    evil = Unit(
        names=["a\nExecStartPre=/bin/evil"],
        command="rittunnel unit x",
        argv=["/usr/bin/rittunnel", "up", "x"],
        env_file="/e",
    )
    assert not any(line.startswith("ExecStartPre") for line in evil.text().splitlines())


# -- the CLI ------------------------------------------------------------------------------


@pytest.fixture
async def world(world: World) -> World:
    """The end-to-end world with rittunnel's default timeouts: a unit carries the timeouts
    it is made with and sizes its own from them, and these tests are about the defaults."""
    world.env = default_timeouts(world.env)
    return world


async def unit_of(world: World, *names: str, env: dict[str, str] | None = None) -> str:
    result = await run_cli(env or world.env, "unit", *names)
    assert result.code == 0, result.all_output
    return result.out


async def test_the_cli_prints_a_notify_unit_with_this_rittunnel_and_no_secret(
    world: World,
) -> None:
    ssh_profile(world, free_port())
    env = {
        **world.env,
        "R3_SECRET_ACCESS_KEY": ACCESS_SECRET,
        "R3_ACCESS_KEY_ID": "FAKEACCESSKEYID0001",
    }
    result = await run_cli(env, "unit", "ssh-pi")
    assert result.code == 0, result.all_output
    parser, environment = parse_unit(result.out)
    service = parser["Service"]
    assert service["Type"] == "notify"
    argv = exec_argv(service["ExecStart"])
    assert argv == [RITTUNNEL, "up", "ssh-pi"] and os.path.isabs(argv[0])
    assert environment["RITTUNNEL_PROFILES"] == str(world.profiles)
    assert environment["RITTUNNEL_API_URL"] == world.api_url
    assert not set(environment) & set(CREDENTIAL_VARS)
    for secret in (PASSWORD, DEVELOPER_KEY, ACCESS_SECRET, USERNAME):
        assert secret not in result.all_output
    # the service cannot see this shell's credentials: said, by name only
    [warning] = [line for line in result.err.splitlines() if "will not see" in line]
    for name in ("REMOTEIT_USERNAME", "REMOTEIT_PASSWORD", "R3_SECRET_ACCESS_KEY"):
        assert name in warning
    assert f"install -D -m 600 /dev/null {world.tmp}/config/rittunnel/env" in warning


async def test_python_m_rittunnel_writes_python_m_rittunnel(world: World) -> None:
    ssh_profile(world, free_port())
    with trio.fail_after(DEADLINE):
        proc = await trio.run_process(
            [sys.executable, "-m", "rittunnel", "unit", "ssh-pi"],
            env=world.env,
            capture_stdout=True,
            capture_stderr=True,
        )
    out = proc.stdout.decode()
    record_output(out + proc.stderr.decode(), world.env)
    parser, _ = parse_unit(out)
    assert exec_argv(parser["Service"]["ExecStart"]) == [
        os.path.abspath(sys.executable),
        "-m",
        "rittunnel",
        "up",
        "ssh-pi",
    ]


async def test_a_missing_profile_is_the_usual_error(world: World) -> None:
    ssh_profile(world, free_port())
    result = await run_cli(world.env, "unit", "ssh-pi", "nope")
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("rittunnel: error: no profile 'nope': looked for nope.yaml")


async def test_an_api_url_with_a_password_stays_out(world: World) -> None:
    ssh_profile(world, free_port())
    url = world.api_url.replace("http://", "http://user:s3cretpass@")
    result = await run_cli({**world.env, "RITTUNNEL_API_URL": url}, "unit", "ssh-pi")
    assert result.code == 0 and "s3cretpass" not in result.all_output
    _, environment = parse_unit(result.out)
    assert "RITTUNNEL_API_URL" not in environment
    assert "RITTUNNEL_API_URL has a user name or password in it" in result.err


async def test_no_warning_when_the_env_file_holds_the_credentials(world: World) -> None:
    ssh_profile(world, free_port())
    env_file = world.tmp / "config" / "rittunnel" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text("".join(f"{k}={world.env[k]}\n" for k in CREDENTIAL_VARS if k in world.env))
    env_file.chmod(0o644)
    result = await run_cli(world.env, "unit", "ssh-pi")
    assert result.code == 0
    assert result.err == (
        f"rittunnel: warning: {env_file} can be read by other users (mode 0644); "
        f"run `chmod 600 {env_file}`\n"
    )
    env_file.chmod(0o600)
    assert (await run_cli(world.env, "unit", "ssh-pi")).err == ""


async def test_the_stop_timeout_is_carried_and_sizes_timeout_stop_sec(world: World) -> None:
    ssh_profile(world, free_port())

    async def stop_sec(env: dict[str, str]) -> tuple[int, dict[str, str]]:
        config, environment = parse_unit(await unit_of(world, "ssh-pi", env=env))
        return int(config["Service"]["TimeoutStopSec"]), environment

    assert (await stop_sec(world.env))[0] == 55  # 30 s connect, 10 s stops, 15 s room
    env = {**world.env, "RITTUNNEL_STOP_TIMEOUT": "45"}
    seconds, environment = await stop_sec(env)
    assert environment["RITTUNNEL_STOP_TIMEOUT"] == "45" and seconds == 30 + 45 + 15
    # the service reads the env file too, over Environment=: its value counts
    env_file = world.tmp / "config" / "rittunnel" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text("RITTUNNEL_STOP_TIMEOUT=100\n")
    env_file.chmod(0o600)
    assert (await stop_sec(env))[0] == 30 + 100 + 15
    env_file.write_text("RITTUNNEL_STOP_TIMEOUT=forever\n")
    result = await run_cli(env, "unit", "ssh-pi")
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(
        f"rittunnel: error: {env_file}: RITTUNNEL_STOP_TIMEOUT='forever' is not"
    )
    assert len(result.err.splitlines()) == 1


async def test_no_credentials_anywhere_is_said(world: World) -> None:
    ssh_profile(world, free_port())
    env = {k: v for k, v in world.env.items() if k not in CREDENTIAL_VARS}
    result = await run_cli(env, "unit", "ssh-pi")
    assert result.code == 0 and "[Service]" in result.out
    assert "the service has no credentials: there is no" in result.err


def odd_profiles(world: World) -> Path:
    """A profile directory whose name needs every kind of quoting."""
    odd = world.tmp / "my profiles 100% $HOME"
    odd.mkdir()
    world.env["RITTUNNEL_PROFILES"] = str(odd)
    return odd


async def test_quoted_paths_read_back(world: World) -> None:
    odd = odd_profiles(world)
    (odd / "ssh-pi.yaml").write_text(f"service: pi-ssh\nlocal_port: {free_port()}\n")
    (odd / "db.yaml").write_text(f"service: pi-ssh\nlocal_port: {free_port()}\n")
    out = await unit_of(world, "ssh-pi", str(odd / "db.yaml"))
    parser, environment = parse_unit(out)
    assert environment["RITTUNNEL_PROFILES"] == str(odd)
    argv = exec_argv(parser["Service"]["ExecStart"])
    assert argv[1:] == ["up", "ssh-pi", str(odd / "db.yaml")]
    assert parser["Unit"]["Description"] == "rittunnel: remote.it tunnels ssh-pi db"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
async def test_systemd_analyze_verify_accepts_it(world: World, tmp_path: Path) -> None:
    odd = odd_profiles(world)
    (odd / "ssh-pi.yaml").write_text(f"service: pi-ssh\nlocal_port: {free_port()}\n")
    # the program path too: a symbolic link in a directory that needs quoting
    bindir = tmp_path / "my bin 100% $x"
    bindir.mkdir()
    (bindir / "rittunnel").symlink_to(RITTUNNEL)
    with trio.fail_after(DEADLINE):
        made = await trio.run_process(
            [bindir / "rittunnel", "unit", "ssh-pi"],
            env=world.env,
            capture_stdout=True,
            capture_stderr=True,
        )
    out = made.stdout.decode()
    record_output(out + made.stderr.decode(), world.env)
    assert exec_argv(parse_unit(out)[0]["Service"]["ExecStart"])[0] == str(bindir / "rittunnel")
    path = tmp_path / "rittunnel-ssh-pi.service"
    path.write_text(out)
    await assert_systemd_verifies(tmp_path, path)


async def assert_systemd_verifies(tmp_path: Path, *units: Path) -> None:
    """``systemd-analyze --user verify`` passes ``units`` with nothing to say (skips the
    test where systemd cannot start a manager to check with)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    with trio.fail_after(DEADLINE):
        verify = await trio.run_process(
            ["systemd-analyze", "--user", "verify", *map(str, units)],
            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    output = (verify.stdout + verify.stderr).decode()
    if "Failed to initialize manager" in output:
        pytest.skip(f"systemd-analyze cannot run here: {output.strip()}")
    assert verify.returncode == 0 and output == "", output


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
async def test_systemd_accepts_the_unit_under_the_name_it_says(
    world: World, tmp_path: Path
) -> None:
    """Profiles named with any letters (and one given as a path with a space in its
    name): the unit, saved as its install command says, passes ``systemd-analyze
    verify``; ``systemctl`` and ``journalctl`` are told that same name."""
    odd = odd_profiles(world)
    for stem in ("über", "x.y", "日本"):
        (odd / f"{stem}.yaml").write_text(f"service: pi-ssh\nlocal_port: {free_port()}\n")
    spaced = tmp_path / "a b.yaml"
    spaced.write_text(f"service: pi-ssh\nlocal_port: {free_port()}\n")
    units = tmp_path / "units"
    units.mkdir()
    made: list[Path] = []
    for names in (["über"], ["x.y"], ["日本", "über"], [str(spaced)]):
        out = await unit_of(world, *names)
        commands = install_commands(out)
        target = commands["rittunnel"][-1]
        assert target.startswith("~/.config/systemd/user/") and target.endswith(".service")
        filename = target.removeprefix("~/.config/systemd/user/")
        assert commands["rittunnel"][:-2] == ["rittunnel", "unit", *names]
        assert commands["systemctl"][-1] + ".service" == filename
        assert commands["journalctl"][-2] + ".service" == filename
        made.append(units / filename)
        made[-1].write_text(out)
    assert [p.name for p in made] == [
        "rittunnel-\\xc3\\xbcber.service",
        "rittunnel-x.y.service",
        "rittunnel-\\xe6\\x97\\xa5\\xe6\\x9c\\xac-\\xc3\\xbcber.service",
        "rittunnel-a\\x20b.service",
    ]
    await assert_systemd_verifies(tmp_path, *made)


async def test_the_unit_runs_as_systemd_would_run_it(world: World, nursery: trio.Nursery) -> None:
    """ExecStart with only the unit's Environment= and EnvironmentFile=, NOTIFY_SOCKET an
    abstract socket: READY=1, a relayed round trip, SIGTERM, STOPPING=1, exit 0."""
    odd = odd_profiles(world)
    port = free_port()
    (odd / "ssh-pi.yaml").write_text(f"service: pi-ssh\nlocal_port: {port}\n")
    env_file = world.tmp / "config" / "rittunnel" / "env"
    env_file.parent.mkdir(parents=True)
    credentials = {k: world.env[k] for k in CREDENTIAL_VARS if k in world.env}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in credentials.items()))
    env_file.chmod(0o600)
    out = await unit_of(world, "ssh-pi")
    parser, environment = parse_unit(out)
    service = parser["Service"]
    assert service["EnvironmentFile"] == f"-{env_file}"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    name = f"rittunnel-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with sock, trio.fail_after(DEADLINE):
        await sock.bind("\0" + name)
        # what systemd gives a user service: HOME, PATH, the unit's environment
        service_env = {
            "HOME": world.env["HOME"],
            "PATH": world.env["PATH"],
            **environment,
            **parse_env_file(env_file.read_text()),
            "NOTIFY_SOCKET": "@" + name,
        }
        argv = exec_argv(service["ExecStart"])
        log = (world.tmp / "service.log").open("wb")  # the journal, read for secrets too
        proc = await trio.lowlevel.open_process(argv, env=service_env, stdout=log, stderr=log)
        log.close()
        try:
            ready = (await sock.recv(4096)).decode().split("\n")
            assert ready[0] == "READY=1" and ready[1].startswith(
                f"STATUS=ssh-pi on 127.0.0.1:{port}"
            )
            assert await roundtrip(port, b"as a service") == b"as a service"
            proc.send_signal(signal.SIGTERM)  # KillMode=mixed: SIGTERM to rittunnel
            stopping = (await sock.recv(4096)).decode()
            assert stopping.startswith("STOPPING=1\n")
            assert await proc.wait() == 0
            assert world.fake.open_proxies == []
        finally:
            if proc.returncode is None:
                proc.kill()
                with trio.CancelScope(shield=True):
                    await proc.wait()
