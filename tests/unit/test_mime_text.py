"""The text rendering of an HTML body, as calendar clients without HTML show it."""

from groupmigrate.mime import html_to_text


def test_inline_tags_leave_no_gap_before_punctuation() -> None:
    assert html_to_text("<p>Agenda: <b>budget</b>, <i>risks</i> &amp; <a href='x'>notes</a>.</p>") == "Agenda: budget, risks & notes."


def test_blocks_still_break_lines_and_cells_stay_apart() -> None:
    assert html_to_text("<p>first</p><p>second</p>").splitlines() == ["first", " second"]
    assert html_to_text("<table><tr><td>a</td><td>b</td></tr></table>").split() == ["a", "b"]
    assert html_to_text("<style>p{}</style><script>x()</script>text") == "text"
