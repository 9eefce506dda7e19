"""Looking at and controlling running tunnels from outside: ``status``, ``stop``, ``wait``.

Everything here works from the state files (see :mod:`rittunnel.tunnel.state`) and psutil, and
imports neither httpx nor trio, so these commands start fast.

Stopping: a process whose every tunnel is to stop gets SIGTERM (it stops its proxies and
exits). A process that runs other tunnels too gets a stop request file per name and
SIGUSR1, and stops just those. Either way a tunnel has stopped when its state file is
gone (it had no proxy left open) or its process has exited.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import RittunnelError, UsageError
from ..report import Reporter
from ..settings import Settings
from ..tunnel.state import StateStore, TunnelState, has_exited, is_alive
from ..units import format_bytes, format_duration

#: seconds ``stop`` waits for a tunnel to finish its teardown (stopping its proxy)
STOP_WAIT = 20.0
POLL = 0.05


def control(args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    """``status``, ``stop`` or ``wait``, as ``args.command`` says."""
    store = StateStore(settings.state_dir)
    if args.command == "status":
        return status(store, reporter, as_json=args.json)
    if args.command == "stop":
        if not args.names and not args.all:
            raise UsageError("stop: name the tunnels to stop, or --all")
        timeout = STOP_WAIT if args.timeout is None else args.timeout
        return stop(store, reporter, args.names, every=args.all, timeout=timeout)
    return wait(store, reporter, args.name, args.timeout)


@dataclass
class Entry:
    """A state file and whether its process is alive."""

    state: TunnelState
    alive: bool

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
        }

    @property
    def label(self) -> str:
        if not self.alive:
            return "dead"
        return "ready" if self.state.ready else "starting"


def entries(store: StateStore) -> list[Entry]:
    out = []
    for _, state in store.all():
        if state is not None:
            out.append(Entry(state, is_alive(state)))
    return out


def status_table(rows: list[Entry], now: float) -> list[str]:
    """The human ``status`` table, one string per line (pure)."""
    header = (
        "NAME", "SERVICE", "PID", "STATE", "LOCAL", "UPSTREAM", "MODE",
        "UPTIME", "CONNS", "UP", "DOWN", "EXPIRES",
    )  # fmt: skip
    table = [header]
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
                s.mode or "-",
                format_duration(now - s.started),
                str(s.connections if e.alive else 0),
                format_bytes(s.bytes_up),
                format_bytes(s.bytes_down),
                expires if e.alive else "-",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    dead = [e.state for e in rows if not e.alive]
    for s in dead:
        left = f"; proxies left open: {', '.join(s.proxies)}" if s.proxies else ""
        lines.append(
            f"{s.name}: pid {s.pid} is gone{left}; `rittunnel cleanup` stops them and removes it"
        )
    return lines


def status(store: StateStore, reporter: Reporter, *, as_json: bool) -> int:
    now = time.time()
    rows = entries(store)
    if as_json:
        print(json.dumps([e.as_json(now) for e in rows], indent=1))
        return 0
    if not rows:
        reporter.info("no tunnels running")
        return 0
    for line in status_table(rows, now):
        print(line)
    return 0


def stop(
    store: StateStore,
    reporter: Reporter,
    names: list[str],
    *,
    every: bool,
    timeout: float = STOP_WAIT,
    kill: Callable[[int, int], None] = os.kill,
) -> int:
    """Stop the named tunnels (or every live one); 1 if a name was not running or did not
    stop in time."""
    known = {e.state.name: e for e in entries(store)}
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
            reporter.error(f"{name} is not running (see `rittunnel status`)")
            failed = True
        elif not entry.alive:
            reporter.error(
                f"{name} is not running: pid {entry.state.pid} is gone; "
                "`rittunnel cleanup` stops the proxies it left"
            )
            failed = True
        else:
            targets.setdefault(entry.state.pid, []).append(name)
    for pid, wanted in targets.items():
        siblings = {n for n, e in known.items() if e.alive and e.state.pid == pid}
        whole = siblings <= set(wanted)
        try:
            if whole:
                kill(pid, signal.SIGTERM)
            else:
                for name in wanted:
                    store.request_stop(name)
                kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass  # it just exited by itself: the wait below sees that
        except PermissionError:
            reporter.error(f"not allowed to signal pid {pid} ({', '.join(wanted)})")
            failed = True
            continue
        for name in wanted:
            failed |= not _await_stop(store, reporter, known[name].state, timeout, exit=whole)
    return 1 if failed else 0


def _await_stop(
    store: StateStore, reporter: Reporter, state: TunnelState, timeout: float, *, exit: bool
) -> bool:
    """Wait until the tunnel's state file is gone (and, with ``exit``, its process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = store.get(state.name)
        done = now is None or now.pid != state.pid
        if done and exit and not has_exited(state.pid):
            time.sleep(POLL)
            continue
        if now is None or done:
            reporter.event(
                "stopped", f"stopped {state.name} (pid {state.pid}); its proxy is stopped"
            )
            return True
        if not is_alive(now):
            left = ", ".join(now.proxies)
            reporter.warn(
                f"{state.name} (pid {state.pid}) exited with proxies left open ({left}); "
                "`rittunnel cleanup` stops them"
            )
            return False
        time.sleep(POLL)
    reporter.error(f"{state.name} (pid {state.pid}) did not stop within {timeout:g}s")
    return False


def wait(store: StateStore, reporter: Reporter, name: str, timeout: float) -> int:
    """Block until tunnel ``name`` is ready (exit 0) or ``timeout`` passes (error)."""
    deadline = time.monotonic() + timeout
    state: TunnelState | None = None
    while True:
        state = store.get(name)
        if state is not None and state.ready and is_alive(state):
            where = " and ".join(state.addresses) or f"port {state.local_port}"
            upstream = f" → {state.upstream}" if state.upstream else ""
            reporter.event("ready", f"{name} ready on {where}{upstream}", name=name, pid=state.pid)
            return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    if state is None:
        why = "it is not running (no state file)"
    elif not is_alive(state):
        why = f"its process (pid {state.pid}) is gone" + (f"; see {state.log}" if state.log else "")
    else:
        why = f"pid {state.pid} is still starting"
    raise RittunnelError(f"{name} was not ready within {timeout:g}s: {why}")
