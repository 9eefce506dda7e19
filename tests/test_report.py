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
