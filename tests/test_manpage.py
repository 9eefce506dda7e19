"""The man page and the completion scripts under share/ (installed as data files) are
what the command table makes today, and the man page renders."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rittunnel.commands.completion import script
from rittunnel.commands.registry import COMMANDS, DEFAULT_COMMAND, build_parser
from rittunnel.manpage import manpage, roff

SHARE = Path(__file__).resolve().parent.parent / "share"
KINDS = {c.name: c.completes for c in COMMANDS}


def _made() -> dict[str, str]:
    parser = build_parser()
    return {
        "man/man1/rittunnel.1": manpage(),
        "bash-completion/completions/rittunnel": script("bash", parser, KINDS, DEFAULT_COMMAND),
        "zsh/site-functions/_rittunnel": script("zsh", parser, KINDS, DEFAULT_COMMAND),
        "fish/vendor_completions.d/rittunnel.fish": script("fish", parser, KINDS, DEFAULT_COMMAND),
    }


@pytest.mark.parametrize("name", sorted(_made()))
def test_share_is_up_to_date(name: str) -> None:
    assert (SHARE / name).read_text() == _made()[name], "run scripts/gen-share"


def test_the_page_names_every_command_and_option() -> None:
    page = manpage()
    for command in COMMANDS:
        assert f".SS {roff(command.name)}\n" in page
    assert roff("--start-timeout") in page and roff("--detach") in page
    assert roff("--notify-fd") not in page  # internal


def test_roff_escapes_what_roff_would_act_on() -> None:
    assert roff(".x\n'y\nback\\slash -v") == "\\&.x\n\\&'y\nback\\eslash \\-v"


@pytest.mark.skipif(shutil.which("man") is None, reason="no man")
def test_man_renders_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["man", "-l", "-Tutf8", str(SHARE / "man/man1/rittunnel.1")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr.lower(), proc.stderr
    text = re.sub(".\b", "", proc.stdout)  # overstrike bold
    assert "rittunnel - a stable localhost port" in text
    assert "EXIT STATUS" in text and "--start-timeout S" in text
