"""``stdio --persist`` measured (issue 26, items 4 and 5), against the fake remote.it with
its connect delay (what remote.it makes a client wait for a proxy):

1. **First ssh**: ``stdio --service ID`` with no tunnel running, spawn to exit relaying a
   few bytes, without ``--persist`` and with it (each persistent tunnel stopped before
   the next turn), in turns. Target: with it, median no longer than without (+10 %
   for the noise of a loaded machine).
2. **Second ssh** inside the window: ``stdio --service ID --persist 10m`` beside the
   tunnel the first one left. Target: 0 API calls, median at most 150 ms.
3. **After the window** (``--persist 1s``): 0 proxies open at the fake and the
   background process gone.
4. With ``sshd`` and ``rsync`` installed: a real ``ssh``, ``scp``, ``rsync`` sequence to
   one device through ``ssh-config``'s ProxyCommand, against a throwaway ``sshd`` on
   127.0.0.1 (its own host key and authorized_keys in a temporary directory). Target:
   one proxy (one connect) for the three.

Run by ``scripts/bench-laptop``; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench_wait
import httpx

CONSOLE = str(Path(sys.executable).parent / "rittunnel")
NAME = "service-" + bench_wait.SERVICE.replace(":", "-") + ".persist"
SECOND_MS = 150.0
#: how much slower the first ssh with --persist may be, for the noise (median ratio)
FIRST_SLACK = 1.10


def open_proxies(fake: bench_wait.Fake) -> int:
    state = httpx.get(f"{fake.base}/_fake/state", timeout=10).json()
    return len(state["open"])


def spawn_ms(argv: list[str], env: dict[str, str], stdin: bytes) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=60)
    ms = (time.perf_counter() - start) * 1000
    if done.returncode != 0 or done.stdout != stdin:
        raise RuntimeError(f"{argv[1:]} exited {done.returncode}: {done.stderr[-300:]!r}")
    return ms


def persistent_pid(rig: bench_wait.Rig) -> int | None:
    path = rig.tmp / "state" / "rittunnel" / f"{NAME}.json"
    try:
        pid: int = json.loads(path.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None
    return pid


def wait_gone(pid: int, fake: bench_wait.Fake, timeout: float = 30) -> float:
    """Seconds until ``pid`` exited and the fake has no proxy open."""
    start = time.monotonic()
    while Path(f"/proc/{pid}").exists() or open_proxies(fake):
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"the persistent tunnel (pid {pid}) is still there")
        time.sleep(0.02)
    return time.monotonic() - start


def stop_persistent(rig: bench_wait.Rig, fake: bench_wait.Fake) -> None:
    pid = persistent_pid(rig)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        wait_gone(pid, fake)


def run_persist(
    fake: bench_wait.Fake, rig: bench_wait.Rig, runs: int, log: bench_wait.Log
) -> dict[str, Any]:
    env, stdio = rig.env, [CONSOLE, "stdio", "--service", bench_wait.SERVICE]
    fake.control(expirationsec=8 * 3600, idle_sec=8 * 3600.0)
    plain: list[float] = []
    first: list[float] = []
    for _ in range(runs):
        plain.append(spawn_ms(stdio, env, b"ping"))
        first.append(spawn_ms([*stdio, "--persist", "10m"], env, b"ping"))
        stop_persistent(rig, fake)
    spawn_ms([*stdio, "--persist", "10m"], env, b"ping")
    calls = len(fake.calls())
    second = [spawn_ms([*stdio, "--persist", "10m"], env, b"ping") for _ in range(runs * 2)]
    second_calls = len(fake.calls()) - calls
    stop_persistent(rig, fake)
    spawn_ms([*stdio, "--persist", "1s"], env, b"ping")
    pid = persistent_pid(rig)
    if pid is None:
        raise RuntimeError("stdio --persist 1s left no tunnel running")
    ended = wait_gone(pid, fake)
    p, f, s = (statistics.median(x) for x in (plain, first, second))
    result = {
        "runs": runs,
        "first_plain_median_ms": round(p, 1),
        "first_persist_median_ms": round(f, 1),
        "first_ratio": round(f / p, 2),
        "second_median_ms": round(s, 1),
        "second_max_ms": round(max(second), 1),
        "second_api_calls": second_calls,
        "after_window_s": round(ended, 2),
        "after_window_open_proxies": open_proxies(fake),
        "after_window_process_left": Path(f"/proc/{pid}").exists(),
    }
    log(
        f"persist: first ssh {f:.0f} ms with --persist, {p:.0f} ms without; second "
        f"{s:.0f} ms, {second_calls} API calls; 1s window: gone {ended:.2f} s after it"
    )
    return result


# -- a real ssh, scp and rsync --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_ssh_sequence(tmp: Path, log: bench_wait.Log) -> dict[str, Any]:
    """ssh, scp and rsync to one device through ``ssh-config``; ``{"skipped": why}``
    without sshd or rsync."""
    sshd, rsync = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("rsync")
    if not os.path.exists(sshd) or rsync is None or shutil.which("ssh") is None:
        return {"skipped": "needs sshd, ssh, scp and rsync"}
    d = tmp / "sshd"
    d.mkdir()
    for key in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True
        )
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation directory
    with (d / "sshd.log").open("w") as sshd_log:
        server = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / "sshd_config")], stderr=sshd_log)
    fake = None
    try:
        service = "80:00:00:00:00:00:03:01"
        fake_proc = subprocess.Popen(
            [
                *bench_wait.RITTUNNEL,
                "fake-api",
                "--service",
                f"{service}=laptop-ssh:SSH:127.0.0.1:{port}",
                "--connect-delay",
                "0.3",
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=bench_wait.ROOT,
        )
        fake = bench_wait.Fake(
            fake_proc, bench_wait.read_line(fake_proc, "fake remote.it API at").split()[-1]
        )
        env = bench_wait.rittunnel_env(fake.url, tmp / "ssh-rig")
        (tmp / "ssh-rig").mkdir(exist_ok=True)
        made = subprocess.run(
            [CONSOLE, "ssh-config"], env=env, capture_output=True, text=True, check=True
        )
        (d / "rittunnel.conf").write_text(made.stdout)
        user = os.environ.get("USER") or "root"
        (d / "config").write_text(
            f"Host *\n  User {user}\n  IdentityFile {d / 'client'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {d / 'known_hosts'}\n  StrictHostKeyChecking accept-new\n"
            f"  BatchMode yes\nInclude {d / 'rittunnel.conf'}\n"
        )
        ssh = ["ssh", "-F", str(d / "config")]
        payload = d / "payload"
        payload.write_bytes(os.urandom(1 << 20))
        steps = {
            "ssh": [*ssh, "laptop-ssh", "true"],
            "scp": ["scp", "-F", str(d / "config"), str(payload), "laptop-ssh:" + str(d / "scp")],
            "rsync": [rsync, "-e", shlex.join(ssh), str(payload), f"laptop-ssh:{d / 'rsync'}"],
        }
        took: dict[str, float] = {}
        for step, argv in steps.items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)
            took[step] = round((time.perf_counter() - start) * 1000, 1)
        same = (d / "scp").read_bytes() == (d / "rsync").read_bytes() == payload.read_bytes()
        result = {"ms": took, "connects": fake.connects(), "copied": same}
        subprocess.run([CONSOLE, "stop", "--all"], env=env, capture_output=True, timeout=60)
        log(f"persist: ssh, scp, rsync through ssh-config: {fake.connects()} connect(s), {took}")
        return result
    finally:
        server.terminate()
        server.wait(timeout=10)
        if fake is not None:
            bench_wait.stop(fake.proc)


def verdicts(res: dict[str, Any]) -> list[dict[str, Any]]:
    p = res.get("persist", {})
    ssh = res.get("ssh_sequence", {})
    second, calls = p.get("second_median_ms"), p.get("second_api_calls")
    return [
        {
            "target": "second ssh with --persist: first byte ms (median), 0 API calls",
            "value": second,
            "bar": f"<= {SECOND_MS:g}",
            "met": second is not None and second <= SECOND_MS and calls == 0,
        },
        {
            "target": "first ssh with --persist, x without (median)",
            "value": p.get("first_ratio"),
            "bar": f"<= {FIRST_SLACK:g}",
            "met": p.get("first_ratio") is not None and p["first_ratio"] <= FIRST_SLACK,
        },
        {
            "target": "after the window: proxies open, process left",
            "value": [p.get("after_window_open_proxies"), p.get("after_window_process_left")],
            "bar": "[0, False]",
            "met": p.get("after_window_open_proxies") == 0
            and p.get("after_window_process_left") is False,
        },
        {
            "target": "ssh, scp, rsync through ssh-config: connects",
            "value": ssh.get("connects", ssh.get("skipped")),
            "bar": "1",
            "met": ssh.get("connects") == 1 and ssh.get("copied") is True,
        },
    ]
