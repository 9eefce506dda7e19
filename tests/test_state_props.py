"""State files: what a tunnel writes reads back (hostile text escaped and cut to the
field's rule, never a file its reader sets aside), and the reader accepts or raises
:class:`BadState`, whatever the file holds. Property tests with a fixed budget."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rittunnel.tunnel.state import RULES, BadState, TunnelState
from rittunnel.tunnel.store import StateStore

from .conftest import my_state

#: any text, control characters and lone surrogates included, often past a field's limit
hostile = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("\t\n\r\x1b\x00\x7f\x85\u202e ab…\\"), max_size=40),
    st.builds(lambda c, n: c * n, st.sampled_from("a\t\x1b€"), st.integers(1000, 5000)),
)
TEXT_FIELDS = ["service", "service_name", "credentials", "upstream", "mode", "source", "log"]


@st.composite
def states(draw: st.DrawFn) -> TunnelState:
    texts: dict[str, Any] = {f: draw(hostile) for f in TEXT_FIELDS}
    return replace(
        my_state("p"),
        **texts,
        addresses=draw(st.lists(hostile, max_size=3)),
        proxies=draw(st.lists(hostile, max_size=3)),
        expires_at=draw(st.none() | st.floats(allow_nan=True, allow_infinity=True)),
        connections=draw(st.integers(0, 2**63 - 1)),
    )


@given(states())
def test_what_a_tunnel_writes_reads_back(state: TunnelState) -> None:
    back = TunnelState.from_json(state.to_json(), name=state.name)
    assert back == state.fitted()
    assert back.fitted() == back  # fitting is done once: a read state writes as it is


@given(states())
def test_a_state_that_fits_is_written_as_it_is(state: TunnelState) -> None:
    fits = all(not RULES[k].check(v) for k, v in asdict(state).items())
    if fits:
        assert state.fitted() == state


def test_hostile_profile_and_remoteit_text_still_lists(tmp_path: Path) -> None:
    """The issue's three: a tab in the service name, a name and a reverse proxy's URL
    over 1,024 characters. The store lists the tunnel (it used to set it aside)."""
    store = StateStore(tmp_path)
    state = replace(
        my_state("p"),
        service="80:00:00:00:01:02:03:04",
        service_name="my\tpi " + "n" * 1100,
        upstream="https://" + "h" * 1100 + ".p18.rt3.io",
        proxies=["C1"],
    )
    store.claim(state)
    [(_, read)] = list(store.all())
    assert store.problems == []
    assert read.proxies == ["C1"] and read.service == state.service
    assert read.service_name.startswith("my\\tpi nnn") and len(read.service_name) == 1024
    assert read.upstream.startswith("https://hhh") and read.upstream.endswith("…")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@st.composite
def files(draw: st.DrawFn) -> str:
    """A state file as a hostile hand may leave it: a real one with fields changed,
    JSON of any shape, or any text."""
    kind = draw(st.sampled_from(["edited", "json", "text"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values))
    data = json.loads(my_state("p").to_json())
    for key in draw(st.lists(st.sampled_from(sorted(RULES)), max_size=4)):
        data[key] = draw(json_values | hostile)
    return json.dumps(data)


@given(files())
def test_the_reader_accepts_or_says_what_is_wrong(text: str) -> None:
    try:
        state = TunnelState.from_json(text, name="p")
    except BadState as exc:
        assert str(exc)
        return
    assert state.fitted() == state  # whatever it accepts fits the rules


def test_deep_nesting_is_bad_not_a_crash() -> None:
    with pytest.raises(BadState, match="not JSON"):
        TunnelState.from_json("[" * 100_000 + "]" * 100_000)
