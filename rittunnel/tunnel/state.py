"""State files of running tunnels: who runs which profile, and which proxies it holds open.

One JSON file per tunnel under ``$XDG_STATE_HOME/rittunnel/`` (a directory only this user
may change: see :func:`rittunnel.files.secure_dir`), written atomically (0600). It names
the pid and that process's start time, so a pid reused by another process is not
mistaken for our tunnel. A tunnel killed with ``kill -9`` leaves its file behind, with
the IDs of the proxies still open at remote.it: the next run (or ``rittunnel cleanup``)
stops them and removes the file.

Creating the file is also the claim on the profile: a second rittunnel for the same
profile finds it, sees the first one alive, and says who holds it. A dead holder whose
proxies are still open is kept beside the new claim as ``NAME.orphan-PID.json``.

Every file is validated when read (:meth:`TunnelState.from_json`): its name must be its
file's, every field of the right type and range. One that is not is set aside as
``FILE.bad`` and described in :attr:`StateStore.problems` for the caller to report once;
it never stops a command.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RittunnelError
from ..files import UnsafeFile, read_private, secure_dir, write_private
from ..report import shown
from ..settings import APIS, Api

if TYPE_CHECKING:
    import psutil

    from ..remoteit.accounts import Account

#: the most bytes a state file may have
MAX_FILE = 256 * 1024
#: the most UTF-8 bytes in a tunnel name (what is left of 255 for suffixes and temp files)
MAX_NAME = 200
#: Linux's upper bound for ``/proc/sys/kernel/pid_max``
PID_MAX_LIMIT = 4_194_304


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
    #: the tunnel is over but could not stop ``proxies``; its process (maybe still
    #: running other tunnels) no longer holds the file: ``cleanup`` may take it
    released: bool = False
    #: the current proxy is a reverse proxy (the local port answers with HTTP redirects),
    #: so ``stdio`` cannot use this tunnel (see :mod:`rittunnel.tunnel.share`)
    reverse: bool = False
    #: ``stdio`` and ``run`` of the same service may use this tunnel; False for the
    #: tunnel of a ``run``, which ends with its command (a file without it: True)
    shareable: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str, *, name: str | None = None) -> TunnelState:
        """Parse and validate a state file; ``name``: what its file name says it must
        be called. Raises :class:`BadState` saying what is wrong; unknown keys are
        ignored (a newer rittunnel may add some)."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise BadState(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise BadState("not a JSON object")
        known = {k: v for k, v in data.items() if k in _CHECKS}
        for f in fields(cls):
            if f.name not in known and f.default is MISSING and f.default_factory is MISSING:
                raise BadState(f"{f.name}: missing")
        for key, value in known.items():
            problem = _CHECKS[key](value)
            if problem:
                raise BadState(f"{key}: {shown(value)} {problem}")
        if name is not None and known["name"] != name:
            raise BadState(f"name: {shown(known['name'])} is not its file's name {name!r}")
        return cls(**known)


class BadState(ValueError):
    """A state file that is not one rittunnel wrote; ``str()`` names the field and why."""


# -- validation: each check returns what is wrong with a value ("" when nothing) ------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: a tunnel name: a profile name (or ``service-…`` for ``--service``), maybe with
#: ``.stdio-PID``, ``.run-PID`` or ``.orphan-PID``
_NAME = re.compile(r"[\w-][\w.-]*")


def name_problem(name: object) -> str:
    """What makes ``name`` unfit to name a tunnel's files ("" if nothing): the profile
    name rule (letters, digits, ``-``, ``_``, ``.``; not starting with a dot), no ``..``,
    at most :data:`MAX_NAME` bytes."""
    if not isinstance(name, str):
        return "is not a string"
    if not _NAME.fullmatch(name) or ".." in name:
        return "is not a tunnel name (letters, digits, '-', '_', '.'; no '..'; no leading '.')"
    if len(name.encode("utf-8")) > MAX_NAME:
        return f"is longer than {MAX_NAME} bytes"
    return ""


def check_name(name: str) -> str:
    """``name``, or a one-line :class:`RittunnelError` if it cannot name a tunnel."""
    problem = name_problem(name)
    if problem:
        raise RittunnelError(f"{shown(name)} {problem}")
    return name


def _text(limit: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str):
            return "is not a string"
        if len(value) > limit:
            return f"is longer than {limit} characters"
        return "contains control characters" if _CONTROL.search(value) else ""

    return check


def _strings(most: int, limit: int) -> Callable[[object], str]:
    item = _text(limit)

    def check(value: object) -> str:
        if not isinstance(value, list):
            return "is not a list"
        if len(value) > most:
            return f"has more than {most} items"
        return next((f"has an item that {p}" for p in map(item, value) if p), "")

    return check


def _count(low: int, high: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, int) or isinstance(value, bool):
            return "is not an integer"
        return "" if low <= value <= high else f"is not within {low}-{high}"

    return check


def _time(value: object) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "is not a number"
    return "" if math.isfinite(value) and value >= 0 else "is not a time"


def _bool(value: object) -> str:
    return "" if isinstance(value, bool) else "is not true or false"


def _pid(value: object) -> str:
    return _count(1, pid_max())(value)


def _url(value: object) -> str:
    problem = _text(2048)(value)
    if problem:
        return problem
    assert isinstance(value, str)
    return "" if re.fullmatch(r"https?://[^\s/]+(/\S*)?", value) else "is not an http(s) URL"


def _api(value: object) -> str:
    return "" if value in APIS else "is not rest or graphql"


def _maybe_time(value: object) -> str:
    return "" if value is None else _time(value)


_BIG = 2**63 - 1
_CHECKS: dict[str, Callable[[object], str]] = {
    "name": name_problem,
    "pid": _pid,
    "pid_started": _time,
    "api_url": _url,
    "service": _text(256),
    "service_name": _text(1024),
    "credentials": _text(256),
    "api": _api,
    "local_port": _count(0, 65535),
    "addresses": _strings(64, 256),
    "proxies": _strings(1000, 256),
    "upstream": _text(1024),
    "mode": _text(64),
    "source": _text(4096),
    "started": _time,
    "ready": _bool,
    "expires_at": _maybe_time,
    "connections": _count(0, _BIG),
    "opened": _count(0, _BIG),
    "bytes_up": _count(0, _BIG),
    "bytes_down": _count(0, _BIG),
    "log": _text(4096),
    "released": _bool,
    "reverse": _bool,
    "shareable": _bool,
}


@functools.cache
def pid_max() -> int:
    """The largest pid this system hands out."""
    try:
        return min(int(Path("/proc/sys/kernel/pid_max").read_text()), PID_MAX_LIMIT)
    except (OSError, ValueError):
        return PID_MAX_LIMIT


# -- processes -----------------------------------------------------------------------


def process_start_time(pid: int | psutil.Process) -> float | None:
    """The start time of process ``pid`` (or of that process), or None when there is no
    such process; -1.0 when it exists but we may not look."""
    import psutil  # lazy: status and cleanup need it, the relay does not

    try:
        return _process(pid).create_time()
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


def _process(pid: int | psutil.Process) -> psutil.Process:
    """``pid`` as a process (built here, so the caller's handling of psutil's errors
    covers building it), or that process itself."""
    import psutil

    return psutil.Process(pid) if isinstance(pid, int) else pid


def is_alive(state: TunnelState) -> bool:
    return _started_as(state, process_start_time(state.pid))


def _started_as(state: TunnelState, started: float | None) -> bool:
    """Whether a process that ``started`` then (:func:`process_start_time`) is the one
    ``state`` names: there is one, and its start time is the file's, or unknown."""
    if started is None:
        return False
    return started == -1.0 or abs(started - state.pid_started) < 1.0


def holds(state: TunnelState) -> bool:
    """Whether a live process still holds ``state``'s file (not released it)."""
    return not state.released and is_alive(state)


def serves(state: TunnelState, host: str) -> bool:
    """Whether a live rittunnel process of this user holds ``state`` and listens on
    ``host``:``state.local_port``: :func:`holds`, :func:`is_rittunnel_process` and
    :func:`listens_on`, in that order and with the same outcomes, on one
    ``psutil.Process`` built once (a stale or planted file does not pass)."""
    import psutil

    if state.released:
        return False
    try:
        proc = psutil.Process(state.pid)
    except psutil.Error:
        # gone: not alive (process_start_time's None); psutil swallows AccessDenied
        # here, and were it raised is_rittunnel_process would fail to build it too
        return False
    return (
        _started_as(state, process_start_time(proc))
        and is_rittunnel_process(proc)
        and listens_on(proc, host, state.local_port)
    )


def is_rittunnel_process(pid: int | psutil.Process) -> bool:
    """Whether ``pid`` (or that process) is a rittunnel process of this user (same real
    uid, and a rittunnel command line: :func:`is_rittunnel_argv`). Only such a process is
    ever signalled: a state file may name any process."""
    import psutil

    try:
        proc = _process(pid)
        if proc.uids().real != os.getuid():
            return False
        argv = proc.cmdline()
    except psutil.Error:
        return False
    return is_rittunnel_argv(argv)


#: the wildcard listener that also takes a client's connection to a loopback address
WILDCARD = {"127.0.0.1": "0.0.0.0", "::1": "::"}


def listens_on(pid: int | psutil.Process, host: str, port: int) -> bool:
    """Whether process ``pid`` (or that process) has a TCP socket listening on
    ``host``:``port``, so that a client connecting there reaches that process: one bound
    to that very IP, or (for ``127.0.0.1`` and ``::1``) to every address (``0.0.0.0``,
    ``::``). Looks at that process's sockets only (not a system-wide scan); a process we
    may not look at, or that is gone, does not; nor does a ``host`` that is not an IP."""
    import psutil

    wanted = _ip(host)
    if wanted is None:
        return False
    accepted = {wanted}
    wildcard = WILDCARD.get(str(wanted))
    if wildcard is not None:
        accepted.add(ipaddress.ip_address(wildcard))
    try:
        sockets = _process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(
        s.status == psutil.CONN_LISTEN
        and s.laddr
        and s.laddr.port == port
        and _ip(s.laddr.ip) in accepted
        for s in sockets
    )


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (an IPv6 scope ``%eth0`` dropped); None if it is not one."""
    try:
        return ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None


def is_rittunnel_argv(argv: list[str]) -> bool:
    """Whether ``argv`` runs rittunnel: ``rittunnel …`` (the console script, which the
    kernel runs as ``python …/rittunnel …``) or ``python [options] -m rittunnel …``."""
    if not argv:
        return False
    if Path(argv[0]).name == "rittunnel":
        return True
    args = argv[1:]
    while args and args[0].startswith("-") and args[0] != "-":
        option = args.pop(0)
        if option.startswith("-m"):
            module = option[2:] or (args[0] if args else "")
            return module == "rittunnel" or module.startswith("rittunnel.")
        if option.startswith("-c"):
            return False
        if option in ("-X", "-W"):
            args = args[1:]  # the option's value
    return bool(args) and Path(args[0]).name == "rittunnel"


# -- accounts ------------------------------------------------------------------------


def account_of(state: TunnelState) -> Account:
    """The account whose proxies ``state`` records (an older file without ``api``: REST)."""
    from ..remoteit.accounts import Account  # lazy: status and stop need no profiles

    api: Api = "graphql" if state.api == "graphql" else "rest"
    return Account(state.api_url, state.credentials, api)


def orphan_name(name: str, pid: int) -> str:
    """The name a dead holder's record is kept under beside a new claim of ``name``."""
    return f"{name[: MAX_NAME - 20]}.orphan-{pid}"


# -- the directory -------------------------------------------------------------------


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
