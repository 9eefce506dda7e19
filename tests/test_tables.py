"""The one table renderer of status, profiles and services (pure)."""

from __future__ import annotations

import pytest

from rittunnel.commands.tables import render_table


def test_columns_are_aligned_two_spaces_apart_and_the_last_is_not_padded() -> None:
    lines = render_table(
        ("NAME", "PORT", "FILE"), [("a", "2222", "/p/a.yaml"), ("long-name", "1", "/b")]
    )
    assert lines == [
        "NAME       PORT  FILE",
        "a          2222  /p/a.yaml",
        "long-name  1     /b",
    ]


def test_cells_are_escaped_so_no_cell_can_drive_the_terminal_or_forge_a_row() -> None:
    [_, row] = render_table(("A", "B"), [("x\x1b[2Jy", "new\nrow")])
    assert row == "x\\x1b[2Jy  new\\nrow"
    # the width is the escaped text's
    assert render_table(("A", "B"), [("\x1b", "z")])[1] == "\\x1b  z"


def test_limits_cut_their_columns_only() -> None:
    lines = render_table(("A", "B"), [("a" * 10, "b" * 10)], limits=(4,))
    assert lines[1] == "aaa…  " + "b" * 10


def test_an_empty_last_cell_leaves_no_trailing_spaces() -> None:
    assert render_table(("A", "B"), [("abc", "")]) == ["A    B", "abc"]


def test_a_row_of_the_wrong_width_is_a_bug() -> None:
    with pytest.raises(ValueError, match="a row of 1 cells"):
        render_table(("A", "B"), [("x",)])
    with pytest.raises(ValueError, match="3 limits for 2 columns"):
        render_table(("A", "B"), [], limits=(1, 2, 3))
