"""systemd's unit file syntax, as rittunnel writes it: unit names (:func:`unit_name`,
escaped as ``systemd-escape`` does), the words of ``ExecStart=`` and ``Environment=``
lines (quoted with C escapes, ``%`` specifiers and ``$`` variables disarmed), paths
that settings take raw (:func:`path_setting`: refused when they cannot be one line) and
environment files read back (:func:`parse_env_file`). Pure; what goes into the unit is
decided in :mod:`rittunnel.commands.unit`.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from .errors import RittunnelError
from .text import printable, shown

#: the longest unit name used, without ``.service`` (systemd allows 255 in all)
MAX_UNIT_NAME = 200
#: the characters a unit name keeps as they are (:func:`unit_escape`); others are escaped
_UNIT_CHARS = frozenset(string.ascii_letters + string.digits + ":_.-")


def unit_escape(name: str, limit: int | None = None) -> str:
    """``name`` as part of a unit name, as ``systemd-escape`` writes it except that ``-``
    stays: every UTF-8 byte other than ASCII letters, digits, ``:``, ``_``, ``.`` and
    ``-`` as ``\\xNN``, and a leading ``.`` too. With ``limit``, as many whole
    characters as fit in that many (no escape cut in two)."""
    out: list[str] = []
    size = 0
    for i, ch in enumerate(name):
        if ch in _UNIT_CHARS and not (i == 0 and ch == "."):
            part = ch
        else:
            part = "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        if limit is not None and size + len(part) > limit:
            break
        out.append(part)
        size += len(part)
    return "".join(out)


def unit_name(names: Sequence[str]) -> str:
    """``rittunnel-`` and the profile names (:func:`unit_escape`) joined by ``-``; when
    that would be longer than :data:`MAX_UNIT_NAME`, the first name (cut to 100) and how
    many more. Always a name systemd accepts for a unit."""
    name = "rittunnel-" + "-".join(unit_escape(n) for n in names)
    if len(name) > MAX_UNIT_NAME:
        more = f"-and-{len(names) - 1}-more" if len(names) > 1 else ""
        name = f"rittunnel-{unit_escape(names[0], 100)}{more}"
    return name


def escape_specifiers(text: str) -> str:
    """``text`` with systemd's ``%`` specifiers disarmed (``%%``)."""
    return text.replace("%", "%%")


def _is_control(ch: str) -> bool:
    """A C0 or C1 control character, DEL, or a line or paragraph separator: what
    another reader of the file may take for a line break (U+0085, U+2028)."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029"


def _quoted(text: str) -> str:
    """``text`` as one double-quoted word with C escapes, as systemd unquotes it."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _is_control(ch):  # \xNN is a byte to systemd: above ASCII, \uNNNN
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _needs_quotes(text: str) -> bool:
    return (
        not text
        or text == ";"
        or any(ch.isspace() or ch in "\"'\\" or _is_control(ch) for ch in text)
    )


def exec_word(word: str, *, program: bool = False) -> str:
    """One word of an ``ExecStart=`` line that systemd reads back as ``word``: quoted
    when it has spaces, quotes, backslashes or control characters; ``%`` doubled
    (specifiers), and ``$`` in an argument (variable expansion; systemd expands none in
    the ``program`` path, where ``$$`` would stay two)."""
    text = word if program else word.replace("$", "$$")
    return escape_specifiers(_quoted(text) if _needs_quotes(text) else text)


def exec_line(argv: Sequence[str]) -> str:
    """The value of ``ExecStart=`` that runs ``argv``. Raises a one-line error when
    systemd would refuse the program's path (quotes, backslashes, control characters)."""
    program, *args = argv
    if any(ch in "\"'\\" or _is_control(ch) for ch in program):
        raise RittunnelError(
            f"systemd runs no program whose path has quotes, backslashes or control "
            f"characters in it, as {shown(program, 200)} has; install rittunnel elsewhere"
        )
    return " ".join([exec_word(program, program=True), *(exec_word(a) for a in args)])


def env_word(name: str, value: str) -> str:
    """One ``NAME=VALUE`` of an ``Environment=`` line (``$`` means nothing there)."""
    text = f"{name}={value}"
    return escape_specifiers(_quoted(text) if _needs_quotes(text) else text)


def path_setting(path: str) -> str:
    """An absolute path as the value of a setting systemd takes raw (``EnvironmentFile=``:
    no quotes, no C escapes, only ``%`` specifiers, so ``%`` is doubled). Raises a
    one-line error for a path such a line cannot carry: not absolute, control
    characters (a newline would start a setting of its own), line or paragraph
    separators, bidi controls, a trailing backslash (a continued line) or whitespace at
    either end (systemd strips it)."""
    if (
        not path.startswith("/")
        or printable(path) != path
        or path != path.strip()
        or path.endswith("\\")
    ):
        raise RittunnelError(
            f"a systemd unit cannot name the path {shown(path, 200)}: it is not absolute, "
            "or has control characters, a trailing backslash or spaces at an end"
        )
    return escape_specifiers(path)


def parse_env_file(text: str) -> dict[str, str]:
    """The ``NAME=VALUE`` lines of an environment file as systemd reads the simple ones
    (comments ``#``/``;``, blank lines, a value in matching quotes unquoted)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name.strip()] = value
    return values
