"""The CLI module: what it loads for the fast commands, and the default command."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from rittunnel.cli import default_command_argv
from rittunnel.commands.registry import build_parser, command_parsers

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
    assert "yaml" not in loaded, proc.stderr  # no profile is read


def expand(argv: list[str]) -> list[str]:
    return default_command_argv(argv, command_parsers(build_parser()))


def test_a_bare_name_means_up() -> None:
    assert expand(["-v", "ssh-pi"]) == ["up", "-v", "ssh-pi"]
    assert expand(["status", "--json"]) == ["status", "--json"]
    assert expand(["--help"]) == ["--help"]


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--start-timeout", "nan", "x"],
        ["up", "--start-timeout", "0", "x"],
        ["up", "--start-timeout", "inf", "x"],
        ["up", "--start-timeout", "-1", "x"],
        ["stdio", "--start-timeout", "1e999", "x"],
        ["wait", "--timeout", "nan", "x"],
        ["wait", "--timeout", "0", "x"],
        ["stop", "--timeout", "inf", "x"],
        ["run", "-p", "70000", "x"],
        ["run", "--port", "-1", "x"],
        ["run", "-p", "22.5", "x"],
        ["init", "x", "--port", "0"],
        ["init", "x", "--port", "65536"],
        ["demo", "--mib", "-5"],
        ["demo", "--mib", "0"],
        ["demo", "--mib", "1025"],
    ],
)
def test_numbers_that_cannot_be_meant_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "is not" in err.splitlines()[-1]


def test_ports_mib_and_seconds_are_checked_and_in_range_taken() -> None:
    from rittunnel.commands.arguments import mib_arg, port_arg, port_or_any_arg, seconds_arg

    for parse, bad in (
        (port_or_any_arg, "70000"),
        (port_arg, "0"),
        (mib_arg, "-5"),
        (seconds_arg, "nan"),
        (seconds_arg, "0"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=f"'{bad}' is not"):
            parse(bad)
    assert port_or_any_arg("0") == 0 and port_or_any_arg("65535") == 65535
    assert port_arg("1") == 1 and mib_arg("1024") == 1024 and seconds_arg("0.5") == 0.5


def test_a_closed_stdout_is_filled_with_dev_null(tmp_path: Path) -> None:
    """``rittunnel … >&-``: fd 1 is /dev/null (and inherited) once main starts, so no
    socket opened later can take its number."""
    probe = (
        "import os, sys\n"
        "from rittunnel.cli import main\n"
        "main(['status'], {'HOME': sys.argv[1], 'XDG_STATE_HOME': sys.argv[1]})\n"
        "print(os.readlink('/proc/self/fd/1'), os.get_inheritable(1), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        ["/bin/sh", "-c", 'exec "$0" "$@" >&-', sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stderr.strip().splitlines()[-1] == "/dev/null True", proc.stderr


SID = "80:00:00:00:01:02:03:04"


def test_stdio_and_run_parse_a_profile_or_a_service() -> None:
    parse = build_parser().parse_args
    stdio = parse(["stdio", "--service", SID, "--credentials", "work"])
    assert (stdio.name, stdio.service, stdio.credentials) == (None, SID, "work")
    assert parse(["stdio", "ssh-pi"]).service is None
    run = parse(["run", "-p", "0", "--service", "pi-ssh"])
    assert (run.name, run.service, run.port, run.credentials) == (None, "pi-ssh", 0, None)
    assert parse(["run", "ssh-pi", "-p", "2222"]).name == "ssh-pi"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stdio"], "stdio: give a profile NAME or --service NAME|ID"),
        (
            ["stdio", "ssh-pi", "--service", SID],
            "stdio: give a profile NAME or --service, not both",
        ),
        (["stdio", "--credentials", "work"], "stdio: give a profile NAME or --service NAME|ID"),
        (
            ["stdio", "ssh-pi", "--credentials", "work"],
            "stdio: --credentials goes with --service; profile 'ssh-pi' names its own section",
        ),
        (
            ["stdio", "--service", "80:00:00:00:01:02:03"],
            "--service '80:00:00:00:01:02:03' is not a service ID",
        ),
        (["stdio", "--service", " "], "--service ' ' is empty"),
        (
            ["stdio", "--service", SID, "--credentials", ""],
            "--credentials '' is not a section name",
        ),
        (
            ["run", "--service", "pi", "true"],
            "run: give a profile NAME or --service, not both; the command goes after `--`",
        ),
        (["run", "--", "true"], "run: give a profile NAME or --service NAME|ID"),
        (
            ["run", "--service", "a\x1bb", "--", "true"],
            "--service 'a\\x1bb' has control characters",
        ),
    ],
)
def test_stdio_and_run_argument_rules_are_one_line_usage_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rittunnel.cli import main

    code = main(argv, {"HOME": str(tmp_path), "RITTUNNEL_PROFILES": str(tmp_path)})
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"rittunnel: error: {message}") and err.count("\n") == 1, err


# -- the command table -------------------------------------------------------------------


def test_every_command_in_the_table_is_parsed_and_no_other() -> None:
    from rittunnel.commands.registry import COMMANDS

    assert sorted(command_parsers(build_parser())) == sorted(c.name for c in COMMANDS)
    for command in COMMANDS:  # a command's own name is never taken for a profile
        assert expand([command.name])[0] == command.name


def test_each_commands_options_come_from_its_own_arguments() -> None:
    """Every field of a command's options is one of its parser's destinations, so
    :func:`options_from` finds each one (and a typo fails here, not at run time)."""
    import dataclasses

    from rittunnel.commands.registry import COMMANDS

    parsers = command_parsers(build_parser())
    for command in COMMANDS:
        dests = {action.dest for action in parsers[command.name]._actions}
        fields = {f.name for f in dataclasses.fields(command.options_type())}
        assert fields <= dests, (command.name, fields - dests)


def test_a_command_parsed_alone_parses_as_in_the_whole_parser() -> None:
    """``rittunnel COMMAND …`` builds that command's parser alone (start-up time): its
    help, usage and prog are the ones the whole parser has."""
    from rittunnel.commands.registry import COMMANDS

    whole = command_parsers(build_parser())
    for command in COMMANDS:
        alone = command_parsers(build_parser(only=command.name))
        assert list(alone) == [command.name]
        assert alone[command.name].format_help() == whole[command.name].format_help()


def test_options_are_frozen_and_typed() -> None:
    from rittunnel.commands.options import StopOptions, UpOptions, options_from

    up = options_from(UpOptions, build_parser().parse_args(["up", "-d", "a", "b"]))
    assert up == UpOptions(names=("a", "b"), detach=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        up.detach = False  # type: ignore[misc]
    stop = options_from(StopOptions, build_parser().parse_args(["stop", "--all"]))
    assert stop == StopOptions(every=True)


@pytest.mark.parametrize(
    ("argv", "expanded"),
    [
        (["newcmd"], ["up", "newcmd"]),
        (["-v", "status"], ["status", "-v"]),
        (["--start-timeout", "5", "ssh-pi"], ["up", "--start-timeout", "5", "ssh-pi"]),
        (["--start-timeout=5", "ssh-pi"], ["up", "--start-timeout=5", "ssh-pi"]),
        (["--log-file", "status", "ssh-pi"], ["up", "--log-file", "status", "ssh-pi"]),
        (["--timeout", "5", "stop", "x"], ["stop", "--timeout", "5", "x"]),
        (["--start-timeout", "5", "run", "x"], ["run", "--start-timeout", "5", "x"]),
        ([], []),
    ],
)
def test_options_before_a_word_go_with_the_command_it_names(
    argv: list[str], expanded: list[str]
) -> None:
    assert expand(argv) == expanded


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--start-timeout", "5", "status"], "status takes no --start-timeout"),
        (["--start-timeout=5", "status"], "status takes no --start-timeout"),
        (["--timeout", "5", "run", "x"], "run takes no --timeout"),
        (["-d", "stop", "x"], "stop takes no -d"),
    ],
)
def test_an_option_before_a_command_that_does_not_take_it_is_a_usage_error(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rittunnel.cli import main

    code = main(argv, {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)})
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"rittunnel: error: {message};") and err.count("\n") == 1, err


def test_an_unknown_word_is_a_profile_for_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rittunnel.cli import main

    env = {"HOME": str(tmp_path), "RITTUNNEL_PROFILES": str(tmp_path)}
    assert main(["newcmd"], env) == 1
    assert "newcmd" in capsys.readouterr().err  # the profile it looked for


def test_no_command_shows_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    from rittunnel.cli import main

    assert main([], {}) == 2
    assert "COMMAND" in capsys.readouterr().err


#: a quick run of each command the table says needs no trio (it fails fast, or finds
#: nothing): what it imports while it runs
LIGHT = {
    "status": ["status"],
    "stop": ["stop", "x"],
    "wait": ["wait", "x", "--timeout", "0.01"],
    "profiles": ["profiles"],
    "unit": ["unit", "x"],
    "completion": ["completion", "--list", "services"],
}


def test_commands_that_need_no_trio_import_neither_trio_nor_httpx(tmp_path: Path) -> None:
    from rittunnel.commands.registry import COMMANDS

    assert set(LIGHT) == {c.name for c in COMMANDS if not c.needs_trio}
    env = {
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "RITTUNNEL_PROFILES": str(tmp_path),
    }
    for name, argv in LIGHT.items():
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        loaded = proc.stderr.rsplit("LOADED:", 1)[1].strip()
        assert "trio" not in loaded and "httpx" not in loaded, (name, proc.stderr)


@pytest.mark.parametrize("columns", [None, "", "abc", "0", "-5", "60", "132"])
def test_help_is_as_wide_as_argparse_makes_it(
    columns: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parsers' formatter takes the terminal's width without importing shutil (and
    its compressors), and takes the width shutil would give argparse."""
    import shutil

    from rittunnel.commands.registry import terminal_columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size().columns
    mine = build_parser().format_help()
    monkeypatch.setattr("rittunnel.commands.registry.HelpFormatter", argparse.HelpFormatter)
    assert build_parser().format_help() == mine
