"""The Label screen (F11): the pool texts the run's model is least sure of, labelled from the keyboard.

The pool (``data.pool``) is ranked in a worker by :mod:`tui_lab.core.active` (the default
``diverse`` strategy) with the run's best model, a progress line showing while it scores. Each row
shows the model's guess and its probability. A digit labels the row under the cursor (``1`` = the
first label; on multi-label data it adds or takes away that label), ``s`` skips it, ``x`` marks it
unusable, ``r`` ranks the rest again. Labels go to the corrections file as ``add`` lines, so the
next run (ctrl+t: the same settings) trains on them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui_lab.core.settings import render_error
from tui_lab.ui.widgets.analysis_views import clip

TOP = 50  # rows ranked at a time


class LabelScreen(Screen[bool]):
    """The pool ranked by the model; a digit labels the row, ``s`` skips, ``x`` marks unusable.
    Dismisses with True when ctrl+t asks for a new run (the lab starts it)."""

    owns_start = True  # ctrl+t here closes the screen and retrains

    BINDINGS = [
        Binding("escape,f11", "back", "Back"),
        Binding("1", "label(1)", "Label", key_display="1-9"),
        *(Binding(str(n), f"label({n})", show=False) for n in range(2, 10)),
        Binding("s", "decide('skip')", "Skip"),
        Binding("x", "decide('unusable')", "Unusable"),
        Binding("r", "rank", "Rank again"),
        Binding("ctrl+t", "retrain", "Retrain"),
    ]
    DEFAULT_CSS = """
    LabelScreen #label-box { height: 1fr; border: round $primary; }
    LabelScreen #label-table { height: 1fr; }
    LabelScreen #label-progress { color: $warning; }
    """

    def __init__(self, run_dir: str, pool: str, corrections: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.pool = pool
        self.corrections = corrections
        self.labels: list[str] = []
        self.multi_label = False
        self.rows: list[Any] = []  # the suggestions shown, best first
        self.done: dict[int, Any] = {}  # pool row -> what was decided (a label, a list, skip, unusable)
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="label-box"):
            yield Static("", id="label-hint")
            yield Static("", id="label-progress")
            yield DataTable(id="label-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#label-box").border_title = f"Label the pool: {Path(self.pool).name}"
        table = self.query_one("#label-table", DataTable)
        for name in ("row", "text", "guess", "prob.", "labelled"):
            table.add_column(name, key=name)
        self.action_rank()

    # .. ranking ........................................................................................
    def action_rank(self) -> None:
        """Rank the pool again with the run's model (the texts decided on are left out)."""
        if self.busy:
            return
        self.busy = True
        self._progress(0, 0)
        self._rank()

    @work(thread=True, exclusive=True, exit_on_error=False, group="label", description="rank the pool")
    def _rank(self) -> None:
        from tui_lab.core.imports import import_heavy

        import_heavy()  # waits for the lab's warm-up import (two threads importing transformers clash)
        from tui_lab.core import active
        from tui_lab.core.deploy.predictor import Predictor
        from tui_lab.core.errors import LabError

        last = [0.0]

        def progress(done: int, total: int) -> None:
            if done >= total or time.monotonic() - last[0] > 0.2:
                last[0] = time.monotonic()
                self.app.call_from_thread(self._progress, done, total)

        try:
            texts = active.read_pool(self.pool)
            predictor = Predictor.from_path(self.run_dir)
            exclude = active.decided_texts(self.corrections)
            rows = active.suggest(predictor, texts, "diverse", TOP, exclude, progress)
            found: Any = (rows, predictor.labels, predictor.multi_label)
        except LabError as exc:
            found = render_error(exc, "label")
        except Exception as exc:  # a failed ranking must not close the lab
            found = f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._ranked, found)

    def _progress(self, done: int, total: int) -> None:
        if not self.is_attached:
            return
        line = f"scoring the pool: {done:,}/{total:,} texts" if total else "loading the model and the pool…"
        if total and done >= total:
            line = f"scored {total:,} texts; clustering the least sure…"
        self.query_one("#label-progress", Static).update(line)

    def _ranked(self, found: Any) -> None:
        self.busy = False
        if not self.is_attached:
            return
        progress = self.query_one("#label-progress", Static)
        if isinstance(found, str):
            progress.update(Text(f"could not rank the pool: {found}", style="red"))
            return
        self.rows, self.labels, self.multi_label = found
        self.done = {}
        progress.update("" if self.rows else "every pool text has a decision: nothing left to label")
        self._fill()
        self.query_one("#label-table", DataTable).focus()

    def _fill(self) -> None:
        table = self.query_one("#label-table", DataTable)
        table.clear()
        for s in self.rows:
            table.add_row(
                Text(str(s.row), justify="right"),
                clip(s.text, 70),
                clip(s.predicted or "-", 14),
                Text(f"{s.confidence:.3f}", justify="right"),
                self._decided(s.row),
                key=str(s.row),
            )
        self._hint()

    def _decided(self, row: int) -> Text:
        value = self.done.get(row)
        if value is None:
            return Text("")
        if value in ("skip", "unusable"):
            return Text("skipped" if value == "skip" else "unusable", style="dim")
        return Text(clip("|".join(value) if isinstance(value, list) else value, 14), style="bold green")

    def _hint(self) -> None:
        keys = " ".join(f"{i} {name}" for i, name in enumerate(self.labels[:9], 1))
        added = sum(1 for v in self.done.values() if v not in ("skip", "unusable"))
        hint = (
            f"{len(self.rows)} least-sure texts (diverse) · {keys} · s skip · x unusable · r rank again · "
            f"{added} labelled → {self.corrections.name} · ctrl+t retrains with them"
        )
        self.query_one("#label-hint", Static).update(Text(hint, style="dim"))

    # .. decisions ......................................................................................
    def selected(self) -> Any:
        """The suggestion under the cursor, or ``None``."""
        table = self.query_one("#label-table", DataTable)
        if not self.rows or table.cursor_row < 0:
            return None
        return self.rows[min(table.cursor_row, len(self.rows) - 1)]

    def action_label(self, number: int) -> None:
        """Label the row under the cursor with label ``number`` (1 = the first)."""
        item = self.selected()
        if item is None:
            return
        if not 1 <= number <= len(self.labels):
            self.notify(
                f"There is no label {number}; the labels are 1-{len(self.labels)}.", severity="warning"
            )
            return
        name = self.labels[number - 1]
        label: Any = name
        if self.multi_label:
            current = self.done.get(item.row)
            current = list(current) if isinstance(current, list) else []
            label = [v for v in current if v != name] if name in current else [*current, name]
            if not label:
                self.notify("A multi-label example needs at least one label; press s to skip it.")
                return
        self._write(item, "add", label)

    def action_decide(self, action: str) -> None:
        """Skip the row under the cursor, or mark it unusable (it is not suggested again)."""
        item = self.selected()
        if item is not None:
            self._write(item, action)

    def _write(self, item: Any, action: str, label: Any = None) -> None:
        from tui_lab.core import active
        from tui_lab.core.errors import LabError

        try:
            active.record(self.corrections, self.pool, item.row, item.text, action, label)
        except (LabError, OSError) as exc:
            message = render_error(exc, "label") if isinstance(exc, LabError) else str(exc)
            self.notify(f"Not saved: {message}", severity="error")
            return
        self.done[item.row] = label if action == "add" else action
        table = self.query_one("#label-table", DataTable)
        table.update_cell(str(item.row), "labelled", self._decided(item.row))
        if not (self.multi_label and action == "add"):
            table.move_cursor(row=min(table.cursor_row + 1, len(self.rows) - 1))
        self._hint()

    def action_retrain(self) -> None:
        """Back to the lab, which trains again with the form's settings (and the new labels)."""
        self.dismiss(True)

    def action_back(self) -> None:
        """Back to the lab."""
        self.dismiss(False)
