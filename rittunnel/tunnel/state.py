"""State files of running tunnels: who runs which profile, and which proxies it holds open.

One JSON file per profile under ``$XDG_STATE_HOME/rittunnel/``, written atomically (0600).
It names the pid and that process's start time, so a pid reused by another process is
not mistaken for our tunnel. A tunnel killed with ``kill -9`` leaves its file behind,
with the IDs of the proxies still open at remote.it: the next run (or
``rittunnel cleanup``) stops them and removes the file.

Creating the file is also the claim on the profile: a second rittunnel for the same
profile finds it, sees the first one alive, and says who holds it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import RittunnelError
from ..files import write_private


@dataclass
class TunnelState:
    name: str
    pid: int
    pid_started: float
    api_url: str
    #: the service ID (what stopping its proxies needs)
    service: str
    #: the service's name, when the profile named it rather than giving its ID
    service_name: str = ""
    #: the credentials-file section of the account that owns the proxies ("": default)
    credentials: str = ""
    #: the API that made the proxies (``rest`` or ``graphql``), so they are stopped the
    #: same way; ``api_url`` is that API's URL
    api: str = "rest"
    local_port: int = 0
    addresses: list[str] = field(default_factory=list)
    #: IDs of the proxies this tunnel holds open at remote.it
    proxies: list[str] = field(default_factory=list)
    upstream: str = ""
    mode: str = ""
    source: str = ""
    started: float = field(default_factory=time.time)
    ready: bool = False
    #: wall-clock time the current proxy expires, if remote.it said
    expires_at: float | None = None
    #: live counters, refreshed about once a second while they change
    connections: int = 0
    opened: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    #: the log file of a background (``up -d``) tunnel
    log: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> TunnelState:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def process_start_time(pid: int) -> float | None:
    """The start time of process ``pid``, or None when there is no such process."""
    import psutil  # lazy: status and cleanup need it, the relay does not

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return -1.0  # exists, but we may not look: treat as alive


def has_exited(pid: int) -> bool:
    """Whether process ``pid`` is gone (or a zombie nobody has reaped yet)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def is_alive(state: TunnelState) -> bool:
    started = process_start_time(state.pid)
    if started is None:
        return False
    return started == -1.0 or abs(started - state.pid_started) < 1.0


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def read(self, path: Path) -> TunnelState | None:
        try:
            return TunnelState.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return None

    def all(self) -> Iterator[tuple[Path, TunnelState | None]]:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            yield path, self.read(path)

    def claim(self, state: TunnelState) -> TunnelState | None:
        """Create the state file for ``state.name``. Returns None on success, or the
        state of a *dead* previous holder (whose proxies the caller must stop) after
        taking its place. Raises if a live process holds the profile."""
        path = self.path(state.name)
        previous: TunnelState | None = None
        for _ in range(3):
            if write_private(path, state.to_json(), exclusive=True):
                return previous
            holder = self.read(path)
            if holder is not None and holder.pid != os.getpid() and is_alive(holder):
                where = f" on port {holder.local_port}" if holder.local_port else ""
                raise RittunnelError(
                    f"profile {state.name} is already running as pid {holder.pid}{where}; "
                    f"use it, or `rittunnel stop {state.name}` first"
                )
            previous = holder or previous
            path.unlink(missing_ok=True)
        raise RittunnelError(f"cannot claim {path}: another rittunnel keeps racing for it")

    def write(self, state: TunnelState, *, durable: bool = True) -> None:
        """Replace the state file; ``durable=False`` skips the fsync (live counters)."""
        write_private(self.path(state.name), state.to_json(), durable=durable)

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
        self.stop_request_path(name).unlink(missing_ok=True)

    def get(self, name: str) -> TunnelState | None:
        return self.read(self.path(name))

    def stop_request_path(self, name: str) -> Path:
        return self.directory / f"{name}.stop"

    def request_stop(self, name: str) -> None:
        """Ask the process running ``name`` (with others) to stop just that tunnel; the
        process looks for these files when it receives SIGUSR1."""
        write_private(self.stop_request_path(name), str(os.getpid()))

    def stop_requested(self, name: str) -> bool:
        return self.stop_request_path(name).exists()

    def orphans(self) -> list[tuple[Path, TunnelState]]:
        """State files whose process is gone (killed), with their last known proxies."""
        out = []
        for path, state in self.all():
            if state is None:
                path.unlink(missing_ok=True)  # unreadable: nothing we could stop
                continue
            if not is_alive(state):
                out.append((path, state))
        return out
