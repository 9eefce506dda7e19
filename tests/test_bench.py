"""The benchmark script still runs and reports every metric (a smoke test with tiny
loads; the numbers themselves are not judged here: see docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import record_output

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


def test_bench_quick_json_reports_every_metric() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", "--no-socat", "--no-iperf3"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    record_output(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "socat not found (or --no-socat)" in proc.stderr
    report = json.loads(proc.stdout)
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
