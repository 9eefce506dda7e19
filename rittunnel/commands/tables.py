"""The one way a command shows rows (``status``, ``profiles``, ``services``): aligned
columns two spaces apart, every cell escaped (:func:`~rittunnel.report.printable`), so a
name carrying terminal escapes or a line break can neither drive the terminal nor forge
a row. Pure: the command writes the lines (:meth:`~rittunnel.report.Reporter.output`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..text import printable

#: the gap between two columns
GAP = "  "


def render_table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    limits: Sequence[int | None] = (),
) -> list[str]:
    """The header and rows as lines: each cell escaped and, when ``limits`` gives its
    column a number, at most that many characters (cut with ``…``); every column but
    the last padded to its widest cell (the last is not: a long path or address makes
    no other row wider)."""
    width = len(header)
    if len(limits) > width:
        raise ValueError(f"{len(limits)} limits for {width} columns")
    cut = [*limits, *[None] * (width - len(limits))]
    table = [[printable(cell) for cell in header]]
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row of {len(row)} cells in a table of {width} columns")
        table.append([printable(cell, limit) for cell, limit in zip(row, cut, strict=True)])
    widths = [max(len(line[i]) for line in table) for i in range(width - 1)]
    lines = []
    for line in table:
        cells = [c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)]
        text = GAP.join([*cells, line[-1]])
        lines.append(text if line[-1] else text.rstrip(" "))
    return lines
