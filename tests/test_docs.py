"""The repo explains itself: code and tests cite ``docs/remoteit-api.md`` for what they
assume about remote.it's API, never a file outside the repo, and every section they
cite exists there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "remoteit-api.md"
#: names of sources outside the repo that comments once cited (split so this file does
#: not match itself)
OUTSIDE = ("shared/" + "reference", "API-" + "NOTES")
#: ``docs/remoteit-api.md#anchor``, or a bare ``#anchor`` in double backquotes in a
#: file that cites the page
CITED = re.compile(r"remoteit-api\.md#([a-z0-9-]+)")
BARE = re.compile(r"``#([a-z0-9-]+)``")


def sources() -> list[Path]:
    return sorted([*(ROOT / "rittunnel").rglob("*.py"), *(ROOT / "tests").rglob("*.py")])


def anchors() -> set[str]:
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>', API_DOC.read_text(encoding="utf-8")))


def test_no_comment_cites_a_file_outside_the_repo() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sources()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(name in line for name in OUTSIDE)
    ]
    assert found == []


def test_every_cited_section_of_the_api_doc_exists() -> None:
    known = anchors()
    missing = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        if "remoteit-api.md" not in text:
            continue
        for anchor in {*CITED.findall(text), *BARE.findall(text)}:
            if anchor not in known and anchor != "anchor":  # "anchor": the word itself
                missing.append(f"{path.relative_to(ROOT)}: #{anchor}")
    assert missing == []


def test_the_api_doc_links_only_to_its_own_sections() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    known = anchors()
    assert len(known) == len(re.findall(r'<a id="', text)), "an anchor is defined twice"
    assert sorted(set(re.findall(r"\]\(#([a-z0-9-]+)\)", text)) - known) == []
