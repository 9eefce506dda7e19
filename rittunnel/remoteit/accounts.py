"""API clients per account, and which API each one speaks.

An account is an API (REST or GraphQL) at a URL, plus the credentials it is used with:
the environment's, or one section of ``~/.remoteit/credentials`` (a profile's
``credentials:`` key). Each is read once, its client made on first use; password logins
share one token cache. This is the real :class:`~rittunnel.tunnel.upstream.ApiClients`.

Which API (:func:`choose_api`): ``RITTUNNEL_API``, else the profile's ``api:``, else
GraphQL for an access key without a developer key (REST refuses signed calls without
one), else REST (password and token logins have only REST). Where (:func:`api_url_for`,
:func:`graphql_url_for`): only hosts the user's settings name.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import CredentialsError, ProfileError
from ..profiles import Profile
from ..report import Reporter
from ..settings import DEFAULT_API_URL, GRAPHQL_URL, Api, Settings, graphql_beside, normal_url
from .client import ApiClient
from .credentials import Credentials, credentials_from_env, file_section
from .tokencache import TokenCache, cache_key


class Account(NamedTuple):
    """Where a tunnel's proxies live: what a state file records so that ``cleanup`` can
    stop them the same way."""

    url: str
    #: the credentials-file section ("": the environment's, or the default section)
    section: str
    api: Api = "rest"


def api_url_for(profile: Profile | None, settings: Settings) -> str:
    """The REST URL: ``RITTUNNEL_API_URL``, else the profile's ``api_url``, else remote.it's."""
    url = settings.api_url or (profile.api_url if profile else None) or DEFAULT_API_URL
    return url.rstrip("/")


def choose_api(profile: Profile | None, settings: Settings, creds: Credentials) -> Api:
    """The API for these credentials (see the module docstring); a choice that cannot
    work with them is an error saying what to change."""
    chosen = settings.api or (profile.api if profile else None)
    by_env = settings.api is not None
    where = "RITTUNNEL_API" if by_env else f"{profile.source}: api" if profile else ""
    if chosen == "graphql" and creds.access_key is None:
        raise CredentialsError(
            f"{where}: graphql needs an access key (R3_ACCESS_KEY_ID and R3_SECRET_ACCESS_KEY, "
            "or ~/.remoteit/credentials); see docs/reference.md#credentials"
        )
    if chosen == "rest" and creds.access_key is not None and not creds.developer_key:
        other = "RITTUNNEL_API=graphql" if by_env else "api: graphql"
        raise CredentialsError(
            f"{where}: rest with an access key needs a developer key too "
            f"(R3_DEVELOPER_API_KEY in the environment or the key file, or "
            f"REMOTEIT_DEVELOPER_KEY); or use {other}"
        )
    api: Api = chosen or (
        "graphql" if creds.access_key is not None and not creds.developer_key else "rest"
    )
    restricted = profile is not None and profile.mode == "restricted" and not profile.hostip
    if api == "graphql" and profile is not None and restricted:
        raise ProfileError(
            f"{profile.source}: mode: restricted without hostip needs the REST API (it "
            "uses the caller's IP) and this tunnel uses GraphQL; set hostip to your "
            "public IP, or give a developer key (R3_DEVELOPER_API_KEY) so REST is used"
        )
    return api


def url_setting(profile: Profile | None, settings: Settings, api: Api) -> str:
    """Where the user sets the URL :func:`api_url_for` or :func:`graphql_url_for` gives,
    for hints ("check your network or …"): the variable that set it, else the profile's
    ``api_url``, else the variable that would change remote.it's default."""
    if api == "graphql" and settings.graphql_url != GRAPHQL_URL:
        return "RITTUNNEL_GRAPHQL_URL"
    if settings.api_url:
        return "RITTUNNEL_API_URL"
    if profile is not None and profile.api_url:
        return f"api_url in {profile.source}"
    return "RITTUNNEL_GRAPHQL_URL" if api == "graphql" else "RITTUNNEL_API_URL"


def graphql_url_for(profile: Profile | None, settings: Settings) -> str:
    """``RITTUNNEL_GRAPHQL_URL``; else, when the REST API was pointed elsewhere
    (``RITTUNNEL_API_URL`` or the profile's ``api_url``), ``/graphql/v1`` on that same
    host, so nothing goes to a host the user did not name; else remote.it's."""
    if settings.graphql_url != GRAPHQL_URL:
        return settings.graphql_url
    rest = settings.api_url or (profile.api_url if profile else None)
    return graphql_beside(rest) if rest else GRAPHQL_URL


class Accounts:
    def __init__(self, settings: Settings, reporter: Reporter) -> None:
        self.settings = settings
        self.env = settings.env
        self.reporter = reporter
        self._tokens = TokenCache(settings.cache_dir / "tokens.json")
        self._credentials: dict[str, Credentials] = {}
        self.clients: dict[Account, ApiClient] = {}
        #: where the user sets each account's URL (see :func:`url_setting`)
        self._url_settings: dict[Account, list[str]] = {}
        #: the X-R3-Warning values said by any client (each once per command)
        self._warned: set[str] = set()

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

    def locate(self, profile: Profile) -> Account:
        """The profile's account; missing credentials, or an API they cannot use, are
        said now, before any I/O."""
        section = self.section(profile)
        return self._account(profile, section, self.credentials(section, profile))

    def default_account(self, section: str | None = None) -> Account:
        """The account used without a profile: the credentials of ``section``, else the
        environment's (``R3_PROFILE`` or the default section)."""
        chosen = file_section(self.env, section) or ""
        return self._account(None, chosen, self.credentials(chosen))

    def _account(self, profile: Profile | None, section: str, creds: Credentials) -> Account:
        api = choose_api(profile, self.settings, creds)
        if api == "graphql":
            account = Account(graphql_url_for(profile, self.settings), section, "graphql")
        else:
            account = Account(api_url_for(profile, self.settings), section, "rest")
        said = self._url_settings.setdefault(account, [])
        setting = url_setting(profile, self.settings, api)
        if setting not in said:
            said.append(setting)
        return account

    def url_setting(self, account: Account) -> str:
        """Where the user sets ``account``'s URL, for hints: every place a profile or
        variable gave it; for an account no profile located (a state file's, in
        ``cleanup``), the variable that names it, else every place it could be set."""
        said = self._url_settings.get(account)
        if said:
            return " or ".join(said)
        s = self.settings
        by_settings = graphql_url_for(None, s) if account.api == "graphql" else api_url_for(None, s)
        if normal_url(account.url) == normal_url(by_settings):  # the URL no profile changes
            return url_setting(None, s, account.api)
        return "RITTUNNEL_API_URL, RITTUNNEL_GRAPHQL_URL or a profile's api_url"

    def client(self, account: Account) -> ApiClient:
        if account not in self.clients:
            self.clients[account] = self._new_client(account)
        return self.clients[account]

    def _new_client(self, account: Account) -> ApiClient:
        creds = self.credentials(account.section)
        timeout = self.settings.api_timeout
        if account.api == "graphql":
            from .graphql import GraphQLClient

            return GraphQLClient(
                account.url,
                creds,
                timeout=timeout,
                reporter=self.reporter,
                url_setting=self.url_setting(account),
                warned=self._warned,
            )
        from .rest import RestClient

        key = cache_key(account.url, creds)
        cached = self._tokens.get(key) if creds.can_login and not creds.token else None
        if cached:
            self.reporter.add_secrets([cached])

        def remember(token: str, expires_at: float | None) -> None:
            self.reporter.add_secrets([token])
            self._tokens.put(key, token, expires_at)

        return RestClient(
            account.url,
            creds,
            timeout=timeout,
            token=cached,
            on_token=remember,
            reporter=self.reporter,
            url_setting=self.url_setting(account),
            warned=self._warned,
        )

    async def aclose(self) -> None:
        """Close every client; the next :meth:`client` makes a new one (a command may
        use these accounts again in a later ``trio.run``)."""
        clients, self.clients = self.clients, {}
        for client in clients.values():
            await client.aclose()  # shielded: runs even while cancelled
