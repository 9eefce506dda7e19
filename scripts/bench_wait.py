"""Zero wait (issue 17): how long a client of rittunnel waits for remote.it.

Part of ``./scripts/bench`` (alone: ``./scripts/bench --only wait``; see
docs/PERFORMANCE.md). Against ``rittunnel fake-api`` with a connect delay (remote.it
takes about a second to open a proxy) and real listener proxies (not ``--direct``: they
expire and are dropped when idle), relaying to the bench's echo target, with a real
``rittunnel up`` subprocess serving a profile:

1. **across expiries**: proxies of a few seconds; a client every ``interval`` seconds
   over ``expiries`` lifetimes, each timed from connecting to the local port to its byte
   echoed back. No client after the first should wait more than 50 ms;
2. **after an idle drop**: the fake drops a proxy ``idle_sec`` after its last connection
   closed. One client, then a break past the drop and its replacement; the first client
   after it should not wait (≤ 50 ms) with ``warm: true``; without ``warm`` it waits
   about a connect, for contrast;
3. **stdio beside a running tunnel**: ``rittunnel stdio NAME`` spawned with a few bytes
   on its stdin, timed to the first echoed byte on its stdout (≤ 150 ms), and the API
   calls the fake saw meanwhile (0), while one live connection through the tunnel stays
   open (it must survive).

Every phase is bounded in time and count; everything binds 127.0.0.1. A phase that
fails (a profile key not known yet, a tunnel that does not start) is reported as an
error and the others still run.

It also holds the process helpers ``bench.py`` shares (:func:`free_port`, :func:`stop`,
:func:`read_line`, :func:`rittunnel_env`): ``bench.py`` imports this module, not the
other way round.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

RITTUNNEL = [sys.executable, "-m", "rittunnel"]
ROOT = Path(__file__).resolve().parent.parent
SERVICE = "80:00:00:00:00:00:02:01"
#: a client waiting more than this did wait for remote.it
WAIT_MS = 50.0
#: the target for ``stdio``'s first byte beside a running tunnel
STDIO_MS = 150.0
CONNECTS = ("connect", "gql_connect")
Log = Callable[[str], None]


@dataclass(frozen=True)
class WaitPlan:
    """The knobs of one run of the zero-wait phases."""

    #: seconds every connect takes at the fake
    connect_delay: float
    #: proxy lifetime (the fake's ``expirationsec``) in the expiry phase
    lifetime: int
    #: lifetimes the expiry phase's clients span
    expiries: int
    #: seconds between two clients in the expiry phase
    interval: float
    #: the fake's idle drop in the idle phase (whole seconds: the API's ``idleLeft`` is)
    idle_sec: float
    #: seconds waited past the idle drop and its replacement (less than ``idle_sec``)
    margin: float
    #: ``stdio`` runs beside the running tunnel
    stdio_runs: int


FULL_WAIT = WaitPlan(
    connect_delay=1.0,
    lifetime=8,
    expiries=2,
    interval=0.5,
    idle_sec=3.0,
    margin=1.0,
    stdio_runs=5,
)
QUICK_WAIT = WaitPlan(
    connect_delay=0.3,
    lifetime=3,
    expiries=1,
    interval=0.5,
    idle_sec=1.0,
    margin=0.5,
    stdio_runs=2,
)


# -- small pieces ------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


#: what :func:`read_line` read from a process past the line it returned
_unread: weakref.WeakKeyDictionary[subprocess.Popen[Any], bytearray] = weakref.WeakKeyDictionary()


def read_line(proc: subprocess.Popen[Any], needle: str, timeout: float = 30) -> str:
    """The first line of ``proc``'s stdout (a pipe) containing ``needle``, read within
    ``timeout`` s; RuntimeError when none comes (timeout or end of output), saying which
    and the last lines read instead (an error event, say).

    It reads the pipe's file descriptor itself and keeps what came after the line for
    the next call: select() on a buffered file misses lines already in its buffer (two
    ready lines in one read would leave the second unseen until the timeout)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    unread = _unread.setdefault(proc, bytearray())
    end = time.monotonic() + timeout
    skipped: list[str] = []
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            while b"\n" in unread:
                raw, _, rest = bytes(unread).partition(b"\n")
                unread[:] = rest
                line = raw.decode("utf-8", "replace") + "\n"
                if needle in line:
                    return line
                skipped = [*skipped[-4:], line.rstrip("\n")]
            left = end - time.monotonic()
            if left <= 0:
                why = f"nothing in {timeout:g} s"
                break
            if not sel.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                why = f"end of output, exit code {proc.poll()}"
                break
            unread += chunk
    said = f"; it printed: {' | '.join(skipped)}" if skipped else ""
    raise RuntimeError(f"no {needle!r} from {proc.args!r} ({why}){said}")


def rittunnel_env(url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """The whole environment of a ``rittunnel`` child talking to the fake at ``url``:
    PATH, HOME and the profiles directory under ``tmp``, the fake's client settings,
    then ``extra`` (which wins)."""
    from rittunnel.fake import client_env

    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "RITTUNNEL_PROFILES": str(tmp / "profiles"),
        **client_env(url, tmp),
        **extra,
    }


def echo_wait(port: int, timeout: float) -> float | None:
    """ms from connecting to ``port`` until one byte sent comes back; None when the
    connection fails, closes or times out."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.1, timeout - (time.perf_counter() - start)))
            s.sendall(b"x")
            if s.recv(1) != b"x":
                return None
    except OSError:
        return None
    return (time.perf_counter() - start) * 1000


class Fake:
    """``rittunnel fake-api`` as a child process: its control and recorded calls."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self.base = url.rsplit("/apv/", 1)[0]

    def control(self, **knobs: Any) -> None:
        answer = httpx.post(f"{self.base}/_fake/control", json=knobs, timeout=10)
        if not answer.json().get("ok"):
            raise RuntimeError(f"fake refused {knobs}: {answer.text}")

    def calls(self) -> list[dict[str, Any]]:
        """Every API call the fake recorded so far (endpoint, status, ...)."""
        state = httpx.get(f"{self.base}/_fake/state", timeout=10).json()
        calls: list[dict[str, Any]] = state["calls"]
        return calls

    def connects(self) -> int:
        return sum(1 for c in self.calls() if c["endpoint"] in CONNECTS)


@contextlib.contextmanager
def fake_api(echo_port: int, plan: WaitPlan) -> Iterator[Fake]:
    """The fake API with ``plan``'s connect delay (from its command line), one TCP
    service relaying to ``echo_port``; stopped on exit. The proxies' lifetime is not set
    here: every phase sets ``expirationsec`` through the control endpoint before its
    first connect (the fake reads it when it opens a proxy)."""
    proc = subprocess.Popen(
        [
            *RITTUNNEL,
            "fake-api",
            "--service",
            f"{SERVICE}=bench-wait:TCP:127.0.0.1:{echo_port}",
            "--connect-delay",
            str(plan.connect_delay),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        yield Fake(proc, read_line(proc, "fake remote.it API at").split()[-1])
    finally:
        stop(proc)


@dataclass
class Rig:
    """The environment, profiles and log directory the ``rittunnel`` children share."""

    fake: Fake
    env: dict[str, str]
    tmp: Path

    def profile(self, name: str, extra: str = "") -> None:
        (self.tmp / "profiles" / f"{name}.yaml").write_text(
            f"service: {SERVICE}\nlocal_port: {free_port()}\nbind: 127.0.0.1\n{extra}"
        )


def make_rig(fake: Fake, tmp: Path) -> Rig:
    (tmp / "profiles").mkdir(parents=True)
    rig = Rig(fake, rittunnel_env(fake.url, tmp), tmp)
    rig.profile("bench-wait")
    rig.profile("bench-warm", "warm: true\n")
    return rig


@contextlib.contextmanager
def tunnel(rig: Rig, name: str, timeout: float = 30) -> Iterator[int]:
    """``rittunnel up --json NAME`` until its ready line (its local port is yielded);
    stopped on exit. Its stdout and stderr go to files (nothing blocks on a full pipe);
    a tunnel that does not get ready raises RuntimeError with its last error line."""
    out, err = rig.tmp / f"{name}.out", rig.tmp / f"{name}.err"
    with out.open("w") as out_f, err.open("w") as err_f:
        proc = subprocess.Popen(
            [*RITTUNNEL, "up", "--json", name], stdout=out_f, stderr=err_f, env=rig.env
        )
    try:
        end = time.monotonic() + timeout
        port = None
        while port is None:
            for line in out.read_text().split("\n")[:-1]:  # whole lines only
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict) and event.get("event") == "ready":
                        port = int(event["local_port"])
            if port is None and (proc.poll() is not None or time.monotonic() > end):
                lines = [*err.read_text().splitlines(), *out.read_text().splitlines()]
                why = lines[-1] if lines else "no output"
                raise RuntimeError(f"rittunnel up {name} did not get ready: {why}")
            if port is None:
                time.sleep(0.02)
        yield port
    finally:
        stop(proc)


def guarded(name: str, log: Log, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()``, or ``{"error": why}`` when it fails."""
    try:
        return measure()
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
        log(f"wait: {name}: {exc}")
        return {"error": str(exc)}


# -- the phases --------------------------------------------------------------------------


def across_expiries(rig: Rig, plan: WaitPlan, log: Log) -> dict[str, Any]:
    """A client every ``interval`` s (each on its own thread, so a waiting one does not
    delay the next) over ``expiries`` proxy lifetimes plus 2 s."""
    rig.fake.control(expirationsec=plan.lifetime, idle_sec=900.0)
    connects_before = rig.fake.connects()
    count = int((plan.expiries * plan.lifetime + 2) / plan.interval)
    timeout = 3 * plan.connect_delay + 10
    waits: list[float | None] = [None] * count
    with tunnel(rig, "bench-wait") as port:
        threads = []
        start = time.monotonic()
        for i in range(count):
            time.sleep(max(0.0, start + i * plan.interval - time.monotonic()))

            def client(i: int = i) -> None:
                waits[i] = echo_wait(port, timeout)

            thread = threading.Thread(target=client, daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(timeout + 1)
    later = waits[1:]
    slow = sum(1 for w in later if w is None or w > WAIT_MS)
    answered = [w for w in later if w is not None]
    result = {
        "lifetime_s": plan.lifetime,
        "interval_s": plan.interval,
        "clients": count,
        "failed": sum(1 for w in waits if w is None),
        "first_ms": waits[0],
        "max_after_first_ms": max(answered, default=None),
        "waited_after_first": slow,
        "connects": rig.fake.connects() - connects_before,
        "waits_ms": [None if w is None else round(w, 1) for w in waits],
    }
    log(
        f"wait: {count} clients across {plan.expiries} lifetimes: {slow} after the first "
        f"waited > {WAIT_MS:.0f} ms, {result['connects']} connects"
    )
    return result


def after_idle(rig: Rig, plan: WaitPlan, warm: bool, log: Log) -> dict[str, Any]:
    """One client, a break of ``idle_sec + connect_delay + margin`` s, then the first
    client after it, timed."""
    rig.fake.control(expirationsec=3600, idle_sec=plan.idle_sec)
    name = "bench-warm" if warm else "bench-wait"
    timeout = 3 * plan.connect_delay + 10
    with tunnel(rig, name) as port:
        if echo_wait(port, timeout) is None:
            raise RuntimeError(f"{name}: the client before the break failed")
        closed = time.monotonic()
        connects_before = rig.fake.connects()
        resume = closed + plan.idle_sec + plan.connect_delay + plan.margin
        time.sleep(max(0.0, resume - time.monotonic()))
        first = echo_wait(port, timeout)
        connects = rig.fake.connects() - connects_before
    what = "warm" if warm else "not warm"
    shown = "failed" if first is None else f"{first:.0f} ms"
    log(f"wait: first client after an idle drop ({what}): {shown}, {connects} connects")
    return {
        "idle_sec": plan.idle_sec,
        "break_s": plan.idle_sec + plan.connect_delay + plan.margin,
        "first_ms": first,
        "connects": connects,
    }


def stdio_once(rig: Rig, name: str, timeout: float) -> float | None:
    """ms from spawning ``rittunnel stdio NAME`` (a few bytes waiting on its stdin) to
    the first echoed byte on its stdout; None when none comes. Then stdin is closed and
    the process waited for."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*RITTUNNEL, "stdio", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=rig.env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    first = None
    try:
        proc.stdin.write(b"zero wait\n")
        proc.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        if sel.select(timeout) and os.read(proc.stdout.fileno(), 64):
            first = (time.perf_counter() - start) * 1000
        proc.stdin.close()
        proc.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        pass
    finally:
        stop(proc)
        proc.stdout.close()
    return first


def stdio_beside(rig: Rig, plan: WaitPlan, log: Log) -> dict[str, Any]:
    """``stdio_runs`` runs of ``rittunnel stdio`` while ``up`` serves the same service
    and one live connection through it stays open; the API calls the fake recorded
    during each run (from spawn to exit)."""
    rig.fake.control(expirationsec=3600, idle_sec=900.0)
    timeout = 3 * plan.connect_delay + 10
    firsts: list[float | None] = []
    calls: list[int] = []
    with (
        tunnel(rig, "bench-wait") as port,
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as live,
    ):
        live.sendall(b"x")
        if live.recv(1) != b"x":
            raise RuntimeError("the live connection through the tunnel failed")
        for _ in range(plan.stdio_runs):
            before = len(rig.fake.calls())
            firsts.append(stdio_once(rig, "bench-wait", timeout))
            calls.append(len(rig.fake.calls()) - before)
            time.sleep(0.2)
        try:
            live.sendall(b"y")
            survived = live.recv(1) == b"y"
        except OSError:
            survived = False
    got = [f for f in firsts if f is not None]
    result: dict[str, Any] = {
        "runs": plan.stdio_runs,
        "failed": len(firsts) - len(got),
        "median_ms": statistics.median(got) if got else None,
        "max_ms": None if len(got) < len(firsts) else max(got),
        "first_ms": [None if f is None else round(f, 1) for f in firsts],
        "api_calls": sum(calls),
        "live_survived": survived,
    }
    log(
        f"wait: stdio beside a running tunnel: median {_ms(result['median_ms'])}, "
        f"{result['api_calls']} API calls, live connection survived: {survived}"
    )
    return result


def run_wait(echo_port: int, tmp: Path, plan: WaitPlan, log: Log) -> dict[str, Any]:
    """Every zero-wait phase against one fake relaying to ``echo_port``."""
    results: dict[str, Any] = {"plan": asdict(plan)}
    with fake_api(echo_port, plan) as fake:
        rig = make_rig(fake, tmp)
        results["across_expiries"] = guarded(
            "across expiries", log, lambda: across_expiries(rig, plan, log)
        )
        results["idle_warm"] = guarded(
            "after an idle drop, warm", log, lambda: after_idle(rig, plan, True, log)
        )
        results["idle_cold"] = guarded(
            "after an idle drop, not warm", log, lambda: after_idle(rig, plan, False, log)
        )
        results["stdio"] = guarded("stdio", log, lambda: stdio_beside(rig, plan, log))
    return results


# -- the report --------------------------------------------------------------------------


def verdicts(wait: dict[str, Any]) -> list[dict[str, Any]]:
    """The zero-wait targets, in the shape of bench.py's ``verdicts``."""
    out = []

    def check(what: str, value: float | None, ok: bool, bar: str) -> None:
        out.append({"target": what, "value": value, "met": ok, "bar": bar})

    exp = wait.get("across_expiries", {})
    slow = exp.get("waited_after_first")
    check(
        f"clients after the first waiting > {WAIT_MS:.0f} ms, across expiries",
        slow,
        slow == 0 and exp.get("clients", 0) > 1,
        "= 0",
    )
    warm = wait.get("idle_warm", {}).get("first_ms")
    check(
        "first client after an idle drop, warm (ms)",
        warm,
        warm is not None and warm <= WAIT_MS,
        f"≤ {WAIT_MS:.0f}",
    )
    stdio = wait.get("stdio", {})
    median = stdio.get("median_ms")
    check(
        "stdio beside a running tunnel, first byte (ms, median)",
        median,
        median is not None and median <= STDIO_MS and not stdio.get("failed"),
        f"≤ {STDIO_MS:.0f}",
    )
    calls = stdio.get("api_calls")
    check("stdio beside a running tunnel, API calls", calls, calls == 0, "= 0")
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def rows(wait: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The zero-wait results as (label, value) rows; a failed phase is one error row."""
    plan = wait["plan"]
    out: list[tuple[str, str]] = []

    def failed(phase: dict[str, Any], label: str) -> bool:
        """Whether ``phase`` has no numbers (an error row is added for an error)."""
        if "error" in phase:
            out.append((label, f"error: {phase['error']}"))
        return "error" in phase or not phase

    exp = wait.get("across_expiries", {})
    head = f"across {plan['expiries']} lifetimes, a client every {plan['interval']:g} s"
    if not failed(exp, head):
        out += [
            (head, f"{exp['clients']} clients"),
            ("  first client's wait (ms)", _ms(exp["first_ms"])),
            ("  max wait after the first (ms)", _ms(exp["max_after_first_ms"])),
            (f"  after the first: waited > {WAIT_MS:.0f} ms", str(exp["waited_after_first"])),
            ("  of which failed", str(exp["failed"])),
            ("  connects the fake saw", str(exp["connects"])),
        ]
    warm, cold = wait.get("idle_warm", {}), wait.get("idle_cold", {})
    break_s = plan["idle_sec"] + plan["connect_delay"] + plan["margin"]
    out.append((f"first client after an idle drop, {break_s:g} s break", ""))
    for phase, what in ((warm, "warm: true"), (cold, "without warm")):
        if not failed(phase, f"  {what}"):
            out.append((f"  {what} (ms)", _ms(phase["first_ms"])))
            out.append((f"  {what}: connects in the break", str(phase["connects"])))
    stdio = wait.get("stdio", {})
    head = f"stdio beside a running tunnel, {plan['stdio_runs']} runs"
    if not failed(stdio, head):
        out += [
            (head, f"{stdio['failed']} failed"),
            ("  spawn to first byte, median (ms)", _ms(stdio["median_ms"])),
            ("  spawn to first byte, max (ms)", _ms(stdio["max_ms"])),
            ("  API calls", str(stdio["api_calls"])),
            ("  live connection through the tunnel", "kept" if stdio["live_survived"] else "cut"),
        ]
    yield from out


def table(wait: dict[str, Any]) -> Iterator[str]:
    """The zero-wait results as lines of text: a heading, then label and value columns."""
    plan = wait["plan"]
    yield (
        f"zero wait: fake-api connects take {plan['connect_delay']:g} s; "
        f"proxies of {plan['lifetime']} s, idle drop after {plan['idle_sec']:g} s"
    )
    for label, value in rows(wait):
        line = f"{label:44}{value:>12}" if len(value) <= 12 else f"{label:44}{value}"
        yield line.rstrip()
