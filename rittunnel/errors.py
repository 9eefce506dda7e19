"""The one exception tree of rittunnel.

Every error a user can cause or meet (a bad profile, a missing credential, an API that
says no or is down, a port that is taken) is a :class:`RittunnelError`. Its ``str()`` is a
complete one-line message meant for the user: it names the file, field or value at fault
and what to do. The CLI prints it and exits non-zero; nothing else is ever shown.

Messages never contain secrets: the code that raises them does not put passwords, tokens
or keys in, and the CLI redacts known secret values once more before printing.
"""

from __future__ import annotations


class RittunnelError(Exception):
    """Base of every error meant for the user. ``str(err)`` is the one-line message."""

    exit_code = 1


class UsageError(RittunnelError):
    """The command line does not make sense (exit 2, like argparse)."""

    exit_code = 2


class ProfileError(RittunnelError):
    """A profile cannot be found, read, parsed or validated."""


class NoSuchProfile(ProfileError):
    """No profile file is called ``name`` (``shown``: as messages show it) in the
    directories searched (``searched``). The command line may hold a typo: the CLI says
    what it may have meant (:meth:`hinted`)."""

    def __init__(self, name: str, shown: str, searched: str) -> None:
        self.name, self.shown, self.searched = name, shown, searched
        super().__init__(
            f"no profile {shown}: looked for {name}.yaml in {searched}; "
            "create one there or set RITTUNNEL_PROFILES"
        )

    def hinted(self, hint: str, *, or_command: bool) -> str:
        """The message with ``hint`` ("did you mean …?") first; ``or_command``: the word
        stood where a command goes (``rittunnel stauts``)."""
        what = "no command or profile" if or_command else "no profile"
        return f"{what} {self.shown}: {hint} (looked for {self.name}.yaml in {self.searched})"


class ServiceNameError(ProfileError):
    """A profile's service name matches no service in the account, or several."""


class CredentialsError(RittunnelError):
    """Credentials are missing or incomplete."""


class TwoFactorError(CredentialsError):
    """The account signs in with two factors: a password login cannot work for it."""


class ApiError(RittunnelError):
    """The remote.it API did not do what was asked.

    ``transient`` tells whether trying again later may succeed (an outage, a timeout, a
    gateway error page) or not (a wrong password, an unknown service).
    """

    transient = False


class ApiUnavailable(ApiError):
    """The API could not be reached or answered with something that is not the API:
    a timeout, a connection reset, an HTML error page, an HTTP 5xx, or throttling (HTTP
    429: ``retry_after`` then says how many seconds it asked us to wait, if it did)."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ApiRefused(ApiError):
    """The API said no (REST ``status: "false"``, GraphQL ``errors``); ``reason`` holds its
    own words. ``offline``: the reason says the device is offline, inactive or not
    responding (it may be rebooting), which is worth retrying."""

    def __init__(
        self, message: str, reason: str = "", *, transient: bool = False, offline: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.transient = transient or offline
        self.offline = offline


class AuthError(ApiRefused):
    """The API refused our credentials or token (log in again, or fix the credentials)."""


class ConnectionGone(ApiRefused):
    """A stop of a connection remote.it no longer has (it expired, was dropped or killed):
    the proxy is not open, so the stop is done (GraphQL ``disconnect: false``)."""


class ProtocolError(ApiError):
    """The API answered ``status: "true"`` but the body lacks what the documentation
    promises (no ``connectionid``, an unparsable ``proxy``). ``connection_id``: the
    connection the answer did name, if any — it exists at remote.it and must be stopped."""

    def __init__(self, message: str, *, connection_id: str | None = None) -> None:
        super().__init__(message)
        self.connection_id = connection_id


class PortInUseError(RittunnelError):
    """The local port from the profile is already taken by another process."""


class LocalResourceError(RittunnelError):
    """This machine is out of something a connection needs (file descriptors, memory):
    not the proxy's fault, so the proxy is kept."""


class LocalBindError(RittunnelError):
    """The local address from the profile cannot be bound (not this machine's, no rights)."""


class CommandNotRunnable(RittunnelError):
    """``rittunnel run``: the command could not be started (exit 127, like a shell)."""

    exit_code = 127
