"""The benchmark script still runs and reports every metric (a smoke test with tiny
loads; the numbers themselves are not judged here: see docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from .conftest import record_output

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"
sys.path.insert(0, str(BENCH.parent))
import bench_wait  # noqa: E402 - scripts/ is not a package


def quick_json(part: str) -> tuple[dict[str, Any], str]:
    """``scripts/bench --quick --json --only PART``: the report and what it logged. The two
    parts are two tests so that parallel workers run them side by side."""
    argv = [sys.executable, str(BENCH), "--quick", "--json", "--no-socat", "--no-iperf3"]
    proc = subprocess.run(
        [*argv, "--only", part],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    record_output(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report, proc.stderr


def test_bench_quick_json_reports_every_relay_metric() -> None:
    report, log = quick_json("relay")
    assert "socat not found (or --no-socat)" in log
    assert report["tools"] == {"socat": False, "iperf3": False}
    direct, ritt = report["results"]["direct"], report["results"]["rittunnel"]
    for result in (direct, ritt):
        for key in ("bulk_up_gbps", "bulk_down_gbps", "rtt_p50_us", "rtt_p99_us", "conns_per_s"):
            assert result[key] > 0, key
        assert result["rtt_p99_us"] >= result["rtt_p50_us"]
    assert ritt["idle_kib_per_conn"] > 0
    assert 0 < ritt["ready"]["median_ms"] < 10_000
    targets = {t["target"] for t in report["targets"]}
    assert "bulk up vs direct" in targets and "RSS per idle connection (KiB)" in targets
    assert report["wait"] == {}


def test_bench_quick_json_reports_every_wait_metric() -> None:
    """The zero-wait part: every phase ran (its numbers are judged by a real run only)."""
    report, _ = quick_json("wait")
    assert report["results"] == {}
    targets = {t["target"] for t in report["targets"]}
    wait = report["wait"]
    assert wait["plan"] == asdict(bench_wait.QUICK_WAIT)
    for phase in ("across_expiries", "idle_warm", "idle_cold", "stdio"):
        assert "error" not in wait[phase], wait[phase]
    expiries = wait["across_expiries"]
    assert expiries["clients"] == len(expiries["waits_ms"]) >= 10
    assert expiries["failed"] == 0 and expiries["connects"] >= 2  # the first and a renewal
    assert wait["idle_cold"]["first_ms"] >= 1000 * bench_wait.QUICK_WAIT.connect_delay
    assert wait["idle_warm"]["first_ms"] > 0
    assert wait["stdio"]["runs"] == len(wait["stdio"]["first_ms"]) and wait["stdio"]["failed"] == 0
    assert isinstance(wait["stdio"]["api_calls"], int) and wait["stdio"]["live_survived"]
    assert "stdio beside a running tunnel, API calls" in targets


def test_wait_verdicts_and_table_show_errors_and_misses() -> None:
    """A phase that failed is a missed target and an error line, not a crash."""
    wait: dict[str, Any] = {
        "plan": asdict(bench_wait.FULL_WAIT),
        "across_expiries": {
            "clients": 36,
            "failed": 1,
            "first_ms": 3.0,
            "max_after_first_ms": 1012.0,
            "waited_after_first": 2,
            "connects": 3,
        },
        "idle_warm": {"error": "rittunnel up bench-warm did not get ready: unknown key 'warm'"},
        "idle_cold": {"idle_sec": 3.0, "break_s": 5.0, "first_ms": 1010.0, "connects": 1},
        "stdio": {
            "runs": 5,
            "failed": 0,
            "median_ms": 90.0,
            "max_ms": 120.0,
            "first_ms": [90.0] * 5,
            "api_calls": 0,
            "live_survived": True,
        },
    }
    met = {v["target"]: (v["value"], v["met"]) for v in bench_wait.verdicts(wait)}
    assert met == {
        "clients after the first waiting > 50 ms, across expiries": (2, False),
        "first client after an idle drop, warm (ms)": (None, False),
        "stdio beside a running tunnel, first byte (ms, median)": (90.0, True),
        "stdio beside a running tunnel, API calls": (0, True),
    }
    lines = list(bench_wait.table(wait))
    assert any("warm: true" in x and "error: rittunnel up bench-warm" in x for x in lines)
    assert any("max wait after the first (ms)" in x and x.endswith(" 1012") for x in lines)
    assert any("waited > 50 ms" in x and x.endswith(" 2") for x in lines)
    assert any("without warm (ms)" in x and x.endswith(" 1010") for x in lines)
    wait["stdio"] = {"error": "boom"}
    ok = {v["target"]: v["met"] for v in bench_wait.verdicts(wait)}
    assert ok["stdio beside a running tunnel, API calls"] is False
    assert any("stdio beside" in x and x.endswith("error: boom") for x in bench_wait.table(wait))


def test_bench_buffers_reports_every_variant() -> None:
    """scripts/bench-buffers with one short round per variant and the Python generator."""
    script = BENCH.parent / "bench_buffers.py"
    argv = [sys.executable, str(script), "--rounds", "1", "--seconds", "1", "--no-iperf3"]
    proc = subprocess.run(
        [*argv, "--json"], capture_output=True, text=True, timeout=180, check=False
    )
    record_output(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "iperf3 not found: Python generator" in proc.stderr
    report = json.loads(proc.stdout)
    assert report["load"] == "python"
    variants = report["variants"]
    assert "1 MiB, page-aligned (rittunnel)" in variants
    assert "1 MiB, offset 16 (bytearray)" in variants
    for row in variants.values():
        assert row["gbit_s"] > 0 and row["rounds"] == 1
        # the relay thread's own CPU was counted: moving a GB costs it something
        assert row["user_ms_per_gb"] + row["sys_ms_per_gb"] > 0


def test_read_line_finds_lines_that_came_in_one_read() -> None:
    """Two lines written at once, then silence: the second is found, not waited for."""
    child = (
        "import sys, time\n"
        "sys.stdout.write('one\\ntwo\\nthree')\n"
        "sys.stdout.flush()\n"
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert bench_wait.read_line(proc, "one", timeout=20) == "one\n"
        assert bench_wait.read_line(proc, "two", timeout=5) == "two\n"
        with pytest.raises(RuntimeError, match=r"\(nothing in 0\.5 s\)"):
            bench_wait.read_line(proc, "three", timeout=0.5)  # not ended: not yet a line
    finally:
        proc.kill()
        proc.wait()
