"""``rittunnel up``: serve profiles in the foreground, or with ``-d`` in a background
process (:mod:`rittunnel.commands.detach`).

In the foreground under systemd (``NOTIFY_SOCKET`` set: a ``Type=notify`` unit, see
``rittunnel unit``) it tells systemd when every port serves and when it stops
(:mod:`rittunnel.tunnel.notify`)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable

from ..report import Reporter
from ..settings import Settings
from ..tunnel.notify import Notifier, ServiceNotify
from .common import accounts_for, load_profiles, run_session, with_start_timeout
from .options import UpOptions


def up(args: UpOptions, settings: Settings, reporter: Reporter) -> int:
    """Serve the profiles in the foreground (or, with ``-d``, in a background process)."""
    settings = with_start_timeout(settings, args.start_timeout)
    profiles = load_profiles(list(args.names), settings)
    if args.detach:
        from .detach import detach

        accounts_for(settings, reporter, profiles)  # missing credentials: here, not in a log
        return detach(profiles, args, settings, reporter)
    on_ready: Callable[[], None] | None = None
    on_stopping: Callable[[str], None] | None = None
    if args.notify_fd is not None:  # we are the background process of `up -d`
        reporter.timestamps = True
        on_ready = notify_parent(args.notify_fd, reporter)
    elif (notifier := Notifier.from_env(settings.env, reporter)) is not None:
        systemd = ServiceNotify(notifier)  # a Type=notify unit: READY=1, STOPPING=1
        reporter.sinks.append(systemd.sink)
        on_ready, on_stopping = systemd.ready, systemd.stopping
    outcome = run_session(
        profiles,
        settings,
        reporter,
        log=args.log_file or "",
        on_ready=on_ready,
        on_stopping=on_stopping,
    )
    return 1 if outcome.failed or outcome.left_open else 0


def notify_parent(fd: int, reporter: Reporter) -> Callable[[], None]:
    """Forward events to the waiting ``up -d`` parent over ``fd`` until every tunnel is
    ready; then close it (the parent reads EOF and returns)."""

    def sink(record: dict[str, object]) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, (json.dumps(record) + "\n").encode())

    def ready() -> None:
        reporter.sinks.remove(sink)
        os.close(fd)

    reporter.sinks.append(sink)
    return ready
