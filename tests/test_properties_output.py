"""Property tests (Hypothesis; budget and deadline: tests/conftest.py) for what rittunnel
writes for other programs and for the terminal, and the files it reads from the user:

* a parser (profile files, credentials files) accepts its input or raises our error,
  never another exception;
* what ``init`` writes reads back as exactly the keys meant, or is refused;
* ``ssh-config`` and ``unit`` output, re-read by ssh_config's and systemd's rules,
  holds exactly the directives meant (a hostile name adds none);
* every table cell and every output form is escaped and redacted.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import shlex
import tempfile
import time
import unicodedata
from pathlib import Path

from hypothesis import assume, example, given
from hypothesis import strategies as st

from rittunnel.commands.control import Entry as StatusEntry
from rittunnel.commands.control import status_table
from rittunnel.commands.discover import profile_text
from rittunnel.commands.ssh_config import entries, render
from rittunnel.commands.tables import render_table
from rittunnel.commands.unit import Unit
from rittunnel.errors import CredentialsError, ProfileError, RittunnelError
from rittunnel.profiles import is_service_id
from rittunnel.profiles.loader import load_profile_file, load_yaml
from rittunnel.remoteit.credentials import keys_from_file
from rittunnel.remoteit.protocol import ServiceInfo
from rittunnel.report import Reporter
from rittunnel.text import printable
from rittunnel.tunnel.state import TunnelState

from .test_systemd import exec_argv, parse_unit

#: characters that break formats: line breaks of every kind, quotes, escapes, YAML and
#: ssh_config syntax, specifiers, bidi controls, C1, a lone surrogate, non-ASCII letters
NASTY = (
    "\n\r\t\x00\x1b\x85\x9b\u2028\u2029\u202e\u2066\u200f\u061c\ufeff\ud800"
    " \"'\\#:-[]{}&*!|>%$=;,?~@`äöü€中"
)
hostile = st.text(alphabet=st.sampled_from(NASTY) | st.characters(), max_size=40)
ids = st.from_regex(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){7}", fullmatch=True)
addresses = ids | ids.map(lambda i: i + "\n") | hostile
#: what must never reach a terminal: controls, format characters (bidi), surrogates,
#: separators, unassigned code points
HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"}


def shown_safely(text: str) -> bool:
    return all(unicodedata.category(c) not in HIDDEN or c in "\u200c\u200d" for c in text)


# -- the terminal --------------------------------------------------------------------


@given(hostile, st.none() | st.integers(0, 80))
def test_printable_is_one_safe_line(text: str, limit: int | None) -> None:
    out = printable(text, limit)
    assert shown_safely(out) and "\n" not in out
    out.encode("utf-8")
    if limit is not None:
        assert len(out) <= max(limit, 1)


@given(st.lists(st.lists(hostile, min_size=3, max_size=3), max_size=6))
def test_every_table_is_its_rows_escaped(rows: list[list[str]]) -> None:
    lines = render_table(("A", "B", "C"), rows, limits=(20,))
    assert len(lines) == len(rows) + 1
    assert all(shown_safely(line) for line in lines)


@given(hostile, hostile, st.lists(hostile, max_size=3), st.booleans())
def test_status_shows_any_state_escaped(name: str, url: str, items: list[str], up: bool) -> None:
    state = TunnelState(
        name="pi", pid=1, pid_started=0.0, api_url=f"http://127.0.0.1/{url}", service=name,
        service_name=name, upstream=url, mode=name, addresses=items, proxies=items,
    )  # fmt: skip
    lines = status_table([StatusEntry(state, up, trusted=False)], time.time())
    assert len(lines) == (2 if up else 3)
    assert all(shown_safely(line) for line in lines)


# -- secrets ---------------------------------------------------------------------------

secrets = st.text(alphabet=st.sampled_from(NASTY.replace("*", "") + "abcXYZ09"), min_size=4)


def strings(value: object) -> list[str]:
    """Every string in a decoded JSON value, keys too."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [t for v in value for t in strings(v)]
    return []


@given(secrets, hostile)
def test_no_json_form_carries_a_secret(secret: str, text: str) -> None:
    out, doc = io.StringIO(), io.StringIO()
    r = Reporter(json_mode=True, secrets=[secret], out=out, err=io.StringIO())
    sunk: list[dict[str, object]] = []
    r.sinks.append(sunk.append)
    r.warn(f"{text}{secret}{text}")
    r.event("ready", secret, name=secret, addresses=[text + secret], **{secret: 1})
    Reporter(json_mode=True, secrets=[secret], out=doc).output_json({"n": [secret + text]})
    decoded = [json.loads(line) for line in out.getvalue().splitlines()]
    for value in (*decoded, *sunk, json.loads(doc.getvalue())):
        assert not any(secret in t for t in strings(value))


@given(secrets, hostile)
def test_no_text_line_carries_a_secret(secret: str, text: str) -> None:
    assume(printable(text) == text)  # else an escape in it might spell the secret
    err = io.StringIO()
    r = Reporter(secrets=[secret], out=io.StringIO(), err=err, timestamps=True)
    r.warn(f"{text}{secret}{text}")
    r.info(f"{secret}{text}")
    r.error(secret)
    assert secret not in err.getvalue()
    assert all(shown_safely(line) for line in err.getvalue().splitlines())


# -- profiles and credentials files read -------------------------------------------------


@given(st.binary(max_size=300) | hostile.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_a_profile_file_loads_or_is_a_profile_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.yaml"
        path.write_bytes(data)
        with contextlib.suppress(ProfileError):
            load_profile_file(path)


lines = st.sampled_from(
    ["[default]", "[work", "R3_ACCESS_KEY_ID = id", "R3_SECRET_ACCESS_KEY = c2VjcmV0",
     "R3_SECRET_ACCESS_KEY", "  continued", "= x", "# c", "[default]", "%(x)s"]
) | hostile  # fmt: skip


@given(st.lists(lines, max_size=8), st.sampled_from(["default", "work", "DEFAULT"]))
@example(["[default]", "R3_ACCESS_KEY_ID = \ud800"], "default")  # not UTF-8
def test_a_credentials_file_reads_or_is_a_credentials_error(text: list[str], section: str) -> None:
    secret = "S3CRETvalue"
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "credentials"
        path.write_bytes(("\n".join([*text, f"oops {secret}"])).encode("utf-8", "surrogatepass"))
        try:
            keys_from_file(path, section)
        except CredentialsError as exc:
            assert secret not in str(exc)


# -- what init writes --------------------------------------------------------------------


@given(addresses, hostile, st.booleans(), st.integers(1, 65535), hostile)
def test_init_writes_exactly_its_keys_or_refuses(
    address: str, name: str, unique: bool, port: int, section: str
) -> None:
    try:
        text = profile_text(ServiceInfo(address, name, "SSH", "on"), unique, port, section, "d")
    except RittunnelError:
        return
    data = load_yaml(text)
    assert isinstance(data, dict)
    assert set(data) == {"service", "local_port"} | ({"credentials"} if section else set())
    assert data["local_port"] == port and data.get("credentials", "") == section
    service = data["service"]
    if is_service_id(service):  # by ID: the service's own (a name is never an ID)
        assert service == address
    else:  # by name: only a unique one
        assert unique and service == name
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.yaml"
        path.write_text(text, encoding="utf-8")
        profile = load_profile_file(path)
    assert profile.service_is_id == is_service_id(service)


# -- what ssh-config writes ----------------------------------------------------------------

services = st.builds(
    ServiceInfo, addresses, hostile, st.sampled_from(["SSH", " ssh ", "HTTP", "x\nSSH"]), hostile
)


@given(st.lists(services, max_size=5), st.sampled_from(["", "work", "w'k %h"]))
def test_ssh_config_holds_exactly_its_blocks(found: list[ServiceInfo], section: str) -> None:
    blocks = entries(found)
    text = render(blocks, ["/opt/rit tunnel/rittunnel"], None, section)
    hosts: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        words = line.split(None, 1)
        if words[0] == "Host":
            assert len(words[1].split()) == 1
            hosts.append(words[1])
        elif words[0] == "HostKeyAlias":
            assert len(words[1].split()) == 1
        else:
            assert words[0] == "ProxyCommand", line
            argv = shlex.split(words[1].replace("%%", "%"))
            assert argv[1:4] == ["stdio", "--service", argv[3]] and is_service_id(argv[3])
            credentials = ["--credentials", section] if section else []
            assert argv[4:] == [*credentials, "--persist", "10m"]
    assert hosts == [e.host for e in blocks] and len(set(hosts)) == len(hosts)


# -- what unit writes ----------------------------------------------------------------------


@given(st.dictionaries(st.sampled_from(["XDG_CONFIG_HOME", "R3_PROFILE"]), hostile), hostile)
def test_a_unit_holds_exactly_its_settings(environment: dict[str, str], path: str) -> None:
    assume("\x00" not in "".join(environment.values()))
    argv = ["/usr/bin/python3", "-m", "rittunnel", "up", path]
    unit = Unit(["pi"], "rittunnel unit pi", argv, "/h/" + path, environment)
    try:
        text = unit.text()
    except RittunnelError:
        return
    try:
        parser, carried = parse_unit(text)
    except configparser.Error as exc:  # a line that is no setting
        raise AssertionError(text) from exc
    assert carried == environment
    assert exec_argv(parser["Service"]["ExecStart"]) == argv
    keys = {k for k, _ in parser.items("Service")}
    assert keys == {
        "Type", "NotifyAccess", "ExecStart", "EnvironmentFile", "SyslogIdentifier",
        "Restart", "RestartSec", "TimeoutStartSec", "KillMode", "TimeoutStopSec",
        *(["Environment"] if environment else []),
    }  # fmt: skip
