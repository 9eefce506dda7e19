from __future__ import annotations

import errno
import io
import json
import sys

import pytest

from rittunnel.report import Reporter


def test_human_and_json_modes() -> None:
    out, err = io.StringIO(), io.StringIO()
    r = Reporter(out=out, err=err, secrets=["s3cr3t-value"])
    r.event("ready", "x ready s3cr3t-value")
    r.warn("careful")
    r.error("bad")
    assert out.getvalue() == "x ready ***\n"
    assert err.getvalue() == "rittunnel: warning: careful\nrittunnel: error: bad\n"

    out, err = io.StringIO(), io.StringIO()
    r = Reporter(out=out, err=err, json_mode=True)
    r.event("ready", "x ready", local_port=5)
    record = json.loads(out.getvalue())
    assert record["event"] == "ready" and record["local_port"] == 5


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_line_only_on_a_terminal_and_cleared_before_other_lines() -> None:
    piped = io.StringIO()
    Reporter(err=piped).status("connecting")
    assert piped.getvalue() == ""

    tty = Terminal()
    r = Reporter(err=tty)
    r.status("⠋ connecting 0.3s")
    r.status("⠙ connecting 0.4s")
    r.warn("retrying")
    assert tty.getvalue() == (
        "\r\x1b[K⠋ connecting 0.3s\r\x1b[K⠙ connecting 0.4s"
        "\r\x1b[Krittunnel: warning: retrying\n"  # erased first, the line on its own
        "\r\x1b[K⠙ connecting 0.4s"  # and drawn again below it
    )
    r.clear_status()
    assert tty.getvalue().endswith("⠙ connecting 0.4s\r\x1b[K")
    r.warn("after")  # nothing to erase or draw any more
    assert tty.getvalue().endswith("\r\x1b[Krittunnel: warning: after\n")
    quiet = Terminal()
    Reporter(err=quiet, quiet=True).status("x")
    assert quiet.getvalue() == ""


def test_sinks_get_every_event_redacted() -> None:
    got: list[dict[str, object]] = []
    r = Reporter(out=io.StringIO(), err=io.StringIO(), secrets=["tok-123456"])
    r.sinks.append(got.append)
    r.event("ready", "ready with tok-123456", name="a")
    r.error("failed tok-123456")
    assert [g["event"] for g in got] == ["ready", "error"]
    assert got[0]["name"] == "a" and "tok-123456" not in json.dumps(got)


def test_the_lines_of_a_tunnels_life() -> None:
    out, err = io.StringIO(), io.StringIO()
    r = Reporter(out=out, err=err)
    where = ["127.0.0.1:2222", "[::1]:2222"]
    r.ready("pi", where, 2222, "latching")
    r.ready("pi", where, 2222, "latching", proxy="h:1", connection_id="C1", expires_in=3600)
    r.ready("web", where[:1], 8080, "latching", proxy="https://x.rt3.io", reverse=True)
    r.ready("pub", where[:1], 2222, "public", proxy="h:2")
    r.renewed("pi", "latching", "h:3", "C3", 28797, None)
    r.stopped("pi")
    assert out.getvalue().splitlines() == [
        "pi ready on 127.0.0.1:2222 and [::1]:2222 (proxy made when the first client connects)",
        "pi ready on 127.0.0.1:2222 and [::1]:2222 → h:1 (latching, proxy expires in 1h00m)",
        "web ready on 127.0.0.1:2222 → https://x.rt3.io (reverse proxy, public URL); "
        "http://localhost:8080/ redirects there",
        "pub ready on 127.0.0.1:2222 → h:2 (public)",
    ]
    assert err.getvalue().splitlines() == [
        "rittunnel: warning: pub: mode public: anyone who learns h:2 can connect to the "
        "service until the proxy expires",
        "rittunnel: pi: new proxy h:3 (latching, expires in 7h59m)",
        "rittunnel: pi: stopped",
    ]


def test_ready_in_json_carries_the_fields_scripts_read() -> None:
    out = io.StringIO()
    r = Reporter(out=out, err=io.StringIO(), json_mode=True)
    r.ready("pi", ["127.0.0.1:2222"], 2222, "latching", proxy="h:1", connection_id="C1")
    record = json.loads(out.getvalue())
    assert (record["event"], record["name"], record["local_port"], record["upstream"]) == (
        "ready",
        "pi",
        2222,
        "h:1",
    )
    assert record["connection_id"] == "C1" and record["addresses"] == ["127.0.0.1:2222"]


# -- issue 16: nothing leaks, nothing lies ------------------------------------------------


class Broken(io.StringIO):
    """A stream whose writes fail as a full disk, a gone reader or a closed fd do."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),  # >/dev/full
        OSError(errno.EBADF, "Bad file descriptor"),  # an fd closed under us
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),  # a socket
    ],
)
def test_a_stream_that_cannot_be_written_loses_the_line_not_the_tunnel(error: Exception) -> None:
    r = Reporter(out=Broken(error), err=Broken(error), verbose=True)
    r.ready("pi", ["127.0.0.1:2222"], 2222, "latching", proxy="h:1", connection_id="C1")
    r.renewed("pi", "latching", "h:2", "C2", 60, None)
    r.info("x")
    r.debug("y")
    r.warn("z")
    r.error("e")
    r.stopped("pi")
    closed = io.StringIO()
    closed.close()
    Reporter(out=closed, err=closed).ready("pi", ["127.0.0.1:2222"], 2222, "latching")


def test_no_stdout_at_all_is_a_stream_that_discards(monkeypatch: pytest.MonkeyPatch) -> None:
    # Python sets sys.stdout to None when the process starts with fd 1 closed (>&-)
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    r = Reporter()
    r.ready("pi", ["127.0.0.1:2222"], 2222, "latching")
    r.error("gone")
    assert not r.interactive


def test_every_human_line_has_its_control_characters_escaped() -> None:
    out, err = io.StringIO(), io.StringIO()
    r = Reporter(out=out, err=err)
    r.error("connect: remote.it said no: \x1b[2J\x1b]0;pwned\x07")
    r.ready("pi\x1b[31m", ["127.0.0.1:2222"], 2222, "latching")
    assert "\x1b" not in out.getvalue() + err.getvalue()
    assert (
        err.getvalue()
        == "rittunnel: error: connect: remote.it said no: \\x1b[2J\\x1b]0;pwned\\x07\n"
    )


def test_listening_beyond_loopback_is_warned_with_the_port() -> None:
    err = io.StringIO()
    r = Reporter(out=io.StringIO(), err=err)
    r.ready("pi", ["127.0.0.1:2222", "[::1]:2222"], 2222, "latching", proxy="h:1")
    assert err.getvalue() == ""
    r.ready("pi", ["0.0.0.0:2222"], 2222, "latching", proxy="h:1")
    r.ready("od", ["[::]:2223"], 2223, "latching")  # on demand: no proxy yet
    r.exposed("lan", ["192.168.1.5", "::", "::1"], 8080)
    assert err.getvalue().splitlines() == [
        "rittunnel: warning: pi: listening on 0.0.0.0: anyone who can reach this machine on "
        "port 2222 can use the tunnel",
        "rittunnel: warning: od: listening on ::: anyone who can reach this machine on "
        "port 2223 can use the tunnel",
        "rittunnel: warning: lan: listening on 192.168.1.5 and ::: anyone who can reach this "
        "machine on port 8080 can use the tunnel",
    ]


def test_a_commands_output_is_written_as_given_but_redacted() -> None:
    out = io.StringIO()
    r = Reporter(out=out, secrets=["hunter22"])
    r.output('[\n {"name": "a\\u001b"}\n]')  # JSON escapes its own strings
    r.output("key hunter22\n")
    r.output("")
    assert out.getvalue() == '[\n {"name": "a\\u001b"}\n]\nkey ***\n\n'


def test_a_commands_output_clears_the_status_line_first() -> None:
    tty = Terminal()
    r = Reporter(out=tty, err=tty)
    r.status("waiting")
    r.output("row")
    assert tty.getvalue() == "\r\x1b[Kwaiting\r\x1b[Krow\n\r\x1b[Kwaiting"


def test_a_commands_output_that_cannot_be_written_is_an_error() -> None:
    with pytest.raises(OSError):
        Reporter(out=Broken(OSError(errno.ENOSPC, "No space left on device"))).output("x")


def test_timestamps_go_before_human_lines_but_json_lines_stay_json() -> None:
    out, err = io.StringIO(), io.StringIO()
    human = Reporter(out=out, err=err, timestamps=True)
    human.event("warning", "careful")
    assert err.getvalue()[:4].isdigit() and err.getvalue().endswith("rittunnel: warning: careful\n")
    out = io.StringIO()
    machine = Reporter(out=out, err=io.StringIO(), json_mode=True, timestamps=True)
    machine.event("ready", "up", port=2222)
    record = json.loads(out.getvalue())  # the whole line is JSON, no date in front
    assert record["event"] == "ready" and isinstance(record["time"], float)
