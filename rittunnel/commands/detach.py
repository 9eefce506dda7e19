"""``rittunnel up -d``: start the tunnels in a background process and return once every
port is ready.

The parent starts ``rittunnel up`` again as a new session leader (no terminal, so a
closed terminal does not stop it; cwd ``/``), with its stdout and stderr appended to a
log file under ``$XDG_STATE_HOME/rittunnel/`` (a private directory; the log is opened
without following a symbolic link, and made 0600 if it was not) and a pipe on which the
child sends its events as JSON lines until every tunnel is ready, then closes it. The
parent prints the ready lines (and warnings) as they come; EOF after every ready line
means success. An error event, or EOF without them, means the child failed: its error
is printed and the exit code is non-zero.

Not for systemd: a ``Type=notify`` unit runs ``rittunnel up`` in the foreground, which
notifies systemd itself (:mod:`rittunnel.tunnel.notify`). Should ``up -d`` run under
one anyway (``NOTIFY_SOCKET`` set), it says so, and the child gets no ``NOTIFY_SOCKET``:
it is not the unit's main process, and must not tell systemd it is ready or stopping.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..errors import RittunnelError
from ..files import open_log, secure_dir
from ..profiles import Profile
from ..progress import FIRST_DRAW, TICK, frame_text
from ..report import Reporter
from ..settings import Settings
from ..tunnel.notify import ENV_NOTIFY_SOCKET
from .options import UpOptions

#: seconds allowed on top of the start-up timeout before the parent gives up on the child
GRACE = 15.0
#: what :func:`follow` does with each event: (record, reporter, ready names, errors)
Show = Callable[[dict[str, object], Reporter, list[str], list[str]], None]


def log_path(state_dir: Path, names: list[str]) -> Path:
    stem = "+".join(names)
    if len(stem) > 100:
        stem = stem[:100] + "+more"
    return state_dir / f"{stem}.log"


def child_argv(profiles: list[Profile], args: UpOptions, fd: int, log: Path) -> list[str]:
    argv = [sys.executable, "-m", "rittunnel", "up", "--notify-fd", str(fd), "--log-file", str(log)]
    if args.verbose:
        argv.append("--verbose")
    if args.start_timeout:
        argv += ["--start-timeout", str(args.start_timeout)]
    # absolute paths: the child runs in / and must read the very same files
    return argv + [str(Path(p.source).resolve()) for p in profiles]


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The background process's environment: ours, without ``NOTIFY_SOCKET``."""
    return {k: v for k, v in env.items() if k != ENV_NOTIFY_SOCKET}


def detach(
    profiles: list[Profile],
    args: UpOptions,
    settings: Settings,
    reporter: Reporter,
) -> int:
    names = [p.name for p in profiles]
    if settings.env.get(ENV_NOTIFY_SOCKET):
        reporter.warn(
            f"{ENV_NOTIFY_SOCKET} is set, but the background process of `up -d` does not "
            "notify systemd: in a unit, run `rittunnel up` in the foreground "
            "(`rittunnel unit` writes one)"
        )
    log = log_path(settings.state_dir, names)
    secure_dir(log.parent)
    log_fd = open_log(log)  # never through a symbolic link
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen(
            child_argv(profiles, args, write_end, log),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            pass_fds=(write_end,),
            start_new_session=True,
            cwd="/",
            env=child_env(settings.env),
        )
    finally:
        os.close(write_end)
        os.close(log_fd)
    try:
        ready, errors = follow(
            read_end,
            child,
            reporter,
            time.monotonic() + settings.start_timeout + GRACE,
            progress=f"connecting {', '.join(names)} through remote.it",
        )
    except KeyboardInterrupt:
        child.terminate()  # it stops whatever proxy it made
        reap(child)
        return 130
    finally:
        os.close(read_end)
    if set(ready) >= set(names) and not errors:
        if not reporter.json_mode:
            reporter.info(
                f"running in the background as pid {child.pid}; log: {log}; "
                f"stop with `rittunnel stop {' '.join(names)}`"
            )
        return 0
    raise start_failed(
        child,
        errors,
        reporter,
        lambda code: (
            f"the background rittunnel exited (code {code}) before its ports were ready; see {log}"
        ),
    )


def start_failed(
    child: subprocess.Popen[bytes],
    errors: list[str],
    reporter: Reporter,
    exited: Callable[[int | None], str],
) -> RittunnelError:
    """Why a background rittunnel did not come up, to raise: the child reaped, every error
    it reported but the last said, the last returned (else ``exited(its exit code)``)."""
    code = reap(child)
    for text in errors[:-1]:
        reporter.error(text)
    return RittunnelError(errors[-1] if errors else exited(code))


def follow(
    fd: int,
    child: subprocess.Popen[bytes],
    reporter: Reporter,
    deadline: float,
    show: Show | None = None,
    progress: str | None = None,
) -> tuple[list[str], list[str]]:
    """Relay the child's start-up events until EOF or ``deadline``: ready names, errors.
    ``show``: what to do with each (default: say ready lines and warnings); ``progress``:
    the spinner's text, drawn meanwhile on a terminal as ``up`` does, erased at the end."""
    spin = progress if progress is not None and reporter.interactive else None
    try:
        return _follow(fd, child, reporter, deadline, show or _show, spin)
    finally:
        if spin is not None:
            reporter.clear_status()


def _follow(
    fd: int,
    child: subprocess.Popen[bytes],
    reporter: Reporter,
    deadline: float,
    show: Show,
    spin: str | None,
) -> tuple[list[str], list[str]]:
    ready: list[str] = []
    errors: list[str] = []
    buf = b""
    started, frame = time.monotonic(), 0
    while True:
        now = time.monotonic()
        if spin is not None and now - started >= FIRST_DRAW:
            reporter.status(frame_text(spin, frame, now - started))
            frame += 1
        remaining = deadline - now
        if remaining <= 0:
            child.terminate()
            errors.append(
                f"the background rittunnel was not ready in time (pid {child.pid}); stopped it"
            )
            return ready, errors
        wait = remaining if spin is None else min(remaining, TICK)
        readable, _, _ = select.select([fd], [], [], wait)
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return ready, errors
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            show(record, reporter, ready, errors)


def _show(
    record: dict[str, object], reporter: Reporter, ready: list[str], errors: list[str]
) -> None:
    kind = str(record.get("event"))
    text = str(record.get("message", ""))
    if kind == "error":
        errors.append(text)
        return
    if kind not in ("ready", "warning"):
        return
    if kind == "ready":
        ready.append(str(record.get("name")))
    if reporter.json_mode:
        with contextlib.suppress(OSError, ValueError):  # a full or closed stdout
            reporter.out.write(json.dumps(record) + "\n")
            reporter.out.flush()
    else:
        reporter.event(kind, text)


def reap(child: subprocess.Popen[bytes]) -> int | None:
    try:
        return child.wait(timeout=GRACE)
    except subprocess.TimeoutExpired:
        return None
