# ruff: noqa: E501 - the lists at the end hold messages as they are, one a line
"""The error reference (``docs/reference.md#errors``) and the messages the code can
produce, checked against each other: every row's message exists in ``rittunnel/``, and
every error raised or warning said there is in the table.

Messages are collected from the source (``raise SomeError(f"…")`` and ``….warn(f"…")``
outside the fake) as templates, each interpolated value a ``{}``. A row documents a
message when a stretch of :data:`WINDOW` characters of the message's text is in the
reference; a row exists in the code when every stretch of its text between placeholders
(``NAME``, ``…``, ``'X'``) is in a string of the code. :data:`UNDOCUMENTED` and
:data:`PARAPHRASED` list what does not pass yet; they may only shrink: an entry that
passes, or whose message is gone, fails the test too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference.md"
#: characters of a message that must appear together in the reference
WINDOW = 24
#: stretches of a row shorter than this are not looked for
SHORTEST = 10
#: what stands for a value in a row: a NAME, ``…``, a quoted value, a number
PLACEHOLDER = re.compile(r"…|\b[A-Z][A-Z0-9_]*\b|'[^']*'|\\\||\b\d+(?:\.\d+)?\b|`")
#: exception classes whose messages are not the user's (a bug's, or never shown)
INTERNAL = {"AssertionError", "ValueError", "TypeError", "KeyError", "RuntimeError"}
#: messages wholly made of values: what they say is documented with their parts
BARE = re.compile(r"^[{}: ;,.()\[\]]*$")


def template(node: ast.expr) -> str | None:
    """A string or f-string as a template, each value ``{}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return (template(node.left) or "{}") + (template(node.right) or "{}")
    return None


def messages() -> set[str]:
    """Every user-facing message template of ``rittunnel/`` (the fake's excluded)."""
    found = set()
    for path in sorted((ROOT / "rittunnel").rglob("*.py")):
        if "fake" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = None
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id not in INTERNAL:
                    text = template(node.exc.args[0])
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "warn"
                and node.args
            ):
                text = template(node.args[0])
            if text and not BARE.match(text):
                found.add(re.sub(r"\s+", " ", text))
    return found


def strings() -> str:
    """Every string and f-string of ``rittunnel/`` (the fake's excluded), each value a NUL,
    one a line: where a row's message must be (a message may be built by a function)."""
    found = []
    for path in sorted((ROOT / "rittunnel").rglob("*.py")):
        if "fake" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant | ast.JoinedStr):
                text = template(node)
                if text:
                    found.append(re.sub(r"\s+", " ", text).replace("{}", "\0"))
    return "\n".join(found)


def reference() -> str:
    return re.sub(r"\s+", " ", REFERENCE.read_text(encoding="utf-8"))


def rows() -> list[str]:
    """Each message a row of the errors table shows (a row may show several)."""
    text = REFERENCE.read_text(encoding="utf-8")
    table = text[text.index("## Errors") :]
    out = []
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        cell = line[2:].split(" | ", 1)[0]
        for shown in re.findall(r"``? ?(.+?) ?``?(?: / |$)", cell):
            out.append(shown)
    return out


def documented(message: str, ref: str) -> bool:
    for part in message.split("{}"):
        part = part.strip()
        if len(part) < WINDOW:
            if len(part) >= SHORTEST + 4 and part in ref:
                return True
            continue
        if any(part[i : i + WINDOW] in ref for i in range(len(part) - WINDOW + 1)):
            return True
    return False


def exists(row: str, code: str) -> bool:
    row = row.removeprefix("warning: ")
    stretches = [s.strip(" .;:,()") for s in PLACEHOLDER.split(row)]
    return all(s in code for s in stretches if len(s) >= SHORTEST)


def test_every_message_is_in_the_error_reference() -> None:
    ref = reference()
    found = messages()
    missing = sorted(m for m in found if not documented(m, ref) and m not in UNDOCUMENTED)
    assert missing == [], "add these to docs/reference.md#errors"
    stale = sorted(m for m in UNDOCUMENTED if m not in found or documented(m, ref))
    assert stale == [], "documented or gone: remove them from UNDOCUMENTED"


def test_every_row_of_the_error_reference_is_a_message_the_code_has() -> None:
    code = strings()
    shown = rows()
    assert len(shown) > 80  # the table was found
    missing = [r for r in shown if not exists(r, code) and r not in PARAPHRASED]
    assert missing == [], "no such message in rittunnel/: fix the row"
    stale = sorted(r for r in PARAPHRASED if r not in shown or exists(r, code))
    assert stale == [], "matches now, or gone: remove them from PARAPHRASED"


#: messages the reference cannot show as they are: each only a few words around values
#: (their parts are documented), or a word said with another message's text
UNDOCUMENTED: frozenset[str] = frozenset(
    {
        "--service {} {}",
        "cannot use {}: {}",
        "cannot write {} as a profile",
        "cannot write {}: {}",
        "has no host",
        "hostip",
        "init: {}",
        "is not a URL",
        "not JSON ({})",
        "warm",
        "{} is not {}",
        "{} is not {}; use {}",
        "{}: [{}] has no {}",
        "{}: missing",
        "{}: service: {}",
        "{}; check {}",
        "{}={} is not {}",
    }
)
#: rows that quote a message whose parts different strings of the code say (each as
#: the row shows it)
PARAPHRASED: frozenset[str] = frozenset(
    {
        "VAR='…' is not an http:// or https:// URL",
        "command line: credentials: …",
        "command line: service: 'NAME' names N services: …",
        "command line: service: no service named 'NAME' …",
        "warning: NOTIFY_SOCKET='…' is not a socket address (NUL in it, or longer than 107 bytes); not notifying",
        "warning: NOTIFY_SOCKET='…' is not an absolute path or an @abstract socket name; not notifying",
    }
)
