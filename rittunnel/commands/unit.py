"""``rittunnel unit NAME…``: print a systemd user unit that serves these profiles.

Decisions (pure functions below; :func:`unit` loads the profiles, looks at the
credentials the service will have, and prints):

* **ExecStart** runs this very rittunnel by absolute path (``common.self_argv``: the console
  script it was started as, else ``PYTHON -m rittunnel``) as ``up NAME…`` in the
  foreground, so that it is the unit's main process and tells systemd itself when every
  port serves (``Type=notify``, ``NotifyAccess=main``; :mod:`rittunnel.tunnel.notify`).
  A profile given by name stays a name when the service finds the same file by it (its
  profile directories are carried, below); else, and for a profile given as a path, its
  absolute path.
* **Stopping**: ``KillMode=mixed`` sends SIGTERM to rittunnel alone (it has no children
  to share it with), which stops its proxies and exits 0; ``TimeoutStopSec`` leaves time
  for a connect in flight (``RITTUNNEL_API_TIMEOUT``) and the stop calls
  (``settings.stop_timeout``), with room to spare, before systemd kills it.
  ``TimeoutStartSec`` covers the start-up retries the same way.
* **Restart=on-failure**, ``RestartSec=30``: a device offline at start-up, or a tunnel
  that fails, is tried again every 30 s (never 5 starts in 10 s, so systemd's start limit
  never gives up on it); a clean stop (exit 0) is not restarted.
* **No secret in the unit**: credentials come from ``~/.remoteit/credentials`` or from
  ``EnvironmentFile=-CONFIG/rittunnel/env`` (optional, ``NAME=VALUE`` lines, mode 0600).
  The non-secret settings this shell has (:data:`CARRIED`: profile directories, API
  choice and URLs, timeouts, XDG directories, ``R3_PROFILE``) become ``Environment=``
  lines, so the service behaves as ``rittunnel up`` does here; an API URL with a user
  name or password in it is left out (it is a secret) and said on stderr. Credentials
  this shell has in its environment and the service would not see are named on stderr
  (names only, never values), with how to give them to it.
* **The unit's name** (:func:`rittunnel.systemd.unit_name`): ``rittunnel-`` and the
  profile names joined by ``-``, each escaped as ``systemd-escape`` escapes a unit name
  (a profile name may have any Unicode letter: ``über`` → ``rittunnel-\\xc3\\xbcber``,
  which systemd accepts where it refuses ``rittunnel-über``), except ``-``, which is
  valid in a unit name and keeps ``rittunnel-ssh-pi`` as it is. The commands in the
  unit's comment quote it for the shell (its ``\\``).
* **Quoting** (:mod:`rittunnel.systemd`: ``exec_line``, ``env_word``): a word with
  spaces, quotes, backslashes or control characters is double-quoted with C escapes;
  ``%`` is doubled everywhere (systemd specifiers), ``$`` in ``ExecStart``'s arguments
  too (variable expansion; none happens in its program path, checked with
  ``systemd-analyze verify``).
"""

from __future__ import annotations

import math
import os
import shlex
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CredentialsError, ProfileError, RittunnelError
from ..files import config_dir
from ..profiles import Profile, find_profile, looks_like_path
from ..remoteit.credentials import (
    ENV_DEVELOPER_KEY,
    ENV_KEY_ID,
    ENV_PASSWORD,
    ENV_R3_DEVELOPER_KEY,
    ENV_R3_PROFILE,
    ENV_SECRET,
    ENV_TOKEN,
    ENV_USERNAME,
    credentials_file,
    credentials_from_env,
)
from ..report import Reporter
from ..settings import (
    ENV_API,
    ENV_API_TIMEOUT,
    ENV_API_URL,
    ENV_GRAPHQL_URL,
    ENV_PROFILES,
    ENV_RELAY_THREADS,
    ENV_SERVICES_TTL,
    ENV_START_TIMEOUT,
    ENV_STOP_TIMEOUT,
    Settings,
)
from ..systemd import (
    env_word,
    escape_specifiers,
    exec_line,
    parse_env_file,
    path_setting,
    unit_name,
)
from ..text import printable, url_userinfo
from .common import load_profiles, self_argv
from .options import UnitOptions

#: the environment variables that hold credentials (never written into a unit)
CREDENTIAL_VARS = (
    ENV_DEVELOPER_KEY,
    ENV_USERNAME,
    ENV_PASSWORD,
    ENV_TOKEN,
    ENV_KEY_ID,
    ENV_SECRET,
    ENV_R3_DEVELOPER_KEY,
)
#: variables holding directories, made absolute when carried
PATH_VARS = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
#: variables carried from this shell into the unit (``Environment=``): none is a secret
CARRIED = (
    ENV_PROFILES,
    *PATH_VARS,
    ENV_API,
    ENV_API_URL,
    ENV_GRAPHQL_URL,
    ENV_API_TIMEOUT,
    ENV_START_TIMEOUT,
    ENV_STOP_TIMEOUT,
    ENV_SERVICES_TTL,
    ENV_RELAY_THREADS,
    ENV_R3_PROFILE,
)
#: variables that are URLs: carried only without a user name or password in them
URL_VARS = (ENV_API_URL, ENV_GRAPHQL_URL)
#: seconds between a failed run and the next (see the module docstring)
RESTART_SEC = 30
#: seconds of slack on top of rittunnel's own start and stop timeouts
SLACK = 15
#: systemd's default start timeout, never undercut
DEFAULT_START_SEC = 90


@dataclass(frozen=True)
class Unit:
    """What a unit says; :meth:`text` writes it."""

    names: list[str]
    #: the ``rittunnel unit …`` command that writes this unit, for its header
    command: str
    #: the command line: this rittunnel, ``up``, a name or path per profile
    argv: list[str]
    env_file: str
    environment: dict[str, str] = field(default_factory=dict)
    #: ``TimeoutStartSec``, ``TimeoutStopSec`` (:func:`timeouts`; these: the defaults')
    start_sec: int = 100
    stop_sec: int = 55

    @property
    def service(self) -> str:
        """The unit's name without ``.service``: ``rittunnel-ssh-pi``."""
        return unit_name(self.names)

    def text(self) -> str:
        svc, command = shlex.quote(self.service), printable(self.command)
        names = printable(" ".join(self.names))
        what = "tunnel" if len(self.names) == 1 else "tunnels"
        environment = [
            f"Environment={env_word(name, value)}" for name, value in self.environment.items()
        ]
        lines = [
            f"# A systemd user unit for rittunnel {names}: `{command}` wrote it.",
            "# Install it, start it now and at every login, and follow its log:",
            f"#   {command} > ~/.config/systemd/user/{shlex.quote(self.service + '.service')}",
            "#   systemctl --user daemon-reload",
            f"#   systemctl --user enable --now {svc}",
            f"#   journalctl --user -u {svc} -f",
            "# Without a login session too: loginctl enable-linger",
            "# No secret belongs here: credentials come from ~/.remoteit/credentials, or from",
            "# NAME=VALUE lines in the EnvironmentFile below (mode 0600).",
            "",
            "[Unit]",
            f"Description={escape_specifiers(f'rittunnel: remote.it {what} {names}')}",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=notify",
            "NotifyAccess=main",
            f"ExecStart={exec_line(self.argv)}",
            f"EnvironmentFile=-{path_setting(self.env_file)}",
            *environment,
            "SyslogIdentifier=rittunnel",
            "Restart=on-failure",
            f"RestartSec={RESTART_SEC}",
            f"TimeoutStartSec={self.start_sec}",
            "# SIGTERM to rittunnel alone; it stops its proxies and exits",
            "KillMode=mixed",
            f"TimeoutStopSec={self.stop_sec}",
            "",
            "[Install]",
            "WantedBy=default.target",
        ]
        return "\n".join(lines) + "\n"


# -- pure decisions --------------------------------------------------------------------


def carried_env(env: Mapping[str, str], cwd: str) -> tuple[dict[str, str], list[str]]:
    """The :data:`CARRIED` variables ``env`` sets, made absolute where they are
    directories (against ``cwd``), and the names of those left out because they hold a
    secret (an API URL with a user name or password)."""
    carried: dict[str, str] = {}
    secret: list[str] = []
    for name in CARRIED:
        value = env.get(name, "").strip()
        if not value:
            continue
        if name in URL_VARS and url_userinfo(value):
            secret.append(name)
        elif name == ENV_PROFILES:
            dirs = [_absolute(d, env, cwd) for d in value.split(os.pathsep) if d]
            carried[name] = os.pathsep.join(dirs)
        elif name in PATH_VARS:
            carried[name] = _absolute(value, env, cwd)
        else:
            carried[name] = value
    return carried, secret


def _absolute(path: str, env: Mapping[str, str], cwd: str) -> str:
    if path == "~" or path.startswith("~/"):
        path = env.get("HOME", "~") + path[1:]
    return os.path.normpath(os.path.join(cwd, path))


def timeouts(settings: Settings) -> tuple[int, int]:
    """``TimeoutStartSec`` and ``TimeoutStopSec``: rittunnel's own limits plus slack.

    Start: orphans' stop calls, a login, a name lookup and a connect (each at most the
    API timeout), retried until the start timeout. Stop: a connect in flight (waited for,
    at most the API timeout) and then the stop calls (``stop_timeout`` in all)."""
    api, stop = settings.api_timeout, settings.stop_timeout
    start_sec = math.ceil(settings.start_timeout + 2 * api + stop) + SLACK
    return max(DEFAULT_START_SEC, start_sec), math.ceil(api + stop) + SLACK


def env_file_path(env: Mapping[str, str]) -> Path:
    """Where the unit's optional environment file is: ``$XDG_CONFIG_HOME/rittunnel/env``
    (default ``~/.config/rittunnel/env``)."""
    home = env.get("HOME") or str(Path.home())
    return Path(_absolute(str(config_dir(env)), env, home)) / "env"


# -- the edges ----------------------------------------------------------------------------


def profile_word(given: str, profile: Profile, service_env: Mapping[str, str]) -> str:
    """What ``up`` is given for ``profile`` in the unit: the name it was given when the
    service's environment finds the same file by it, else the file's absolute path."""
    path = Path(profile.source).resolve()
    if not looks_like_path(given):
        try:
            if find_profile(given, service_env).resolve() == path:
                return given
        except ProfileError:
            pass
    return str(path)


def read_env_file(path: Path, warn: Callable[[str], None]) -> dict[str, str]:
    """The variables ``path`` sets (empty when it does not exist); warns when others may
    read it."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        warn(f"cannot read {path}: {exc.strerror or exc}")
        return {}
    if mode & 0o077:
        warn(f"{path} can be read by other users (mode {mode:04o}); run `chmod 600 {path}`")
    return parse_env_file(text)


def check_credentials(
    env: Mapping[str, str],
    service_env: Mapping[str, str],
    env_file: Path,
    sections: Iterable[str | None],
    reporter: Reporter,
) -> None:
    """Say on stderr (variable names only, never values) when the service would lack
    credentials this shell has, or have none at all."""
    service_has = {n for n in CREDENTIAL_VARS if service_env.get(n, "").strip()}
    shell_only = [n for n in CREDENTIAL_VARS if env.get(n, "").strip() and n not in service_has]
    how = (
        f"put them in {env_file} (create it with `install -D -m 600 /dev/null {env_file}`, "
        "then one NAME=VALUE a line), or use an access key in ~/.remoteit/credentials"
    )
    said: set[str] = set()

    def warn_once(text: str) -> None:
        if text not in said:
            said.add(text)
            reporter.warn(text)

    for section in dict.fromkeys(sections):
        try:
            credentials_from_env(service_env, warn_once, section)
        except CredentialsError as exc:
            if shell_only:
                warn_once(
                    f"the service will not see {', '.join(shell_only)} (set in this shell "
                    f"only), and has no credentials without them: {how}"
                )
            elif credentials_file(service_env).exists():
                warn_once(f"the service cannot use its credentials: {exc}")
            else:
                warn_once(
                    f"the service has no credentials: there is no {env_file} and no "
                    f"{credentials_file(service_env)}; put an access key in the latter (see "
                    "docs/reference.md#credentials), or NAME=VALUE lines in the former "
                    "(mode 0600)"
                )
            continue
        if shell_only:
            warn_once(
                f"the service will not see {', '.join(shell_only)} (set in this shell only) "
                f"and uses its other credentials; to give it these, put them in {env_file} "
                "(mode 0600)"
            )


def unit(args: UnitOptions, settings: Settings, reporter: Reporter) -> int:
    """Print the unit for ``args.names`` (each must load)."""
    profiles = load_profiles(list(args.names), settings)
    env, cwd = settings.env, os.getcwd()
    carried, secret = carried_env(env, cwd)
    env_file = env_file_path(env)
    path_setting(str(env_file))  # a path the unit cannot carry: refused before all else
    for name in secret:
        reporter.warn(
            f"{name} has a user name or password in it: not written into the unit; "
            f"put {name}=… in {env_file} (mode 0600)"
        )
    home = {"HOME": env["HOME"]} if env.get("HOME") else {}
    file_values = read_env_file(env_file, reporter.warn)
    try:  # the service reads the env file too: its timeouts are the ones that count
        start_sec, stop_sec = timeouts(Settings.from_env({**env, **file_values}))
    except RittunnelError as exc:
        raise RittunnelError(f"{env_file}: {exc}") from None
    service_env = {**home, **carried, **file_values}
    check_credentials(env, service_env, env_file, (p.credentials for p in profiles), reporter)
    argv = [*self_argv(sys.argv[0], sys.executable, cwd), "up"]
    argv += [
        profile_word(given, p, service_env) for given, p in zip(args.names, profiles, strict=True)
    ]
    spec = Unit(
        names=[p.name for p in profiles],
        command=shlex.join(["rittunnel", "unit", *args.names]),
        argv=argv,
        env_file=str(env_file),
        environment=carried,
        start_sec=start_sec,
        stop_sec=stop_sec,
    )
    try:
        reporter.output(spec.text())
    except (OSError, ValueError) as exc:
        raise RittunnelError(f"cannot write the unit to stdout: {exc}") from None
    return 0
