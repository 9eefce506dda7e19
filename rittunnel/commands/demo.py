"""``rittunnel demo``: the whole product against the built-in fake remote.it.

Starts a local echo service and the fake API, writes a profile, runs the real
``rittunnel up`` as a child process, pushes random bytes through the stable local port
and checks they come back exact, then sends SIGINT and shows that the proxy was stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trio

from ..errors import RittunnelError
from ..fake import FakeRemoteIt, FakeService, client_env
from ..fake.target import roundtrip, serve_echo
from ..report import Reporter
from ..settings import Settings
from .options import DemoOptions

SERVICE = "80:00:00:00:01:02:03:04"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_demo(args: DemoOptions, settings: Settings, reporter: Reporter) -> int:
    def say(text: str) -> None:
        """A line of the demo on stdout; a closed or full stdout loses it, not the demo."""
        with contextlib.suppress(OSError, ValueError):
            reporter.output(text)

    return trio.run(_demo, args.mib, dict(settings.env), say)


async def _demo(mib: int, env: dict[str, str], say: Callable[[str], None]) -> int:
    with tempfile.TemporaryDirectory(prefix="rittunnel-demo-") as tmp:
        async with trio.open_nursery() as nursery:
            echo_host, echo_port = await nursery.start(serve_echo)
            fake = FakeRemoteIt(
                [FakeService(SERVICE, "demo-echo", "TCP", target=(echo_host, echo_port))]
            )
            api_url = await nursery.start(fake.serve)
            say(f"1. echo service (the 'device') on {echo_host}:{echo_port}")
            say(f"2. fake remote.it API on {api_url}, service {SERVICE} -> the echo service")
            local_port = _free_port()
            profile = Path(tmp) / "demo-echo.yaml"
            profile.write_text(f"# demo profile\nservice: {SERVICE}\nlocal_port: {local_port}\n")
            say(f"3. profile {profile.name}: service {SERVICE}, local_port {local_port}")
            child_env = {**env, **client_env(api_url, Path(tmp))}
            child_env.pop("REMOTEIT_TOKEN", None)
            cmd = [sys.executable, "-m", "rittunnel", "up", str(profile)]
            say(f"4. running: rittunnel up {profile.name}")
            proc = await trio.lowlevel.open_process(cmd, env=child_env, stdout=-1, stderr=None)
            try:
                assert proc.stdout is not None
                ready = await _read_line(proc.stdout, 20)
                say(f"   {ready}")
                payload = os.urandom(mib * 1024 * 1024)
                start = time.perf_counter()
                echoed = await roundtrip(local_port, payload)
                elapsed = time.perf_counter() - start
                ok = hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
                say(
                    f"5. sent {mib} MiB through 127.0.0.1:{local_port}, "
                    f"got {len(echoed)} bytes back {'byte-exact' if ok else 'CORRUPTED'} "
                    f"in {elapsed:.2f}s "
                    f"({2 * len(payload) / elapsed / 1e6:.0f} MB/s both ways)"
                )
                opened = [p.connection_id for p in fake.open_proxies]
                say(f"   proxies open at the fake remote.it: {len(opened)}")
                say("6. Ctrl-C (SIGINT) to rittunnel")
                proc.send_signal(signal.SIGINT)
                with trio.fail_after(20):
                    code = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            stops = fake.calls_to("stop")
            say(
                f"   rittunnel exited {code}; /device/connect/stop called {len(stops)} time(s); "
                f"proxies still open: {len(fake.open_proxies)}"
            )
            nursery.cancel_scope.cancel()
    good = ok and code == 0 and not fake.open_proxies and len(stops) >= 1
    say("demo: OK" if good else "demo: FAILED")
    return 0 if good else 1


async def _read_line(stream: trio.abc.ReceiveStream, timeout: float) -> str:
    buf = b""
    with trio.move_on_after(timeout):
        while b"\n" not in buf:
            chunk = await stream.receive_some(4096)
            if not chunk:
                break
            buf += chunk
    if b"\n" not in buf:
        raise RittunnelError("demo: rittunnel did not report ready in time")
    return buf.split(b"\n", 1)[0].decode()
