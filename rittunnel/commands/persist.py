"""``rittunnel stdio --persist DURATION``: ssh's ``ControlPersist`` for remote.it.

``stdio`` uses a running tunnel of the service when there is one
(:mod:`rittunnel.tunnel.share`). With ``--persist`` and none running, it does not open
a proxy of its own that ends with this connection: it starts a tunnel in the background
(:func:`ensure_persistent`), as ``up -d`` would (a new session, cwd ``/``, output to a
log in the state directory, its start-up events on a pipe), on a free loopback port of
its own, and relays through it like through any running tunnel. That tunnel ends once
DURATION passes with no connection (:mod:`rittunnel.tunnel.persist`); until then every
``stdio`` (``ssh``, ``scp``, ``rsync``…) of the service uses it, without an API call.

**Two at once start one tunnel.** Whoever starts it holds a lock file in the state
directory (``NAME.persist.lock``, :func:`locked`) from looking for a running tunnel
until the new one is ready; the other waits for the lock, looks again and finds it.
Should two background tunnels race anyway, the state file is claimed once (the second
is refused) and its starter uses the first.

The background process is this command again, with internal options
(:func:`child_argv`): ``stdio … --persist DURATION --notify-fd FD --log-file LOG``
serves the tunnel (:func:`serve_persistent`). Nothing here imports trio until then.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RittunnelError, UsageError
from ..files import open_log, secure_dir
from ..profiles import Profile
from ..profiles.name import MAX_NAME
from ..quantities import duration_text, format_duration
from ..report import Reporter
from ..settings import Settings
from ..tunnel.store import StateStore
from .detach import GRACE, child_env, follow, log_path, reap, start_failed
from .options import StdioOptions

if TYPE_CHECKING:
    from ..remoteit.accounts import Account

#: what a persistent tunnel's name ends with (``service-….persist``): it never claims the
#: state file of a profile's own tunnel (``up NAME`` still runs beside it)
SUFFIX = ".persist"
#: the one address a persistent tunnel listens on
LOOPBACK = "127.0.0.1"
#: seconds between tries for a lock another ``stdio --persist`` holds
LOCK_POLL = 0.01


def persistent_name(name: str) -> str:
    """The tunnel name of ``name``'s persistent tunnel: ``name`` + :data:`SUFFIX`, with
    ``name`` shortened (whole characters) when both would pass :data:`MAX_NAME` bytes.
    Pure."""
    while len((name + SUFFIX).encode("utf-8")) > MAX_NAME:
        name = name[:-1]
    return name + SUFFIX


def persistent_profile(profile: Profile) -> Profile:
    """``profile`` as its persistent tunnel serves it: named :func:`persistent_name`, on a
    free port of :data:`LOOPBACK` alone (never the profile's own port, which ``up`` may
    want), as a port proxy (ssh needs a port). Pure."""
    import dataclasses

    return dataclasses.replace(
        profile,
        name=persistent_name(profile.name),
        local_port=0,
        bind=(LOOPBACK,),
        bind_is_default=False,
        proxy="port",
    )


def child_argv(args: StdioOptions, profile: Profile, fd: int, log: Path) -> list[str]:
    """The background tunnel's command line: this ``stdio`` again, its profile given the
    same way (a profile by absolute path: the child runs in ``/``), with ``--persist``
    and the internal ``--notify-fd`` and ``--log-file``. Pure."""
    argv = [sys.executable, "-m", "rittunnel", "stdio"]
    if args.service is not None:
        argv.append(f"--service={args.service}")  # `=`: a value may start with "-"
        if args.credentials is not None:
            argv.append(f"--credentials={args.credentials}")
    else:
        argv.append(str(Path(profile.source).resolve()))
    argv += ["--persist", duration_text(args.persist), "--notify-fd", str(fd)]
    argv += ["--log-file", str(log)]
    if args.verbose:
        argv.append("--verbose")
    if args.start_timeout:
        argv += ["--start-timeout", str(args.start_timeout)]
    return argv


@contextlib.contextmanager
def locked(path: Path, deadline: float) -> Iterator[None]:
    """Hold ``path``'s lock (``flock``; made 0600, never through a symbolic link), waiting
    for another process's until ``deadline`` (``time.monotonic``). The file stays: a
    lock file removed while another process waits for it locks nothing."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise RittunnelError(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RittunnelError(
                        f"another rittunnel is starting this tunnel and holds {path} too long"
                    ) from None
                time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)  # lets the lock go


def ensure_persistent(
    profile: Profile,
    args: StdioOptions,
    account: Account,
    store: StateStore,
    settings: Settings,
    reporter: Reporter,
) -> None:
    """Return once a tunnel of ``profile``'s service and ``account`` runs that ``stdio``
    can use: one found (maybe just started by another ``stdio --persist``), else the
    persistent tunnel started here and ready. Its failure is a :class:`RittunnelError`."""
    name = persistent_name(profile.name)
    deadline = time.monotonic() + settings.start_timeout + GRACE
    with locked(store.lock_path(name), deadline):
        if _running(profile, account, store):
            return
        try:
            _start(profile, args, name, settings, reporter, deadline)
        except RittunnelError:
            if _running(profile, account, store):
                return  # another's tunnel won a race the lock did not see
            raise
        if not _running(profile, account, store):
            raise RittunnelError(
                f"stdio: the background tunnel {name} said it was ready, but is not found "
                f"running; see {log_path(settings.state_dir, [name])}"
            )


def _running(profile: Profile, account: Account, store: StateStore) -> bool:
    from ..tunnel.share import find_running

    found = find_running(store, account=account, service=profile.service, port_proxy_only=True)
    return found is not None


def _start(
    profile: Profile,
    args: StdioOptions,
    name: str,
    settings: Settings,
    reporter: Reporter,
    deadline: float,
) -> None:
    log = log_path(settings.state_dir, [name])
    secure_dir(log.parent)
    log_fd = open_log(log)  # never through a symbolic link
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen(
            child_argv(args, profile, write_end, log),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            pass_fds=(write_end,),  # and no other: never the lock's, nor ssh's pipes
            start_new_session=True,
            cwd="/",
            env=child_env(settings.env),
        )
    finally:
        os.close(write_end)
        os.close(log_fd)
    try:
        ready, errors = follow(read_end, child, reporter, deadline, show=_collect)
    except KeyboardInterrupt:
        child.terminate()  # it stops whatever proxy it made
        reap(child)
        raise
    finally:
        os.close(read_end)
    if name in ready and not errors:
        reporter.debug(
            f"{name}: running in the background as pid {child.pid} until "
            f"{format_duration(args.persist)} pass with no connection; log: {log}"
        )
        return
    raise start_failed(
        child,
        errors,
        reporter,
        lambda code: (
            f"stdio: the background tunnel {name} exited (code {code}) before it "
            f"was ready; see {log}"
        ),
    )


def _collect(
    record: dict[str, object], reporter: Reporter, ready: list[str], errors: list[str]
) -> None:
    """The background tunnel's start-up events, for ssh's terminal: its warnings said,
    its ready line kept quiet (stdout is ssh's)."""
    kind, text = record.get("event"), str(record.get("message", ""))
    if kind == "error":
        errors.append(text)
    elif kind == "ready":
        ready.append(str(record.get("name")))
    elif kind == "warning":
        reporter.warn(text)


def serve_persistent(
    profile: Profile, args: StdioOptions, settings: Settings, reporter: Reporter
) -> int:
    """The background process (``--notify-fd``): serve ``profile``'s persistent tunnel
    until ``args.persist`` seconds pass with no connection, a stop signal, or ``stop``."""
    if args.notify_fd is None or not args.persist:
        raise UsageError("stdio: --notify-fd is internal to --persist")
    from ..tunnel.persist import serve_until_unused
    from .common import run_session
    from .up import notify_parent

    reporter.timestamps = True
    window = args.persist
    reporter.info(
        f"{profile.name}: a persistent tunnel: it ends {format_duration(window)} after "
        "the last connection"
    )
    outcome = run_session(
        [persistent_profile(profile)],
        settings,
        reporter,
        log=args.log_file or "",
        on_ready=notify_parent(args.notify_fd, reporter),
        body=lambda session: serve_until_unused(session, window),
    )
    return 1 if outcome.failed or outcome.left_open else 0
