"""Where rittunnel keeps files, and writing them safely (atomically, mode 0600).

The state directory is private (:func:`secure_dir`): created 0700, and refused when
another user owns it or group or others may write it, as ssh refuses such a ``~/.ssh``.
Files in it are opened without following symbolic links (:func:`read_private`,
:func:`open_log`); :func:`write_private` writes a temporary file and renames it over the
target, which replaces a symbolic link rather than writing through it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from .errors import RittunnelError


class UnsafeFile(Exception):
    """A file is not what rittunnel writes there: a symbolic link, not a regular file,
    another user's, or too large. ``problem`` says which; ``str()`` names the file too."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} {problem}")
        self.problem = problem


def _xdg(env: Mapping[str, str], var: str, default: str) -> Path:
    """``$var/rittunnel``, or ``$HOME/default/rittunnel`` when ``var`` is not set (a
    leading ``~`` is ``env``'s ``HOME``)."""
    home = env.get("HOME") or str(Path.home())
    base = env.get(var) or os.path.join(home, default)
    if base == "~" or base.startswith("~/"):
        base = home + base[1:]
    return Path(base).expanduser() / "rittunnel"


def config_dir(env: Mapping[str, str]) -> Path:
    """Where the user configures rittunnel: ``$XDG_CONFIG_HOME/rittunnel`` (default
    ``~/.config/rittunnel``): its ``profiles`` and ``rittunnel unit``'s ``env`` file."""
    return _xdg(env, "XDG_CONFIG_HOME", ".config")


def state_dir(env: Mapping[str, str]) -> Path:
    return _xdg(env, "XDG_STATE_HOME", ".local/state")


def cache_dir(env: Mapping[str, str]) -> Path:
    return _xdg(env, "XDG_CACHE_HOME", ".cache")


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def secure_dir(path: Path, *, create: bool = True) -> bool:
    """Make sure ``path`` is a directory only this user may change: created (0700) if
    missing and ``create``; returns whether it exists. Raises a one-line
    :class:`RittunnelError` for a directory that another user owns or that group or
    others may write, and for one that cannot be made."""
    try:
        if create:
            private_dir(path)
        st = path.stat()
    except FileNotFoundError:
        if create:
            raise RittunnelError(f"cannot create {path}: it vanished meanwhile") from None
        return False
    except OSError as exc:
        raise RittunnelError(f"cannot use {path}: {exc.strerror or exc}") from None
    problem = _dir_problem(st)
    if problem:
        raise RittunnelError(f"{path} {problem}; refusing to use it (as ssh does for ~/.ssh)")
    return True


def _dir_problem(st: os.stat_result) -> str:
    """What makes a directory unsafe for rittunnel's files ("" if nothing)."""
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if st.st_uid != os.getuid():
        return f"is owned by uid {st.st_uid}, not by you (uid {os.getuid()}): remove it"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        who = "group and others" if mode & 0o022 == 0o022 else "group" if mode & 0o020 else "others"
        return f"is writable by {who} (mode {mode:04o}): `chmod 700` it"
    return ""


def _check_file(fd: int, path: Path) -> os.stat_result:
    """The open file ``fd`` must be a regular file of this user; one readable or
    writable by others is made 0600."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(path, "is not a regular file")
    if st.st_uid != os.getuid():
        raise UnsafeFile(path, f"is owned by uid {st.st_uid}, not by you (uid {os.getuid()})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        with contextlib.suppress(OSError):  # a read-only file system: read it anyway
            os.fchmod(fd, 0o600)
    return st


def _open_nofollow(path: Path, flags: int, mode: int = 0o600) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(path, "is a symbolic link") from None
        raise


def read_private(path: Path, limit: int) -> tuple[str, os.stat_result]:
    """The text of ``path`` (UTF-8, at most ``limit`` bytes) and its stat, without
    following a symbolic link or blocking on a FIFO. Raises :class:`UnsafeFile` for what
    rittunnel would not have written there (a wider mode is fixed to 0600 instead),
    ``ValueError`` for text that is not UTF-8, ``OSError`` (``FileNotFoundError``...)."""
    fd = _open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = _check_file(fd, path)
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnsafeFile(path, f"is larger than {limit} bytes")
    return data.decode("utf-8"), st


def open_log(path: Path) -> int:
    """``path`` opened for appending (created 0600), never through a symbolic link; an
    existing log readable by others is made 0600. A one-line :class:`RittunnelError`
    when it cannot be used."""
    try:
        fd = _open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK)
    except UnsafeFile as exc:
        raise RittunnelError(f"{exc}; refusing to write the log through it: remove it") from None
    except OSError as exc:
        raise RittunnelError(f"cannot open the log {path}: {exc.strerror or exc}") from None
    try:
        _check_file(fd, path)
        os.set_blocking(fd, True)
    except (UnsafeFile, OSError) as exc:
        os.close(fd)
        raise RittunnelError(f"{exc}; refusing to write the log there: remove it") from None
    return fd


def write_private(path: Path, data: str, *, exclusive: bool = False, durable: bool = True) -> bool:
    """Write ``data`` to ``path`` atomically with mode 0600 (fsynced unless not
    ``durable``). A symbolic link at ``path`` is replaced, never written through.

    With ``exclusive`` the file is only created if it does not exist yet (returns False
    when it does, a symbolic link included), which makes it usable as a claim between
    processes."""
    import tempfile  # lazy: it pulls in shutil, random and the compressors

    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp makes it 0600
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
            tmp = ""
        return True
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
