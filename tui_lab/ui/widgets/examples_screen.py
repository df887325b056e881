"""The examples behind one cell of the Analysis screen's grid.

Text, true label, predicted label, confidence and loss, the most confident mistakes first; ``/``
filters by a word, ``c`` (or Enter) sends the selected text to the console, ``e`` explains it
(Integrated Gradients, when :mod:`tui_lab.core.analysis.explain` is installed). A digit, ``l``,
``k``, ``d`` and ``u`` decide on the selected row (:mod:`tui_lab.ui.widgets.row_fixes`). Dismisses with the text to
send to the console, or ``None``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui_lab.core.settings import render_error
from tui_lab.ui.widgets.analysis_views import clip
from tui_lab.ui.widgets.row_fixes import FIX_BINDINGS, RowFixes, RowFixing, fix_cell


class ExamplesScreen(RowFixing, Screen[str | None]):
    """One cell's examples; ``/`` filters, ``c`` sends one to the console, ``e`` explains it."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("c", "send", "To console"),
        Binding("e", "explain", "Explain"),
        *FIX_BINDINGS,
    ]
    DEFAULT_CSS = """
    ExamplesScreen #examples-box { height: 1fr; border: round $primary; }
    ExamplesScreen #examples-filter { display: none; }
    ExamplesScreen #examples-filter.-shown { display: block; }
    ExamplesScreen #examples-table { height: 1fr; }
    ExamplesScreen #examples-explain { height: auto; max-height: 8; }
    """

    def __init__(
        self, title: str, examples: list[Any], model_dir: str, fixes: RowFixes | None = None
    ) -> None:
        super().__init__()
        self.fixes = fixes  # where decisions on these rows go (None: they cannot take any)
        self.title_text = title
        self.examples = examples
        self.shown: list[Any] = list(examples)
        self.model_dir = model_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="examples-box"):
            yield Static("", id="examples-hint")
            yield Input(placeholder="filter by a word (enter: back to the list)", id="examples-filter")
            yield DataTable(id="examples-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="examples-explain")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#examples-box").border_title = self.title_text
        table = self.query_one("#examples-table", DataTable)
        for name in ("row", "fix", "text", "true", "predicted", "conf.", "loss"):
            table.add_column(name, key=name)
        self._fill()
        table.focus()

    def _fill(self) -> None:
        table = self.query_one("#examples-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        marks = self.fixes.standing if self.fixes else {}
        for e in self.shown:
            table.add_row(
                Text(str(e.row), justify="right"),
                fix_cell(marks.get(e.row)),
                clip(e.text, 64),
                clip(e.label, 14),
                Text(clip(e.predicted, 14), style="green" if e.predicted == e.label else "red"),
                Text(f"{e.confidence:.3f}", justify="right"),
                Text(f"{e.loss:.3f}", justify="right"),
            )
        hint = (
            f"{len(self.shown)} of {len(self.examples)} example(s) · most confident mistakes first · "
            "/: filter · c/enter: send to the console · e: explain · escape: back"
        )
        if self.fixes is not None:
            hint += f" · {self.fixes.legend()} · k keep · d drop · u undo"
        self.query_one("#examples-hint", Static).update(Text(hint, style="dim"))
        if self.shown:
            table.move_cursor(row=min(max(cursor, 0), len(self.shown) - 1))

    def selected(self) -> Any:
        """The example under the cursor, or ``None``."""
        table = self.query_one("#examples-table", DataTable)
        if not self.shown or table.cursor_row < 0:
            return None
        return self.shown[min(table.cursor_row, len(self.shown) - 1)]

    def fix_target(self) -> tuple[Any, RowFixes] | None:
        """The example under the cursor and where decisions on it go."""
        example = self.selected()
        if example is None:
            return None
        if self.fixes is None:
            self.notify(
                "This run's data cannot take corrections (a hub dataset or tagged tokens).", timeout=4
            )
            return None
        return example, self.fixes

    def fixes_changed(self, row: int) -> None:
        """Redraw the ``fix`` column."""
        self._fill()

    def action_filter(self) -> None:
        """Show the filter box and put the cursor in it."""
        box = self.query_one("#examples-filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#examples-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        word = event.value.strip().lower()
        self.shown = [e for e in self.examples if word in e.text.lower()] if word else list(self.examples)
        self._fill()

    @on(Input.Submitted, "#examples-filter")
    def _filter_done(self) -> None:
        self.query_one("#examples-table", DataTable).focus()

    @on(DataTable.RowSelected, "#examples-table")
    def _row_selected(self) -> None:
        self.action_send()

    def action_send(self) -> None:
        """Leave with the selected text, for the console."""
        example = self.selected()
        if example is not None:
            self.dismiss(example.text)

    def action_back(self) -> None:
        """Back to the grid (escape in the filter box clears the filter first)."""
        box = self.query_one("#examples-filter", Input)
        if box.has_focus and box.value:
            box.value = ""
            return
        self.dismiss(None)

    def action_explain(self) -> None:
        """Explain the selected text (which words pushed the prediction) in a worker."""
        example = self.selected()
        if example is None:
            return
        self.query_one("#examples-explain", Static).update(Text("explaining…", style="dim"))
        self._explain(example.text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="explain", description="explain")
    def _explain(self, text: str) -> None:
        from tui_lab.core.analysis.explain import explain_texts
        from tui_lab.core.deploy.predictor import Predictor
        from tui_lab.core.errors import LabError
        from tui_lab.ui.widgets.explanation import explanation_text

        settings = getattr(getattr(self.app, "config", None), "explain", None)
        steps = getattr(settings, "n_steps", None)
        batch = getattr(settings, "internal_batch_size", None) or None
        try:
            predictor = Predictor.from_path(self.model_dir)
            shown: Any = explanation_text(explain_texts(predictor, [text], steps, batch)[0])
        except LabError as exc:
            shown = Text(f"could not explain: {render_error(exc, 'label')}", style="red")
        except Exception as exc:  # an explanation that fails must not close the list
            shown = Text(f"could not explain: {type(exc).__name__}: {exc}", style="red")
        self.app.call_from_thread(self._show_explanation, shown)

    def _show_explanation(self, shown: Any) -> None:
        if self.is_attached:
            self.query_one("#examples-explain", Static).update(shown)
