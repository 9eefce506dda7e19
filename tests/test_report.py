from __future__ import annotations

import io
import json

from rittunnel.report import Reporter, redact


def test_redact() -> None:
    assert redact("token abcd1234 here", ["abcd1234"]) == "token *** here"
    assert redact("a b", ["a"]) == "a b"  # too short to redact safely


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
        "\r\x1b[K⠋ connecting 0.3s\r\x1b[K⠙ connecting 0.4s\r\x1b[Krittunnel: warning: retrying\n"
    )
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
