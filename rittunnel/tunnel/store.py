"""The state directory: one file per tunnel, listed, read (a bad one set aside), written,
claimed, and the stop requests beside them. The files' format is
:mod:`rittunnel.tunnel.state`; whether their processes live, :mod:`rittunnel.tunnel.procs`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from ..errors import RittunnelError
from ..files import UnsafeFile, read_private, secure_dir, write_private
from ..profiles.name import MAX_NAME
from .procs import holds, process_start_time
from .state import MAX_FILE, TunnelState, check_name


def orphan_name(name: str, pid: int) -> str:
    """The name a dead holder's record is kept under beside a new claim of ``name``."""
    return f"{name[: MAX_NAME - 20]}.orphan-{pid}"


class StateStore:
    """The state directory. Paths are only ever built from validated names; what was
    wrong with files set aside collects in :attr:`problems` (see :meth:`report`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        #: one line per state file set aside since the last :meth:`report`
        self.problems: list[str] = []
        self._said: set[str] = set()
        self._secure = False

    def _ready(self, *, create: bool) -> bool:
        """Whether the directory exists (made 0700 with ``create``); a directory that
        another user owns or others may write is a :class:`RittunnelError`."""
        if not self._secure:
            self._secure = secure_dir(self.directory, create=create)
        return self._secure

    def report(self, warn: Callable[[str], None]) -> None:
        """Say each problem once (``warn``) and forget them."""
        problems, self.problems = self.problems, []
        for text in problems:
            if text not in self._said:  # a second look at the same files finds the same
                self._said.add(text)
                warn(text)

    def path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}.json"

    def read(self, path: Path) -> TunnelState | None:
        """The state in ``path``; None if there is none, or it was bad and set aside."""
        try:
            text, _ = read_private(path, MAX_FILE)
            return TunnelState.from_json(text, name=path.name.removesuffix(".json"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnsafeFile) as exc:
            self._set_aside(path, _reason(exc))
            return None

    def _set_aside(self, path: Path, why: str) -> None:
        bad = path.with_name(path.name + ".bad")
        try:
            os.replace(path, bad)
        except FileNotFoundError:
            return  # gone meanwhile
        except OSError as exc:
            self.problems.append(f"state file {path}: {why}; cannot move it aside: {exc}")
            return
        self.problems.append(f"state file {path}: {why}; ignored it (moved to {bad.name})")

    def all(self) -> Iterator[tuple[Path, TunnelState]]:
        """Every valid state file (bad ones are set aside)."""
        if not self._ready(create=False):
            return
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith("."):
                continue  # never ours
            state = self.read(path)
            if state is not None:
                yield path, state

    def names(self) -> list[str]:
        """The names of the tunnels with a state file, from the file names alone (reads
        and moves nothing: completion and "did you mean" ask); no orphans' records."""
        try:
            paths = sorted(self.directory.glob("*.json"))
        except OSError:
            return []
        names = (path.name.removesuffix(".json") for path in paths)
        return [n for n in names if not n.startswith(".") and ".orphan-" not in n]

    def claim(self, state: TunnelState) -> TunnelState | None:
        """Create the state file for ``state.name``. Returns None, or the record of a
        *dead* previous holder with proxies open: kept under :func:`orphan_name` for
        cleanup, and returned so the caller stops them. Raises if a live process holds
        the profile, or the file cannot be written."""
        path = self.path(state.name)
        self._ready(create=True)
        previous: TunnelState | None = None
        for _ in range(3):
            if self._write(path, state, exclusive=True):
                return previous
            holder = self.read(path)
            if holder is not None and holder.pid != os.getpid() and holds(holder):
                where = f" on port {holder.local_port}" if holder.local_port else ""
                then = (
                    f"use it, or `rittunnel stop {state.name}` first"
                    if holder.shareable
                    else "it is a `rittunnel run` and ends with its command; try again then"
                )
                raise RittunnelError(
                    f"profile {state.name} is already running as pid {holder.pid}{where}; {then}"
                )
            if holder is not None and holder.proxies:
                previous = self._keep_orphan(holder)
            path.unlink(missing_ok=True)
        raise RittunnelError(f"cannot claim {path}: another rittunnel keeps racing for it")

    def _keep_orphan(self, holder: TunnelState) -> TunnelState:
        orphan = replace(holder, name=orphan_name(holder.name, holder.pid), released=True)
        self._write(self.path(orphan.name), orphan)
        return orphan

    def _write(self, path: Path, state: TunnelState, *, exclusive: bool = False) -> bool:
        try:
            return write_private(path, state.to_json(), exclusive=exclusive)
        except OSError as exc:
            raise RittunnelError(f"cannot write {path}: {exc.strerror or exc}") from None

    def write(self, state: TunnelState, *, durable: bool = True) -> None:
        """Replace the state file; ``durable=False`` skips the fsync (live counters).
        Raises ``OSError`` (a full disk...): callers decide how much that matters."""
        path = self.path(state.name)
        self._ready(create=True)
        write_private(path, state.to_json(), durable=durable)

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
        self.stop_request_path(name).unlink(missing_ok=True)

    def get(self, name: str) -> TunnelState | None:
        path = self.path(name)
        return self.read(path) if self._ready(create=False) else None

    def lock_path(self, name: str) -> Path:
        """Where ``name``'s lock file is (held while one process starts ``name``'s tunnel
        in the background: ``stdio --persist``); the directory is made if need be."""
        self._ready(create=True)
        return self.directory / f"{check_name(name)}.lock"

    def stop_request_path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}.stop"

    def request_stop(self, name: str, pid: int | None = None) -> None:
        """Ask process ``pid`` (default: this one), which runs ``name`` with others, to
        stop just that tunnel; it looks for these files when it receives SIGUSR1."""
        path = self.stop_request_path(name)
        self._ready(create=True)
        try:
            write_private(path, f"{pid or os.getpid()}\n")
        except OSError as exc:
            raise RittunnelError(f"cannot write {path}: {exc.strerror or exc}") from None

    def stop_requested(self, name: str) -> bool:
        """Whether ``name`` of this process is asked to stop: a stop request naming this
        pid, made since this process started (an older one is stale)."""
        try:
            text, st = read_private(self.stop_request_path(name), 64)
        except (OSError, ValueError, UnsafeFile):
            return False
        started = process_start_time(os.getpid()) or 0.0
        return text.strip() == str(os.getpid()) and st.st_mtime >= started - 1.0

    def remove_stale_stop_requests(self) -> None:
        """Remove stop requests that no live tunnel of their name can be meant by."""
        if not self._ready(create=False):
            return
        live = {s.name: s.pid for _, s in self.all() if holds(s)}
        for path in self.directory.glob("*.stop"):
            pid = live.get(path.name.removesuffix(".stop"))
            if pid is None or _request_pid(path) != pid:
                path.unlink(missing_ok=True)

    def orphans(self) -> list[tuple[Path, TunnelState]]:
        """State files no live process holds (killed, or released with proxies open)."""
        return [(path, state) for path, state in self.all() if not holds(state)]


def _request_pid(path: Path) -> int | None:
    try:
        text, _ = read_private(path, 64)
        return int(text.strip())
    except (OSError, ValueError, UnsafeFile):
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, OSError):
        return f"cannot read it: {exc.strerror or exc}"
    if isinstance(exc, UnsafeFile):
        return f"it {exc.problem}"
    return str(exc)
