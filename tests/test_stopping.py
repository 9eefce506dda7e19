"""The one stop call: what came of it, with a reason whenever the proxy may still be
open (in-memory APIs, fast-forwarded with autojump_clock)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from rittunnel.errors import ApiRefused, ApiUnavailable, TwoFactorError
from rittunnel.tunnel.stopping import Stopped, stop_proxy


class Answers:
    """An API whose stop call raises ``failure`` (None: stops), or never answers."""

    def __init__(self, failure: Exception | None = None, *, hangs: bool = False) -> None:
        self.failure = failure
        self.hangs = hangs
        self.calls: list[tuple[str, str]] = []

    async def stop(self, service: str, cid: str) -> None:
        self.calls.append((service, cid))
        if self.hangs:
            await trio.sleep_forever()
        if self.failure is not None:
            raise self.failure


@pytest.mark.parametrize(
    ("api", "outcome"),
    [
        (Answers(), Stopped("stopped")),
        (
            Answers(ApiRefused("stop: remote.it said no: [0212] connectionid incorrect", "x")),
            Stopped("gone", "stop: remote.it said no: [0212] connectionid incorrect"),
        ),
        (
            Answers(ApiRefused("stop: remote.it said no: Access denied", "Access denied")),
            Stopped("left", "stop: remote.it said no: Access denied"),
        ),
        (Answers(ApiUnavailable("stop: HTTP 502")), Stopped("left", "stop: HTTP 502")),
        (
            Answers(TwoFactorError("this account now signs in with two-factor")),
            Stopped("left", "this account now signs in with two-factor"),
        ),
        (Answers(hangs=True), Stopped("left", "no answer to the stop call within 2.5s")),
    ],
)
async def test_a_stop_call_says_what_came_of_it(
    autojump_clock: Any, api: Answers, outcome: Stopped
) -> None:
    start = trio.current_time()
    got = await stop_proxy(api, "svc", "C1", 2.5)  # type: ignore[arg-type]
    assert got == outcome and api.calls == [("svc", "C1")]
    assert got.done is (outcome.outcome != "left")
    assert trio.current_time() - start <= 2.5
