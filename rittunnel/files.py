"""Where rittunnel keeps files, and writing them safely (atomically, mode 0600)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def _xdg(env: Mapping[str, str], var: str, default: str) -> Path:
    base = env.get(var) or str(Path(env.get("HOME") or Path.home()) / default)
    return Path(base).expanduser() / "rittunnel"


def state_dir(env: Mapping[str, str]) -> Path:
    return _xdg(env, "XDG_STATE_HOME", ".local/state")


def cache_dir(env: Mapping[str, str]) -> Path:
    return _xdg(env, "XDG_CACHE_HOME", ".cache")


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_private(path: Path, data: str, *, exclusive: bool = False, durable: bool = True) -> bool:
    """Write ``data`` to ``path`` atomically with mode 0600 (fsynced unless not
    ``durable``).

    With ``exclusive`` the file is only created if it does not exist yet (returns False
    when it does), which makes it usable as a claim between processes."""
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
