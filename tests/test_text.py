"""Text made safe to show: escapes, bounded quoting, redaction."""

from __future__ import annotations

from rittunnel.text import (
    ascii_fold,
    printable,
    redact,
    redact_url,
    redact_urls,
    shown,
    url_userinfo,
)


def test_redact() -> None:
    assert redact("token abcd1234 here", ["abcd1234"]) == "token *** here"
    assert redact("a b", ["a"]) == "a b"  # too short to redact safely


def test_printable_escapes_control_characters_and_keeps_unicode() -> None:
    assert printable("pi\x1b[2J\x9b31m\x07\x7f\r\n\tend") == (
        "pi\\x1b[2J\\x9b31m\\x07\\x7f\\r\\n\\tend"
    )
    assert printable("spoof\u202eevil\u2028x") == "spoof\\u202eevil\\u2028x"
    assert printable("café — 日本 ✓") == "café — 日本 ✓"
    assert printable("x" * 10_000_000, 20) == "x" * 19 + "…"
    assert printable("\x1b" * 50, 10) == "\\x1b\\x1b\\…"


def test_shown_quotes_any_value_in_bounded_space() -> None:
    assert shown("ftp://x") == "'ftp://x'"
    assert shown("a\x1b[2Jb") == "'a\\x1b[2Jb'"
    assert shown("y" * 100_000) == repr("y" * 59 + "…")
    assert shown(float("nan")) == "nan" and shown(True) == "True" and shown(None) == "None"
    laughs: list[object] = ["lol"] * 9
    for _ in range(8):
        laughs = [laughs] * 9  # 9**9 strings if printed whole
    assert len(shown(laughs)) <= 60
    assert len(shown({"k" * 1000: "v" * 1000})) <= 60


def test_the_password_of_a_url_is_never_shown() -> None:
    assert redact_url("http://user:pw@127.0.0.1:8/apv") == "http://***@127.0.0.1:8/apv"
    assert redact_url("https://api.remot3.it/apv/v27") == "https://api.remot3.it/apv/v27"
    assert redact_url("http://u:p@[::1") == "http://***@[::1"  # unparsable: still redacted
    text = "cannot reach http://a:b@c@h:1/x (and ftp://tok@y/)"
    assert redact_urls(text) == "cannot reach http://***@h:1/x (and ftp://***@y/)"
    assert url_userinfo("http://user:Secret99@h/") == ["user:Secret99", "Secret99"]
    assert url_userinfo("http://TOKEN1234@h/") == ["TOKEN1234"]
    assert url_userinfo("http://h/") == [] and url_userinfo("http://[::1") == []


def test_ascii_fold_drops_accents_and_what_has_no_ascii_form() -> None:
    assert ascii_fold("Über Pi") == "uber pi"
    assert ascii_fold("Café ☃") == "cafe "
