"""systemd's unit syntax: every word read back the way systemd reads it, unit names as
``systemd-escape`` writes them, environment files as systemd reads the simple ones."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess

import pytest

from rittunnel.errors import RittunnelError
from rittunnel.systemd import MAX_UNIT_NAME, env_word, exec_line, parse_env_file, unit_name

TRICKY = ["plain", "a b", 'q"uote', "back\\slash", "100%", "$HOME", "${X}", "", ";", "a\nb", "é"]


# -- reading a unit back as systemd does ----------------------------------------------


def systemd_words(value: str) -> list[str]:
    """Split a command line or Environment= value as systemd does (quotes, C escapes)."""
    words: list[str] = []
    i, n = 0, len(value)
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", " ": " "}
    while i < n:
        while i < n and value[i].isspace():
            i += 1
        if i >= n:
            break
        word: list[str] = []
        quote = ""
        while i < n and (quote or not value[i].isspace()):
            ch = value[i]
            if ch == "\\":
                nxt = value[i + 1]
                if nxt == "x":
                    word.append(chr(int(value[i + 2 : i + 4], 16)))
                    i += 4
                    continue
                if nxt == "u":
                    word.append(chr(int(value[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                word.append(escapes[nxt])
                i += 2
                continue
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in "\"'":
                quote = ch
            else:
                word.append(ch)
            i += 1
        assert not quote, f"unterminated quote in {value!r}"
        words.append("".join(word))
    return words


def unspecify(text: str) -> str:
    """systemd's specifier expansion, for text that must have none: ``%%`` → ``%``."""
    assert "%" not in text.replace("%%", ""), f"a specifier in {text!r}"
    return text.replace("%%", "%")


def exec_argv(value: str) -> list[str]:
    """What systemd runs for ``ExecStart=value`` (no variables set)."""
    program, *args = (unspecify(w) for w in systemd_words(value))
    for arg in args:
        assert "$" not in arg.replace("$$", ""), f"a variable in {arg!r}"
    return [program, *(a.replace("$$", "$") for a in args)]


def parse_unit(text: str) -> tuple[configparser.ConfigParser, dict[str, str]]:
    """The unit's sections, and its Environment= assignments read back."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    environment: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("Environment="):
            for word in systemd_words(line.removeprefix("Environment=")):
                name, _, value = unspecify(word).partition("=")
                environment[name] = value
    return parser, environment


def test_every_argument_reads_back_as_it_was() -> None:
    argv = ["/opt/my tools/100% $x/rittunnel", "up", *TRICKY]
    assert exec_argv(exec_line(argv)) == argv


def test_the_program_keeps_its_dollars_single() -> None:
    # systemd expands no variable in the program path, so "$$" there would stay two
    assert exec_line(["/opt/a$b/rittunnel", "$b"]) == "/opt/a$b/rittunnel $$b"


def test_a_program_path_systemd_refuses_is_an_error() -> None:
    with pytest.raises(RittunnelError, match="systemd runs no program whose path has quotes"):
        exec_line(['/opt/"odd"/rittunnel', "up"])


def test_environment_values_read_back_as_they_were() -> None:
    for value in TRICKY:
        [word] = systemd_words(env_word("RITTUNNEL_PROFILES", value))
        assert unspecify(word) == f"RITTUNNEL_PROFILES={value}"


#: what systemd accepts in a unit name (before ``.service``; no ``@``: not a template)
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+")


def unescape_unit(name: str) -> str:
    """``systemd-escape -u`` for a unit name (``\\xNN`` bytes back; ``-`` stays)."""
    raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), name.encode())
    return raw.decode("utf-8", "surrogatepass")


def test_unit_names() -> None:
    assert unit_name(["ssh-pi"]) == "rittunnel-ssh-pi"
    assert unit_name(["ssh-pi", "db"]) == "rittunnel-ssh-pi-db"
    assert unit_name(["x.y", "a_b"]) == "rittunnel-x.y-a_b"
    long = unit_name([f"profile{i:03}" for i in range(40)])
    assert len(long) <= MAX_UNIT_NAME and long == "rittunnel-profile000-and-39-more"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["über"], "rittunnel-\\xc3\\xbcber"),  # systemd refuses rittunnel-über
        (["日本", "ssh-pi"], "rittunnel-\\xe6\\x97\\xa5\\xe6\\x9c\\xac-ssh-pi"),
        (["a b"], "rittunnel-a\\x20b"),  # a profile given as a path: its stem
        (["$x%i\\"], "rittunnel-\\x24x\\x25i\\x5c"),
        ([".hidden"], "rittunnel-\\x2ehidden"),
    ],
)
def test_unit_names_are_escaped_as_systemd_escape_does(names: list[str], expected: str) -> None:
    name = unit_name(names)
    assert name == expected and UNIT_NAME.fullmatch(name)
    assert unescape_unit(name) == "rittunnel-" + "-".join(names)


def test_a_long_unit_name_is_cut_between_escapes() -> None:
    for names in (["é" * 300], ["ü" * 30, "b"], ["x" * 95 + "é" * 30, "b", "c"]):
        name = unit_name(names)
        assert len(name) <= MAX_UNIT_NAME and UNIT_NAME.fullmatch(name), name
        first = unescape_unit(name.removeprefix("rittunnel-")).split("-")[0]
        assert names[0].startswith(first) and first  # whole characters only
        more = f"-and-{len(names) - 1}-more" if len(names) > 1 else ""
        assert unescape_unit(name) == f"rittunnel-{first}{more}"


@pytest.mark.skipif(shutil.which("systemd-escape") is None, reason="no systemd-escape")
@pytest.mark.parametrize("name", ["über", "ssh_pi.2", "日本", "a b", ".x", "q'\"$%"])
def test_unit_names_agree_with_systemd_escape(name: str) -> None:
    """For a name without ``-`` (which ``systemd-escape`` writes ``\\x2d`` for paths'
    sake; it is valid in a unit name), the same escape."""
    made = subprocess.run(
        ["systemd-escape", "--", name], capture_output=True, text=True, check=True, timeout=10
    )
    assert unit_name([name]) == "rittunnel-" + made.stdout.strip()


def test_env_files_are_read_as_systemd_reads_simple_ones() -> None:
    text = "# comment\n; also\n\nA=1\n B = \"two words\" \nC='x'\nnot an assignment\n"
    assert parse_env_file(text) == {"A": "1", "B": "two words", "C": "x"}
