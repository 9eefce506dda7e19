"""The long description: README.md with each link to a file of the repository (or to a
heading in it) made plain text naming that file, since PyPI and other indexes show the
README without the files beside it. Everything else is in pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import setup

#: a Markdown link or image whose target is no URL: [text](target)
_RELATIVE = re.compile(r"(!?)\[([^\]]*)\]\((?![a-z][a-z0-9+.-]*:)([^)\s]*)\)")


def plain_links(markdown: str) -> str:
    """``markdown`` with relative links as ``text (target in the source distribution)``
    (a heading's anchor: just the text); links with a scheme (https:, mailto:) stay."""

    def plain(match: re.Match[str]) -> str:
        text, target = match.group(2), match.group(3)
        path = target.split("#", 1)[0]
        if not path:
            return text
        if text.strip("`") == path:
            return f"{text} (in the source distribution)"
        return f"{text} ({path} in the source distribution)"

    return _RELATIVE.sub(plain, markdown)


if __name__ == "__main__":
    setup(
        long_description=plain_links(Path("README.md").read_text(encoding="utf-8")),
        long_description_content_type="text/markdown",
    )
