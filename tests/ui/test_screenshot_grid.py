"""The README's PNGs put every character on the terminal's grid (screenshots/make_screenshots.py):
rsvg-convert ignores Textual's ``textLength`` and drops a leading no-break space, which drew the
Sweep screen's coloured state cells a cell right of the rest of the leaderboard."""

from __future__ import annotations

import re
from pathlib import Path

from screenshots.make_screenshots import on_the_grid
from tests.ui.conftest import wait_for
from tests.ui.fake_runs import fake_sweep
from tui_lab.core.config import LabConfig
from tui_lab.ui.app import LabApp
from tui_lab.ui.widgets.sweep_screen import SweepScreen

CHAR = re.compile(r'<text class="[^"]*" x="(?P<x>[\d.]+)" y="(?P<y>[\d.]+)"[^>]*>(?P<ch>[^<]*)</text>')


def words_at(svg: str) -> dict[tuple[float, str], list[float]]:
    """Each word drawn, by (its line's y, the word): the x of its first character (one char a text)."""
    lines: dict[float, list[tuple[float, str]]] = {}
    for m in CHAR.finditer(svg):
        assert len(m["ch"]) == 1 or m["ch"].startswith("&"), m["ch"]  # one character a <text>
        lines.setdefault(float(m["y"]), []).append((float(m["x"]), m["ch"]))
    found: dict[tuple[float, str], list[float]] = {}
    for y, chars in lines.items():
        chars.sort()
        word, start, last = "", 0.0, -99.0
        for x, ch in [*chars, (1e9, " ")]:
            if x - last > 13 and word:  # a gap: the word ended
                found.setdefault((y, word), []).append(start)
                word = ""
            if not word:
                start = x
            word, last = word + ch, x
    return found


async def test_the_leaderboards_state_column_lines_up_in_the_gridded_svg(tmp_path: Path) -> None:
    config = LabConfig()
    config.train.output_dir = str(tmp_path / "runs")
    app = LabApp(config, warm_imports=False, watch=str(fake_sweep(tmp_path / "runs")))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and len(app.screen.rows) == 5, 30)
        await pilot.pause(0.3)
        raw = app.export_screenshot()
    grid = on_the_grid(raw)
    assert "&#160;" not in grid and "textLength" not in grid  # nothing left for a renderer to space
    words = words_at(grid)
    ((top, header),) = [(y, xs) for (y, w), xs in words.items() if w == "state"]
    line = min(y for y, _ in words if y > top) - top  # one terminal row, in px
    # the table's five rows only: not the status above it, nor the importance box's title below,
    # which reads "over 3 complete trials" once fANOVA has finished (soon or late, by the machine)
    below = {(y, w): xs for (y, w), xs in words.items() if top < y <= top + 5 * line + 1}
    cells = [x for (y, w), xs in below.items() if w in ("complete", "pruned", "failed") for x in xs]
    assert len(header) == 1 and len(cells) == 5
    assert set(cells) == set(header)  # every state starts in the header's column
    values = [x for (y, w), xs in below.items() if w in ("0.8800", "0.8300", "0.7500") for x in xs]
    assert len(values) == 3 and set(values) == set(words[(top, "value")])  # and so does every value
