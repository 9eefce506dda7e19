"""Shared fixtures: the fake remote.it and a real echo service in the test's trio loop,
and a helper that runs the installed ``rittunnel`` CLI as a subprocess against them.

Every CLI run's output (and every ``*.log`` a test leaves) is searched for secrets when
its test ends: the fake's password, developer key, access secrets and issued tokens, and
each secret the run was given in its environment. A leak fails the test.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import hypothesis
import pytest
import trio
import trio.testing

from rittunnel.fake import (
    ACCESS_KEY_ID,
    ACCESS_SECRET,
    DEVELOPER_KEY,
    PASSWORD,
    FakeRemoteIt,
    FakeService,
    client_env,
)
from rittunnel.fake.target import roundtrip
from rittunnel.profiles import Profile
from rittunnel.remoteit.accounts import Account
from rittunnel.remoteit.protocol import Connection, PortProxy
from rittunnel.tunnel.procs import process_start_time
from rittunnel.tunnel.state import TunnelState

if TYPE_CHECKING:
    from rittunnel.remoteit.client import ApiClient

# -- Hypothesis: one fixed example budget for every property test ----------------------
# Derandomized (the same examples on every run and in CI), no example database, and a
# deadline per example (a hang fails, never stalls the suite). RITTUNNEL_EXAMPLES sets
# the budget for a longer hunt.
hypothesis.settings.register_profile(
    "rittunnel",
    max_examples=int(os.environ.get("RITTUNNEL_EXAMPLES", "50")),
    deadline=10_000,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("rittunnel")

SSH_ID = "80:00:00:00:01:02:03:04"
WEB_ID = "80:00:00:00:01:02:03:05"
OFFLINE_ID = "80:00:00:00:01:02:03:06"

__all__ = ["roundtrip"]

RITTUNNEL = str(Path(sys.executable).parent / "rittunnel")
#: a ``python -c`` child for ``rittunnel run``: says "child waiting", exits 42 on SIGTERM
EXIT_42_ON_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
    "print('child waiting', flush=True)\n"
    "time.sleep(60)\n"
)

#: environment variables whose values are secrets
SECRET_VARS = (
    "REMOTEIT_PASSWORD",
    "REMOTEIT_TOKEN",
    "REMOTEIT_DEVELOPER_KEY",
    "R3_SECRET_ACCESS_KEY",
    "R3_DEVELOPER_API_KEY",
)

#: the end-to-end environment's timeouts, short so that a test of a failure does not wait
#: out the defaults (15 s of start-up retries, 10 s for a hanging stop, 30 s an API call);
#: a test about the defaults starts from :func:`default_timeouts`
#: (start-up still rides out two transient failures in a row: backoff 0.5 s, then 1 s)
SHORT_TIMEOUTS = {
    "RITTUNNEL_START_TIMEOUT": "5",
    "RITTUNNEL_STOP_TIMEOUT": "3",
    "RITTUNNEL_API_TIMEOUT": "10",
}


def default_timeouts(env: dict[str, str]) -> dict[str, str]:
    """``env`` without :data:`SHORT_TIMEOUTS`: rittunnel's own defaults apply."""
    return {k: v for k, v in env.items() if k not in SHORT_TIMEOUTS}


# what the current test's CLI runs printed, and the secrets they knew
_outputs: list[Callable[[], str]] = []
_secrets: set[str] = set()
_fakes: list[FakeRemoteIt] = []


def record_output(output: str | Callable[[], str], env: dict[str, str] | None = None) -> None:
    """Have ``output`` (or what the callable returns at the end of the test) checked for
    secrets, including those in ``env``."""
    _outputs.append(output if callable(output) else lambda: output)
    _secrets.update(v for k, v in (env or {}).items() if k in SECRET_VARS and len(v) >= 4)


def find_secrets(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The secrets that occur in any of ``texts``, each shown only by its first 3 chars."""
    blob = "\n".join(texts)
    return sorted(f"{s[:3]}… ({len(s)} chars)" for s in set(secrets) if s and s in blob)


@pytest.fixture(autouse=True)
def no_secrets_in_cli_output(tmp_path: Path) -> Iterator[None]:
    _outputs.clear()
    _secrets.clear()
    _fakes.clear()
    yield
    texts = [get() for get in _outputs]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*.log") if p.is_file()]
    secrets = {PASSWORD, DEVELOPER_KEY, ACCESS_SECRET, *_secrets}
    for fake in _fakes:
        secrets.update(fake.tokens)
        secrets.update(base64.b64encode(key).decode() for key in fake.access_keys.values())
    leaks = find_secrets(texts, secrets)
    assert not leaks, f"secrets in the output of rittunnel: {leaks}"


@dataclass
class World:
    fake: FakeRemoteIt
    api_url: str
    echo: tuple[str, int]
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def profiles(self) -> Path:
        return self.tmp / "profiles"

    def profile(self, name: str, text: str) -> Path:
        self.profiles.mkdir(exist_ok=True)
        path = self.profiles / f"{name}.yaml"
        path.write_text(text)
        return path


#: real seconds the whole trio run must sit idle before :func:`loopback_clock` jumps: far
#: above the time loopback data between two tasks of the run takes to arrive (the kernel
#: delivers it within the send, or its softirq soon after, even on a loaded machine)
LOOPBACK_AUTOJUMP = 0.1


@pytest.fixture
def loopback_clock() -> trio.testing.MockClock:
    """A trio clock that skips the waiting of tests whose sockets all stay inside the test's
    own trio run (the in-process fake, its proxies and echo service, refused loopback
    ports): when every task has been blocked for :data:`LOOPBACK_AUTOJUMP` real seconds,
    time jumps to the next timer. Not for tests with child processes or threads, whose
    I/O arrives on its own schedule: a jump there would fire a timeout early."""
    return trio.testing.MockClock(autojump_threshold=LOOPBACK_AUTOJUMP)


@pytest.fixture
async def world(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[World]:
    from rittunnel.fake.target import serve_echo

    echo = await nursery.start(serve_echo)
    fake = FakeRemoteIt(
        [
            FakeService(SSH_ID, "pi-ssh", "SSH", target=echo),
            FakeService(WEB_ID, "pi-web", "HTTP"),
            FakeService(OFFLINE_ID, "pi-off", "SSH", state="inactive", target=echo),
        ]
    )
    api_url = await nursery.start(fake.serve)
    _fakes.append(fake)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "RITTUNNEL_PROFILES": str(tmp_path / "profiles"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        **client_env(api_url, tmp_path),
        **SHORT_TIMEOUTS,
        "PYTHONUNBUFFERED": "1",
    }
    yield World(fake=fake, api_url=api_url, echo=echo, tmp=tmp_path, env=env)
    end_tunnels_left_by(tmp_path)


def end_tunnels_left_by(tmp: Path) -> None:
    """SIGKILL every tunnel a test left running (``up -d``, ``--persist``; a test that
    failed before its ``stop``): each state file's pid, if that process runs with this
    test's directory on its command line. A background tunnel must not outlive its test."""
    for path in (tmp / "state" / "rittunnel").glob("*.json"):
        try:
            pid = int(json.loads(path.read_text())["pid"])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if str(tmp).encode() in cmdline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


class Running:
    """A ``rittunnel`` child process with its output collected line by line."""

    def __init__(self, proc: trio.Process, nursery: trio.Nursery) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._new_line = trio.Event()
        self._ends = (trio.Event(), trio.Event())
        assert proc.stdout is not None and proc.stderr is not None
        nursery.start_soon(self._collect, proc.stdout, self.out, self._ends[0])
        nursery.start_soon(self._collect, proc.stderr, self.err, self._ends[1])

    async def _collect(
        self, stream: trio.abc.ReceiveStream, lines: list[str], end: trio.Event
    ) -> None:
        buf = b""
        async with stream:
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    lines.append(line.decode("utf-8", "replace"))
                    self._new_line.set()
                    self._new_line = trio.Event()
        if buf:
            lines.append(buf.decode("utf-8", "replace"))
        self._new_line.set()
        end.set()

    async def exited(self) -> int:
        """The exit code, once the process has exited and everything it printed is read
        (``proc.wait()`` alone can return before the last lines are collected)."""
        code = await self.proc.wait()
        for end in self._ends:
            await end.wait()
        return code

    async def wait_for(self, needle: str, timeout: float = 20, stream: str = "out") -> str:
        lines = self.out if stream == "out" else self.err
        with trio.fail_after(timeout):
            while True:
                for line in lines:
                    if needle in line:
                        return line
                if self.proc.returncode is not None and self._new_line.is_set():
                    await trio.sleep(0.05)
                    for line in lines:
                        if needle in line:
                            return line
                    raise AssertionError(
                        f"exited {self.proc.returncode} before {needle!r}; "
                        f"stdout={self.out} stderr={self.err}"
                    )
                await self._new_line.wait()

    async def ready(self, timeout: float = 20) -> str:
        return await self.wait_for(" ready on ", timeout)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        self.proc.send_signal(sig)
        with trio.fail_after(timeout):
            return await self.exited()

    @property
    def all_output(self) -> str:
        return "\n".join(self.out + self.err)


async def start_cli(
    nursery: trio.Nursery, env: dict[str, str], *args: str, redirect: str = ""
) -> Running:
    """``rittunnel ARGS…`` as a child (killed at the end of the test); with ``redirect``
    (``>&-``, ``2>/dev/full``) a shell starts it so, and the streams left alone are
    collected."""
    argv = [RITTUNNEL, *args]
    if redirect:
        argv = ["/bin/sh", "-c", f'exec "$0" "$@" {redirect}', *argv]
    proc = await trio.lowlevel.open_process(argv, env=env, stdout=-1, stderr=-1, stdin=-3)
    running = Running(proc, nursery)
    record_output(lambda: running.all_output, env)

    async def reap() -> None:
        try:
            await trio.sleep_forever()
        finally:
            if proc.returncode is None:
                proc.kill()
                with trio.CancelScope(shield=True):
                    await proc.wait()

    nursery.start_soon(reap)
    return running


@dataclass
class Result:
    code: int
    out: str
    err: str
    raw_out: bytes = b""

    @property
    def all_output(self) -> str:
        return self.out + self.err


async def run_cli(
    env: dict[str, str], *args: str, timeout: float = 30, stdin: bytes = b""
) -> Result:
    with trio.fail_after(timeout):
        proc = await trio.run_process(
            [RITTUNNEL, *args],
            env=env,
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    result = Result(
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        proc.stdout,
    )
    record_output(result.all_output, env)
    return result


async def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    """Wait until ``check()`` holds, looking every 50 ms: for what a loaded machine may do
    late, but must do (a timeout fails the test)."""
    with trio.fail_after(timeout):
        while not check():
            await trio.sleep(0.05)


#: where :func:`free_port` picks: below Linux's default ephemeral range (32768-60999),
#: from which the kernel hands out the source ports of outgoing connections
FREE_PORTS = range(20000, 32768)


def _my_ports() -> Iterator[int]:
    """This test process's share of :data:`FREE_PORTS`, endlessly, from a random start: each
    pytest-xdist worker has a slice of its own, so two workers never hand out one port,
    and one worker hands a port out again only after all the others of its slice."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker) if worker.isdigit() else 0
    size = len(FREE_PORTS) // max(count, 1)
    mine = FREE_PORTS[index * size : (index + 1) * size] or FREE_PORTS
    start = random.randrange(len(mine))
    while True:
        for i in range(len(mine)):
            yield mine[(start + i) % len(mine)]


_ports = _my_ports()


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a tunnel to bind a moment later. Picked outside
    the ephemeral range (a port the kernel chose could be given to an outgoing connection
    before the tunnel binds it), from this worker's own slice of it, never the one it
    handed out last (see :func:`_my_ports`)."""
    for _ in range(200):
        port = next(_ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in this worker's share of {FREE_PORTS}")


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def my_state(
    name: str = "p", *, connections: list[str] | None = None, local_port: int = 0
) -> TunnelState:
    """A state file of this process, as a tunnel of it writes one."""
    started = process_start_time(os.getpid()) or 0.0
    return TunnelState(
        name=name,
        pid=os.getpid(),
        pid_started=started,
        api_url="http://api.example",
        service="s",
        proxies=connections or [],
        local_port=local_port,
    )


def state_fields(**fields: object) -> dict[str, object]:
    """The fields of a valid state file ``t`` of a dead process, with ``fields`` set."""
    data: dict[str, object] = {
        "name": "t",
        "pid": dead_pid(),
        "pid_started": 1.0,
        "api_url": "http://api.example",
        "service": "s",
        "proxies": ["C1"],
    }
    data.update(fields)
    return data


def key_only(
    world: World,
    *,
    sections: tuple[str, ...] = ("DEFAULT",),
    developer_key: bool = False,
    mode: int = 0o600,
) -> dict[str, str]:
    """The world's environment with the fake's access key in ``~/.remoteit/credentials``
    (each of ``sections``; with ``developer_key``, REST's developer key too) instead of
    a password login: without a developer key, the GraphQL API."""
    keys = world.tmp / "home" / ".remoteit" / "credentials"
    keys.parent.mkdir(parents=True, exist_ok=True)
    dev = f"R3_DEVELOPER_API_KEY = {DEVELOPER_KEY}\n" if developer_key else ""
    keys.write_text(
        "".join(
            f"[{section}]\nR3_ACCESS_KEY_ID = {ACCESS_KEY_ID}\n"
            f"R3_SECRET_ACCESS_KEY = {ACCESS_SECRET}\n{dev}"
            for section in sections
        )
    )
    keys.chmod(mode)
    return {k: v for k, v in world.env.items() if not k.startswith("REMOTEIT_")}


def state_files(world: World) -> dict[str, dict[str, object]]:
    """The world's state files, by tunnel name: what each holds."""
    directory = world.tmp / "state" / "rittunnel"
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def ssh_profile(world: World, port: int, extra: str = "", name: str = "ssh-pi") -> None:
    world.profile(name, f"service: {SSH_ID}\nlocal_port: {port}\n{extra}")


async def up(
    world: World, nursery: trio.Nursery, extra: str = "", name: str = "ssh-pi"
) -> tuple[Running, int]:
    """Start ``rittunnel NAME`` on a free port and wait for its ready line."""
    port = free_port()
    ssh_profile(world, port, extra, name)
    cli = await start_cli(nursery, world.env, name)
    await cli.ready()
    return cli, port


class MemoryClients:
    """``ApiClients`` over in-memory APIs: a profile's account is its ``api_url``."""

    def __init__(self, apis: dict[str, MemoryApi]) -> None:
        self.apis = apis

    def locate(self, profile: Profile) -> Account:
        return Account(profile.api_url or "", "")

    def client(self, account: Account) -> ApiClient:
        return self.apis[account.url.removeprefix("http://")]  # type: ignore[return-value]


class MemoryApi:
    """Answers connect/stop from memory; ``failures`` are raised by the next connects."""

    host = "memory"
    #: as GraphQL when set: a connect may replace the earlier proxy without saying so
    replacement_unknown = False

    def __init__(self, expires_in: float = 100.0, latency: float = 1.0) -> None:
        self.expires_in = expires_in
        self.latency = latency
        self.failures: list[Exception] = []
        self.connects = 0
        self.stopped: list[str] = []
        #: what the next connects say they replaced (REST ``previousConnection``)
        self.replaced: str | None = None
        #: where the proxies are (a host that resolves: their ports are then refused)
        self.proxy_host = "h"
        self.stop_hangs = False
        #: what connects say about remote.it's idle timer (REST ``idleLeft``)
        self.idle_left: float | None = None
        #: trio time of each successful connect's answer
        self.connect_times: list[float] = []

    async def connect(
        self, service: str, mode: str, hostip: str | None, proxy: str = "auto"
    ) -> Connection:
        await trio.sleep(self.latency)
        if self.failures:
            raise self.failures.pop(0)
        self.connects += 1
        self.connect_times.append(trio.current_time())
        return Connection(
            f"C{self.connects}",
            service,
            PortProxy(self.proxy_host, self.connects),
            self.expires_in,
            replaced=self.replaced,
            idle_left=self.idle_left,
        )

    async def stop(self, service: str, cid: str) -> None:
        if self.stop_hangs:
            await trio.sleep_forever()
        self.stopped.append(cid)
