"""What the relay's buffers cost: CPU per GB of the relay threads by buffer size and
alignment, on loopback.

Run it as ``./scripts/bench-buffers`` (see docs/PERFORMANCE.md). It relays one bulk
upload at a time through :func:`rittunnel.relay.threads.relay_blocking` (the relay
threads: a reader per direction, a writer for large chunks) started from a plain thread
of this process, with buffers placed at a chosen offset from a page boundary, and reads
this process's user and system CPU time over the round (``RUSAGE_SELF``: the load runs
in child processes, so that is the relay's). The load is ``iperf3`` when installed (a
client and ``iperf3 -s`` as child processes), else the Python generator of
``scripts/bench.py`` in a child process into its sink. Variants are
interleaved round by round so that the machine's drift hits all of them alike; the
table shows medians. Bounded: rounds x variants x seconds; everything binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

from rittunnel import net
from rittunnel.relay.buffers import BufferPool
from rittunnel.relay.pump import Direction
from rittunnel.relay.threads import relay_blocking

#: (label, buffer size, offset from a page boundary); 16 is where malloc puts a bytearray
VARIANTS = [
    ("1 MiB, page-aligned (rittunnel)", 1 << 20, 0),
    ("1 MiB, offset 16 (bytearray)", 1 << 20, 16),
    ("1 MiB, offset 64", 1 << 20, 64),
    ("256 KiB, page-aligned", 256 << 10, 0),
    ("256 KiB, offset 16", 256 << 10, 16),
]


class OffsetPool:
    """Duck-typed :class:`rittunnel.relay.buffers.BufferPool` whose buffers start ``offset``
    bytes past a page boundary (views into anonymous mmaps, which are page-aligned)."""

    def __init__(self, size: int, offset: int) -> None:
        self.size = size
        self.offset = offset
        self._free: list[memoryview] = []

    def acquire(self) -> memoryview:
        if self._free:
            return self._free.pop()
        # the view keeps its mmap alive
        return memoryview(mmap.mmap(-1, self.size + mmap.PAGESIZE))[
            self.offset : self.offset + self.size
        ]

    def release(self, buf: memoryview) -> None:
        self._free.append(buf)


#: a bulk upload through the relay; returns Gbit/s
Load = Callable[[], float]


@dataclass
class Sample:
    gbit: float
    user_ms_per_gb: float
    sys_ms_per_gb: float


def one_round(
    listener: socket.socket, target: int, pool: OffsetPool, load: Load, seconds: int
) -> Sample:
    """Run ``load`` (``seconds`` long) through ``listener``; each connection it opens
    (iperf3 opens two) is relayed by its own threads using ``pool``. The CPU time is
    this process's over the round."""
    result: dict[str, float] = {}

    def relay_one(client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", target)) as upstream:
            for s in (client, upstream):
                net.tune(s)
                s.setblocking(False)
            directions = [
                Direction(client, upstream, lambda n: None),
                Direction(upstream, client, lambda n: None),
            ]
            wake_r, wake_w = os.pipe()
            try:
                relay_blocking(directions, wake_r, cast(BufferPool, pool), 30.0)
            finally:
                os.close(wake_r)
                os.close(wake_w)

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    loader = threading.Thread(target=lambda: result.setdefault("gbit", load()))
    loader.start()
    relays = []
    listener.settimeout(0.1)
    while loader.is_alive():
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        relays.append(threading.Thread(target=relay_one, args=(client,)))
        relays[-1].start()
    for t in relays:
        t.join(timeout=bench.IO_TIMEOUT)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    gbit = result["gbit"]
    gb = gbit * seconds / 8
    user, system = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
    return Sample(gbit, user * 1000 / gb, system * 1000 / gb)


def python_load(port: int, seconds: int) -> Load:
    """The Python generator of scripts/bench.py, in a child process (not under our GIL)."""

    def run() -> float:
        code = f"import bench; print(bench.bulk_up({port}, {seconds}))"
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
        return float(out)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench-buffers", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per variant (5)")
    parser.add_argument("--seconds", type=int, default=2, help="seconds per upload (2)")
    parser.add_argument("--no-iperf3", action="store_true", help="use the Python generator")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    rounds = max(1, min(args.rounds, 20))
    seconds = max(1, min(args.seconds, 10))
    iperf = None if args.no_iperf3 else shutil.which("iperf3")
    procs = bench.Procs()
    samples: dict[str, list[Sample]] = {label: [] for label, _, _ in VARIANTS}
    try:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        load: Load
        if iperf:
            target = bench.free_port()
            server = procs.start(
                [iperf, "-s", "-B", "127.0.0.1", "-p", str(target)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            bench.wait_listening(server.pid, target)
            load = partial(bench.iperf3, port, seconds, False)
        else:
            print("bench-buffers: iperf3 not found: Python generator", file=sys.stderr)
            sink = procs.start(
                [sys.executable, str(Path(bench.__file__)), "--target"], stdout=subprocess.PIPE
            )
            assert sink.stdout is not None
            target = json.loads(sink.stdout.readline())["sink"]
            load = python_load(port, seconds)
        pools = {label: OffsetPool(size, offset) for label, size, offset in VARIANTS}
        for r in range(rounds):
            for label in samples:
                sample = one_round(listener, target, pools[label], load, seconds)
                samples[label].append(sample)
                print(
                    f"bench-buffers: round {r + 1}: {label}: {sample.gbit:.1f} Gbit/s, "
                    f"{sample.sys_ms_per_gb:.0f} ms/GB system",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        procs.stop_all()
    table = {
        label: {
            "gbit_s": statistics.median(s.gbit for s in rows),
            "user_ms_per_gb": statistics.median(s.user_ms_per_gb for s in rows),
            "sys_ms_per_gb": statistics.median(s.sys_ms_per_gb for s in rows),
            "rounds": len(rows),
        }
        for label, rows in samples.items()
    }
    if args.json:
        print(json.dumps({"load": "iperf3" if iperf else "python", "variants": table}, indent=1))
        return 0
    print(f"relay threads' CPU per GB relayed, median of {rounds} rounds of {seconds} s")
    print(f"{'buffers':34s} {'Gbit/s':>7s} {'user ms/GB':>11s} {'system ms/GB':>13s}")
    for label, row in table.items():
        print(
            f"{label:34s} {row['gbit_s']:7.1f} {row['user_ms_per_gb']:11.0f} "
            f"{row['sys_ms_per_gb']:13.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
