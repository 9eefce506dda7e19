"""Telling systemd how ``rittunnel up`` is doing: the ``sd_notify`` protocol.

A ``Type=notify`` service gets ``NOTIFY_SOCKET`` in its environment: an AF_UNIX datagram
socket, named by an absolute path or, with a leading ``@``, an abstract name. Each
message is one datagram of ``VAR=VALUE`` lines. ``rittunnel up`` sends two:

* ``READY=1`` with ``STATUS=NAME on ADDRESS; …`` once every tunnel's port serves (the
  session's ``on_ready``: each port accepts, and each proxy exists unless ``on_demand``);
  systemd then counts the service as started, so units ordered after it find the port
  open;
* ``STOPPING=1`` with ``STATUS=stopping (WHY)`` when teardown begins (a stop signal, or
  the last tunnel ending), before the proxies are stopped.

The messages are built by pure functions (:func:`ready_message`, :func:`stopping_message`,
:func:`notify_address`); :class:`Notifier` is the socket, at the edge: a non-blocking
send, whose failure is a debug line and never stops a tunnel. :class:`ServiceNotify`
glues them to a session: a :class:`~rittunnel.report.Reporter` sink collects where each
tunnel serves, and its ``ready``/``stopping`` are the session's callbacks.

``up -d`` does not notify (see :mod:`rittunnel.commands.detach`): under systemd, run
``rittunnel up`` in the foreground (``rittunnel unit`` writes such a unit).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence

from ..report import Record, Reporter
from ..text import printable, shown

ENV_NOTIFY_SOCKET = "NOTIFY_SOCKET"
#: the most bytes of a socket path (``sun_path`` is 108, with its terminating NUL)
MAX_ADDRESS = 107
#: the most characters of a ``STATUS=`` value (systemd shows it in one line)
MAX_STATUS = 1000


def notify_address(raw: str) -> str:
    """The address ``NOTIFY_SOCKET=raw`` names, as :meth:`socket.socket.sendto` takes it:
    an absolute path as is, ``@name`` as ``"\\0name"`` (Linux's abstract namespace).
    Raises :class:`ValueError` saying what it is not, in words that follow "is not"."""
    if raw.startswith("@") and len(raw) > 1:
        address = "\0" + raw[1:]
    elif raw.startswith("/"):
        address = raw
    else:
        raise ValueError("an absolute path or an @abstract socket name")
    if "\0" in address[1:] or len(os.fsencode(address)) > MAX_ADDRESS + (address[0] == "\0"):
        raise ValueError(f"a socket address (NUL in it, or longer than {MAX_ADDRESS} bytes)")
    return address


def status_line(serving: Iterable[tuple[str, Sequence[str]]]) -> str:
    """Where the tunnels serve, for ``STATUS=``: ``ssh-pi on 127.0.0.1:2222 and
    [::1]:2222; postgres on 127.0.0.1:5432``. One line, at most :data:`MAX_STATUS`
    characters (control characters escaped)."""
    parts = [f"{name} on {' and '.join(addresses)}" for name, addresses in serving]
    return printable("; ".join(parts), MAX_STATUS)


def message(**fields: str) -> str:
    """One ``sd_notify`` datagram: ``VAR=VALUE`` lines, each value on one line."""
    return "\n".join(f"{key}={printable(value, MAX_STATUS)}" for key, value in fields.items())


def ready_message(status: str) -> str:
    """Every port serves: ``READY=1`` and where (``status``, see :func:`status_line`)."""
    return message(READY="1", STATUS=status)


def stopping_message(why: str) -> str:
    """Teardown begins (``why``: ``SIGTERM``, ``the last tunnel ended``)."""
    return message(STOPPING="1", STATUS=f"stopping ({why}): stopping the proxies")


class Notifier:
    """Sends datagrams to systemd's notification socket. Never blocks, never raises: a
    send that fails (no listener, a full queue) is ``debug``-logged and dropped."""

    def __init__(self, address: str, debug: Callable[[str], None]) -> None:
        self.address = address
        self._debug = debug

    @classmethod
    def from_env(cls, env: Mapping[str, str], reporter: Reporter) -> Notifier | None:
        """The notifier ``NOTIFY_SOCKET`` asks for; None when it is unset or empty, or
        (with a one-line warning) when it names no socket this can send to."""
        raw = env.get(ENV_NOTIFY_SOCKET, "")
        if not raw:
            return None
        try:
            address = notify_address(raw)
        except ValueError as problem:
            reporter.warn(f"{ENV_NOTIFY_SOCKET}={shown(raw)} is not {problem}; not notifying")
            return None
        return cls(address, reporter.debug)

    def send(self, text: str) -> bool:
        """Send ``text`` as one datagram; whether it went."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto(text.encode(), self.address)
        except OSError as exc:
            where = "@" + self.address[1:] if self.address.startswith("\0") else self.address
            self._debug(f"cannot notify systemd at {where}: {exc.strerror or exc}")
            return False
        first = text.partition("\n")[0]
        self._debug(f"told systemd {first}")
        return True


class ServiceNotify:
    """A session's systemd notifications: :meth:`sink` (a reporter sink) notes where each
    tunnel serves from its ready event; :meth:`ready` and :meth:`stopping` are the
    session's ``on_ready`` and ``on_stopping``."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        #: tunnel name → the addresses its ready event named, in the order they came
        self.serving: dict[str, list[str]] = {}

    def sink(self, record: Record) -> None:
        if record.get("event") == "ready":
            addresses = record.get("addresses")
            if isinstance(addresses, list):
                self.serving[str(record.get("name"))] = [str(a) for a in addresses]

    def ready(self) -> None:
        self.notifier.send(ready_message(status_line(self.serving.items())))

    def stopping(self, why: str) -> None:
        self.notifier.send(stopping_message(why))
