"""Text made safe to show: control characters escaped (:func:`printable`), values quoted
and bounded for messages (:func:`shown`), secrets replaced by ``***`` (:func:`redact`;
:func:`redact_values` inside a value about to be encoded; :func:`redact_url`,
:func:`redact_urls`; :func:`url_userinfo` finds them in a URL), and names folded to
ASCII (:func:`ascii_fold`). Pure; no I/O.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def redact_values(value: object, secrets: Iterable[str]) -> object:
    """``value`` (JSON-ready: dicts, lists, strings, numbers) with :func:`redact` applied
    to every string in it, keys too: what is done *before* encoding, since an encoder
    escapes a secret (``"``, ``\\``, non-ASCII letters as ``\\u00e4``) past any search
    of its output."""
    secrets = [s for s in secrets if s and len(s) >= 4]
    if not secrets:
        return value
    return _redact_values(value, secrets)


def _redact_values(value: object, secrets: list[str]) -> object:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {_redact_values(k, secrets): _redact_values(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_values(v, secrets) for v in value]
    return value


# What is never shown as it is: every character outside printable ASCII is looked at
# (:func:`_escape`); C0 and C1 controls and DEL (a terminal obeys them) are escaped, and
# so is what :data:`_HIDDEN` names.
_UNPRINTABLE = re.compile("[^\x20-\x7e]")
_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: the Unicode categories escaped: controls, format characters (among them every bidi
#: control: the marks U+061C, U+200E, U+200F, the embeddings and overrides U+202A-U+202E
#: and the isolates U+2066-U+2069, which reorder what is shown after them), lone
#: surrogates (no UTF-8 can carry them), line and paragraph separators, and code points
#: not assigned yet (a newer terminal may know them as any of these)
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})
#: format characters that join or part letters within a word (Persian, Indic scripts,
#: emoji sequences): kept; they reorder nothing
_JOINERS = frozenset("\u200c\u200d")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    import unicodedata  # lazy: only text that needs escaping gets here

    if ch in _JOINERS or unicodedata.category(ch) not in _HIDDEN:
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str, limit: int | None = None) -> str:
    """``text`` safe to show on a terminal, on one line: control characters (C0, C1, DEL,
    line separators, bidi controls and other format characters, lone surrogates,
    unassigned code points) written as escapes (``\\x1b``, ``\\n``, ``\\u202e``),
    printable Unicode kept. With ``limit``, at most that many characters (the cut marked ``…``)."""
    if limit is not None:
        text = text[: limit + 1]  # however long the text, only this much is looked at
    text = _UNPRINTABLE.sub(_escape, text)
    if limit is not None and len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text


def shown(value: object, limit: int = 60) -> str:
    """A value as an error message quotes it: like ``repr`` (a string in quotes, its
    control characters escaped), but at most about ``limit`` characters however large or
    deeply nested the value is."""
    if isinstance(value, str):
        return repr(value[: limit - 1] + "…" if len(value) > limit else value)
    short = reprlib.Repr()
    short.maxlevel = 2
    short.maxdict = short.maxlist = short.maxtuple = short.maxset = 4
    short.maxstring = short.maxother = short.maxlong = limit
    try:
        text = short.repr(value)
    except Exception:  # a value whose repr fails: say what it is
        text = f"<{type(value).__name__}>"
    return printable(text, limit)


def redact_url(url: str) -> str:
    """``url`` with any user name and password in it (``http://user:pass@host/``)
    replaced by ``***``: what is shown of an API URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_urls(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


# ``scheme://userinfo@``: the user name and password of a URL inside some text
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


def redact_urls(text: str) -> str:
    """``text`` with the user name and password of every URL in it replaced by ``***``."""
    return _URL_USERINFO.sub(r"\1***@", text)


def url_userinfo(url: str) -> list[str]:
    """The secrets in ``url``'s user part (``http://user:password@host/``), to add to
    what a :class:`Reporter` redacts: the password and the whole user part, or the user
    name when there is no password (a token is often put there); empty when none."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    if "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rpartition("@")[0]
    if parts.password:
        return [userinfo, parts.password]
    return [userinfo] if userinfo else []


def ascii_fold(text: str) -> str:
    """``text`` in lower-case ASCII, accents dropped (``Über Pi`` → ``uber pi``); what
    has no ASCII form is left out."""
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


#: the longest connection ID rittunnel takes from remote.it (real ones are UUIDs): the
#: state files record IDs up to this length as they are, so every proxy kept can be stopped
MAX_CONNECTION_ID = 256


def connection_id_problem(value: str) -> str:
    """Why ``value`` cannot be kept as a connection ID ("" if it can): too long, or holding
    control characters, it would not be recorded as it is (a state file escapes or cuts
    such text), and a proxy recorded by another ID could never be stopped."""
    if len(value) > MAX_CONNECTION_ID:
        return f"is longer than {MAX_CONNECTION_ID} characters"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        return "contains control characters"
    return ""
