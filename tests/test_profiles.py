from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rittunnel.errors import ProfileError, UsageError
from rittunnel.profiles import (
    COMMAND_LINE,
    DEFAULT_BIND,
    Profile,
    command_profile,
    find_profile,
    list_profiles,
    load_profile,
    load_profile_file,
    load_yaml,
    parse_profile,
    profile_for_service,
    service_problem,
    service_tunnel_name,
)
from rittunnel.tunnel.state import name_problem

REPO = Path(__file__).resolve().parent.parent


def parse(data: object) -> object:
    return parse_profile(data, source="p.yaml", name="p")


def test_minimal_profile_gets_safe_defaults() -> None:
    p = parse_profile(
        {"service": "80:00:00:00:01:02:03:04", "local_port": 2222}, source="x", name="x"
    )
    assert p.mode == "latching" and p.bind == DEFAULT_BIND and p.bind_is_default
    assert p.hostip is None and p.idle_timeout is None and not p.on_demand


def test_unquoted_service_id_stays_text() -> None:
    data = load_yaml("service: 80:00:00:00:01:02:03:04\nlocal_port: 2222\nhold_timeout: 1.5\n")
    assert data == {"service": "80:00:00:00:01:02:03:04", "local_port": 2222, "hold_timeout": 1.5}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "p.yaml: the file is empty"),
        ([1], "p.yaml: expected a mapping"),
        ({"local_port": 1}, "p.yaml: service: missing"),
        ({"service": "s"}, "p.yaml: local_port: missing"),
        ({"service": "s", "local_port": 0}, "local_port: 0 is out of range; use 1-65535"),
        ({"service": "s", "local_port": 65536}, "local_port: 65536 is out of range"),
        ({"service": "s", "local_port": "22"}, "local_port: '22' is not a port number"),
        ({"service": "s", "local_port": True}, "local_port: True is not a port number"),
        ({"service": 5, "local_port": 22}, "service: 5 is not a service name or ID"),
        ({"service": "s", "local_port": 22, "mode": "open"}, "mode: 'open' is not a mode"),
        ({"service": "s", "local_port": 22, "colour": 1}, "unknown key 'colour'"),
        ({"service": "s", "local_port": 22, "bind": "nowhere"}, "bind: 'nowhere' is not an IP"),
        ({"service": "s", "local_port": 22, "bind": []}, "bind: an empty list"),
        (
            {"service": "s", "local_port": 22, "hostip": "1.2.3.4"},
            "only used with mode: restricted",
        ),
        (
            {"service": "s", "local_port": 22, "mode": "restricted", "hostip": "x"},
            "hostip: 'x' is not an IP address",
        ),
        ({"service": "s", "local_port": 22, "api_url": "ftp://x"}, "api_url: 'ftp://x' is not"),
        (
            {"service": "s", "local_port": 22, "idle_timeout": -1},
            "idle_timeout: -1 is not a positive",
        ),
        ({"service": "s", "local_port": 22, "on_demand": "yes!"}, "on_demand: 'yes!' is not true"),
        ({"service": "s", "local_port": 22, "api": "soap"}, "api: 'soap' is not an API; use rest"),
        ({"service": "s", "local_port": 22, "proxy": "tcp"}, "proxy: 'tcp' is not a proxy kind"),
        ({"service": "s", "local_port": 22, "warm": 1}, "warm: 1 is not true or false"),
        (
            {"service": "s", "local_port": 22, "warm": True, "on_demand": True},
            "warm: true contradicts on_demand: true",
        ),
        (
            {"service": "s", "local_port": 22, "warm": True, "idle_timeout": 60},
            "warm: true contradicts idle_timeout",
        ),
    ],
)
def test_bad_profiles_name_file_key_and_value(data: object, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse(data)
    assert message in str(info.value)
    assert str(info.value).startswith("p.yaml")


def test_warm_is_off_unless_asked() -> None:
    assert not parse_profile({"service": "s", "local_port": 1}, source="x", name="x").warm
    on = {"service": "s", "local_port": 1, "warm": True}
    assert parse_profile(on, source="x", name="x").warm


def test_bind_accepts_list_and_localhost_and_normalises() -> None:
    p = parse_profile(
        {"service": "s", "local_port": 1, "bind": ["0:0:0:0:0:0:0:1", "localhost"]},
        source="x",
        name="x",
    )
    assert p.bind == ("::1", "127.0.0.1") and not p.bind_is_default


def test_restricted_with_hostip() -> None:
    p = parse_profile(
        {"service": "s", "local_port": 1, "mode": "restricted", "hostip": "203.0.113.5"},
        source="x",
        name="x",
    )
    assert p.hostip == "203.0.113.5"


def test_search_path_order_and_paths(tmp_path: Path) -> None:
    a, b, cfg = tmp_path / "a", tmp_path / "b", tmp_path / "cfg"
    for d in (a, b, cfg / "rittunnel" / "profiles"):
        d.mkdir(parents=True)
    (b / "x.yml").write_text("service: s\nlocal_port: 1\n")
    (cfg / "rittunnel" / "profiles" / "x.yaml").write_text("service: t\nlocal_port: 2\n")
    (cfg / "rittunnel" / "profiles" / "y.yaml").write_text("service: u\nlocal_port: 3\n")
    env = {"RITTUNNEL_PROFILES": f"{a}:{b}", "XDG_CONFIG_HOME": str(cfg)}
    assert find_profile("x", env) == b / "x.yml"
    assert load_profile("y", env).service == "u"
    assert [p.name for p in list_profiles(env)] == ["x.yml", "y.yaml"]
    assert load_profile(str(b / "x.yml"), env).local_port == 1
    with pytest.raises(ProfileError, match=r"no profile 'z': looked for z.yaml in .*a, .*b"):
        find_profile("z", env)
    with pytest.raises(ProfileError, match="does not exist"):
        find_profile(str(tmp_path / "nope.yaml"), env)
    with pytest.raises(ProfileError, match="is not a profile name"):
        find_profile("..", env)


def test_default_config_dir_is_under_home(tmp_path: Path) -> None:
    d = tmp_path / ".config" / "rittunnel" / "profiles"
    d.mkdir(parents=True)
    (d / "h.yaml").write_text("service: s\nlocal_port: 9\n")
    assert load_profile("h", {"HOME": str(tmp_path)}).local_port == 9


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("service: s\nlocal_port: [1\n")
    with pytest.raises(ProfileError, match=r"bad.yaml: not valid YAML at line \d+"):
        load_profile_file(path)


@pytest.mark.parametrize("path", sorted((REPO / "profiles").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_profile_loads(path: Path) -> None:
    profile = load_profile_file(path)
    assert profile.service and 1 <= profile.local_port <= 65535


def test_examples_cover_ssh_postgres_and_http() -> None:
    names = {p.stem for p in (REPO / "profiles").glob("*.yaml")}
    assert {"ssh-pi", "postgres", "router-web"} <= names


def test_credentials_section_and_service_names() -> None:
    from rittunnel.profiles import Profile, is_service_id

    p = parse({"service": "pi-ssh", "local_port": 2222, "credentials": "work"})
    assert isinstance(p, Profile)
    assert p.credentials == "work" and not p.service_is_id
    assert is_service_id("80:00:00:00:01:02:03:04") and is_service_id("80:00:00:00:0A:0b:0c:0d")
    assert not is_service_id("80:00:00:00:01:02:03") and not is_service_id("pi:ssh")
    for bad in ("", 5, "a]b"):
        with pytest.raises(ProfileError, match="credentials: .* is not a section name"):
            parse({"service": "s", "local_port": 1, "credentials": bad})


def test_api_and_proxy_kind() -> None:
    p = parse_profile({"service": "s", "local_port": 8080}, source="p.yaml", name="p")
    assert (p.api, p.proxy) == (None, "auto")  # the API is chosen from the credentials
    p = parse_profile(
        {"service": "s", "local_port": 8080, "api": "graphql", "proxy": "port"},
        source="p.yaml",
        name="p",
    )
    assert (p.api, p.proxy) == ("graphql", "port")


# -- issue 16: a profile is a small flat file, read as one --------------------------------

LAUGHS = "service:\n  - &a [" + ", ".join(['"lol"'] * 9) + "]\n"
for _prev, _key in zip("abcdefg", "bcdefgh", strict=True):
    LAUGHS += f"  - &{_key} [{', '.join([f'*{_prev}'] * 9)}]\n"
LAUGHS += "  - [" + ", ".join(["*h"] * 9) + "]\nlocal_port: 2222\n"


def write(tmp_path: Path, text: str | bytes, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_a_billion_laughs_is_refused_before_it_expands() -> None:
    # load_yaml only: should the refusal ever break, this stays cheap (the aliases share
    # one object; it is quoting the value in a message that takes gigabytes), and the
    # end-to-end test runs the whole load in a child with capped memory
    assert len(LAUGHS) < 600
    with pytest.raises(yaml.MarkedYAMLError) as info:
        load_yaml(LAUGHS)
    assert info.value.problem == (
        "YAML anchors and aliases (&name, *name) are not allowed in a profile; write each value out"
    )
    mark = info.value.problem_mark
    assert mark is not None and (mark.line + 1, mark.column + 1) == (2, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("service: &s x\nlocal_port: 1\n", "line 1, column 10: YAML anchors and aliases"),
        ("base: {local_port: 1}\nservice: x\n<<: {local_port: 2}\n", "YAML merge keys (<<)"),
        (
            "service: x\nlocal_port: 1\nlocal_port: 2\n",
            "line 3, column 1: key 'local_port' appears",
        ),
        ("service: x\nlocal_port: 1\nbind: {a: 1, a: 2}\n", "key 'a' appears twice; keep one"),
        ("service: " + "[" * 20 + "]" * 20 + "\nlocal_port: 1\n", "nested more than 8 levels"),
        ("service: " + "[" * 30000 + "\n", "nested more than 8 levels"),
    ],
)
def test_what_a_profile_never_needs_is_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile_file(write(tmp_path, text))
    assert message in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "p.yaml"))


def test_a_file_too_large_or_not_text_is_one_clear_line(tmp_path: Path) -> None:
    big = "service: x\nlocal_port: 1\n" + "#" * 70000 + "\n"
    with pytest.raises(ProfileError, match=r"p.yaml: larger than 64 KiB, too large for a profile"):
        load_profile_file(write(tmp_path, big))
    with pytest.raises(ProfileError, match=r"p.yaml: not UTF-8 text \(byte 9\)"):
        load_profile_file(write(tmp_path, b"service: \xff\nlocal_port: 1\n"))
    ok = "service: x\nlocal_port: 1\n" + "#" * 60000 + "\n"
    assert load_profile_file(write(tmp_path, ok)).local_port == 1


@pytest.mark.parametrize("key", ["hold_timeout", "idle_timeout"])
@pytest.mark.parametrize("value", [".nan", ".inf", "1e300", "2592001"])
def test_a_timeout_that_cannot_be_meant_is_refused(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ProfileError, match=f"{key}: .* is not a positive number of seconds"):
        load_profile_file(write(tmp_path, f"service: x\nlocal_port: 1\n{key}: {value}\n"))
    assert load_profile_file(write(tmp_path, f"service: x\nlocal_port: 1\n{key}: 2592000\n"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "api_url: 'http://[::1' is not a URL"),
        ("http://:80/apv", "api_url: 'http://:80/apv' is not an http(s) URL with a host"),
        ("http://h:99999/", "is not a URL (its host or port cannot be read)"),
        ("http://exa mple.com/", "has spaces or control characters"),
        ("ftp://me:Secret99@host/", "api_url: 'ftp://***@host/' is not an http:// or https://"),
    ],
)
def test_an_api_url_that_cannot_work_is_refused(url: str, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse({"service": "s", "local_port": 1, "api_url": url})
    assert message in str(info.value)
    assert "Secret99" not in str(info.value)


def test_values_in_messages_are_bounded_and_escaped() -> None:
    for value in ("x" * 100_000, [["y" * 100] * 100] * 100, "a\x1b[2Jb"):
        with pytest.raises(ProfileError) as info:
            parse({"service": "s", "local_port": value})
        message = str(info.value)
        assert len(message) < 200 and "\x1b" not in message
    with pytest.raises(ProfileError) as info:
        parse({"service": "s", "local_port": 1, "k" * 100_000: 1})
    assert len(str(info.value)) < 400


# -- a profile from the command line: --service ------------------------------------------

SID = "80:00:00:00:01:02:03:04"


def test_a_service_profile_is_a_latching_tunnel_of_the_default_account_on_any_port() -> None:
    by_id = profile_for_service(f" {SID} ")
    assert by_id == Profile(
        name="service-80-00-00-00-01-02-03-04",
        source=COMMAND_LINE,
        service=SID,
        local_port=0,
    )
    assert by_id.mode == "latching" and by_id.credentials is None and by_id.service_is_id
    by_name = profile_for_service("Kitchen Pi #2", "work", proxy="port")
    assert (by_name.name, by_name.service, by_name.credentials) == (
        "service-kitchen-pi-2",
        "Kitchen Pi #2",
        "work",
    )
    assert by_name.proxy == "port" and not by_name.service_is_id


@pytest.mark.parametrize(
    ("service", "name"),
    [
        ("80:00:00:00:01:02:03:0A", "service-80-00-00-00-01-02-03-0a"),
        ("pi-ssh", "service-pi-ssh"),
        ("Café Pi.local", "service-cafe-pi-local"),
        ("..", "service"),
        ("☃", "service"),
        ("x" * 500, "service-" + "x" * 60),
    ],
)
def test_a_service_gives_a_valid_tunnel_name(service: str, name: str) -> None:
    assert service_tunnel_name(service) == name
    assert name_problem(name) == "" and "." not in name
    assert name_problem(f"{name}.run-4194304") == ""


@pytest.mark.parametrize(
    ("service", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("80:00:00:00:01:02:03", "is not a service ID: eight hex bytes"),
        ("80:00:00:00:01:02:03:04:05", "is not a service ID"),
        ("80:00:00:00:01:02:03:4g", ""),  # not hex: a (strange) name
        ("pi\nHost evil", "has control characters"),
        ("pi\x1b[2J", "has control characters"),
        ("p" * 201, "is longer than 200 characters"),
        ("p" * 200, ""),
        ("12:30 backup", ""),
    ],
)
def test_a_service_value_that_cannot_be_meant_is_refused(service: str, problem: str) -> None:
    assert service_problem(service).startswith(problem)
    assert bool(service_problem(service)) == bool(problem)
    if problem:
        with pytest.raises(UsageError) as info:
            profile_for_service(service)
        message = str(info.value)
        assert message.startswith("--service '") and problem in message
        assert "\x1b" not in message and "\n" not in message and len(message) < 200


@pytest.mark.parametrize("section", ["", " ", "a]b", "w\nork"])
def test_a_credentials_section_that_cannot_be_meant_is_refused(section: str) -> None:
    with pytest.raises(UsageError, match="^--credentials .* is not a section name"):
        profile_for_service(SID, section)


def test_stdio_and_run_take_a_profile_or_a_service_exactly(tmp_path: Path) -> None:
    env = {"RITTUNNEL_PROFILES": str(tmp_path), "HOME": str(tmp_path)}
    (tmp_path / "ssh-pi.yaml").write_text(f"service: {SID}\nlocal_port: 2222\n")
    loaded = command_profile("stdio", "ssh-pi", None, None, env, proxy="port")
    assert loaded.name == "ssh-pi" and loaded.proxy == "auto"  # a profile says its own
    made = command_profile("stdio", None, "pi-ssh", "work", env, proxy="port")
    assert made == profile_for_service("pi-ssh", "work", proxy="port")
    cases = [
        (("stdio", "ssh-pi", "pi-ssh", None), "stdio: give a profile NAME or --service, not both"),
        (("run", "true", "pi-ssh", None), "not both; the command goes after `--`"),
        (("run", None, None, None), "run: give a profile NAME or --service NAME|ID"),
        (("stdio", None, None, "work"), "stdio: give a profile NAME or --service NAME|ID"),
        (
            ("stdio", "ssh-pi", None, "work"),
            "stdio: --credentials goes with --service; profile 'ssh-pi' names its own section",
        ),
    ]
    for (command, name, service, credentials), message in cases:
        with pytest.raises(UsageError) as info:
            command_profile(command, name, service, credentials, env)
        assert message in str(info.value) and info.value.exit_code == 2
