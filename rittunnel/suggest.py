"""A "did you mean …?" for a word that names nothing: the close ones among the words that
would have named something (commands, profiles, running tunnels). Pure."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: how alike a word and a candidate must be (difflib's ratio, 0-1)
CUTOFF = 0.6
#: the most candidates offered
MOST = 3


def close_matches(word: str, candidates: Iterable[str]) -> list[str]:
    """The candidates closest to ``word``, best first (none equal to it); case is
    ignored when comparing, kept in what is returned."""
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        if candidate and candidate != word:
            by_folded.setdefault(candidate.casefold(), candidate)
    found = difflib.get_close_matches(word.casefold(), list(by_folded), n=MOST, cutoff=CUTOFF)
    return [by_folded[f] for f in found]


def did_you_mean(word: str, candidates: Iterable[str], prefix: str = "") -> str:
    """``did you mean `status`?`` (each match after ``prefix``, e.g. ``rittunnel ``), or ""
    when nothing is close."""
    found = close_matches(word, candidates)
    if not found:
        return ""
    return "did you mean " + " or ".join(f"`{prefix}{f}`" for f in found) + "?"
