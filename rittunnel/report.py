"""What the user sees while tunnels run: one place that turns events into lines.

Human mode prints the ready line on stdout (like ``kubectl port-forward``) and notices
on stderr; JSON mode prints one object per line on stdout for scripts. Every line passes
through :func:`~rittunnel.text.redact` (a JSON record's values before it is encoded:
:func:`~rittunnel.text.redact_values`), so a secret can never be printed by accident.

On a terminal (and only there) a long wait shows a one-line status on stderr, redrawn in
place (:meth:`Reporter.status`). Any other line, on stdout or stderr, first erases it (the
two streams usually share the terminal: a ready line on stdout must not land after the
spinner's text) and then, while the wait goes on, draws it again below that line;
:meth:`Reporter.clear_status` ends the wait and leaves nothing of it on screen.

The words of a tunnel's life (its ready, renewed and stopped lines) are written here too
(:meth:`Reporter.ready`, :meth:`Reporter.renewed`, :meth:`Reporter.stopped`): the tunnel
says what happened, the reporter says it to the user.

Nothing the user's terminal does to text gets through: every human line passes through
:func:`~rittunnel.text.printable` (control characters escaped), so a service name or an API reason
carrying terminal escapes is shown, not obeyed. A stdout or stderr that is closed, full
or gone (``>&-``, ``>/dev/full``, a reader that exited) loses its lines, never the
tunnel: writing is best effort.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO, cast

from .quantities import format_duration
from .text import printable, redact, redact_values

#: an event as a JSON-ready mapping (``event``, ``time``, fields…, ``message``)
Record = dict[str, Any]


def _host_of(address: str) -> str:
    """The IP of a listening address: an IP, or ``IP:PORT`` / ``[IP]:PORT``."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    if address.count(":") == 1:
        return address.partition(":")[0]
    return address


def is_loopback(address: str) -> bool:
    """Whether a listening address (an IP, or ``IP:PORT`` / ``[IP]:PORT`` as a tunnel
    shows it) is only reachable from this machine."""
    host = _host_of(address)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Nowhere(io.TextIOBase):
    """Where lines go when the process has no stdout or stderr at all (``>&-``)."""

    def write(self, text: str) -> int:
        return len(text)

    def isatty(self) -> bool:
        return False


class Reporter:
    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        verbose: bool = False,
        secrets: Iterable[str] = (),
        out: TextIO | None = None,
        err: TextIO | None = None,
        timestamps: bool = False,
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self.secrets = list(secrets)
        # sys.stdout is None when the process started with its stdout closed (``>&-``)
        self.out: TextIO = out or sys.stdout or cast(TextIO, _Nowhere())
        self.err: TextIO = err or sys.stderr or cast(TextIO, _Nowhere())
        self.timestamps = timestamps
        #: extra receivers of every event record (``up -d`` forwards them to its parent)
        self.sinks: list[Callable[[Record], None]] = []
        #: whether the status line is on screen now
        self._status_shown = False
        #: the status line of the wait going on (None: none), drawn again after a line
        self._status_text: str | None = None

    @property
    def interactive(self) -> bool:
        """Whether a progress line may be drawn: stderr is a terminal, and the user
        asked for neither JSON nor quiet."""
        if self.json_mode or self.quiet:
            return False
        try:
            return self.err.isatty()
        except (ValueError, AttributeError):
            return False

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self.secrets.extend(s for s in secrets if s not in self.secrets)

    def _write(
        self, stream: TextIO, line: str, *, redacted: bool = False, stamped: bool = True
    ) -> None:
        if self._status_shown:
            self._erase_status()
        line = line if redacted else redact(line, self.secrets)
        if self.timestamps and stamped:
            line = time.strftime("%Y-%m-%d %H:%M:%S ") + line
        self._write_line(stream, line)
        if self._status_text is not None:
            self._draw_status()

    def _write_line(self, stream: TextIO, line: str) -> None:
        # best effort: a closed, full or broken stream (EPIPE, ENOSPC, EBADF, or
        # ValueError for a closed file) loses the line, and the tunnel keeps serving
        try:
            stream.write(printable(line) + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass

    def status(self, text: str) -> None:
        """Draw (or redraw) the progress line on a terminal's stderr; it stays (drawn
        again after any other line) until :meth:`clear_status`."""
        if not self.interactive:
            return
        self._status_text = text
        self._draw_status()

    def clear_status(self) -> None:
        """End the progress line: erase it, leaving the cursor at the start of its line."""
        self._status_text = None
        if self._status_shown:
            self._erase_status()

    def _status_width(self) -> int:
        """How many columns the status line may take: one less than the terminal's
        width (a line that filled it would wrap, and ``\r`` then erases only its last
        row), 79 when the width is unknown."""
        try:
            columns = os.get_terminal_size(self.err.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return 79
        return max(columns - 1, 1) if columns > 0 else 79

    def _draw_status(self) -> None:
        if self._status_text is None:
            return
        text = printable(redact(self._status_text, self.secrets), self._status_width())
        try:
            self.err.write("\r\x1b[K" + text)
            self.err.flush()
            self._status_shown = True
        except (OSError, ValueError):
            pass

    def _erase_status(self) -> None:
        self._status_shown = False
        try:
            self.err.write("\r\x1b[K")
            self.err.flush()
        except (OSError, ValueError):
            pass

    def _publish(self, kind: str, text: str, fields: dict[str, Any]) -> None:
        record: Record = {"event": kind, "time": round(time.time(), 3), **fields, "message": text}
        # redacted before encoding: JSON escapes a secret (`"`, `\`, `ä` as \u00e4)
        # past any search of the encoded line
        record = cast(Record, redact_values(record, self.secrets))
        line = json.dumps(record)
        for sink in self.sinks:
            sink(json.loads(line))
        if self.json_mode:  # not redacted again: that could cut an escape (\u0000);
            # no time stamp in front: the record is a JSON line and carries its "time"
            self._write(self.out, line, redacted=True, stamped=False)

    def event(self, kind: str, text: str, **fields: Any) -> None:
        """An event of a tunnel's life: ready, renewed, stopped, error, warning."""
        self._publish(kind, text, fields)
        if self.json_mode:
            return
        if kind == "ready":
            self._write(self.out, text)
        elif kind in ("error", "warning"):
            self._write(self.err, f"rittunnel: {kind}: {text}")
        elif not self.quiet:
            self._write(self.err, f"rittunnel: {text}")

    def output(self, text: str) -> None:
        """A command's result on stdout (a table, a JSON document, a config file), as
        given: whoever made it escaped what it quotes (a table's cells, JSON's strings),
        and it may span lines. Secrets are still redacted, and a progress line is erased
        first (and drawn again after). Unlike a notice, a result that cannot be written
        raises (``OSError``, ``ValueError``): a result cut short must not pass for a
        whole one."""
        self._result(redact(text, self.secrets))

    def output_json(self, value: object) -> None:
        """A command's result as a JSON document on stdout (``--json``), every string in
        it redacted *before* encoding (an encoded secret no longer reads as itself);
        raises as :meth:`output` does."""
        self._result(json.dumps(redact_values(value, self.secrets), indent=1))

    def _result(self, text: str) -> None:
        if self._status_shown:
            self._erase_status()
        self.out.write(text + ("" if text.endswith("\n") else "\n"))
        self.out.flush()
        if self._status_text is not None:
            self._draw_status()

    def info(self, text: str) -> None:
        if not self.quiet and not self.json_mode:
            self._write(self.err, f"rittunnel: {text}")

    def debug(self, text: str) -> None:
        if self.verbose and not self.json_mode:
            self._write(self.err, f"rittunnel: {text}")

    def warn(self, text: str) -> None:
        self.event("warning", text)

    def error(self, text: str) -> None:
        """A fatal error: always one line on stderr (and an event in JSON mode)."""
        self._publish("error", text, {})
        self._write(self.err, f"rittunnel: error: {text}")

    # -- a tunnel's life ------------------------------------------------------------------

    def ready(
        self,
        name: str,
        addresses: list[str],
        local_port: int,
        mode: str,
        *,
        proxy: str | None = None,
        reverse: bool = False,
        connection_id: str | None = None,
        expires_in: float | None = None,
        expires_at: float | None = None,
    ) -> None:
        """The ready line: where the tunnel listens and the proxy behind it (``proxy``
        None: made when the first client connects; ``reverse``: a reverse proxy's URL,
        which the local port redirects to)."""
        where = " and ".join(addresses)
        fields: dict[str, Any] = {
            "name": name,
            "local_port": local_port,
            "addresses": addresses,
            "mode": mode,
            "pid": os.getpid(),
            "upstream": proxy,
        }
        if proxy is None:
            text = f"{name} ready on {where} (proxy made when the first client connects)"
            self.event("ready", text, **fields)
            self.exposed(name, addresses, local_port)
            return
        fields.update(connection_id=connection_id, expires_in=expires_in, expires_at=expires_at)
        life = f", proxy expires in {format_duration(expires_in)}" if expires_in is not None else ""
        if reverse:
            text = (
                f"{name} ready on {where} → {proxy} (reverse proxy, public URL{life}); "
                f"http://localhost:{local_port}/ redirects there"
            )
        else:
            text = f"{name} ready on {where} → {proxy} ({mode}{life})"
        self.event("ready", text, **fields)
        self.exposed(name, addresses, local_port)
        if mode == "public" and not reverse:
            self.warn(
                f"{name}: mode public: anyone who learns {proxy} can connect to the "
                "service until the proxy expires"
            )

    def exposed(self, name: str, addresses: Iterable[str], port: int) -> None:
        """Warn when a tunnel listens on an address other machines can reach (``bind:
        0.0.0.0``, ``::`` or a LAN address): anyone reaching it uses the tunnel.
        ``addresses``: IPs, or ``IP:PORT`` as the ready line shows them. Says nothing
        when every address is a loopback one."""
        hosts = [_host_of(a) for a in addresses if not is_loopback(a)]
        if hosts:
            self.warn(
                f"{name}: listening on {' and '.join(hosts)}: anyone who can reach this "
                f"machine on port {port} can use the tunnel"
            )

    def renewed(
        self,
        name: str,
        mode: str,
        proxy: str,
        connection_id: str,
        expires_in: float | None,
        expires_at: float | None,
    ) -> None:
        """A tunnel got a new proxy, any after its first: a renewal ahead of expiry, a
        ``warm`` replacement made before an idle proxy is dropped, or one made after the
        old proxy expired, failed or was dropped."""
        life = f", expires in {format_duration(expires_in)}" if expires_in is not None else ""
        self.event(
            "renewed",
            f"{name}: new proxy {proxy} ({mode}{life})",
            name=name,
            upstream=proxy,
            connection_id=connection_id,
            expires_in=expires_in,
            expires_at=expires_at,
        )

    def stopped(self, name: str) -> None:
        """A tunnel that was ready has stopped."""
        self.event("stopped", f"{name}: stopped", name=name)
