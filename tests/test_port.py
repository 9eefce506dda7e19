"""The port half of a tunnel: counters folded on the trio side, and the accept loop's
answer to each kind of error (real sockets on 127.0.0.1; time fast-forwarded)."""

from __future__ import annotations

import errno
import io
import socket
from typing import Any, cast

import pytest
import trio

from rittunnel.profiles import Profile
from rittunnel.relay import Relayer
from rittunnel.report import Reporter
from rittunnel.tunnel.port import ACCEPT_PAUSE, Port, Traffic
from rittunnel.tunnel.upstream import Upstream

from .conftest import MemoryApi


def test_traffic_folds_each_connections_counts_when_it_ends() -> None:
    t = Traffic()
    a, b = t.begin(), t.begin()
    a.up, a.down, b.up = 10, 20, 5
    assert t.totals() == (15, 20)  # live connections count as they go
    t.end(a)
    a.up = 999  # a relay thread writing late no longer counts
    assert t.totals() == (15, 20) and (t.up, t.down) == (10, 20)
    t.end(b)
    t.end(b)  # ending twice folds once
    assert t.totals() == (15, 20)


class Listener:
    """A listening socket whose ``accept`` fails with ``errors`` first."""

    def __init__(self, real: socket.socket, errors: list[int]) -> None:
        self.real = real
        self.errors = errors
        self.calls = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self) -> tuple[socket.socket, Any]:
        self.calls += 1
        if self.errors:
            code = self.errors.pop(0)
            raise OSError(code, errno.errorcode[code])
        return self.real.accept()


class Recording(Port):
    def __init__(self, err: io.StringIO) -> None:
        profile = Profile(name="p", source="p.yaml", service="s", local_port=0)
        reporter = Reporter(err=err)
        upstream = Upstream(profile, MemoryApi(), reporter)  # type: ignore[arg-type]
        super().__init__(profile, upstream, reporter, Relayer())
        self.accepted: list[float] = []

    async def _handle(self, client: socket.socket, peer: object) -> None:
        client.close()
        self.accepted.append(trio.current_time())


async def accept_one(errors: list[int]) -> tuple[Recording, Listener, str, float]:
    err = io.StringIO()
    port = Recording(err)
    with socket.socket() as real:
        real.bind(("127.0.0.1", 0))
        real.listen(8)
        real.setblocking(False)
        listener = Listener(real, errors)
        with socket.create_connection(real.getsockname()):
            began = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(port._accept_loop, cast(socket.socket, listener), nursery)
                while not port.accepted:
                    await trio.sleep(0.001)
                nursery.cancel_scope.cancel()
    return port, listener, err.getvalue(), port.accepted[0] - began


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM])
async def test_out_of_a_resource_the_loop_pauses_then_accepts(
    code: int, autojump_clock: Any
) -> None:
    _port, listener, said, waited = await accept_one([code, code])
    assert listener.errors == [] and waited >= 2 * ACCEPT_PAUSE
    assert said.count("rittunnel: warning: p: accept failed:") == 2


async def test_a_connection_gone_before_accept_is_skipped_at_once(autojump_clock: Any) -> None:
    _port, listener, said, waited = await accept_one([errno.ECONNABORTED])
    assert listener.errors == [] and waited < ACCEPT_PAUSE and said == ""


async def test_any_other_accept_error_is_raised(autojump_clock: Any) -> None:
    with pytest.raises(BaseExceptionGroup) as caught:
        await accept_one([errno.EBADF])
    [exc] = caught.value.exceptions
    assert isinstance(exc, OSError) and exc.errno == errno.EBADF
