"""Which API URLs may get the user's credentials: those the user's own configuration
names. A state file (which may be planted) naming another URL is no reason to send them
there; ``cleanup`` leaves such a file's proxies alone, and ``status`` says so.

Nothing here imports trio or httpx: ``status`` uses it and starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import RittunnelError
from ..settings import GRAPHQL_URL, Settings, graphql_beside, normal_url

#: whether credentials may be sent to an API URL (see :class:`TrustedUrls`)
Trust = Callable[[str], bool]


def named_by(rest_url: str) -> set[str]:
    """The API URLs a REST URL the user named stands for: itself, and the GraphQL
    endpoint rittunnel uses on its host (:func:`~rittunnel.settings.graphql_beside`)."""
    return {normal_url(rest_url), normal_url(graphql_beside(rest_url))}


@dataclass
class TrustedUrls:
    """``trusted(url)``: whether the user's own configuration names ``url``: remote.it's
    REST (its host, and the older one earlier rittunnels used) and GraphQL URLs,
    ``RITTUNNEL_GRAPHQL_URL``, ``RITTUNNEL_API_URL`` or the
    ``api_url`` of one of the user's profiles (read on the first URL not named otherwise;
    a profile that fails to load is skipped), each of the last two with the GraphQL
    endpoint on its host. Profiles (and yaml) are loaded only when needed."""

    settings: Settings
    _profiles: set[str] | None = field(default=None, init=False)

    def __call__(self, url: str) -> bool:
        from ..remoteit.protocol import DEFAULT_API_URL, OLD_API_URL

        wanted = normal_url(url)
        s = self.settings
        remoteit = (DEFAULT_API_URL, OLD_API_URL, GRAPHQL_URL, s.graphql_url)
        named = {normal_url(u) for u in remoteit if u}
        if s.api_url:
            named |= named_by(s.api_url)
        return wanted in named or wanted in self._profile_urls()

    def _profile_urls(self) -> set[str]:
        if self._profiles is None:
            from ..profiles import list_profiles
            from ..profiles.loader import load_profile_file

            self._profiles = set()
            try:
                paths = list_profiles(self.settings.env)
            except (OSError, RuntimeError):  # unreadable, or `~nosuchuser` in the path
                paths = []
            for path in paths:
                try:
                    url = load_profile_file(path).api_url
                except (RittunnelError, OSError, RuntimeError):
                    continue
                if url:
                    self._profiles |= named_by(url)
        return self._profiles
