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
