"""What the user sees while tunnels run: one place that turns events into lines.

Human mode prints the ready line on stdout (like ``kubectl port-forward``) and notices
on stderr; JSON mode prints one object per line on stdout for scripts. Every line passes
through :func:`redact`, so a secret can never be printed by accident.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO


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
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self.secrets = list(secrets)
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self.secrets.extend(s for s in secrets if s not in self.secrets)

    def _write(self, stream: TextIO, line: str) -> None:
        try:
            stream.write(redact(line, self.secrets) + "\n")
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def event(self, kind: str, text: str, **fields: Any) -> None:
        """An event of a tunnel's life: ready, renewed, stopped, error, warning."""
        if self.json_mode:
            record = {"event": kind, "time": round(time.time(), 3), **fields, "message": text}
            self._write(self.out, json.dumps(record, sort_keys=False))
        elif kind == "ready":
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
        if self.json_mode:
            self.event("error", text)
        self._write(self.err, f"rittunnel: error: {text}")
