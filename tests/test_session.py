"""Several tunnels in one process: isolation after start-up, all-or-nothing start-up,
stop requests for one tunnel, live counters in the state files. In-memory API fakes;
real listening sockets on 127.0.0.1 port 0."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio

from rittunnel.errors import ApiRefused, RittunnelError
from rittunnel.profiles import Profile
from rittunnel.report import Reporter
from rittunnel.settings import Settings
from rittunnel.tunnel.session import Session, TunnelInfo
from rittunnel.tunnel.store import StateStore

from .conftest import MemoryApi, MemoryClients

DEADLINE = 20


def make_session(tmp_path: Path, apis: dict[str, MemoryApi]) -> tuple[Session, StateStore]:
    profiles = [
        Profile(
            name=name,
            source=f"{name}.yaml",
            service=f"svc-{name}",
            local_port=0,
            bind=("127.0.0.1",),
            api_url=f"http://{name}",
        )
        for name in apis
    ]
    store = StateStore(tmp_path / "state")
    quiet = Reporter(quiet=True, err=open(os.devnull, "w"))  # noqa: SIM115
    session = Session(
        profiles,
        MemoryClients(apis),
        store,
        quiet,
        Settings(start_timeout=5, state_dir=store.directory, cache_dir=tmp_path / "cache"),
        flush_interval=0.05,
    )
    return session, store


async def start(nursery: trio.Nursery, session: Session) -> None:
    """Run ``session`` in ``nursery`` and return once every tunnel is ready."""
    ready = trio.Event()
    nursery.start_soon(lambda: session.run(on_ready=ready.set))
    await ready.wait()


async def wait_until(predicate: object) -> None:
    assert callable(predicate)
    while not predicate():
        await trio.sleep(0.01)


async def test_a_tunnel_failing_after_start_up_leaves_the_others_running(
    tmp_path: Path,
) -> None:
    apis = {"a": MemoryApi(latency=0), "b": MemoryApi(latency=0)}
    session, store = make_session(tmp_path, apis)
    b = session.slots[1].tunnel
    real_run = b.run

    async def run_then_fail(*, task_status: trio.TaskStatus[TunnelInfo]) -> None:
        async with trio.open_nursery() as n:
            await n.start(real_run)
            task_status.started(b.info)
            await trio.sleep(0.1)
            raise RittunnelError("b broke")

    b.run = run_then_fail  # type: ignore[method-assign,assignment]
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as n:
            n.start_soon(session.run)
            await wait_until(lambda: session.outcome.failed)
            assert session.outcome.failed == ["b"]
            assert apis["b"].stopped == ["C1"]  # its proxy stopped
            assert store.get("b") is None
            a_state = store.get("a")
            assert a_state is not None and a_state.ready and a_state.proxies == ["C1"]
            assert not session.slots[0].finished
            n.cancel_scope.cancel()
    assert apis["a"].stopped == ["C1"]
    assert store.get("a") is None


async def test_a_failure_at_start_up_tears_every_tunnel_down(tmp_path: Path) -> None:
    apis = {"a": MemoryApi(latency=0), "b": MemoryApi(latency=0.2)}
    apis["b"].failures.append(ApiRefused("connect: remote.it said no: offline", "offline"))
    session, store = make_session(tmp_path, apis)
    with trio.fail_after(DEADLINE), pytest.raises(BaseExceptionGroup) as caught:
        await session.run()
    assert "offline" in str(caught.value.exceptions)
    assert apis["a"].stopped == ["C1"]
    assert list(store.all()) == []


async def test_a_stop_request_stops_only_that_tunnel(tmp_path: Path) -> None:
    apis = {"a": MemoryApi(latency=0), "b": MemoryApi(latency=0)}
    session, store = make_session(tmp_path, apis)
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as n:
            await start(n, session)
            store.request_stop("a")
            os.kill(os.getpid(), signal.SIGUSR1)
            await wait_until(lambda: session.slots[0].finished)
            assert apis["a"].stopped == ["C1"] and apis["b"].stopped == []
            assert store.get("a") is None and not store.stop_requested("a")
            assert store.get("b") is not None
            n.cancel_scope.cancel()


async def test_the_session_ends_when_its_last_tunnel_does(tmp_path: Path) -> None:
    apis = {"a": MemoryApi(latency=0)}
    session, store = make_session(tmp_path, apis)
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as n:
            n.start_soon(session.run)
            await wait_until(lambda: store.get("a") is not None and store.get("a").ready)  # type: ignore[union-attr]
            session.slots[0].scope.cancel()
        # the nursery exits only because session.run returned by itself
    assert session.outcome.failed == [] and apis["a"].stopped == ["C1"]


async def test_live_counters_reach_the_state_file(tmp_path: Path) -> None:
    apis = {"a": MemoryApi(latency=0)}
    session, store = make_session(tmp_path, apis)
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as n:
            await start(n, session)
            traffic = session.slots[0].tunnel.port.traffic
            traffic.up, traffic.down, traffic.active, traffic.opened = 100, 2000, 3, 4
            traffic.changed()  # as the port does when a connection opens or ends

            def counted() -> bool:
                s = store.get("a")
                return s is not None and (s.bytes_up, s.bytes_down, s.connections) == (
                    100,
                    2000,
                    3,
                )

            await wait_until(counted)
            state = store.get("a")
            assert state is not None and state.opened == 4 and state.expires_at is not None
            n.cancel_scope.cancel()
