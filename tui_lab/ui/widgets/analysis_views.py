"""The Analysis screen's parts: the per-class table, the walkable grid, the reliability diagram,
the label-issues table. Each is filled from a :class:`tui_lab.core.analysis.analyze.Analysis`."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual_plotext import PlotextPlot

from tui_lab.ui.widgets.row_fixes import fix_cell

SORT_KEYS = ("label", "f1", "precision", "recall", "support")


def clip(text: str, width: int) -> str:
    """One line of at most ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class ClassTable(DataTable):
    """Precision, recall, F1 and support per class, for dev and (when there is one) test.

    ``cycle_sort`` orders the rows by the next of label, F1, precision, recall, support
    (numbers: lowest first, so the weakest classes lead).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.analysis: Any = None
        self.sort_by = "label"

    def show(self, analysis: Any) -> None:
        """Fill the table from an analysis."""
        self.analysis = analysis
        self._fill()

    def cycle_sort(self) -> str:
        """Sort by the next key; returns its name."""
        self.sort_by = SORT_KEYS[(SORT_KEYS.index(self.sort_by) + 1) % len(SORT_KEYS)]
        self._fill()
        return self.sort_by

    def _fill(self) -> None:
        self.clear(columns=True)
        a = self.analysis
        if a is None:
            return
        split = a.split
        columns = ["label", f"{split} P", "R", "F1", "n"]
        if a.test_per_class:
            columns += ["test P", "R ", "F1 ", "n "]
        for name in columns:
            self.add_column(name, key=name)
        rows = list(a.report.per_class.items())
        if self.sort_by != "label":
            rows.sort(key=lambda kv: kv[1][self.sort_by])
        for label, m in rows:
            cells = [label, *_scores(m)]
            if a.test_per_class:
                cells += _scores(a.test_per_class.get(label, {}))
            self.add_row(*cells, key=label)


def _scores(m: dict[str, Any]) -> list[Text]:
    if not m:
        return [Text("-")] * 4
    f1 = m["f1"]
    colour = "green" if f1 >= 0.9 else "yellow" if f1 >= 0.7 else "red"
    return [
        Text(f"{m['precision']:.3f}", justify="right"),
        Text(f"{m['recall']:.3f}", justify="right"),
        Text(f"{f1:.3f}", style=colour, justify="right"),
        Text(str(m["support"]), justify="right"),
    ]


class ErrorGrid(DataTable):
    """The confusion matrix (multi-label: per label FN / FP / TP); arrow keys walk its cells and
    Enter opens the examples behind one (``DataTable.CellSelected``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="cell", **kwargs)

    def show(self, analysis: Any) -> None:
        """Fill the grid: rows are true labels (row labels), columns predicted labels."""
        r = analysis.report
        self.clear(columns=True)
        width = max(5, *(len(c) for c in r.grid_cols)) if r.grid_cols else 5
        for j, name in enumerate(r.grid_cols):
            self.add_column(clip(name, 14), key=str(j), width=min(width, 14))
        diagonal = len(r.grid_rows) == len(r.grid_cols) and r.grid_rows == r.grid_cols
        for i, name in enumerate(r.grid_rows):
            cells = []
            for j, n in enumerate(r.counts[i]):
                good = (i == j) if diagonal else (j == len(r.grid_cols) - 1)
                style = "green" if good else ("bold red" if n else "dim")
                cells.append(Text(str(n), style=style, justify="right"))
            self.add_row(*cells, key=str(i), label=Text(clip(name, 16), style="bold"))

    def cell_at_cursor(self) -> tuple[int, int]:
        """(row, column) of the grid under the cursor."""
        return self.cursor_coordinate.row, self.cursor_coordinate.column


class IssuesTable(DataTable):
    """Likely label issues of the training rows, likeliest first; each text cut to the width left."""

    COLUMNS = ("row", "fix", "given", "suggested", "score", "text")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.analysis: Any = None
        self.marks: dict[int, Any] = {}  # data row -> its standing decision (the "fix" column)
        self.limit = 500
        self._filled_width = -1

    def show(self, analysis: Any, limit: int = 500) -> None:
        """Fill from an analysis (at most ``limit`` rows; the CSV export has them all)."""
        self.analysis, self.limit = analysis, limit
        self._fill()

    def on_resize(self) -> None:
        if self.analysis is not None and self.size.width != self._filled_width:
            self._fill()  # the texts are cut to the width the table has now

    def _fill(self) -> None:
        issues = self.analysis.label_issues[: self.limit]
        rows = [
            (
                Text(str(i.row), justify="right"),
                fix_cell(self.marks.get(i.row)),
                Text(clip(i.label, 14)),
                Text(clip(i.suggested, 14), style="yellow"),
                Text(f"{i.score:.3f}", justify="right"),
            )
            for i in issues
        ]
        widths = [
            max([len(name), *(r[k].cell_len for r in rows)]) for k, name in enumerate(self.COLUMNS[:-1])
        ]
        pad = 2 * self.cell_padding
        room = self.size.width - self.styles.scrollbar_size_vertical - sum(w + pad for w in widths) - pad
        text_width = max(20, room) if self.size.width else 60  # 60 until the table is laid out
        self._filled_width = self.size.width
        cursor = self.cursor_row
        self.clear(columns=True)
        for name in self.COLUMNS:
            self.add_column(name, key=name)
        for cells, issue in zip(rows, issues):
            self.add_row(*cells, clip(issue.text, text_width))
        if rows:
            self.move_cursor(row=min(max(cursor, 0), len(rows) - 1))


class ReliabilityPlot(PlotextPlot):
    """Accuracy per confidence bin against the diagonal of perfect calibration."""

    def show(self, analysis: Any) -> None:
        """Draw the analysis's reliability bins and its ECE."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        bins = analysis.reliability
        title = f"reliability · ECE {analysis.ece:.3f} (15 bins, T={analysis.temperature:.2f})"
        plt.title(title)
        plt.plot([0, 1], [0, 1], color="gray", marker="braille")  # perfect calibration
        filled = [b for b in bins if b["count"]]
        if filled:  # each non-empty bin at (its mean confidence, its accuracy)
            xs, ys = [b["confidence"] for b in filled], [b["accuracy"] for b in filled]
            plt.plot(xs, ys, color="cyan", marker="braille")
            plt.scatter(xs, ys, color="cyan", marker="●")
        ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
        plt.xticks(ticks, [f"{t:.1f}" for t in ticks])
        plt.yticks(ticks, [f"{t:.1f}" for t in ticks])
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        plt.xlabel("confidence")
        plt.ylabel("accuracy")
        self.refresh()
