"""The test harness's own promises: a background tunnel never outlives its test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import end_tunnels_left_by


def test_a_tunnel_a_test_left_running_is_ended(tmp_path: Path) -> None:
    states = tmp_path / "state" / "rittunnel"
    states.mkdir(parents=True)
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path)])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (states / "left.json").write_text(json.dumps({"pid": mine.pid}))
        (states / "stranger.json").write_text(json.dumps({"pid": other.pid}))
        (states / "junk.json").write_text("{")
        end_tunnels_left_by(tmp_path)
        assert mine.wait(timeout=10) == -9
        assert other.poll() is None  # not this test's: left alone
    finally:
        for proc in (mine, other):
            proc.kill()
            proc.wait()
