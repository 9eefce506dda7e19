"""The CLI module: what it loads for the fast commands, and the default command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rittunnel.cli import _argv_with_default_command

PROBE = """
import sys
from rittunnel.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("trio", "httpx", "yaml") if m in sys.modules)
print("LOADED:" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("argv", [["--help"], ["status"], ["status", "--json"], ["stop", "x"]])
def test_fast_commands_load_neither_trio_nor_httpx(argv: list[str], tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, timeout=60
    )
    loaded = proc.stderr.rsplit("LOADED:", 1)[1].strip()
    assert "trio" not in loaded and "httpx" not in loaded, proc.stderr


def test_a_bare_name_means_up() -> None:
    assert _argv_with_default_command(["-v", "ssh-pi"]) == ["up", "-v", "ssh-pi"]
    assert _argv_with_default_command(["status", "--json"]) == ["status", "--json"]
    assert _argv_with_default_command(["--help"]) == ["--help"]
