"""One proxy per service on this machine: ``stdio`` and ``run`` use a running tunnel.

remote.it takes seconds to open a proxy, and a second connect for a service may replace
the first (cutting its sessions). So when a tunnel of the same service and account is
already running on this machine (``rittunnel up``, ``up -d``; not a ``run``'s own),
``rittunnel stdio`` and ``rittunnel run`` connect to its local port instead: no API call,
no state file of their own, and the tunnel counts their connections like any other.

The rule (:func:`candidates`, :func:`find_running`): a state file that

* is a tunnel's own (not ``NAME.stdio-PID`` nor ``NAME.orphan-PID``), ``ready``, not
  ``released``, held by a live process (same pid and start time), with a local port and
  a first address that is an IP with that port;
* is ``shareable``: not the tunnel of a ``run``, which is torn down when its command
  exits (and would cut whoever borrowed it);
* records the same account: API, URL (compared as
  :func:`~rittunnel.settings.normal_url` does) and credentials section;
* records the same service: a service ID compares with the file's ID ignoring case, a
  service name equals the name the file's profile gave (no lookup: this runs without a
  network call, and without a profile at all when given a service alone; the commands
  resolve a name that matched nothing and look again by its ID);
* for ``stdio`` (``port_proxy_only``), whose current proxy is not a reverse proxy: a
  port that answers with HTTP redirects is no use to ssh;
* and that is verified, because a state file may be stale or planted: its pid is a
  rittunnel process of this user that listens on that IP (or, for a loopback IP, on
  every address) and TCP port, and no other state file of that live process names the
  same port (a copy claiming another service or account: neither is used, and the
  store's :attr:`~.store.StateStore.problems` says so).

Of several, the one named ``prefer`` (the caller's profile), else the first by name.
``run`` adds a port rule (:func:`fit_for_run`). Whoever connects to the port gets what
any local client gets: the tunnel's proxy, made on demand if it has none at the moment.

Nothing here imports trio or httpx: ``stdio`` through a running tunnel starts in tens of
milliseconds (:func:`open_running`, :func:`relay_stdio`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import RittunnelError
from ..profiles import is_service_id
from ..settings import normal_url
from .procs import WILDCARD, holds, serves
from .state import TunnelState, account_of
from .store import StateStore

if TYPE_CHECKING:
    from ..remoteit.accounts import Account

#: seconds to wait for a running tunnel's port to take a connection
CONNECT_TIMEOUT = 3.0
#: bytes read at once from stdin or the tunnel
BUFFER = 256 * 1024
#: the host a client uses for a tunnel listening on every address (``0.0.0.0``:
#: ``127.0.0.1``, ``::``: ``::1``), the inverse of the state module's wildcards
_ANY = {v: k for k, v in WILDCARD.items()}


@dataclass(frozen=True)
class Running:
    """A running tunnel that can be used: where to connect, and whose it is."""

    name: str
    pid: int
    host: str
    port: int
    state: TunnelState


def client_end(address: str) -> tuple[str, str] | None:
    """Where a local client connects for a listening ``address`` (``127.0.0.1:2222``,
    ``[::1]:2222``): the IP, with ``0.0.0.0`` as ``127.0.0.1`` and ``::`` as ``::1``, and
    the port as written (digits); None when it is not an IP with a port."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return _ANY.get(host, host), port


def same_account(state: TunnelState, account: Account) -> bool:
    """Whether ``state``'s proxies belong to ``account`` (API, URL, credentials section)."""
    theirs = account_of(state)
    return (
        theirs.api == account.api
        and theirs.section == account.section
        and normal_url(theirs.url) == normal_url(account.url)
    )


def same_service(state: TunnelState, service: str) -> bool:
    """Whether ``state`` runs ``service``: an ID ignoring case, or the profile's name."""
    if is_service_id(service):
        return state.service.lower() == service.lower()
    return bool(state.service_name) and state.service_name == service


def _fits(state: TunnelState, account: Account, service: str, port_proxy_only: bool) -> str | None:
    """The host a client connects to for ``state`` (its first address) when ``state``
    passes the rule's checks that need only the file (see the module docstring); else
    None."""
    end = client_end(state.addresses[0]) if state.addresses else None
    fits = (
        ".stdio-" not in state.name
        and ".orphan-" not in state.name
        and state.ready
        and not state.released
        and state.local_port > 0
        and state.shareable
        and end is not None
        and end[1] == str(state.local_port)
        and not (port_proxy_only and state.reverse)
        and same_account(state, account)
        and same_service(state, service)
    )
    return end[0] if fits and end is not None else None


def verified(state: TunnelState, host: str) -> bool:
    """Whether a live rittunnel process of this user holds ``state`` and listens on
    ``host`` (its address as a client's host) and its port (a stale or planted file does
    not pass): :func:`~.state.serves`, which looks at that process once."""
    return serves(state, host)


def claimed_twice(states: list[TunnelState]) -> dict[tuple[int, int], list[str]]:
    """The (pid, port) pairs that more than one of ``states`` claims for a live process,
    each with the names claiming it. A process serves each of its ports for one tunnel:
    a second file naming it is a copy (maybe planted to send a client of another service
    there), and which of them is true cannot be told."""
    by_port: dict[tuple[int, int], list[TunnelState]] = {}
    for state in states:
        if not state.released and state.local_port > 0:
            by_port.setdefault((state.pid, state.local_port), []).append(state)
    twice: dict[tuple[int, int], list[str]] = {}
    for key, claims in by_port.items():
        live = [s.name for s in claims if holds(s)] if len(claims) > 1 else []
        if len(live) > 1:
            twice[key] = live
    return twice


def candidates(
    store: StateStore, *, account: Account, service: str, port_proxy_only: bool = False
) -> list[Running]:
    """Every running tunnel of ``service`` and ``account`` that may be used, by name. A
    port claimed by two state files (:func:`claimed_twice`) is used by neither and added
    to ``store.problems`` (the caller reports them)."""
    states = [state for _, state in store.all()]
    twice = claimed_twice(states)
    said: set[tuple[int, int]] = set()
    found: list[Running] = []
    for state in states:
        host = _fits(state, account, service, port_proxy_only)
        if host is None:
            continue
        key = (state.pid, state.local_port)
        if key in twice:
            if key not in said:
                said.add(key)
                store.problems.append(
                    f"state files {' and '.join(n + '.json' for n in twice[key])} name the "
                    f"same port {state.local_port} of pid {state.pid}: using neither (remove "
                    "the one that pid does not run)"
                )
            continue
        if verified(state, host):
            found.append(Running(state.name, state.pid, host, state.local_port, state))
    return sorted(found, key=lambda r: r.name)


def find_running(
    store: StateStore,
    *,
    account: Account,
    service: str,
    prefer: str = "",
    port_proxy_only: bool = False,
) -> Running | None:
    """The running tunnel to use for ``service`` (an ID or a name) of ``account``: the
    one named ``prefer`` if it qualifies, else the first by name; None if none does."""
    found = candidates(store, account=account, service=service, port_proxy_only=port_proxy_only)
    return next((r for r in found if r.name == prefer), found[0] if found else None)


def fit_for_run(
    found: list[Running], name: str, port_option: int | None, profile_port: int
) -> Running | None:
    """Which of ``found`` ``rittunnel run [-p PORT] NAME`` uses (pure).

    The tunnel of profile ``name`` itself when ``-p`` is omitted, 0 or its port (another
    port is a :class:`RittunnelError`: that profile cannot run twice); else another
    profile's tunnel on the port ``run`` would use (``-p``, else the profile's port; 0:
    any), the first by name; else None (``run`` opens its own tunnel)."""
    for running in found:
        if running.name == name:
            if port_option in (None, 0, running.port):
                return running
            raise RittunnelError(
                f"profile {name} is already running on port {running.port} (pid "
                f"{running.pid}); `run` uses it when -p is omitted, 0 or {running.port}"
            )
    wanted = profile_port if port_option is None else port_option
    return next((r for r in found if wanted in (0, r.port)), None)


def open_running(running: Running, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A TCP connection to ``running``'s local port (blocking, no delay). Raises
    ``OSError`` when it does not take one within ``timeout`` (it has just died...).
    ``running.host`` is an IP (:func:`client_end`): connected to as it is, with no name
    lookup (whose IDNA codec alone costs ``stdio`` milliseconds to import)."""
    family = socket.AF_INET6 if ":" in running.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((running.host, running.port))
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def relay_stdio(
    sock: socket.socket, stdin_fd: int = 0, stdout_fd: int = 1, bufsize: int = BUFFER
) -> int:
    """Relay ``stdin_fd`` → ``sock`` and ``sock`` → ``stdout_fd`` until ``sock``'s other
    side closes (or resets, or stdout's reader goes away). EOF on stdin is a half-close.
    Returns how many bytes came from ``sock`` (0: the tunnel closed the connection before
    the service said anything, e.g. it could not get a proxy). Blocking, with one daemon
    thread for stdin: the blocking twin of :func:`rittunnel.tunnel.stdio.pump_stdio`,
    without trio's start-up cost."""

    def outbound() -> None:
        try:
            while chunk := os.read(stdin_fd, bufsize):
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the tunnel closed: the inbound side sees it too

    threading.Thread(target=outbound, name="stdin", daemon=True).start()
    received = 0
    try:
        while chunk := sock.recv(bufsize):
            received += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(stdout_fd, view) :]
    except OSError:
        pass  # a reset, or the reader of stdout went away (ssh exited): nothing to carry
    return received
