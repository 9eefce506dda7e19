"""``rittunnel completion``: the scripts made from the command table, driven in a real
bash (COMP_WORDS/COMP_CWORD, as readline would), and the names they ask for."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rittunnel.cli import main
from rittunnel.commands.completion import SHELLS, script, specs
from rittunnel.commands.registry import COMMANDS, DEFAULT_COMMAND, build_parser

from .conftest import RITTUNNEL

KINDS = {c.name: c.completes for c in COMMANDS}


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PATH": f"{Path(RITTUNNEL).parent}:/usr/bin:/bin",
    }


@pytest.fixture
def world(tmp_path: Path) -> dict[str, str]:
    """Profiles ssh-pi and postgres, a running tunnel ssh-pi (and an orphan's record),
    and a cached service list with a name that has a space."""
    env = _env(tmp_path)
    profiles = tmp_path / "config" / "rittunnel" / "profiles"
    profiles.mkdir(parents=True)
    for name in ("ssh-pi", "postgres"):
        (profiles / f"{name}.yaml").write_text("service: x\nlocal_port: 2222\n")
    state = tmp_path / "state" / "rittunnel"
    state.mkdir(parents=True, mode=0o700)
    (state / "ssh-pi.json").write_text("{}")
    (state / "ssh-pi.orphan-123.json").write_text("{}")
    cache = tmp_path / "cache" / "rittunnel"
    cache.mkdir(parents=True)
    services = [
        {"address": "80:00:00:00:01:02:03:04", "name": "pi ssh", "type": "SSH", "state": ""},
        {"address": "80:00:00:00:01:02:03:05", "name": "router-web", "type": "", "state": ""},
    ]
    (cache / "services.json").write_text(json.dumps({"acct": {"fetched": 1, "services": services}}))
    return env


def _lines(argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(argv, env) == 0
    return capsys.readouterr().out.splitlines()


def test_lists_names_from_files_only(
    world: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _lines(["completion", "--list", "profiles"], world, capsys) == ["postgres", "ssh-pi"]
    assert _lines(["completion", "--list", "tunnels"], world, capsys) == ["ssh-pi"]
    assert _lines(["completion", "--list", "services"], world, capsys) == ["pi ssh", "router-web"]


def test_lists_nothing_in_an_empty_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for kind in ("profiles", "tunnels", "services"):
        assert _lines(["completion", "--list", kind], _env(tmp_path), capsys) == []


def test_needs_a_shell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion"], _env(tmp_path)) == 2
    assert "name the shell (bash, zsh, fish)" in capsys.readouterr().err


PROBE = """
import sys
from rittunnel.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("trio", "httpx", "yaml", "h11") if m in sys.modules)
print("LOADED:" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "argv", [["--list", "profiles"], ["--list", "tunnels"], ["--list", "services"], ["bash"]]
)
def test_completing_imports_no_trio_httpx_or_yaml(argv: list[str], world: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "completion", *argv],
        capture_output=True,
        text=True,
        env=world,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.rsplit("LOADED:", 1)[1].strip() == ""


def test_scripts_name_every_command_and_option() -> None:
    for shell in SHELLS:
        text = script(shell, build_parser(), KINDS, DEFAULT_COMMAND)
        for spec in specs(build_parser(), KINDS):
            assert spec.name in text, (shell, spec.name)
            for option in spec.options:
                for flag in option.flags:
                    assert flag.lstrip("-") in text, (shell, spec.name, flag)
        assert "--notify-fd" not in text  # internal options are not offered


def _complete(line: str, env: dict[str, str]) -> list[str]:
    """What Tab offers at the end of ``line`` in a bash that sourced the script."""
    words = line.split(" ")
    driver = (
        "source <(rittunnel completion bash)\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}\n"
        '_rittunnel rittunnel "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-i"],
        input=driver,
        capture_output=True,
        text=True,
        env=world_env(env),
        timeout=60,
    )
    assert "command not found" not in proc.stderr and "syntax error" not in proc.stderr, proc.stderr
    return sorted(x for x in proc.stdout.splitlines() if x)


def world_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "PS1": "", "TERM": "dumb"}


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("rittunnel st", ["status", "stdio", "stop"]),
        ("rittunnel ss", ["ssh-config", "ssh-pi"]),  # a command, or a profile for up
        ("rittunnel po", ["postgres"]),
        ("rittunnel up ", ["postgres", "ssh-pi"]),
        ("rittunnel up ssh-pi p", ["postgres"]),  # up takes several
        ("rittunnel up --de", ["--detach"]),
        ("rittunnel stop ", ["ssh-pi"]),  # running tunnels, no orphan records
        ("rittunnel wait ", ["ssh-pi"]),
        ("rittunnel wait ssh-pi ", []),  # wait takes one
        ("rittunnel run --service ", ["pi\\ ssh", "router-web"]),  # cached, quoted
        ("rittunnel stdio --service r", ["router-web"]),
        ("rittunnel run -p ", []),  # a port: nothing to offer
        ("rittunnel run -p 22 ", ["postgres", "ssh-pi"]),
        ("rittunnel -q st", ["status", "stdio", "stop"]),
        ("rittunnel completion ", ["bash", "fish", "zsh"]),
        ("rittunnel ssh-pi --js", ["--json"]),  # rittunnel NAME is up NAME
    ],
)
def test_bash_completes(line: str, offered: list[str], world: dict[str, str]) -> None:
    assert _complete(line, world) == offered


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_parse_the_script(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    path = tmp_path / f"rittunnel.{shell}"
    path.write_text(script(shell, build_parser(), KINDS, DEFAULT_COMMAND))
    proc = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
