"""What the user sees while tunnels run: one place that turns events into lines.

Human mode prints the ready line on stdout (like ``kubectl port-forward``) and notices
on stderr; JSON mode prints one object per line on stdout for scripts. Every line passes
through :func:`redact`, so a secret can never be printed by accident.

On a terminal (and only there) a long wait shows a one-line status on stderr, redrawn in
place (:meth:`Reporter.status`); any other line written to stderr first clears it.

The words of a tunnel's life (its ready, renewed and stopped lines) are written here too
(:meth:`Reporter.ready`, :meth:`Reporter.renewed`, :meth:`Reporter.stopped`): the tunnel
says what happened, the reporter says it to the user.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from .units import format_duration

#: an event as a JSON-ready mapping (``event``, ``time``, fields…, ``message``)
Record = dict[str, Any]


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


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
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.timestamps = timestamps
        #: extra receivers of every event record (``up -d`` forwards them to its parent)
        self.sinks: list[Callable[[Record], None]] = []
        self._status_shown = False

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

    def _write(self, stream: TextIO, line: str) -> None:
        if self._status_shown and stream is self.err:
            self.clear_status()
        if self.timestamps:
            line = time.strftime("%Y-%m-%d %H:%M:%S ") + line
        try:
            stream.write(redact(line, self.secrets) + "\n")
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def status(self, text: str) -> None:
        """Draw (or redraw) the progress line on a terminal's stderr."""
        if not self.interactive:
            return
        width = 79
        try:
            self.err.write("\r\x1b[K" + redact(text, self.secrets)[:width])
            self.err.flush()
            self._status_shown = True
        except (BrokenPipeError, ValueError):
            pass

    def clear_status(self) -> None:
        if self._status_shown:
            self._status_shown = False
            try:
                self.err.write("\r\x1b[K")
                self.err.flush()
            except (BrokenPipeError, ValueError):
                pass

    def _publish(self, kind: str, text: str, fields: dict[str, Any]) -> None:
        record: Record = {"event": kind, "time": round(time.time(), 3), **fields, "message": text}
        line = redact(json.dumps(record), self.secrets)
        for sink in self.sinks:
            sink(json.loads(line))
        if self.json_mode:
            self._write(self.out, line)

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
        if mode == "public" and not reverse:
            self.warn(
                f"{name}: mode public: anyone who learns {proxy} can connect to the "
                "service until the proxy expires"
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
        """A tunnel got a new proxy (the old one expired or failed)."""
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
