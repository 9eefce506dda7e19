"""Process liveness for state files: whether the process a state file names is the one
that wrote it (pid and start time), still holds the file, is a rittunnel process of this
user, and listens on the tunnel's port. No trio; psutil is imported lazily (the relay
needs none of this).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .state import TunnelState

if TYPE_CHECKING:
    import psutil


def process_start_time(pid: int | psutil.Process) -> float | None:
    """The start time of process ``pid`` (or of that process), or None when there is no
    such process or it is a zombie (killed, not yet reaped: it is dead, and under a
    parent that never reaps may stay so for ever); -1.0 when it exists but we may not
    look."""
    import psutil  # lazy: status and cleanup need it, the relay does not

    try:
        proc = _process(pid)
        started = proc.create_time()  # a zombie has one: its status says it is dead
        return None if proc.status() == psutil.STATUS_ZOMBIE else started
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return -1.0  # exists, but we may not look: treat as alive


def has_exited(pid: int) -> bool:
    """Whether process ``pid`` is gone (or a zombie nobody has reaped yet)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _process(pid: int | psutil.Process) -> psutil.Process:
    """``pid`` as a process (built here, so the caller's handling of psutil's errors
    covers building it), or that process itself."""
    import psutil

    return psutil.Process(pid) if isinstance(pid, int) else pid


def is_alive(state: TunnelState) -> bool:
    return _started_as(state, process_start_time(state.pid))


def _started_as(state: TunnelState, started: float | None) -> bool:
    """Whether a process that ``started`` then (:func:`process_start_time`) is the one
    ``state`` names: there is one, and its start time is the file's, or unknown."""
    if started is None:
        return False
    return started == -1.0 or abs(started - state.pid_started) < 1.0


def holds(state: TunnelState) -> bool:
    """Whether a live process still holds ``state``'s file (not released it)."""
    return not state.released and is_alive(state)


def serves(state: TunnelState, host: str) -> bool:
    """Whether a live rittunnel process of this user holds ``state`` and listens on
    ``host``:``state.local_port``: :func:`holds`, :func:`is_rittunnel_process` and
    :func:`listens_on`, in that order and with the same outcomes, on one
    ``psutil.Process`` built once (a stale or planted file does not pass). On Linux
    from ``/proc`` alone (:func:`_serves_linux`): ``stdio`` beside a running tunnel asks
    this, and importing psutil would cost it more than the rest of its start-up."""
    if state.released:
        return False
    fast = _serves_linux(state, host)
    if fast is not None:
        return fast
    import psutil

    try:
        proc = psutil.Process(state.pid)
    except psutil.Error:
        # gone: not alive (process_start_time's None); psutil swallows AccessDenied
        # here, and were it raised is_rittunnel_process would fail to build it too
        return False
    return (
        _started_as(state, process_start_time(proc))
        and is_rittunnel_process(proc)
        and listens_on(proc, host, state.local_port)
    )


def stat_facts(stat: bytes) -> tuple[str, int] | None:
    """The state letter (``Z``: a zombie) and start time (clock ticks after boot) in the
    text of ``/proc/PID/stat``; None if it has no such fields. The command name, in
    parentheses, may itself hold spaces and parentheses: the fields follow the last
    ``)``. Pure."""
    fields = stat[stat.rfind(b")") + 1 :].split()
    if len(fields) < 20 or not fields[19].isdigit():
        return None
    return fields[0].decode("ascii", "replace"), int(fields[19])


def split_cmdline(data: str) -> list[str]:
    """``/proc/PID/cmdline`` as an argv, as psutil splits it: NUL-separated, or (a
    process that rewrote its title) space-separated. Pure."""
    if not data:
        return []
    sep = "\x00" if data.endswith("\x00") else " "
    if data.endswith(sep):
        data = data[:-1]
    argv = data.split(sep)
    if sep == "\x00" and len(argv) == 1 and " " in data:
        argv = data.split(" ")
    return argv


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _boot_time() -> float | None:
    """When the system booted (``btime`` in ``/proc/stat``), as psutil takes it."""
    stat = _read("/proc/stat")
    at = stat.find(b"\nbtime ")
    if at < 0:
        return None
    line = stat[at + 1 : stat.find(b"\n", at + 1)].split()
    return float(line[1]) if len(line) > 1 and line[1].isdigit() else None


def _serves_linux(state: TunnelState, host: str) -> bool | None:
    """:func:`serves` (``state`` not released) from ``/proc`` with psutil's outcomes: the
    start time from ``stat`` (a zombie is dead), the real uid from ``status``, the
    command line from ``cmdline``, then :func:`listens_on`. None where ``/proc`` cannot
    tell (no ``/proc``, a file we may not read, an unexpected format): psutil decides."""
    base = f"/proc/{state.pid}"
    try:
        facts = stat_facts(_read(f"{base}/stat"))
        status = _read(f"{base}/status")
        cmdline = _read(f"{base}/cmdline")
        booted = _boot_time()
    except FileNotFoundError:
        return False if os.path.isdir("/proc/self") else None  # gone, or no /proc
    except OSError:
        return None
    at = status.find(b"\nUid:")
    uids = status[at + 5 : status.find(b"\n", at + 5)].split() if at >= 0 else []
    if facts is None or booted is None or not uids or not uids[0].isdigit():
        return None
    letter, ticks = facts
    if letter == "Z":
        return False  # killed, not reaped: dead
    started = ticks / os.sysconf("SC_CLK_TCK") + booted
    if not _started_as(state, started) or int(uids[0]) != os.getuid():
        return False
    argv = split_cmdline(cmdline.decode(sys.getfilesystemencoding(), "surrogateescape"))
    return is_rittunnel_argv(argv) and listens_on(state.pid, host, state.local_port)


def is_rittunnel_process(pid: int | psutil.Process) -> bool:
    """Whether ``pid`` (or that process) is a rittunnel process of this user (same real
    uid, and a rittunnel command line: :func:`is_rittunnel_argv`). Only such a process is
    ever signalled: a state file may name any process."""
    import psutil

    try:
        proc = _process(pid)
        if proc.uids().real != os.getuid():
            return False
        argv = proc.cmdline()
    except psutil.Error:
        return False
    return is_rittunnel_argv(argv)


#: the wildcard listener that also takes a client's connection to a loopback address
WILDCARD = {"127.0.0.1": "0.0.0.0", "::1": "::"}


def listens_on(pid: int | psutil.Process, host: str, port: int) -> bool:
    """Whether process ``pid`` (or that process) has a TCP socket listening on
    ``host``:``port``, so that a client connecting there reaches that process: one bound
    to that very IP, or (for ``127.0.0.1`` and ``::1``) to every address (``0.0.0.0``,
    ``::``). Looks at that process's sockets only (not a system-wide scan); a process we
    may not look at, or that is gone, does not; nor does a ``host`` that is not an IP."""
    wanted = _ip(host)
    if wanted is None:
        return False
    accepted = {wanted}
    wildcard = WILDCARD.get(str(wanted))
    if wildcard is not None:
        accepted.add(ipaddress.ip_address(wildcard))
    number = pid if isinstance(pid, int) else pid.pid
    fast = _listens_on_linux(number, accepted, port)
    if fast is not None:
        return fast
    import psutil

    try:
        sockets = _process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(
        s.status == psutil.CONN_LISTEN
        and s.laddr
        and s.laddr.port == port
        and _ip(s.laddr.ip) in accepted
        for s in sockets
    )


def _proc_net_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    """``ip`` as ``/proc/net/tcp[6]`` writes it: each 32-bit word in host order, hex."""
    packed = ip.packed
    words = [packed[i : i + 4] for i in range(0, len(packed), 4)]
    if sys.byteorder == "little":
        words = [w[::-1] for w in words]
    return b"".join(words).hex().upper().encode()


def _listens_on_linux(
    pid: int, accepted: set[ipaddress.IPv4Address | ipaddress.IPv6Address], port: int
) -> bool | None:
    """:func:`listens_on` from ``/proc`` (None where there is none): the listening
    sockets on ``port`` in ``/proc/net/tcp[6]``, found by their address text (no parse
    of the whole table: a busy machine has thousands of lines), whose inode is one of
    ``pid``'s fds. psutil parses every line of four tables, ~100 ms on such a machine;
    ``stdio`` beside a running tunnel asks this once (docs/PERFORMANCE.md)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return None if not os.path.isdir("/proc/self/fd") else False
    except OSError:
        return False  # not ours to look at
    inodes = set()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1].encode())
    by_netlink = _listening_netlink(accepted, port)
    if by_netlink is not None:
        return not by_netlink.isdisjoint(int(i) for i in inodes)
    suffix = b":%04X " % port
    tables: dict[int, bytes] = {}  # each read once: 127.0.0.1 and 0.0.0.0 share one
    for ip in sorted(accepted, key=str):
        if ip.version not in tables:
            try:
                tables[ip.version] = _read("/proc/net/tcp" if ip.version == 4 else "/proc/net/tcp6")
            except OSError:
                return None
        text = tables[ip.version]
        needle = b" " + _proc_net_address(ip) + suffix
        at = text.find(needle)
        while at >= 0:
            end = text.find(b"\n", at)
            fields = text[text.rfind(b"\n", 0, at) + 1 : end if end >= 0 else None].split()
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if len(fields) > 9 and fields[3] == b"0A" and fields[9] in inodes:
                return True
            at = text.find(needle, at + 1)
    return False


#: netlink's sock_diag (linux/sock_diag.h, linux/inet_diag.h): a dump request of the
#: TCP sockets in state LISTEN of one address family
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10


def _listening_netlink(
    accepted: set[ipaddress.IPv4Address | ipaddress.IPv6Address], port: int
) -> set[int] | None:
    """The inodes of the TCP sockets listening on ``port`` at one of ``accepted``, asked
    of the kernel over netlink (sock_diag): only listeners come back, where
    ``/proc/net/tcp`` writes out every socket of the machine as text (thousands on a busy
    one: milliseconds). None when netlink cannot answer (the caller reads ``/proc``)."""
    import socket
    import struct

    found: set[int] = set()
    for version in sorted({ip.version for ip in accepted}):
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        wanted = {ip.packed for ip in accepted if ip.version == version}
        # inet_diag_req_v2: family, protocol, ext, pad, states, then a zero sockid
        req = struct.pack("=BBBBI48x", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN)
        head = struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0)
        try:
            with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4) as nl:  # SOCK_DIAG
                nl.settimeout(2.0)
                nl.sendall(head + req)
                done = False
                while not done:
                    data = nl.recv(65536)
                    if not data:
                        return None
                    at = 0
                    while at + 16 <= len(data):
                        length, kind = struct.unpack_from("=IH", data, at)
                        if length < 16:
                            return None
                        if kind == _NLMSG_DONE:
                            done = True
                            break
                        if kind == _NLMSG_ERROR:
                            return None
                        msg = data[at + 16 : at + length]
                        if kind == _SOCK_DIAG_BY_FAMILY and len(msg) >= 72:
                            # inet_diag_msg: family state timer retrans, sockid
                            # (sport dport: big-endian; src dst: 16 bytes each), then
                            # expires rqueue wqueue uid inode
                            sport = struct.unpack_from("!H", msg, 4)[0]
                            src = msg[8 : 8 + (4 if version == 4 else 16)]
                            if sport == port and src in wanted:
                                found.add(struct.unpack_from("=I", msg, 68)[0])
                        at += (length + 3) & ~3
        except (OSError, AttributeError, struct.error):
            return None  # no netlink here (not Linux, a sandbox that refuses it)
    return found


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (an IPv6 scope ``%eth0`` dropped); None if it is not one."""
    try:
        return ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None


def is_rittunnel_argv(argv: list[str]) -> bool:
    """Whether ``argv`` runs rittunnel: ``rittunnel …`` (the console script, which the
    kernel runs as ``python …/rittunnel …``) or ``python [options] -m rittunnel …``."""
    if not argv:
        return False
    if Path(argv[0]).name == "rittunnel":
        return True
    args = argv[1:]
    while args and args[0].startswith("-") and args[0] != "-":
        option = args.pop(0)
        if option.startswith("-m"):
            module = option[2:] or (args[0] if args else "")
            return module == "rittunnel" or module.startswith("rittunnel.")
        if option.startswith("-c"):
            return False
        if option in ("-X", "-W"):
            args = args[1:]  # the option's value
    return bool(args) and Path(args[0]).name == "rittunnel"
