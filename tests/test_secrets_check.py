"""The suite-wide secret check itself: it must see a leak when there is one."""

from __future__ import annotations

from .conftest import find_secrets


def test_find_secrets_reports_leaks_without_repeating_them() -> None:
    texts = ["rittunnel: ready", "error: token abc123xyz refused"]
    assert find_secrets(texts, ["abc123xyz", "pw-not-there"]) == ["abc… (9 chars)"]
    assert find_secrets(texts, ["pw-not-there", ""]) == []
