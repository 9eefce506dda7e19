"""Looking at and controlling running tunnels from outside: ``status``, ``stop``, ``wait``.

Everything here works from the state files (see :mod:`rittunnel.tunnel.store`), psutil
and, for a dead tunnel's proxies, which API URLs the settings name
(:mod:`rittunnel.tunnel.trust`), and imports neither httpx nor trio, so these commands
start fast.

Stopping: a process whose every tunnel is to stop gets SIGTERM (it stops its proxies and
exits). A process that runs other tunnels too gets a stop request file per name (naming
its pid) and SIGUSR1, and stops just those. Only a rittunnel process of this user is
signalled: a state file may name any process. A tunnel has stopped when its state file
is gone or released (and, for SIGTERM, its process has exited); a file left with proxies
means they may still be open at remote.it, and ``stop`` says so (exit 1).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import RittunnelError, UsageError
from ..quantities import format_bytes, format_duration
from ..report import Reporter
from ..settings import Settings
from ..suggest import did_you_mean
from ..text import printable, redact_url
from ..tunnel.procs import has_exited, holds, is_rittunnel_process
from ..tunnel.state import TunnelState
from ..tunnel.store import StateStore
from ..tunnel.trust import Trust, TrustedUrls
from .options import StatusOptions, StopOptions, WaitOptions
from .tables import render_table

#: seconds ``stop`` waits for a tunnel to finish its teardown (stopping its proxy), at
#: least; see :func:`stop_wait`
STOP_WAIT = 20.0
#: seconds ``stop`` waits beyond the tunnel's own stop timeout
STOP_SLACK = 10.0
POLL = 0.05
#: seconds ``status`` waits for busy tunnels to write their counters when asked
ASK_WAIT = 0.5
ASK_POLL = 0.005


def stop_wait(settings: Settings) -> float:
    """How long ``stop`` waits by default: long enough for a teardown that waits for a
    connect in flight (``RITTUNNEL_API_TIMEOUT``) and then stops the proxies
    (``RITTUNNEL_STOP_TIMEOUT``), with :data:`STOP_SLACK`; at least :data:`STOP_WAIT`.
    The tunnel read the same variables, if it was started with this environment."""
    return max(STOP_WAIT, settings.api_timeout + settings.stop_timeout + STOP_SLACK)


def status_command(options: StatusOptions, settings: Settings, reporter: Reporter) -> int:
    """``rittunnel status``: the running tunnels, as a table or (``--json``) a list."""
    store = StateStore(settings.state_dir)
    return status(store, reporter, as_json=options.json, trusted=TrustedUrls(settings))


def stop_command(options: StopOptions, settings: Settings, reporter: Reporter) -> int:
    """``rittunnel stop NAME…`` or ``stop --all``."""
    if not options.names and not options.every:
        raise UsageError("stop: name the tunnels to stop, or --all")
    return stop(
        StateStore(settings.state_dir),
        reporter,
        list(options.names),
        every=options.every,
        timeout=stop_wait(settings) if options.timeout is None else options.timeout,
        trusted=TrustedUrls(settings),
    )


def wait_command(options: WaitOptions, settings: Settings, reporter: Reporter) -> int:
    """``rittunnel wait NAME``: until the background tunnel is ready."""
    return wait(StateStore(settings.state_dir), reporter, options.name, options.timeout)


@dataclass
class Entry:
    """A state file, whether its process is alive, and whether ``cleanup`` would send
    credentials to the API URL it records (:mod:`rittunnel.tunnel.trust`)."""

    state: TunnelState
    alive: bool
    trusted: bool = True

    def as_json(self, now: float) -> dict[str, Any]:
        s = self.state
        return {
            "name": s.name,
            "pid": s.pid,
            "alive": self.alive,
            "ready": s.ready and self.alive,
            "state": self.label,
            "local_port": s.local_port,
            "addresses": s.addresses,
            "upstream": s.upstream,
            "mode": s.mode,
            "reverse": s.reverse,
            "service": s.service,
            "api": s.api,
            "service_name": s.service_name or None,
            "uptime": round(now - s.started, 1),
            "connections": s.connections if self.alive else 0,
            "opened": s.opened,
            "bytes_up": s.bytes_up,
            "bytes_down": s.bytes_down,
            "expires_at": s.expires_at,
            "expires_in": None if s.expires_at is None else round(s.expires_at - now, 1),
            "proxies": s.proxies,
            "profile": s.source,
            "log": s.log or None,
            # False: a dead tunnel's proxies were made through an API URL no setting
            # names, so `cleanup` leaves them alone
            "cleanup": self.trusted,
        }

    @property
    def label(self) -> str:
        if not self.alive:
            return "stopped" if self.state.released else "dead"
        return "ready" if self.state.ready else "starting"


def entries(store: StateStore, reporter: Reporter, trusted: Trust | None = None) -> list[Entry]:
    """Every valid state file and whether a live process holds it; state files set aside
    as bad are reported (once: they are moved aside). ``trusted``: judges the API URL of
    a dead tunnel's proxies (default: every URL)."""
    out = []
    for _, state in store.all():
        alive, ok = holds(state), True
        if trusted is not None and not alive and state.proxies:
            ok = trusted(state.api_url)
        out.append(Entry(state, alive, ok))
    store.report(reporter.warn)
    return out


def status_table(rows: list[Entry], now: float) -> list[str]:
    """The human ``status`` table, one string per line (pure); every cell and note
    escaped (:func:`~rittunnel.text.printable`), whatever a state file holds."""
    header = (
        "NAME", "SERVICE", "PID", "STATE", "LOCAL", "UPSTREAM", "MODE",
        "UPTIME", "CONNS", "UP", "DOWN", "EXPIRES",
    )  # fmt: skip
    table = []
    for e in rows:
        s = e.state
        expires = "-" if s.expires_at is None else format_duration(s.expires_at - now)
        table.append(
            (
                s.name,
                s.service_name or s.service,
                str(s.pid),
                e.label,
                s.addresses[0] if s.addresses else (f":{s.local_port}" if s.local_port else "-"),
                s.upstream or "-",
                "reverse proxy" if s.reverse else s.mode or "-",
                format_duration(now - s.started),
                str(s.connections if e.alive else 0),
                format_bytes(s.bytes_up),
                format_bytes(s.bytes_down),
                expires if e.alive else "-",
            )
        )
    lines = render_table(header, table)
    # below the table, as escaped as its cells: a state file's proxy IDs and URL too
    lines.extend(
        printable(f"{e.state.name}: {gone(e.state, e.trusted)}") for e in rows if not e.alive
    )
    return lines


def gone(s: TunnelState, trusted: bool = True) -> str:
    """What a state file no live process holds means, and what to do about it (its
    proxies' API URL not ``trusted``: ``cleanup`` would not send credentials there)."""
    left = f"; proxies left open: {', '.join(s.proxies)}" if s.proxies else ""
    how = f"stopped (pid {s.pid})" if s.released else f"pid {s.pid} is gone"
    if s.proxies and not trusted:
        where = (
            "RITTUNNEL_GRAPHQL_URL (or the REST URL on its host in RITTUNNEL_API_URL or a "
            "profile's api_url)"
            if s.api == "graphql"
            else "RITTUNNEL_API_URL or a profile's api_url"
        )
        return (
            f"{how}{left}; they were made through API URL {redact_url(s.api_url)}, which "
            "none of your settings name, so `rittunnel cleanup` leaves them alone: if it "
            f"is yours, name it in {where}; else remove {s.name}.json from the state "
            "directory"
        )
    return f"{how}{left}; `rittunnel cleanup` stops them and removes it"


def status(
    store: StateStore,
    reporter: Reporter,
    *,
    as_json: bool,
    trusted: Trust | None = None,
    kill: Callable[[int, int], None] = os.kill,
    ours: Callable[[int], bool] = is_rittunnel_process,
) -> int:
    rows = entries(store, reporter, trusted)
    if ask_for_counters(store, rows, kill=kill, ours=ours):
        rows = entries(store, reporter, trusted)
    now = time.time()
    if as_json:
        reporter.output_json([e.as_json(now) for e in rows])
        return 0
    if not rows:
        reporter.info("no tunnels running")
        return 0
    reporter.output("\n".join(status_table(rows, now)))
    return 0


def ask_for_counters(
    store: StateStore,
    rows: list[Entry],
    *,
    kill: Callable[[int, int], None] = os.kill,
    ours: Callable[[int], bool] = is_rittunnel_process,
    wait: float = ASK_WAIT,
) -> bool:
    """Ask every live tunnel with a connection open to write its counters now (SIGUSR1;
    see :mod:`rittunnel.tunnel.flush`) and wait, at most ``wait`` seconds, until each of
    their state files is rewritten. A tunnel with no connection open wrote its counters
    when the last one ended, so it is left asleep; a ``stdio`` proxy's file is never
    signalled (it counts nothing, and SIGUSR1 is not its to take), nor a process that is
    not a rittunnel of ours. Whether any was asked."""
    before: dict[str, tuple[int, int]] = {}
    known: dict[str, int] = {}
    pids: set[int] = set()
    for e in rows:
        s = e.state
        if not (e.alive and s.ready and s.connections > 0) or "stdio" in s.addresses:
            continue
        try:
            st = store.path(s.name).stat()
        except OSError:
            continue
        before[s.name] = (st.st_ino, st.st_mtime_ns)
        known[s.name] = s.pid
        pids.add(s.pid)
    asked = False
    for pid in pids:
        try:
            if ours(pid):
                kill(pid, signal.SIGUSR1)
                asked = True
                continue
        except OSError:
            pass  # gone, or not ours to signal: its file is shown as it is
        before = {n: seen for n, seen in before.items() if known[n] != pid}
    deadline = time.monotonic() + wait
    while before and time.monotonic() < deadline:
        for name, seen in list(before.items()):
            try:
                st = store.path(name).stat()
            except OSError:
                del before[name]
                continue
            if (st.st_ino, st.st_mtime_ns) != seen:
                del before[name]
        if before:
            time.sleep(ASK_POLL)
    return asked


def stop(
    store: StateStore,
    reporter: Reporter,
    names: list[str],
    *,
    every: bool,
    timeout: float = STOP_WAIT,
    kill: Callable[[int, int], None] = os.kill,
    ours: Callable[[int], bool] = is_rittunnel_process,
    trusted: Trust | None = None,
) -> int:
    """Stop the named tunnels (or every live one); 1 if a name was not running, did not
    stop in time, or left a proxy open. Only a rittunnel process of this user (``ours``)
    is ever signalled (``kill``): a state file may name any process. ``trusted``: as for
    :func:`entries`."""
    known = {e.state.name: e for e in entries(store, reporter, trusted)}
    if every:
        names = [n for n, e in known.items() if e.alive]
        if not names:
            reporter.info("no tunnels running")
            return 0
    failed = False
    targets: dict[int, list[str]] = {}
    for name in dict.fromkeys(names):
        entry = known.get(name)
        if entry is None:
            hint = did_you_mean(name, known)
            reporter.error(f"{name} is not running ({hint or 'see `rittunnel status`'})")
            failed = True
        elif not entry.alive:
            reporter.error(f"{name} is not running: {gone(entry.state, entry.trusted)}")
            failed = True
        else:
            targets.setdefault(entry.state.pid, []).append(name)
    for pid, wanted in targets.items():
        siblings = {n for n, e in known.items() if e.alive and e.state.pid == pid}
        whole = siblings <= set(wanted)
        if not _signal(store, reporter, pid, wanted, whole=whole, kill=kill, ours=ours):
            failed = True
            continue
        for name in wanted:
            failed |= not _await_stop(store, reporter, known[name].state, timeout, exit=whole)
    return 1 if failed else 0


def _signal(
    store: StateStore,
    reporter: Reporter,
    pid: int,
    names: list[str],
    *,
    whole: bool,
    kill: Callable[[int, int], None],
    ours: Callable[[int], bool],
) -> bool:
    """Ask ``pid`` to stop ``names``: SIGTERM when they are all it runs (``whole``), else
    a stop request each and SIGUSR1. False (said) when it may not be signalled."""
    if not ours(pid):
        files = ", ".join(str(store.path(n)) for n in names)
        reporter.error(
            f"{', '.join(names)}: pid {pid} is not a rittunnel process of yours; not "
            f"signalling it (a stale or forged state file: remove {files})"
        )
        return False
    try:
        if whole:
            kill(pid, signal.SIGTERM)
        else:
            for name in names:
                store.request_stop(name, pid)
            kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        pass  # it just exited by itself: the wait sees that
    except PermissionError:
        reporter.error(f"not allowed to signal pid {pid} ({', '.join(names)})")
        return False
    return True


def _await_stop(
    store: StateStore, reporter: Reporter, state: TunnelState, timeout: float, *, exit: bool
) -> bool:
    """Wait until the tunnel is over: its state file gone or released (and, with
    ``exit``, its process gone); then say whether it left a proxy open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = has_exited(state.pid)
        now = _same_tunnel(store, state)
        over = now is None or now.released or exited
        if over and (exited or not exit):
            return _verdict(reporter, state, _same_tunnel(store, state))
        time.sleep(POLL)
    reporter.error(f"{state.name} (pid {state.pid}) did not stop within {timeout:g}s")
    return False


def _same_tunnel(store: StateStore, state: TunnelState) -> TunnelState | None:
    """The state file of ``state``'s tunnel, if its process still has one there."""
    now = store.get(state.name)
    return now if now is not None and now.pid == state.pid else None


def _verdict(reporter: Reporter, state: TunnelState, left: TunnelState | None) -> bool:
    """Say how the tunnel ended (``left``: what its file says after it); False when a
    proxy may still be open."""
    if left is not None and left.proxies:
        what = "proxy" if len(left.proxies) == 1 else "proxies"
        reporter.warn(
            f"{state.name} stopped, but {what} {', '.join(left.proxies)} may still be open "
            "at remote.it; `rittunnel cleanup` will try again"
        )
        return False
    reporter.event("stopped", f"stopped {state.name} (pid {state.pid})")
    return True


def wait(store: StateStore, reporter: Reporter, name: str, timeout: float) -> int:
    """Block until tunnel ``name`` is ready (exit 0) or ``timeout`` passes (error)."""
    deadline = time.monotonic() + timeout
    state: TunnelState | None = None
    while True:
        state = store.get(name)
        store.report(reporter.warn)
        if state is not None and state.ready and holds(state):
            where = " and ".join(state.addresses) or f"port {state.local_port}"
            upstream = f" → {state.upstream}" if state.upstream else ""
            reporter.event("ready", f"{name} ready on {where}{upstream}", name=name, pid=state.pid)
            return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    if state is None:
        hint = did_you_mean(name, store.names())
        why = "it is not running (no state file" + (f"; {hint})" if hint else ")")
    elif state.released:
        why = f"it stopped (pid {state.pid})" + (f"; see {state.log}" if state.log else "")
    elif not holds(state):
        why = f"its process (pid {state.pid}) is gone" + (f"; see {state.log}" if state.log else "")
    else:
        why = f"pid {state.pid} is still starting"
    raise RittunnelError(f"{name} was not ready within {timeout:g}s: {why}")
