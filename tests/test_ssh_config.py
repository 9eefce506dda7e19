"""``rittunnel ssh-config``: the pure decisions (which services, host names, duplicates,
quoting, filtering, the blocks), then the real CLI against the fake over both APIs, its
output read back as ssh reads it and one block's ProxyCommand run for real."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest
import trio

from rittunnel.commands.ssh_config import (
    Entry,
    block,
    check_words,
    entries,
    header,
    host_name,
    host_names,
    is_ssh,
    matches,
    proxy_command,
    render,
    ssh_quote,
)
from rittunnel.errors import RittunnelError
from rittunnel.fake import FakeService
from rittunnel.remoteit.protocol import ServiceInfo

from .conftest import OFFLINE_ID, RITTUNNEL, SSH_ID, WEB_ID, World, key_only, run_cli

DEADLINE = 60
PROGRAM = ["/opt/rit tunnel/bin/rittunnel"]


def svc(address: str, name: str, type_: str = "SSH", state: str = "active") -> ServiceInfo:
    return ServiceInfo(address=address, name=name, type=type_, state=state)


def sid(n: int) -> str:
    return f"80:00:00:00:00:00:01:{n:02X}"


# -- which services, and their host names ------------------------------------------------


def test_ssh_by_type_ignoring_case() -> None:
    assert is_ssh(svc(sid(1), "a", "SSH")) and is_ssh(svc(sid(1), "a", " ssh "))
    assert not is_ssh(svc(sid(1), "a", "HTTP")) and not is_ssh(svc(sid(1), "a", "SSH tunnel"))
    assert not is_ssh(svc(sid(1), "ssh", "PostgreSQL"))


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("pi-ssh", "pi-ssh"),
        ("My Pi!", "my-pi"),
        ("Kitchen Pi #2", "kitchen-pi-2"),
        ("a*b?c,d#e'f\"g%h!i j\tk", "a-b-c-d-e-f-g-h-i-j-k"),
        ("-rm -rf", "rm-rf"),  # never an ssh option
        ("..hidden..", "hidden"),
        ("café.local_1", "cafe-local_1"),
        # never a real host's name or address (the file comes before the user's Hosts)
        ("github.com", "github-com"),
        ("GitHub.COM.", "github-com"),
        ("192.168.1.5", "192-168-1-5"),
        ("::1", "1-remoteit"),
        ("localhost", "localhost-remoteit"),
        (" LocalHost ", "localhost-remoteit"),
        ("ip6-localhost", "ip6-localhost-remoteit"),
        ("2130706433", "2130706433-remoteit"),  # 127.0.0.1 to getaddrinfo
        ("0x7F000001", "0x7f000001-remoteit"),
        ("9" * 80, "9" * 55 + "-remoteit"),
        ("localhost.localdomain", "localhost-localdomain"),
        ("pi 4", "pi-4"),
        ("\x1b[31mred", "31mred"),
        ("", "remoteit-8000000000000105"),
        ("!!!", "remoteit-8000000000000105"),
        ("日本", "remoteit-8000000000000105"),
    ],
)
def test_host_name_is_safe_for_ssh(name: str, host: str) -> None:
    assert host_name(name, sid(5)) == host


def test_host_name_is_never_unsafe_or_long() -> None:
    for name in ["x" * 500, " ".join(["ab"] * 100), "%h %p", "a,b", "'\"`$(id)"]:
        host = host_name(name, sid(1))
        assert 0 < len(host) <= 64
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in host), host
        assert host == host.lower() and host[0] != "-" and host[-1] != "-"


def test_duplicate_names_made_distinct_by_id_whatever_the_order() -> None:
    services = [
        svc(sid(9), "pi"),
        svc(sid(3), "Pi"),  # lower-cased: the same name
        svc(sid(5), "pi"),
        svc(sid(1), "pi-2"),  # a real name the suffix must not take
        svc(sid(7), "other"),
        svc(sid(8), "pi.2"),  # the dot made a dash: pi-2 too
    ]
    expected = {
        sid(3): "pi",
        sid(5): "pi-3",
        sid(9): "pi-4",
        sid(1): "pi-2",
        sid(8): "pi-2-2",
        sid(7): "other",
    }
    assert host_names(services) == expected
    assert host_names(reversed(services)) == expected
    assert len(set(expected.values())) == len(expected)


def test_names_are_chosen_before_filtering() -> None:
    services = [svc(sid(1), "pi"), svc(sid(2), "pi"), svc(sid(3), "db", "PostgreSQL")]
    found = entries(services, "80:00:00:00:00:00:01:02")
    assert [(e.service.address, e.host) for e in found] == [(sid(2), "pi-2")]


def test_entries_keep_ssh_services_with_an_id_sorted_by_host() -> None:
    services = [
        svc(sid(1), "zeta"),
        svc(sid(2), "web", "HTTP"),
        svc(sid(3), "alpha", "ssh", "inactive"),
        svc("not-an-id", "odd"),
        svc(sid(4), "db", "PostgreSQL"),
    ]
    assert [e.host for e in entries(services)] == ["alpha", "zeta"]


@pytest.mark.parametrize(
    ("pattern", "hit"),
    [
        ("kitchen", True),  # substring of the name, ignoring case
        ("PI #", True),
        ("kitchen-pi", True),  # of the host name
        ("01:0a", True),  # of the ID
        ("Kitchen*", True),  # a glob on the whole name
        ("*pi-?", True),
        ("k[ai]tchen pi #2", True),
        ("pi*", False),  # a glob matches the whole of one field
        ("garage", False),
        ("*:0B", False),
    ],
)
def test_filter_is_a_glob_or_a_substring(pattern: str, hit: bool) -> None:
    entry = Entry(svc("80:00:00:00:00:00:01:0A", "Kitchen Pi #2"), "kitchen-pi-2")
    assert matches(entry, pattern) is hit


# -- quoting and the blocks --------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["/usr/bin/rittunnel", "/opt/rit tunnel/x", "100%", "%h%%p", "it's", "$(id)", "a;b"]
)
def test_ssh_quote_reads_back_as_the_word(word: str) -> None:
    quoted = ssh_quote(word)
    assert "%" not in quoted.replace("%%", "")  # ssh expands a lone %
    assert shlex.split(quoted.replace("%%", "%")) == [word]


def test_proxy_command_runs_stdio_by_service_id() -> None:
    command = proxy_command(["/usr/bin/python3", "-m", "rittunnel"], sid(1), "")
    assert command == f"/usr/bin/python3 -m rittunnel stdio --service {sid(1)} --persist 10m"
    command = proxy_command(PROGRAM, sid(1), "work 100%", persist=0)
    assert command == (
        f"'/opt/rit tunnel/bin/rittunnel' stdio --service {sid(1)} --credentials 'work 100%%'"
    )
    command = proxy_command(PROGRAM, sid(1), "work", persist=5400)
    assert command.endswith(f"--service {sid(1)} --credentials work --persist 90m")


def test_words_that_cannot_go_on_a_config_line_are_refused() -> None:
    check_words(["/usr/bin/rittunnel", "work"])
    with pytest.raises(RittunnelError, match="control characters"):
        check_words(["/tmp/evil\nHost *\n  ProxyCommand sh"])


def test_block_quotes_what_remote_it_said_only_in_its_comment() -> None:
    entry = Entry(svc(sid(1), "evil\nHost *\n  ProxyCommand x", " SSH ", "active"), "evil-host")
    text = block(entry, PROGRAM, "", persist=0)
    assert text.splitlines() == [
        f"# evil\\nHost *\\n  ProxyCommand x: service {sid(1)} (SSH, active)",
        "Host evil-host",
        "    HostKeyAlias rittunnel-8000000000000101",
        f"    ProxyCommand '/opt/rit tunnel/bin/rittunnel' stdio --service {sid(1)}",
    ]


def test_render_is_the_header_then_blocks_and_the_same_each_time() -> None:
    services = [svc(sid(2), "b"), svc(sid(1), "a", state="inactive")]
    found = entries(services)
    text = render(found, PROGRAM, None, "")
    assert text == render(entries(list(reversed(services))), PROGRAM, None, "")
    head, first, second = text.split("\n\n")
    assert head == header(None, "")
    assert all(line.startswith("#") for line in head.splitlines())
    assert "rittunnel ssh-config > ~/.ssh/rittunnel.conf" in head and "Include" in head
    # stdio uses a running tunnel of the service when there is one: not always a fresh proxy
    assert "fresh" not in head and "a running tunnel of the service" in head
    assert first.splitlines()[1] == "Host a" and "(SSH, inactive)" in first
    assert second.splitlines()[1] == "Host b" and text.endswith("\n")
    filtered = header("my pi*", "work")
    assert "rittunnel ssh-config 'my pi*' --credentials work > ~/.ssh/rittunnel.conf" in filtered
    assert "10m pass with no connection (--persist)" in head
    assert "--persist 10m" in first and "--persist 10m" in second
    none = header(None, "", 0)
    assert "rittunnel ssh-config --persist 0 > ~/.ssh/rittunnel.conf" in none
    assert "a remote.it proxy of its own" in none and "--persist)" not in none


# -- end to end --------------------------------------------------------------------------


def parse_ssh_config(text: str) -> dict[str, dict[str, str]]:
    """A small ssh_config reader (enough for what ssh-config writes): ``Host NAME``
    starts a block; ``Key value`` lines belong to it; comments and blank lines skipped.
    Keys are lower-cased as ssh does; a key given twice in a block is a failure."""
    hosts: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        key, value = key.lower(), value.strip()
        if key == "host":
            assert len(value.split()) == 1, f"one pattern per Host line: {raw!r}"
            assert value not in hosts, f"Host {value} twice"
            current = hosts[value] = {}
            continue
        assert current is not None, f"a setting before any Host: {raw!r}"
        assert key not in current, f"{key} twice in one block"
        current[key] = value
    return hosts


def alias(address: str) -> str:
    return "rittunnel-" + address.replace(":", "").lower()


def proxy_argv(command: str) -> list[str]:
    """What the shell ssh starts runs: %% made % again, then shell words."""
    return shlex.split(command.replace("%%", "%"))


def fleet(world: World) -> dict[str, str]:
    """Services of every kind in the world's fake; what ssh-config should list, as
    host name by service ID. Each service is a device of its own, so with ``page_max``
    the GraphQL list takes several pages."""
    more = [
        FakeService("80:00:00:00:01:02:03:10", "pi-ssh", "SSH", target=world.echo),  # dup
        FakeService("80:00:00:00:01:02:03:11", "Kitchen Pi #2", "ssh", target=world.echo),
        FakeService("80:00:00:00:01:02:03:12", "db", "PostgreSQL"),
        FakeService("80:00:00:00:01:02:03:13", "router", "HTTPS"),
        FakeService("80:00:00:00:01:02:03:14", "pi-ssh-2", "SSH", target=world.echo),
        FakeService("80:00:00:00:01:02:03:15", "garage ssh", "TCP"),
        FakeService("80:00:00:00:01:02:03:16", "", "SSH", target=world.echo),
        # named like real hosts: never their names (test_ssh_itself_reads_the_config)
        FakeService("80:00:00:00:01:02:03:17", "github.com", "SSH", target=world.echo),
        FakeService("80:00:00:00:01:02:03:18", "localhost", " SSH ", target=world.echo),
        FakeService("80:00:00:00:01:02:03:19", "127.0.0.1", "SSH", target=world.echo),
    ]
    for service in more:
        world.fake.add_service(service)
    return {
        SSH_ID: "pi-ssh",
        OFFLINE_ID: "pi-off",
        "80:00:00:00:01:02:03:10": "pi-ssh-3",  # pi-ssh-2 is another service's name
        "80:00:00:00:01:02:03:11": "kitchen-pi-2",
        "80:00:00:00:01:02:03:14": "pi-ssh-2",
        "80:00:00:00:01:02:03:16": "remoteit-8000000001020316",
        "80:00:00:00:01:02:03:17": "github-com",
        "80:00:00:00:01:02:03:18": "localhost-remoteit",
        "80:00:00:00:01:02:03:19": "127-0-0-1",
    }


async def ssh_g(config: Path, host: str) -> dict[str, str]:
    """``ssh -G``: the settings ssh itself would use for ``host`` with this config."""
    result = await trio.run_process(
        ["ssh", "-G", "-F", str(config), host], capture_stdout=True, capture_stderr=True
    )
    pairs = (line.partition(" ") for line in result.stdout.decode().splitlines())
    return {key: value for key, _, value in pairs}


async def test_every_ssh_service_and_none_other_over_both_apis(world: World) -> None:
    with trio.fail_after(DEADLINE):
        expected = fleet(world)
        world.fake.knobs.page_max = 2  # GraphQL: 13 devices, seven pages
        rest = await run_cli(world.env, "ssh-config")
        assert rest.code == 0 and rest.err == "", rest.err
        gql = await run_cli(key_only(world, sections=("DEFAULT", "work")), "ssh-config")
        assert gql.code == 0 and gql.err == "", gql.err
        assert len(world.fake.calls_to("gql_devices")) >= 7  # every page
        assert world.fake.calls_to("list")  # and REST's one list

        for result in (rest, gql):
            hosts = parse_ssh_config(result.out)
            assert set(hosts) == set(expected.values())
            for address, host in expected.items():
                settings = hosts[host]
                assert settings["hostkeyalias"] == alias(address)
                argv = proxy_argv(settings["proxycommand"])
                assert argv == [RITTUNNEL, "stdio", "--service", address, "--persist", "10m"]
                assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK)
            comments = [line for line in result.out.splitlines() if line.startswith("# ")]
            assert any(OFFLINE_ID in c and "inactive" in c for c in comments)
            assert any("Kitchen Pi #2" in c for c in comments)
            assert any(c.startswith("# localhost: ") and "(SSH, " in c for c in comments)
            for absent in (WEB_ID, "80:00:00:00:01:02:03:12", "80:00:00:00:01:02:03:13"):
                assert absent not in result.out
            assert "garage" not in result.out
        # both APIs name every host the same (only the states' case differs)
        assert parse_ssh_config(rest.out) == parse_ssh_config(gql.out)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh to read the config")
async def test_ssh_itself_reads_the_config(world: World) -> None:
    with trio.fail_after(DEADLINE):
        expected = fleet(world)
        result = await run_cli(world.env, "ssh-config")
        assert result.code == 0
        config = world.tmp / "rittunnel.conf"
        config.write_text(result.out)
        for address, host in expected.items():
            settings = await ssh_g(config, host)
            assert settings["hostkeyalias"] == alias(address)
            assert proxy_argv(settings["proxycommand"]) == [
                RITTUNNEL,
                "stdio",
                "--service",
                address,
                "--persist",
                "10m",
            ]
        # no block for another service, nor for a real host a service is named like
        for other in ("pi-web", "db", "router", "github.com", "localhost", "127.0.0.1"):
            settings = await ssh_g(config, other)
            assert "proxycommand" not in settings and "hostkeyalias" not in settings


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh to read the config")
async def test_the_users_own_hosts_and_the_include(world: World) -> None:
    """What docs/guide-ssh.md says of a Host of the user's with a name the file has, checked
    with ssh itself: the blocks merge whichever comes first (each setting from the first
    that sets it); ``ProxyCommand none`` and a ``HostKeyAlias`` in the user's, first,
    keep it the user's. ``Match all`` + Include at the end reaches every other host."""
    with trio.fail_after(DEADLINE):
        fleet(world)
        result = await run_cli(world.env, "ssh-config")
        generated = world.tmp / "rittunnel.conf"
        generated.write_text(result.out)
        mine = "Host pi-ssh\n    HostName 192.0.2.7\n"
        config = world.tmp / "config"
        config.write_text(f"{mine}\nMatch all\nInclude {generated}\n")
        merged = await ssh_g(config, "pi-ssh")
        assert merged["hostname"] == "192.0.2.7" and merged["hostkeyalias"] == alias(SSH_ID)
        assert "stdio" in merged["proxycommand"]  # yours first is not enough alone
        kept = mine + "    ProxyCommand none\n    HostKeyAlias 192.0.2.7\n"
        config.write_text(f"{kept}\nMatch all\nInclude {generated}\n")
        own = await ssh_g(config, "pi-ssh")
        assert own["hostname"] == "192.0.2.7" and own["hostkeyalias"] == "192.0.2.7"
        assert "proxycommand" not in own
        other = await ssh_g(config, "kitchen-pi-2")  # the Include at the end still works
        assert proxy_argv(other["proxycommand"])[1:] == [
            "stdio",
            "--service",
            "80:00:00:00:01:02:03:11",
            "--persist",
            "10m",
        ]


async def test_filter_and_credentials(world: World) -> None:
    with trio.fail_after(DEADLINE):
        fleet(world)
        env = key_only(world, sections=("DEFAULT", "work"))
        result = await run_cli(env, "ssh-config", "PI-SSH*", "--credentials", "work")
        assert result.code == 0, result.err
        hosts = parse_ssh_config(result.out)
        assert sorted(hosts) == ["pi-ssh", "pi-ssh-2", "pi-ssh-3"]  # names as unfiltered
        assert proxy_argv(hosts["pi-ssh"]["proxycommand"]) == [
            RITTUNNEL,
            "stdio",
            "--service",
            SSH_ID,
            "--credentials",
            "work",
            "--persist",
            "10m",
        ]
        assert "rittunnel ssh-config 'PI-SSH*' --credentials work >" in result.out

        kitchen = await run_cli(env, "ssh-config", "kitchen")
        assert sorted(parse_ssh_config(kitchen.out)) == ["kitchen-pi-2"]

        none = await run_cli(env, "ssh-config", "pi-web")  # HTTP: not an SSH service
        assert none.code == 1 and none.out == ""
        assert none.err == (
            "rittunnel: error: ssh-config: no SSH service matches 'pi-web'; "
            "run `rittunnel services ssh` to list them\n"
        )


async def test_an_account_without_ssh_services_and_errors(world: World) -> None:
    with trio.fail_after(DEADLINE):
        for address in (SSH_ID, OFFLINE_ID):
            del world.fake.services[address]
        result = await run_cli(world.env, "ssh-config")
        assert result.code == 0 and parse_ssh_config(result.out) == {}
        assert result.out.startswith("# ssh_config")
        assert result.err == "rittunnel: this remote.it account has no SSH services\n"

        world.fake.fail_next("list", "html502")
        down = await run_cli(world.env, "ssh-config")
        assert down.code == 1 and down.out == ""
        assert down.err.startswith("rittunnel: error: ") and down.err.count("\n") == 1
        assert "502" in down.err

        # (a fresh cache: the token the runs above cached would still work)
        env = {
            **world.env,
            "REMOTEIT_PASSWORD": "wrong-password",
            "XDG_CACHE_HOME": str(world.tmp / "fresh-cache"),
        }
        refused = await run_cli(env, "ssh-config")
        assert refused.code == 1 and refused.out == "" and refused.err.count("\n") == 1
        assert "login: " in refused.err and "password is invalid" in refused.err


async def test_a_blocks_proxy_command_relays_with_no_profile(world: World) -> None:
    with trio.fail_after(DEADLINE):
        fleet(world)
        keys = key_only(world, sections=("DEFAULT", "work"))
        runs = [(world.env, ()), (keys, ()), (keys, ("--credentials", "work"))]
        for env, options in runs:  # REST, GraphQL, GraphQL with a credentials section
            result = await run_cli(env, "ssh-config", "kitchen", "--persist", "0", *options)
            [settings] = parse_ssh_config(result.out).values()
            argv = proxy_argv(settings["proxycommand"])
            assert argv[1:4] == ["stdio", "--service", "80:00:00:00:01:02:03:11"]
            assert argv[4:] == list(options)
            data = os.urandom(100_000)
            relayed = await trio.run_process(
                argv, env=env, stdin=data, capture_stdout=True, capture_stderr=True, check=False
            )
            assert relayed.returncode == 0, relayed.stderr
            assert relayed.stdout == data
        assert not world.profiles.exists()  # no profile was written
        assert world.fake.open_proxies == []
