"""Which API URLs may get the user's credentials: those the user's own configuration
names. A state file (which may be planted) naming another URL is no reason to send them
there; ``cleanup`` leaves such a file's proxies alone, and ``status`` says so.

Nothing here imports trio or httpx: ``status`` uses it and starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import RittunnelError
from ..profiles import list_profiles, load_profile_file
from ..remoteit.protocol import DEFAULT_API_URL
from ..settings import GRAPHQL_URL, Settings
from .state import normal_url

#: whether credentials may be sent to an API URL (see :class:`TrustedUrls`)
Trust = Callable[[str], bool]


@dataclass
class TrustedUrls:
    """``trusted(url)``: whether the user's own configuration names ``url``: remote.it's
    REST and GraphQL URLs, ``RITTUNNEL_API_URL``, ``RITTUNNEL_GRAPHQL_URL``, or the
    ``api_url`` of one of the user's profiles (read on the first URL not named otherwise;
    a profile that fails to load is skipped)."""

    settings: Settings
    _profiles: set[str] | None = field(default=None, init=False)

    def __call__(self, url: str) -> bool:
        wanted = normal_url(url)
        s = self.settings
        named = {normal_url(u) for u in (DEFAULT_API_URL, GRAPHQL_URL, s.graphql_url) if u}
        if s.api_url:
            named.add(normal_url(s.api_url))
        return wanted in named or wanted in self._profile_urls()

    def _profile_urls(self) -> set[str]:
        if self._profiles is None:
            self._profiles = set()
            try:
                paths = list_profiles(self.settings.env)
            except OSError:
                paths = []  # an unreadable profile directory names nothing
            for path in paths:
                try:
                    url = load_profile_file(path).api_url
                except RittunnelError:
                    continue
                if url:
                    self._profiles.add(normal_url(url))
        return self._profiles
