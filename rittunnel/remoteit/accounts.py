"""API clients per account.

An account is an API base URL plus the credentials it is used with: the environment's, or
one section of ``~/.remoteit/credentials`` (a profile's ``credentials:`` key). Each is
read once, its client made on first use; password logins share one token cache. This is
the real :class:`~rittunnel.tunnel.upstream.ApiClients`.
"""

from __future__ import annotations

from ..errors import CredentialsError
from ..profiles import Profile
from ..report import Reporter
from ..settings import Settings
from .credentials import Credentials, credentials_from_env, file_section
from .protocol import DEFAULT_API_URL
from .rest import ApiClient
from .tokencache import TokenCache, cache_key


def api_url_for(profile: Profile | None, settings: Settings) -> str:
    """``RITTUNNEL_API_URL``, else the profile's ``api_url``, else remote.it's."""
    url = settings.api_url or (profile.api_url if profile else None) or DEFAULT_API_URL
    return url.rstrip("/")


class Accounts:
    def __init__(self, settings: Settings, reporter: Reporter) -> None:
        self.settings = settings
        self.env = settings.env
        self.reporter = reporter
        self._tokens = TokenCache(settings.cache_dir / "tokens.json")
        self._credentials: dict[str, Credentials] = {}
        self.clients: dict[tuple[str, str], ApiClient] = {}

    def section(self, profile: Profile | None) -> str:
        """The credentials-file section this profile's account uses ("": the default)."""
        return file_section(self.env, profile.credentials if profile else None) or ""

    def credentials(self, section: str, profile: Profile | None = None) -> Credentials:
        """The credentials of ``section`` (read once); a problem with a section that a
        profile asked for names the profile file."""
        if section not in self._credentials:
            try:
                creds = credentials_from_env(self.env, self.reporter.warn, section or None)
            except CredentialsError as exc:
                if profile is not None and profile.credentials:
                    raise CredentialsError(f"{profile.source}: credentials: {exc}") from None
                raise
            self.reporter.add_secrets(creds.secrets())
            self._credentials[section] = creds
        return self._credentials[section]

    def locate(self, profile: Profile) -> tuple[str, str]:
        section = self.section(profile)
        self.credentials(section, profile)  # missing credentials: say so now
        return api_url_for(profile, self.settings), section

    def default_account(self, section: str | None = None) -> tuple[str, str]:
        """The account used without a profile: ``RITTUNNEL_API_URL`` (or remote.it's)
        with the credentials of ``section``, else the environment's (``R3_PROFILE`` or
        the default section)."""
        chosen = file_section(self.env, section) or ""
        self.credentials(chosen)
        return api_url_for(None, self.settings), chosen

    def client(self, api_url: str, section: str) -> ApiClient:
        if (api_url, section) not in self.clients:
            creds = self.credentials(section)
            key = cache_key(api_url, creds)
            cached = self._tokens.get(key) if creds.can_login and not creds.token else None
            if cached:
                self.reporter.add_secrets([cached])

            def remember(token: str, expires_at: float | None) -> None:
                self.reporter.add_secrets([token])
                self._tokens.put(key, token, expires_at)

            self.clients[api_url, section] = ApiClient(
                api_url,
                creds,
                timeout=self.settings.api_timeout,
                token=cached,
                on_token=remember,
                reporter=self.reporter,
            )
        return self.clients[api_url, section]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()  # shielded: runs even while cancelled
