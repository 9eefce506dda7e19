"""``rittunnel profiles``: list the profiles found, and whether each one loads.

A profile that does not load (too large, an alias bomb, a bad value) is one row saying
why; what a file holds is shown escaped, so it cannot drive the terminal."""

from __future__ import annotations

from ..errors import RittunnelError
from ..profiles import list_profiles
from ..profiles.loader import load_profile_file
from ..report import Reporter
from ..settings import Settings
from .tables import render_table


def profiles(settings: Settings, reporter: Reporter) -> int:
    """A table of the profiles found; one that does not load says why in its row."""
    paths = list_profiles(settings.env)
    if not paths:
        reporter.info("no profiles found; see docs/reference.md#profiles")
        return 0
    rows: list[tuple[str, ...]] = []
    for path in paths:
        try:
            p = load_profile_file(path)
            rows.append((p.name, str(p.local_port), p.service, p.mode, str(path)))
        except RittunnelError as exc:
            rows.append((path.stem, "-", f"invalid: {exc}", "-", str(path)))
    reporter.output("\n".join(render_table(("NAME", "PORT", "SERVICE", "MODE", "FILE"), rows)))
    return 0
