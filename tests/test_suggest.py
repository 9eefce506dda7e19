"""'Did you mean …?' for a typo of a command, a profile or a running tunnel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rittunnel.cli import main
from rittunnel.suggest import close_matches, did_you_mean

from .conftest import state_fields


def test_close_matches_ignore_case_and_the_word_itself() -> None:
    assert close_matches("stauts", ["status", "stop", "stdio"]) == ["status"]
    assert close_matches("SSH-PI", ["ssh-pi", "postgres"]) == ["ssh-pi"]
    assert close_matches("ssh-pi", ["ssh-pi"]) == []
    assert did_you_mean("zzzz", ["status"]) == ""
    assert did_you_mean("ssh-pj", ["ssh-pi", "ssh-p1"]) == "did you mean `ssh-pi` or `ssh-p1`?"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "ssh-pi.yaml").write_text("service: x\nlocal_port: 2222\n")
    state = tmp_path / "state" / "rittunnel"
    state.mkdir(parents=True, mode=0o700)
    path = state / "web-cam.json"
    path.write_text(json.dumps(state_fields(name="web-cam", proxies=[])))
    path.chmod(0o600)
    return {
        "HOME": str(tmp_path),
        "RITTUNNEL_PROFILES": str(profiles),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def _error(argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv, env) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["stauts"], "no command or profile 'stauts': did you mean `status`? (looked for"),
        (["ssh-lb"], "no command or profile 'ssh-lb': did you mean `ssh-pi`?"),
        (["up", "ssh-lb"], "no profile 'ssh-lb': did you mean `ssh-pi`?"),
        (["run", "ssh-lb", "--", "true"], "no profile 'ssh-lb': did you mean `ssh-pi`?"),
        (["webcam"], "did you mean `web-cam`?"),  # a running tunnel
    ],
)
def test_a_typo_gets_a_suggestion(
    argv: list[str], said: str, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert said in _error(argv, env, capsys)


def test_up_offers_no_command(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(["up", "stauts"], env, capsys)
    assert "did you mean" not in err and "create one there or set RITTUNNEL_PROFILES" in err


def test_nothing_close_says_what_it_said(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    err = _error(["qqqq"], env, capsys)
    assert "no profile 'qqqq': looked for qqqq.yaml in" in err and "did you mean" not in err


def test_stop_and_wait_suggest_running_tunnels(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert "webcam is not running (did you mean `web-cam`?)" in _error(
        ["stop", "webcam"], env, capsys
    )
    err = _error(["wait", "webcam", "--timeout", "0.01"], env, capsys)
    assert "it is not running (no state file; did you mean `web-cam`?)" in err
