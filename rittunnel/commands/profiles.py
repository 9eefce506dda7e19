"""``rittunnel profiles``: list the profiles found, and whether each one loads.

MODE is the profile's ``mode``, or ``reverse proxy`` for a web service's tunnel (see
:func:`shown_mode`). A profile that does not load (too large, an alias bomb, a bad
value) is one row saying why; what a file holds is shown escaped, so it cannot drive
the terminal."""

from __future__ import annotations

import io

from ..errors import RittunnelError
from ..profiles import Profile, list_profiles
from ..profiles.loader import load_profile_file
from ..remoteit.accounts import Accounts
from ..remoteit.names import ServiceCache, cached_service, is_web
from ..report import Reporter
from ..settings import Settings
from .tables import render_table

#: what the MODE column says of a tunnel whose proxy is remote.it's HTTPS reverse proxy
#: (public, whatever ``mode`` says), as the ready line and ``status`` do
REVERSE = "reverse proxy"


def shown_mode(profile: Profile, accounts: Accounts, cache: ServiceCache) -> str:
    """``profile``'s mode, or :data:`REVERSE` when it gets a reverse proxy: it asks for
    one, or asks for remote.it's pick and the cached service list (no API call) says
    the service is a web one."""
    if profile.proxy == "reverse":
        return REVERSE
    if profile.proxy == "auto":
        service = cached_service(accounts, profile, cache)
        if service is not None and is_web(service):
            return REVERSE
    return profile.mode


def profiles(settings: Settings, reporter: Reporter) -> int:
    """A table of the profiles found; one that does not load says why in its row."""
    paths = list_profiles(settings.env)
    if not paths:
        reporter.info("no profiles found; see docs/reference.md#profiles")
        return 0
    rows: list[tuple[str, ...]] = []
    # reading credentials only to find the cached list: its warnings are not this command's
    quiet = Reporter(quiet=True, out=io.StringIO(), err=io.StringIO())
    accounts, cache = Accounts(settings, quiet), ServiceCache.from_settings(settings)
    for path in paths:
        try:
            p = load_profile_file(path)
            mode = shown_mode(p, accounts, cache)
            rows.append((p.name, str(p.local_port), p.service, mode, str(path)))
        except RittunnelError as exc:
            rows.append((path.stem, "-", f"invalid: {exc}", "-", str(path)))
    reporter.output("\n".join(render_table(("NAME", "PORT", "SERVICE", "MODE", "FILE"), rows)))
    return 0
