"""What a laptop pays for a tunnel it is not using (issue 26, items 2 and 3).

1. **Idle wake-ups**: ``rittunnel up`` serving one profile whose proxy lives for hours,
   with no connection: how often its threads wake, counted by the kernel
   (``voluntary_ctxt_switches`` of every thread in ``/proc/PID/task``: a thread that
   sleeps and wakes switches once) over a window, per minute. Target: at most 2.
2. **``stdio`` start-up**: beside that tunnel, ``rittunnel stdio --service ID`` (the
   console script, as ssh's ProxyCommand runs it) from spawn to exit relaying a few
   bytes, against a bare ``python -c 'import socket'`` of the same interpreter, spawned
   in turns (A, B, A, B, …) so load hits both alike. Target: median at most 3×.
3. **``stdio --persist``** (item 4): the first ssh with it against without, the second
   ssh inside the window, the window's end, and a real ssh/scp/rsync sequence through
   ``ssh-config`` (:mod:`bench_persist`).

Usage: ``./scripts/bench-laptop [--quick] [--json]``; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_persist
import bench_wait

#: the console script of this interpreter's environment (what ssh-config writes)
CONSOLE = str(Path(sys.executable).parent / "rittunnel")
IDLE_TARGET = 2.0
STDIO_TARGET = 3.0


@dataclass(frozen=True)
class LaptopPlan:
    #: seconds the idle tunnel is watched
    idle_seconds: float
    #: spawns of each of bare Python and ``stdio``
    stdio_runs: int
    #: turns of first ssh with and without ``--persist``
    persist_runs: int = 5


FULL_LAPTOP = LaptopPlan(idle_seconds=60.0, stdio_runs=20, persist_runs=7)
QUICK_LAPTOP = LaptopPlan(idle_seconds=5.0, stdio_runs=3, persist_runs=2)


def wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of ``pid`` so far."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:
            pass  # a thread that just ended
    return total


def tunnel_pid(rig: bench_wait.Rig, name: str) -> int:
    state = json.loads((rig.tmp / "state" / "rittunnel" / f"{name}.json").read_text())
    pid: int = state["pid"]
    return pid


def spawn_ms(argv: list[str], env: dict[str, str], stdin: bytes) -> tuple[float, bytes]:
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=30)
    ms = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {done.returncode}: {done.stderr[-300:]!r}")
    return ms, done.stdout


def run_laptop(echo_port: int, tmp: Path, plan: LaptopPlan, log: bench_wait.Log) -> dict[str, Any]:
    wait_plan = bench_wait.QUICK_WAIT
    result: dict[str, Any] = {"plan": asdict(plan)}
    with bench_wait.fake_api(echo_port, wait_plan) as fake:
        rig = bench_wait.make_rig(fake, tmp)
        fake.control(expirationsec=8 * 3600, idle_sec=8 * 3600.0)
        with bench_wait.tunnel(rig, "bench-wait") as port:
            bench_wait.echo_wait(port, 10)  # one connection, over: counters written once
            time.sleep(2.0)
            pid = tunnel_pid(rig, "bench-wait")
            before, start = wakeups(pid), time.monotonic()
            time.sleep(plan.idle_seconds)
            woke, took = wakeups(pid) - before, time.monotonic() - start
            per_minute = woke * 60.0 / took
            result["idle"] = {"seconds": round(took, 1), "wakeups": woke}
            result["idle"]["per_minute"] = round(per_minute, 2)
            log(f"laptop: idle tunnel: {woke} wake-ups in {took:.0f} s ({per_minute:.1f}/min)")

            env = rig.env
            bare_argv = [sys.executable, "-c", "import socket"]
            stdio_argv = [CONSOLE, "stdio", "--service", bench_wait.SERVICE]
            bare: list[float] = []
            stdio: list[float] = []
            calls = len(fake.calls())
            for _ in range(plan.stdio_runs):
                bare.append(spawn_ms(bare_argv, env, b"")[0])
                ms, out = spawn_ms(stdio_argv, env, b"ping")
                if out != b"ping":
                    raise RuntimeError(f"stdio relayed {out[:40]!r}, not the bytes sent")
                stdio.append(ms)
            calls = len(fake.calls()) - calls
        result["persist"] = bench_persist.run_persist(fake, rig, plan.persist_runs, log)
    result["ssh_sequence"] = bench_persist.run_ssh_sequence(tmp, log)
    b, s = statistics.median(bare), statistics.median(stdio)
    result["stdio"] = {
        "runs": plan.stdio_runs,
        "bare_median_ms": round(b, 1),
        "stdio_median_ms": round(s, 1),
        "ratio": round(s / b, 2),
        "api_calls": calls,
    }
    log(f"laptop: stdio start-up {s:.0f} ms against bare Python {b:.0f} ms ({s / b:.2f}x)")
    return result


def verdicts(res: dict[str, Any]) -> list[dict[str, Any]]:
    idle, stdio = res.get("idle", {}), res.get("stdio", {})
    per_minute, ratio = idle.get("per_minute"), stdio.get("ratio")
    return [
        *bench_persist.verdicts(res),
        {
            "target": "idle tunnel wake-ups per minute",
            "value": per_minute,
            "bar": f"<= {IDLE_TARGET:g}",
            "met": per_minute is not None and per_minute <= IDLE_TARGET,
        },
        {
            "target": "stdio --service ID beside a tunnel, spawn to exit, x bare Python",
            "value": ratio,
            "bar": f"<= {STDIO_TARGET:g}",
            "met": ratio is not None and ratio <= STDIO_TARGET and stdio.get("api_calls") == 0,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench-laptop", description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    args = parser.parse_args(argv)
    plan = QUICK_LAPTOP if args.quick else FULL_LAPTOP

    def log(text: str) -> None:
        print(f"bench: {text}", file=sys.stderr, flush=True)

    from bench import ROOT, Procs  # the echo target of the relay bench

    procs = Procs()
    try:
        target = procs.start(
            [sys.executable, str(ROOT / "scripts" / "bench.py"), "--target"],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert target.stdout is not None
        echo = int(json.loads(target.stdout.readline())["echo"])
        with tempfile.TemporaryDirectory(prefix="rittunnel-bench-laptop-") as tmp:
            res = run_laptop(echo, Path(tmp), plan, log)
    finally:
        procs.stop_all()
    res["targets"] = verdicts(res)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    for v in res["targets"]:
        mark = "ok  " if v["met"] else "MISS"
        print(f"  {mark} {v['target']}: {v['value']} (target {v['bar']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
