"""Sockets: binding the stable local port (and naming whoever already holds it),
connecting upstream, tuning and aborting TCP connections, the fd limit.

Binding happens before any API call, so a taken port costs nothing at remote.it.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket

import trio

from .errors import LocalBindError, PortInUseError

BACKLOG = 512


def format_address(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def bind_listeners(
    addresses: tuple[str, ...], port: int, *, optional: frozenset[str] = frozenset()
) -> list[socket.socket]:
    """Bind and listen on ``port`` at every address; return non-blocking sockets.

    An address in ``optional`` that this machine does not have (``::1`` without IPv6) is
    skipped; any other failure closes what was bound and raises a user-facing error.
    ``port`` 0 asks the kernel for a free port, then the remaining addresses use that one.
    A port outside 0-65535 or an address that is not an IP is a :class:`LocalBindError`.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise LocalBindError(f"cannot listen on port {port!r}: a port is a number 1-65535")
    for addr in addresses:
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise LocalBindError(
                f"cannot listen on {addr[:60]!r}: not an IP address; check bind in the profile"
            ) from None
    bound: list[socket.socket] = []
    try:
        for addr in addresses:
            family = socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError:
                if addr in optional:
                    continue
                raise LocalBindError(f"cannot listen on {addr}: this machine has no IPv6") from None
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((addr, port))
                sock.listen(BACKLOG)
                sock.setblocking(False)
            except (OverflowError, ValueError) as exc:  # what the checks above let through
                sock.close()
                raise LocalBindError(
                    f"cannot listen on {format_address(addr, port)}: {exc}"
                ) from None
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUseError(
                        f"local port {port} on {addr} is already in use by {port_holder(port)}; "
                        "stop it or choose another local_port in the profile"
                    ) from None
                if addr in optional and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    continue
                if exc.errno == errno.EACCES:
                    raise LocalBindError(
                        f"no permission to listen on {format_address(addr, port)}; "
                        "ports below 1024 need privileges, choose local_port 1024 or higher"
                    ) from None
                raise LocalBindError(
                    f"cannot listen on {format_address(addr, port)}: {exc.strerror}; "
                    "check bind in the profile"
                ) from None
            bound.append(sock)
            if port == 0:
                port = sock.getsockname()[1]
    except BaseException:
        for s in bound:
            s.close()
        raise
    if not bound:
        raise LocalBindError(f"no address to listen on for port {port}")
    return bound


def port_holder(port: int) -> str:
    """Describe the process listening on TCP ``port``: ``pid 123 (nginx)``, or
    ``an unknown process`` where the system does not tell us."""
    try:
        import psutil  # lazy: only needed on this error path

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    break
                try:
                    name = psutil.Process(conn.pid).name()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    name = "unknown"
                return f"pid {conn.pid} ({name})"
    except Exception:  # noqa: S110 - AccessDenied on macOS, or psutil missing: say unknown
        pass
    return "an unknown process"


def abort(sock: socket.socket) -> None:
    """Make the peer see a reset rather than a clean EOF (used when the other side broke)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def tune(sock: socket.socket, *, keepalive: bool = False) -> None:
    """TCP_NODELAY always (interactive ssh); TCP keepalive on upstream sockets so a dead
    path through NAT and the proxy is noticed in about two minutes."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
                opt = getattr(socket, name, None)
                if opt is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, opt, value)
    except OSError:
        pass


async def open_tcp(host: str, port: int) -> socket.socket:
    """Connect a non-blocking TCP socket to ``host:port``, trying each resolved address.

    Raises ``OSError`` when none answers. The caller puts a deadline around it."""
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError = OSError(errno.EHOSTUNREACH, f"no address for {host}")
    for family, type_, proto, _, addr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            err = sock.connect_ex(addr)
            if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                await trio.lowlevel.wait_writable(sock)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        tune(sock, keepalive=True)
        return sock
    raise last


def raise_fd_limit(cap: int = 65536) -> int:
    """Each relayed connection holds two file descriptors: lift the soft RLIMIT_NOFILE to
    the hard limit (at most ``cap``), as servers do. Returns the soft limit in force."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
        except (ValueError, OSError):
            pass
    return soft
