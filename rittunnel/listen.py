"""Binding the stable local port, and naming whoever already holds it.

Binding happens before any API call, so a taken port costs nothing at remote.it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

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
    """
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
