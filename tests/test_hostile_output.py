"""Issue 24: text from remote.it (or from a hostile environment) never becomes
configuration, a secret is redacted in every output form, and every terminal column is
escaped. Each test here failed before its fix; the generated cases are in
test_properties_output.py."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rittunnel.commands.control import Entry as StatusEntry
from rittunnel.commands.control import status_table
from rittunnel.commands.discover import profile_text
from rittunnel.commands.ssh_config import Entry, block, entries, render, token
from rittunnel.commands.unit import Unit, env_file_path
from rittunnel.errors import RittunnelError
from rittunnel.profiles import DEFAULT_BIND, Profile, is_service_id
from rittunnel.profiles.loader import load_profile_file, load_yaml
from rittunnel.remoteit.protocol import ServiceInfo
from rittunnel.report import Reporter
from rittunnel.systemd import path_setting
from rittunnel.text import printable
from rittunnel.tunnel.state import TunnelState

from .test_systemd import parse_unit

SID = "80:00:00:00:01:02:03:04"
INJECTED = f"{SID}\nbind: 0.0.0.0\napi_url: http://evil.example/\nmode: public"
PROGRAM = ["/opt/rit tunnel/bin/rittunnel"]
#: the bidi controls: marks, embeddings and overrides, isolates
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


# -- 1. one service-ID rule, a full match ---------------------------------------------


@pytest.mark.parametrize("text", [SID + "\n", SID + "\r\n", "\n" + SID, INJECTED, SID + " "])
def test_a_service_id_is_the_whole_text(text: str) -> None:
    assert is_service_id(SID) and not is_service_id(text)


# -- 1. init: the profile holds exactly the keys meant --------------------------------


def test_init_refuses_an_id_that_is_not_one() -> None:
    for address in (INJECTED, SID + "\n"):
        service = ServiceInfo(address, "dup", "SSH", "active")
        with pytest.raises(RittunnelError, match="not a service ID; no profile written"):
            profile_text(service, False, 2222, "", "2026-11-22")


@pytest.mark.parametrize(
    "name",
    [
        "pi\nbind: 0.0.0.0",
        "pi: x\nmode: public",
        "a'b\"c #d",
        "0o17",
        "1_000",
        "yes",
        "~",
        "80:00:00:00:0a:0b:0c:0d",  # another service's ID as a name: means that service
        "pi\u202e",
    ],
)
@pytest.mark.parametrize("section", ["", "work", "a: b\nbind: 0.0.0.0", "x'y\"z"])
def test_init_writes_exactly_the_keys_meant(tmp_path: Path, name: str, section: str) -> None:
    service = ServiceInfo(SID, name, "SSH", "active")
    try:
        text = profile_text(service, True, 2222, section, "2026-11-22")
    except RittunnelError as exc:
        assert "no profile written" in str(exc)
        assert "\n" in section  # only a section that a profile cannot hold
        return
    data = load_yaml(text)
    assert isinstance(data, dict)
    assert set(data) == {"service", "local_port"} | ({"credentials"} if section else set())
    assert data["service"] in (name, SID) and data["local_port"] == 2222
    assert data.get("credentials", "") == section
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    profile = load_profile_file(path)
    assert profile.bind == DEFAULT_BIND and profile.mode == Profile.mode and profile.api_url is None
    if data["service"] == SID:
        assert profile.service_is_id
    else:  # a name is never an ID, so it cannot point at another service
        assert not profile.service_is_id


# -- 1. ssh-config: every token as ssh reads it ----------------------------------------


def test_ssh_config_leaves_out_an_id_with_a_line_break() -> None:
    services = [
        ServiceInfo(SID + "\n", "evil", "SSH", "active"),
        ServiceInfo(INJECTED, "evil2", "SSH", "active"),
        ServiceInfo("80:00:00:00:01:02:03:05", "good", "SSH", "active"),
    ]
    assert [e.host for e in entries(services)] == ["good"]
    with pytest.raises(RittunnelError, match="not a service ID"):
        block(Entry(services[0], "evil"), PROGRAM, "")
    for bad in ("a b", "a\nb", "*", "a.b", "%h", ""):
        with pytest.raises(RittunnelError, match="ssh_config token"):
            token(bad)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh to read the config")
def test_ssh_reads_the_hostile_config_as_meant(tmp_path: Path) -> None:
    services = [
        ServiceInfo(SID + "\n", "spill", "SSH", "active"),
        ServiceInfo("80:00:00:00:01:02:03:05", "pi\nHost *\n  ProxyCommand sh", "SSH", "on"),
        ServiceInfo("80:00:00:00:01:02:03:06", "\u202egithub.com", "SSH", "x\u2028y\u2066"),
    ]
    config = tmp_path / "config"
    config.write_text(render(entries(services), PROGRAM, None, "w'k %h"), encoding="utf-8")
    for host, alias in (("pi-host-proxycommand-sh", "0105"), ("github-com", "0106")):
        out = ssh_g(config, host)
        assert out["hostkeyalias"] == f"rittunnel-80000000010203{alias[-2:]}"
        assert out["proxycommand"].endswith(
            f"{SID[:-2]}{alias[-2:]} --credentials 'w'\"'\"'k %%h' --persist 10m"
        )
    assert "proxycommand" not in ssh_g(config, "elsewhere")


def ssh_g(config: Path, host: str) -> dict[str, str]:
    done = subprocess.run(
        ["ssh", "-G", "-F", str(config), host],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {k: v for k, _, v in (line.partition(" ") for line in done.stdout.splitlines())}


# -- 1. unit: EnvironmentFile= and every value through systemd's syntax -----------------


def hostile_unit(env_file: str) -> Unit:
    return Unit(
        names=["pi"],
        command="rittunnel unit pi",
        argv=[sys.executable, "-m", "rittunnel", "up", "/p/a\nExecStartPre=/bin/false"],
        env_file=env_file,
        environment={"XDG_CONFIG_HOME": "/h/x\nExecStartPre=/bin/false", "R3_PROFILE": '%h"$x\\'},
    )


def test_unit_refuses_an_environment_file_it_cannot_write() -> None:
    for path in ("/h/x\nExecStartPre=/bin/false/rittunnel/env", "rel/env", "/a\\", "/a\u2028b"):
        with pytest.raises(RittunnelError, match="cannot name the path"):
            hostile_unit(path).text()
    with pytest.raises(RittunnelError, match="cannot name the path"):
        path_setting(str(env_file_path({"HOME": "/h", "XDG_CONFIG_HOME": "/h/x\nY=1"})))
    assert path_setting("/h/100% x/env") == "/h/100%% x/env"


def test_a_hostile_unit_has_only_the_lines_meant(tmp_path: Path) -> None:
    text = hostile_unit("/h/100% x/rittunnel/env").text()
    assert not any(line.startswith("ExecStartPre") for line in text.splitlines())
    parser, environment = parse_unit(text)
    assert environment == {
        "XDG_CONFIG_HOME": "/h/x\nExecStartPre=/bin/false",
        "R3_PROFILE": '%h"$x\\',
    }
    assert parser["Service"]["EnvironmentFile"] == "-/h/100%% x/rittunnel/env"
    if shutil.which("systemd-analyze"):
        unit = tmp_path / "rittunnel-pi.service"
        unit.write_text(text, encoding="utf-8")
        runtime = tmp_path / "run"
        runtime.mkdir(mode=0o700)
        done = subprocess.run(
            ["systemd-analyze", "--user", "verify", str(unit)],
            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        output = done.stdout + done.stderr
        if "Failed to initialize manager" not in output:
            assert done.returncode == 0 and output == "", output


# -- 5. secrets redacted in every form --------------------------------------------------

#: secrets that JSON encodes into other text: non-ASCII letters, a quote, a backslash
SECRETS = ["pässwörd-1", 'pa"ss\\word', "tök\u202een-\x01"]


def reporter(json_mode: bool, **kw: object) -> tuple[Reporter, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    r = Reporter(json_mode=json_mode, secrets=SECRETS, out=out, err=err, **kw)  # type: ignore[arg-type]
    return r, out, err


def leaks(text: str) -> list[str]:
    """Any secret in ``text`` as it is, JSON-escaped or escaped for a terminal."""
    forms = set()
    for s in SECRETS:
        forms |= {s, json.dumps(s)[1:-1], json.dumps(s, ensure_ascii=False)[1:-1], printable(s)}
    return [f for f in forms if f in text]


def say_everything(r: Reporter) -> None:
    for s in SECRETS:
        r.warn(f"login failed for {s}")
        r.info(f"token {s}")
        r.event("ready", f"ready {s}", name=s, addresses=[s], nested={s: [s]})
        r.error(f"error {s}")


@pytest.mark.parametrize("json_mode", [False, True])
def test_secrets_never_pass_any_output_form(json_mode: bool) -> None:
    r, out, err = reporter(json_mode, timestamps=not json_mode)
    sunk: list[dict[str, object]] = []
    r.sinks.append(sunk.append)
    say_everything(r)
    r.output_json({"name": SECRETS, SECRETS[0]: SECRETS[1]})
    r.output(f"table {SECRETS[2]}")
    for text in (out.getvalue(), err.getvalue(), json.dumps(sunk)):
        assert leaks(text) == [], text
    if json_mode:  # every line still JSON, the secrets shown as ***
        records = [
            json.loads(line) for line in out.getvalue().splitlines() if line.startswith('{"event')
        ]
        assert any(rec.get("name") == "***" for rec in records)


def test_secrets_never_reach_the_log_file_of_a_background_tunnel(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    with log.open("w", encoding="utf-8") as f:  # `up -d`: the child's stderr is its log
        r = Reporter(secrets=SECRETS, out=f, err=f, timestamps=True)
        say_everything(r)
    assert leaks(log.read_text(encoding="utf-8")) == []


def test_a_state_file_holds_no_credential() -> None:
    """What a tunnel records is its profile's and the API's: a service named like a
    password is shown redacted by status, though the file holds what it was given."""
    state = TunnelState(
        name="pi", pid=os.getpid(), pid_started=0.0, api_url="http://127.0.0.1:1/",
        service=SID, service_name=SECRETS[0], upstream="tcp://127.0.0.1:2",
    )  # fmt: skip
    r, out, _ = reporter(True)
    r.output_json([StatusEntry(state, True).as_json(time.time())])
    assert leaks(out.getvalue()) == []
    r, out, _ = reporter(False)
    r.output("\n".join(status_table([StatusEntry(state, True)], time.time())))
    assert leaks(out.getvalue()) == []


# -- 6. every terminal column escaped --------------------------------------------------


def test_status_escapes_every_column_and_note() -> None:
    hostile = f"pi{BIDI}\x1b[2J\ud800\u2028\x85"
    state = TunnelState(
        name="pi", pid=os.getpid(), pid_started=0.0, api_url=f"http://127.0.0.1/{BIDI}",
        service=SID, service_name=hostile, upstream=f"tcp://{hostile}", mode=hostile,
        addresses=[hostile], proxies=[hostile], released=True,
    )  # fmt: skip
    lines = status_table(
        [StatusEntry(state, True), StatusEntry(state, False, trusted=False)], time.time()
    )
    text = "\n".join(lines)
    assert len(lines) == 4  # header, two rows, one note: nothing forged
    assert not any(ch in text for ch in BIDI + "\x1b\ud800\u2028\x85")
    text.encode("utf-8")  # a lone surrogate would make the write fail
