"""remote.it's access-key file (``~/.remoteit/credentials``) read as remote.it's own tools
read it (see ``docs/remoteit-api.md``, "Credentials file forms"):

* section names match without case (``[default]`` is ``[DEFAULT]``, ``[Work]`` is
  ``work``); keys before any section header belong to the default section;
* a section never inherits keys from ``[DEFAULT]`` (Python's configparser would: a
  ``[work]`` without its secret would sign with the default account's);
* a value in matching single or double quotes is unquoted (the docs ``source`` the file
  from bash), ``export KEY=value`` is ``KEY=value``; ``#`` and ``;`` start comment lines;
  a UTF-8 byte-order mark is skipped;
* the file must be a regular file of at most :data:`MAX_SIZE` bytes of UTF-8: a FIFO, a
  device, a directory or a huge file is a one-line error at once (opened without
  blocking, checked with ``fstat`` before a byte is read).

Pure but for :func:`read_key_file`; nothing here ever shows a value (they are secrets).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CredentialsError

#: the largest key file read (a real one is a few hundred bytes per section)
MAX_SIZE = 256 * 1024
#: the section used when none is asked for, and the one keys before any header go to
DEFAULT = "DEFAULT"


@dataclass
class KeyFile:
    """The sections of a key file: lower-cased name -> its keys (case kept)."""

    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    #: each section's name as first written (for messages), by lower-cased name
    names: dict[str, str] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, str] | None:
        """The keys of section ``name`` (matched without case), or None."""
        return self.sections.get(name.lower())

    def listed(self) -> str:
        """The section names, as written, for a message."""
        return ", ".join(self.names.values()) or "no sections"

    def _open(self, name: str) -> dict[str, str]:
        key = name.lower()
        self.names.setdefault(key, name)
        return self.sections.setdefault(key, {})


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_key_file(text: str, source: str) -> KeyFile:
    """The sections of a key file's ``text``; a line that is neither a comment, a
    ``[section]`` nor ``KEY = VALUE`` is a :class:`CredentialsError` naming ``source``
    and the line number (never the line: it may hold a secret)."""
    found = KeyFile()
    current: dict[str, str] | None = None
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            name = line[1:].partition("]")[0].strip() if line.endswith("]") else ""
            if not name:
                raise CredentialsError(f"{source}: line {number} is not a valid [section]")
            current = found._open(name)
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        sep = "=" if "=" in line else ":"
        key, has_sep, value = line.partition(sep)
        key = key.strip()
        if not has_sep or not key or any(c.isspace() for c in key):
            raise CredentialsError(
                f"{source}: line {number} is not a [section] or KEY = VALUE line"
            )
        if current is None:  # keys before any header: the default section
            current = found._open(DEFAULT)
        current[key] = _unquote(value.strip())
    return found


def read_key_file(path: Path) -> tuple[str, int] | None:
    """The text of the key file at ``path`` and its mode; None when there is none.

    Opened without blocking (a FIFO answers at once) and checked before reading: what is
    not a regular file of at most :data:`MAX_SIZE` bytes, or not UTF-8, is a one-line
    :class:`CredentialsError` naming the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO's odd cousins
            raise CredentialsError(f"{path}: is not a regular file") from None
        raise CredentialsError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CredentialsError(f"{path}: is not a regular file ({_kind(st.st_mode)})")
        if st.st_size > MAX_SIZE:
            raise CredentialsError(
                f"{path}: is {st.st_size} bytes; a credentials file is at most {MAX_SIZE}"
            )
        data = _read_at_most(fd, MAX_SIZE + 1)
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SIZE:  # it grew while we read
        raise CredentialsError(f"{path}: is larger than {MAX_SIZE} bytes")
    try:
        return data.decode("utf-8"), st.st_mode
    except UnicodeDecodeError as exc:
        raise CredentialsError(
            f"{path}: is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"
