"""rittunnel's hop against a direct connection and socat, on loopback, in one run.

Run it as ``./scripts/bench`` (see docs/PERFORMANCE.md). Three paths to the same local
target services are measured with the same load generator:

* ``direct``: the client connects to the target itself;
* ``socat``: ``socat -b 1048576 TCP-LISTEN:…,fork TCP:target`` in between (if installed);
* ``rittunnel``: ``rittunnel up`` against ``rittunnel fake-api --direct``, which hands out
  the target itself as the "proxy", so the only extra hop is rittunnel's relay.

Metrics: bulk throughput both ways (iperf3 when installed, else our own Python
generator), 64-byte ping-pong round trips (p50, p99), the aggregate round trips/s of 8
concurrent clients doing those ping-pongs, short connections per second,
RSS per idle relayed connection (1,000 of them), and ``rittunnel up`` to ready.

Then the zero-wait part (:mod:`bench_wait`): how long clients wait for remote.it across
proxy expiries, after an idle drop, and through ``rittunnel stdio`` beside a running
tunnel, against the fake with a connect delay. ``--only relay`` / ``--only wait`` runs
one part. Every phase is bounded in time and count; everything binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import select
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_wait  # scripts/, beside this file
import psutil
from bench_wait import free_port as free_port  # re-exported: bench_buffers.py uses it

CHUNK = 1 << 20
MSG = 64
#: concurrent request/response clients (docs/PERFORMANCE.md)
CLIENTS = 8
IO_TIMEOUT = 20.0
#: environment variables passed on to rittunnel: the relay's knobs
RELAY_KNOBS = ("RITTUNNEL_RELAY_THREADS",)
ROOT = Path(__file__).resolve().parent.parent
RITTUNNEL = [sys.executable, "-m", "rittunnel"]
TARGETS = ("sink", "source", "echo")

# -- the target services (a child process: `bench.py --target`) -----------------------


def run_target() -> None:
    """Serve sink (reads and discards), source (sends forever) and echo on 127.0.0.1 in
    one selector loop; print their ports as JSON; run until killed."""
    sel = selectors.DefaultSelector()
    ports = {}
    for role in TARGETS:
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4096)
        lsock.setblocking(False)
        sel.register(lsock, selectors.EVENT_READ, ("listen", role))
        ports[role] = lsock.getsockname()[1]
    print(json.dumps(ports), flush=True)
    buf = bytearray(CHUNK)
    payload = memoryview(bytes(CHUNK))

    def close(sock: socket.socket) -> None:
        sel.unregister(sock)
        sock.close()

    while True:
        for key, _ in sel.select():
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            what, role = key.data
            if what == "listen":
                with contextlib.suppress(BlockingIOError):
                    conn, _ = sock.accept()
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    event = selectors.EVENT_WRITE if role == "source" else selectors.EVENT_READ
                    sel.register(conn, event, ("conn", role))
                continue
            try:
                if role == "source":
                    sock.send(payload)
                elif role == "sink":
                    if sock.recv_into(buf) == 0:
                        close(sock)
                else:
                    data = sock.recv(65536)
                    if not data:
                        close(sock)
                    else:
                        sock.setblocking(True)
                        sock.sendall(data)
                        sock.setblocking(False)
            except BlockingIOError:
                pass
            except OSError:
                close(sock)


# -- the load generator ----------------------------------------------------------------


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def bulk_up(port: int, seconds: float) -> float:
    """Gbit/s sent to a sink through ``port`` (until the far end has taken it all)."""
    data = memoryview(bytes(CHUNK))
    with connect(port) as s:
        sent = 0
        start = time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            s.sendall(data)
            sent += CHUNK
        s.shutdown(socket.SHUT_WR)
        s.recv(1)  # the sink closes once it has read everything
        elapsed = time.perf_counter() - start
    return sent * 8 / elapsed / 1e9


def bulk_down(port: int, seconds: float) -> float:
    """Gbit/s received from a source through ``port``."""
    buf = bytearray(CHUNK)
    with connect(port) as s:
        got = 0
        start = time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            n = s.recv_into(buf)
            if n == 0:
                raise RuntimeError("source closed early")
            got += n
        elapsed = time.perf_counter() - start
    return got * 8 / elapsed / 1e9


def iperf3(port: int, seconds: float, reverse: bool) -> float:
    seconds = max(1, round(seconds))  # iperf3 takes whole seconds
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
    out = subprocess.run(
        [*argv, *(["-R"] if reverse else [])],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e9


def round_trips(port: int, count: int) -> tuple[float, float]:
    """p50 and p99 in µs of ``count`` 64-byte ping-pongs on one connection."""
    msg = b"x" * MSG
    samples = []
    with connect(port) as s:
        for i in range(count + count // 10):
            t0 = time.perf_counter_ns()
            s.sendall(msg)
            got = 0
            while got < MSG:
                chunk = s.recv(MSG - got)
                if not chunk:
                    raise RuntimeError("echo closed")
                got += len(chunk)
            if i >= count // 10:  # the first tenth warms up
                samples.append((time.perf_counter_ns() - t0) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def _clients(port: int, clients: int, start_at: float, end_at: float, out: Any) -> None:
    """:func:`concurrent_round_trips`' load (a child process): ``clients`` connections,
    each with one 64-byte request in flight at a time, driven by one ``epoll`` loop so
    that the generator spends little per message; puts the count of round trips
    completed between ``start_at`` and ``end_at``."""
    msg = b"x" * MSG
    socks = [connect(port) for _ in range(clients)]
    for s in socks:
        s.sendall(msg)  # a first round trip each, before the clock starts
        if len(s.recv(MSG, socket.MSG_WAITALL)) != MSG:
            raise RuntimeError("echo closed")
        s.setblocking(False)
    ep = select.epoll()
    got = {}
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN)
        got[s.fileno()] = (s, [0])
    time.sleep(max(0.0, start_at - time.time()))
    for s in socks:
        s.send(msg)
    done = 0
    while time.time() < end_at:
        for fd, _ in ep.poll(IO_TIMEOUT):
            s, have = got[fd]
            n = len(s.recv(MSG))
            if n == 0:
                raise RuntimeError("echo closed")
            have[0] += n
            if have[0] >= MSG:
                have[0] -= MSG
                done += 1
                s.send(msg)
    ep.close()
    for s in socks:
        s.close()
    out.put(done)


def concurrent_round_trips(port: int, clients: int, seconds: float) -> float:
    """Aggregate round trips/s of ``clients`` connections, each doing 64-byte ping-pongs
    for ``seconds`` at the same time (a connection pool, parallel ssh sessions), from
    one load process."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 0.3
    proc = ctx.Process(target=_clients, args=(port, clients, start_at, start_at + seconds, out))
    proc.start()
    try:
        total: int = out.get(timeout=seconds + IO_TIMEOUT + 10)
    finally:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    return total / seconds


def short_connections(port: int, seconds: float) -> float:
    """Connections per second, one after another: connect, 64 bytes each way, close."""
    msg = b"x" * MSG
    done = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        with connect(port) as s:
            s.sendall(msg)
            got = 0
            while got < MSG:
                chunk = s.recv(MSG)
                if not chunk:
                    raise RuntimeError("echo closed")
                got += len(chunk)
        done += 1
    return done / (time.perf_counter() - start)


def tree_rss(pid: int) -> int:
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


def idle_rss(port: int, pid: int, count: int) -> float:
    """KiB of RSS (process and children) per idle relayed connection."""
    time.sleep(0.3)
    before = tree_rss(pid)
    socks = []
    try:
        for _ in range(count):
            s = connect(port)
            s.sendall(b"x")  # make sure the relay connected upstream
            if s.recv(1) != b"x":
                raise RuntimeError("echo failed")
            socks.append(s)
        time.sleep(0.5)
        after = tree_rss(pid)
    finally:
        for s in socks:
            s.close()
    return (after - before) / count / 1024


# -- the paths -------------------------------------------------------------------------


@dataclass
class Path_:
    name: str
    ports: dict[str, int]
    pid: int | None = None
    results: dict[str, Any] = field(default_factory=dict)


def wait_listening(pid: int, port: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        conns = psutil.Process(pid).net_connections(kind="tcp")
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


class Procs:
    """Child processes, all stopped at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str], **kw: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(argv, text=True, **kw)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """Each, last started first: SIGTERM, then SIGKILL after 15 s."""
        for proc in reversed(self.procs):
            bench_wait.stop(proc)


@dataclass
class Rig:
    procs: Procs
    env: dict[str, str]
    profiles: list[str]


def start_rittunnel_env(procs: Procs, ports: dict[str, int], tmp: Path) -> Rig:
    services = []
    for i, (role, port) in enumerate(sorted(ports.items())):
        services += ["--service", f"80:00:00:00:00:00:01:{i:02x}=bench-{role}:TCP:127.0.0.1:{port}"]
    fake = procs.start(
        [*RITTUNNEL, "fake-api", "--direct", *services], stdout=subprocess.PIPE, cwd=ROOT
    )
    url = bench_wait.read_line(fake, "fake remote.it API at").split()[-1]
    # the relay's own knobs, so a run can compare them (docs/PERFORMANCE.md)
    knobs = {k: v for k, v in os.environ.items() if k in RELAY_KNOBS}
    env = bench_wait.rittunnel_env(url, tmp, **knobs)
    (tmp / "profiles").mkdir()
    names = []
    for i, role in enumerate(sorted(ports)):
        name = f"bench-{role}"
        (tmp / "profiles" / f"{name}.yaml").write_text(
            f"service: 80:00:00:00:00:00:01:{i:02x}\nlocal_port: {free_port()}\nbind: 127.0.0.1\n"
        )
        names.append(name)
    return Rig(procs, env, names)


def rittunnel_path(rig: Rig) -> Path_:
    proc = rig.procs.start(
        [*RITTUNNEL, "up", "--json", *rig.profiles], stdout=subprocess.PIPE, env=rig.env
    )
    ports = {}
    for _ in rig.profiles:
        event = json.loads(bench_wait.read_line(proc, '"event": "ready"'))
        ports[event["name"].removeprefix("bench-")] = event["local_port"]
    return Path_("rittunnel", ports, pid=proc.pid)


def time_to_ready(rig: Rig, runs: int) -> dict[str, float]:
    """ms from starting ``rittunnel up NAME`` to its ready line, cold then warm runs."""
    name = "bench-echo"
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*RITTUNNEL, name, "--json"], stdout=subprocess.PIPE, env=rig.env, text=True
        )
        try:
            bench_wait.read_line(proc, '"event": "ready"')
            times.append((time.perf_counter() - start) * 1000)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    return {"first_ms": times[0], "median_ms": statistics.median(times), "runs": runs}


def socat_path(procs: Procs, targets: dict[str, int]) -> Path_:
    ports = {}
    pids = []
    for role, target in targets.items():
        port = free_port()
        proc = procs.start(
            [
                "socat",
                "-b",
                str(CHUNK),
                f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=4096",
                f"TCP:127.0.0.1:{target},nodelay",
            ],
            stderr=subprocess.DEVNULL,  # it logs every reset the load generator causes
        )
        wait_listening(proc.pid, port)
        ports[role] = port
        pids.append(proc.pid)
    path = Path_("socat", ports)
    path.results["_pids"] = dict(zip(targets, pids, strict=True))
    return path


# -- the run ---------------------------------------------------------------------------


def measure_relay(
    procs: Procs,
    targets: dict[str, int],
    tmp: Path,
    plan: Plan,
    socat: bool,
    iperf: bool,
    results: dict[str, dict[str, Any]],
    log: Callable[[str], None],
) -> None:
    """The relay part: direct, socat (if ``socat``) and rittunnel on every metric, into
    ``results`` by path name."""
    rig = start_rittunnel_env(procs, targets, tmp)
    paths = [Path_("direct", dict(targets))]
    if socat:
        paths.append(socat_path(procs, targets))
    ready = time_to_ready(rig, plan.ready_runs)
    paths.append(rittunnel_path(rig))
    paths[-1].results["ready"] = ready
    measure_bulk(paths, plan, iperf, log)
    measure_rtt(paths, plan, log)
    measure_clients(paths, plan, log)
    for path in paths:
        measure(path, plan, log)
        path.results.pop("_pids", None)
        results[path.name] = path.results


@dataclass
class Plan:
    bulk_seconds: float
    round_trips: int
    conn_seconds: float
    idle_count: int
    ready_runs: int
    repeats: int
    bulk_repeats: int
    rtt_rounds: int
    clients_seconds: float
    clients_rounds: int


FULL = Plan(
    bulk_seconds=2,
    round_trips=5000,
    conn_seconds=3,
    idle_count=1000,
    ready_runs=5,
    repeats=3,
    bulk_repeats=7,
    rtt_rounds=7,
    clients_seconds=2,
    clients_rounds=5,
)
QUICK = Plan(
    bulk_seconds=0.25,
    round_trips=500,
    conn_seconds=0.25,
    idle_count=100,
    ready_runs=1,
    repeats=1,
    bulk_repeats=1,
    rtt_rounds=1,
    clients_seconds=0.25,
    clients_rounds=1,
)


def best(runs: int, measure: Callable[[], float]) -> float:
    """The median of ``runs`` runs (one run: that run)."""
    return statistics.median(measure() for _ in range(runs))


def in_turns(paths: list[Path_], rounds: int) -> Iterator[Path_]:
    """Every path once per round, in reverse order every other round (this machine
    drifts over seconds; taking turns makes the ratios fair)."""
    for round_ in range(rounds):
        yield from paths if round_ % 2 == 0 else paths[::-1]


def measure_bulk(
    paths: list[Path_], plan: Plan, use_iperf: bool, log: Callable[[str], None]
) -> None:
    """Bulk throughput both ways on every path, the paths taking turns
    (:func:`in_turns`); medians."""
    runs: dict[tuple[str, str], list[float]] = {}
    for path in in_turns(paths, plan.bulk_repeats):
        p = path.ports
        for way in ("up", "down"):
            if use_iperf:
                gbps = iperf3(p["iperf"], plan.bulk_seconds, way == "down")
            elif way == "up":
                gbps = bulk_up(p["sink"], plan.bulk_seconds)
            else:
                gbps = bulk_down(p["source"], plan.bulk_seconds)
            runs.setdefault((path.name, way), []).append(gbps)
    for path in paths:
        r = path.results
        for way in ("up", "down"):
            r[f"bulk_{way}_gbps"] = statistics.median(runs[path.name, way])
        log(f"{path.name}: bulk {r['bulk_up_gbps']:.1f} / {r['bulk_down_gbps']:.1f} Gbit/s")


def measure_rtt(paths: list[Path_], plan: Plan, log: Callable[[str], None]) -> None:
    """Round-trip latency on every path, the paths taking turns (:func:`in_turns`: the
    overhead over direct is a small difference of drifting numbers); medians."""
    runs: dict[str, list[tuple[float, float]]] = {}
    for path in in_turns(paths, plan.rtt_rounds):
        runs.setdefault(path.name, []).append(round_trips(path.ports["echo"], plan.round_trips))
    for path in paths:
        r = path.results
        r["rtt_p50_us"] = statistics.median(x[0] for x in runs[path.name])
        r["rtt_p99_us"] = statistics.median(x[1] for x in runs[path.name])
        log(f"{path.name}: rtt p50 {r['rtt_p50_us']:.0f} µs, p99 {r['rtt_p99_us']:.0f} µs")


def measure_clients(paths: list[Path_], plan: Plan, log: Callable[[str], None]) -> None:
    """Aggregate round trips/s of :data:`CLIENTS` concurrent clients on every path, the
    paths taking turns (:func:`in_turns`); medians."""
    runs: dict[str, list[float]] = {}
    for path in in_turns(paths, plan.clients_rounds):
        rate = concurrent_round_trips(path.ports["echo"], CLIENTS, plan.clients_seconds)
        runs.setdefault(path.name, []).append(rate)
    for path in paths:
        r = path.results
        r["clients_rt_per_s"] = statistics.median(runs[path.name])
        log(f"{path.name}: {CLIENTS} clients, {r['clients_rt_per_s']:.0f} round trips/s")


def measure(path: Path_, plan: Plan, log: Callable[[str], None]) -> None:
    """Short connections and idle RSS on one path."""
    p, r = path.ports, path.results
    r["conns_per_s"] = best(plan.repeats, lambda: short_connections(p["echo"], plan.conn_seconds))
    log(f"{path.name}: {r['conns_per_s']:.0f} connections/s")
    pid = path.pid or path.results.get("_pids", {}).get("echo")
    if pid:
        r["idle_kib_per_conn"] = idle_rss(p["echo"], pid, plan.idle_count)
        log(f"{path.name}: {r['idle_kib_per_conn']:.1f} KiB RSS per idle connection")


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def verdicts(res: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rt, so, di = res.get("rittunnel", {}), res.get("socat"), res["direct"]
    out = []

    def check(what: str, value: float | None, ok: bool | None, bar: str) -> None:
        out.append({"target": what, "value": value, "met": ok, "bar": bar})

    for d in ("up", "down"):
        key = f"bulk_{d}_gbps"
        vs_direct = ratio(rt.get(key), di[key])
        check(
            f"bulk {d} vs direct", vs_direct, vs_direct is not None and vs_direct >= 0.6, "≥ 0.6×"
        )
        if so:
            vs = ratio(rt.get(key), so[key])
            check(f"bulk {d} vs socat", vs, vs is not None and vs >= 1.0, "≥ 1.0×")
    if so:
        over_rt = rt["rtt_p50_us"] - di["rtt_p50_us"]
        over_so = so["rtt_p50_us"] - di["rtt_p50_us"]
        vs = ratio(over_rt, over_so)
        check("RTT overhead p50 vs socat's", vs, vs is not None and vs <= 1.5, "≤ 1.5×")
        vs = ratio(rt.get("clients_rt_per_s"), so.get("clients_rt_per_s"))
        check(
            f"{CLIENTS} concurrent clients' round trips/s vs socat",
            vs,
            vs is not None and vs >= 0.8,
            "≥ 0.8×",
        )
        vs = ratio(rt["conns_per_s"], so["conns_per_s"])
        check("short connections/s vs socat", vs, vs is not None and vs >= 1.0, "≥ 1.0×")
    kib = rt.get("idle_kib_per_conn")
    check("RSS per idle connection (KiB)", kib, kib is not None and kib <= 16, "≤ 16")
    ready = rt.get("ready", {}).get("median_ms")
    check("up to ready (ms, median)", ready, ready is not None and ready <= 500, "≤ 500")
    return out


ROWS = [
    ("bulk up (Gbit/s)", "bulk_up_gbps", "{:.1f}"),
    ("bulk down (Gbit/s)", "bulk_down_gbps", "{:.1f}"),
    ("RTT p50 (µs)", "rtt_p50_us", "{:.0f}"),
    ("RTT p99 (µs)", "rtt_p99_us", "{:.0f}"),
    (f"{CLIENTS} clients, round trips/s", "clients_rt_per_s", "{:.0f}"),
    ("short connections/s", "conns_per_s", "{:.0f}"),
    ("RSS per idle conn (KiB)", "idle_kib_per_conn", "{:.1f}"),
]


def table(res: dict[str, dict[str, Any]]) -> Iterator[str]:
    names = [n for n in ("direct", "socat", "rittunnel") if n in res]
    head = f"{'':26}" + "".join(f"{n:>12}" for n in names)
    if "socat" in res:
        head += f"{'ritt/socat':>12}"
    yield head + f"{'ritt/direct':>12}"
    for label, key, fmt in ROWS:
        cells = []
        for n in names:
            v = res[n].get(key)
            cells.append(f"{fmt.format(v) if v is not None else '-':>12}")
        line = f"{label:26}" + "".join(cells)
        rt = res.get("rittunnel", {}).get(key)
        for other in (["socat"] if "socat" in res else []) + ["direct"]:
            r = ratio(rt, res[other].get(key))
            shown = "-" if r is None else ("<0.01×" if r < 0.01 else f"{r:.2f}×")
            line += f"{shown:>12}"
        yield line
    ready = res.get("rittunnel", {}).get("ready")
    if ready:
        yield (
            f"rittunnel up → ready: first run {ready['first_ms']:.0f} ms, "
            f"median of {ready['runs']} {ready['median_ms']:.0f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--no-socat", action="store_true", help="skip socat even if installed")
    parser.add_argument("--no-iperf3", action="store_true", help="use the Python generator")
    parser.add_argument(
        "--only",
        choices=("relay", "wait"),
        help="run one part: the relay against direct and socat, or the zero-wait part",
    )
    parser.add_argument("--target", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.target:
        run_target()
        return 0
    plan = QUICK if args.quick else FULL
    wait_plan = bench_wait.QUICK_WAIT if args.quick else bench_wait.FULL_WAIT
    relay, zero_wait = args.only in (None, "relay"), args.only in (None, "wait")
    from rittunnel.net import raise_fd_limit

    raise_fd_limit()  # 1,000 idle connections: client and target ends in this run
    socat = None if args.no_socat or not relay else shutil.which("socat")
    iperf = None if args.no_iperf3 or not relay else shutil.which("iperf3")

    def log(text: str) -> None:
        print(f"bench: {text}", file=sys.stderr, flush=True)

    if relay and not socat:
        log("socat not found (or --no-socat): measuring direct and rittunnel only")
    if relay and not iperf:
        log("iperf3 not found (or --no-iperf3): bulk throughput by the Python generator")
    procs = Procs()
    results: dict[str, dict[str, Any]] = {}
    wait: dict[str, Any] = {}
    started = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="rittunnel-bench-") as tmp_name:
            tmp = Path(tmp_name)
            target = procs.start(
                [sys.executable, __file__, "--target"], stdout=subprocess.PIPE, cwd=ROOT
            )
            assert target.stdout is not None
            targets: dict[str, int] = json.loads(target.stdout.readline())
            if zero_wait:
                wait = bench_wait.run_wait(targets["echo"], tmp / "wait", wait_plan, log)
            if not relay:
                targets = {}
            if iperf:
                iport = free_port()
                server = procs.start(
                    ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(iport)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                wait_listening(server.pid, iport)  # a probe connection would upset iperf3
                targets["iperf"] = iport
            if relay:
                measure_relay(procs, targets, tmp, plan, bool(socat), bool(iperf), results, log)
    finally:
        procs.stop_all()
    targets_met = (verdicts(results) if relay else []) + (
        bench_wait.verdicts(wait) if zero_wait else []
    )
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "tools": {"socat": bool(socat), "iperf3": bool(iperf)},
        "plan": plan.__dict__,
        "results": results,
        "wait": wait,
        "targets": targets_met,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    python = platform.python_version()
    print(f"rittunnel bench, {report['date']}, {os.cpu_count()} CPUs, Python {python}")
    if relay:
        print(f"bulk by {'iperf3' if iperf else 'the Python generator'}; loopback only\n")
        for line in table(results):
            print(line)
    print()
    if zero_wait:
        for line in bench_wait.table(wait):
            print(line)
        print()
    for v in targets_met:
        value = v["value"]
        value = "-" if value is None else value if isinstance(value, int) else f"{value:.2f}"
        mark = "ok  " if v["met"] else "MISS"
        print(f"  {mark} {v['target']}: {value} (target {v['bar']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
