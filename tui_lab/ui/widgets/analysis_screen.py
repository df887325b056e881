"""The Analysis screen (F9): why the run's model is wrong.

Four parts, filled from one :func:`tui_lab.core.analysis.analyze.analyze_run` that runs in a thread
worker (the lab keeps drawing; a line says which stage it is in): per-class scores for dev and
test, the confusion matrix to walk (Enter lists a cell's examples), a reliability diagram with
the ECE, and training rows whose label looks wrong: on one of those (and on a cell's examples) a
digit sets the label, ``l`` picks one, ``k`` keeps the row, ``d`` drops it, ``u`` undoes, each
appended at once to the data file's corrections file (:mod:`tui_lab.ui.widgets.row_fixes`).
While a run is still training it analyses the latest ``best/`` at the moment it starts (``r``
analyses again). ``t`` fits a temperature on
dev and saves it beside the model; ``x`` writes the label issues to ``RUN_DIR/label_issues.csv``.
Dismisses with a text to put into the console, or ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from tui_lab.core.settings import render_error
from tui_lab.ui.widgets.analysis_views import ClassTable, ErrorGrid, IssuesTable, ReliabilityPlot
from tui_lab.ui.widgets.row_fixes import FIX_BINDINGS, RowFixes, RowFixing


class AnalysisProgress(Message):
    """A stage of the analysis has started (posted from the worker thread)."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class AnalysisScreen(RowFixing, Screen[str | None]):
    """Per-class scores, the walkable grid, calibration and label issues of one run."""

    BINDINGS = [
        Binding("escape,f9", "close", "Back"),
        Binding("s", "sort", "Sort"),
        Binding("t", "calibrate", "Calibrate"),
        Binding("x", "export_issues", "Issues CSV"),
        Binding("r", "analyse", "Refresh"),
        *FIX_BINDINGS,
    ]
    # Two rows: per-class scores beside calibration, then the grid (as wide as its columns) beside
    # the label issues, whose texts get the rest of the width.
    DEFAULT_CSS = """
    AnalysisScreen #an-status { height: 1; }
    AnalysisScreen .an-row { height: 1fr; }
    AnalysisScreen .an-part { border: round $primary-darken-1; height: 1fr; }
    AnalysisScreen .an-part:focus-within { border: round $accent; }
    AnalysisScreen #an-classes-box { width: 11fr; }
    AnalysisScreen #an-cal-box { width: 9fr; }
    AnalysisScreen #an-grid-box { width: auto; min-width: 36; max-width: 60%; }
    AnalysisScreen #an-grid { width: auto; }
    AnalysisScreen #an-issues-box { width: 1fr; }
    AnalysisScreen #an-cal-line { height: auto; }
    """

    def __init__(self, run_dir: str, analysis: Any = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.analysis = analysis
        self.busy = False
        self.fixes: RowFixes | None = None  # where decisions on the label issues' rows go

    def compose(self) -> ComposeResult:
        yield Static("", id="an-status")
        with Horizontal(id="an-top", classes="an-row"):
            with Vertical(id="an-classes-box", classes="an-part"):
                yield ClassTable(id="an-classes")
            with Vertical(id="an-cal-box", classes="an-part"):
                yield ReliabilityPlot(id="an-plot")
                yield Static("", id="an-cal-line")
        with Horizontal(id="an-bottom", classes="an-row"):
            with Vertical(id="an-grid-box", classes="an-part"):
                yield ErrorGrid(id="an-grid")
            with Vertical(id="an-issues-box", classes="an-part"):
                yield IssuesTable(id="an-issues")
        yield Footer()

    def on_mount(self) -> None:
        titles = {
            "#an-classes-box": "Per class  [s: sort]",
            "#an-grid-box": "Confusion: true ↓ predicted →",
            "#an-cal-box": "Calibration  [t: fit a temperature on dev]",
            "#an-issues-box": "Likely label issues in train  [1-9 label · k keep · d drop · u undo]",
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one("#an-grid-box").border_subtitle = "enter: examples"  # the title fits a narrow grid
        if self.analysis is not None:
            self._show(self.analysis)
        else:
            self.action_analyse()
        self.query_one(ErrorGrid).focus()

    # .. the worker ....................................................................................
    def action_analyse(self, calibrate: bool = False) -> None:
        """Analyse the run's latest best/ in a worker (``calibrate``: fit a temperature first)."""
        if self.busy:
            self.notify("An analysis is already running.", timeout=2)
            return
        self.busy = True
        verb = "fitting a temperature on dev" if calibrate else "analysing"
        self._status(Text(f"{verb} {Path(self.run_dir).name}… (the lab keeps going)", style="yellow"))
        self._analyse(calibrate, keep_issues=calibrate and self.analysis is not None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="analysis", description="analyse a run")
    def _analyse(self, calibrate: bool, keep_issues: bool) -> Any:
        from tui_lab.core.analysis.analyze import analyze_run, write_analysis
        from tui_lab.core.imports import import_heavy

        import_heavy()
        result = analyze_run(
            self.run_dir,
            calibrate=calibrate,
            allow_running=True,
            label_issues=not keep_issues,
            progress=lambda line: self.post_message(AnalysisProgress(line)),
        )
        if keep_issues and self.analysis is not None:
            result.label_issues = self.analysis.label_issues
            result.label_issues_note = self.analysis.label_issues_note
            result.label_issues_searched = self.analysis.label_issues_searched
        write_analysis(result)
        return result

    @on(AnalysisProgress)
    def _progress(self, message: AnalysisProgress) -> None:
        if self.busy:
            self._status(Text(f"analysing… {message.line}", style="yellow"))

    @on(Worker.StateChanged)
    def _done(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "analysis" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.busy = False
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            text = render_error(error, "label")
            self._status(Text(text, style="bold red"))
            self.notify(text, title="Analysis failed", severity="error", timeout=8)
            return
        self._show(event.worker.result)

    # .. showing ......................................................................................
    def _status(self, text: Text) -> None:
        self.query_one("#an-status", Static).update(text)

    def _show(self, analysis: Any) -> None:
        self.analysis = analysis
        self.query_one(ClassTable).show(analysis)
        self.query_one(ErrorGrid).show(analysis)
        r = analysis.report
        if (
            r.grid_cols != r.grid_rows
        ):  # per label (multi-label) or per entity type (NER), not true x predicted
            self.query_one("#an-grid-box").border_title = "Errors per label"
        self.query_one(ReliabilityPlot).show(analysis)
        self._load_fixes(analysis)
        self.query_one(IssuesTable).show(analysis)
        held_out = analysis.label_issues_searched[1] > 0
        self.query_one("#an-issues-box").border_subtitle = (
            "+ held-out dev rows, with the model" if held_out else ""
        )
        issues = f"{len(analysis.label_issues)} likely label issue(s)"
        if analysis.label_issues_note:
            issues = analysis.label_issues_note
        line = (
            f"{Path(analysis.run_dir).name} · {analysis.model_dir} · {analysis.split}: "
            f"{sum(map(sum, analysis.report.counts))} predictions · {issues} · "
            "escape: back · tab: next part"
        )
        self._status(Text(line, style="dim"))
        self.query_one("#an-cal-line", Static).update(_calibration_line(analysis))

    def _load_fixes(self, analysis: Any) -> None:
        """The decisions already made on the training file's rows (the ``fix`` column)."""
        from tui_lab.core.errors import LabError

        try:
            self.fixes = RowFixes.for_run(self.run_dir, "train", analysis.labels, analysis.task)
        except LabError as exc:
            self.fixes = None
            self.notify(render_error(exc, "label"), severity="error", timeout=8)
        self.query_one(IssuesTable).marks = self.fixes.standing if self.fixes else {}

    # .. decisions on rows (row_fixes.RowFixing) ......................................................
    def fix_target(self) -> tuple[Any, RowFixes] | None:
        """The label issue under the cursor and where decisions on it go."""
        table = self.query_one(IssuesTable)
        if self.analysis is None or not self.analysis.label_issues:
            return None
        if not table.has_focus:
            self.notify("Move to the label issues (tab), or open a cell's examples (enter).", timeout=3)
            return None
        if self.fixes is None:
            self.notify(
                "This run's data cannot take corrections (a hub dataset or tagged tokens).", timeout=4
            )
            return None
        return self.analysis.label_issues[
            min(table.cursor_row, len(self.analysis.label_issues) - 1)
        ], self.fixes

    def fixes_changed(self, row: int) -> None:
        """Redraw the ``fix`` column."""
        table = self.query_one(IssuesTable)
        table.marks = self.fixes.standing if self.fixes else {}
        table.show(self.analysis, table.limit)

    # .. keys .........................................................................................
    def action_sort(self) -> None:
        """Sort the per-class table by the next column."""
        self.notify(f"classes sorted by {self.query_one(ClassTable).cycle_sort()}", timeout=2)

    def action_calibrate(self) -> None:
        """Fit a temperature on dev, save it in best/config.json, show ECE before/after."""
        self.action_analyse(calibrate=True)

    def action_export_issues(self) -> None:
        """Write every label issue to RUN_DIR/label_issues.csv."""
        from tui_lab.core.analysis.analyze import ISSUES_FILE, export_label_issues

        if self.analysis is None:
            return
        path = export_label_issues(self.analysis.label_issues, Path(self.run_dir) / ISSUES_FILE)
        self.notify(f"{len(self.analysis.label_issues)} label issue(s) written to {path}", timeout=5)

    @on(DataTable.CellSelected, "#an-grid")
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        self.open_cell(event.coordinate.row, event.coordinate.column)

    def open_cell(self, i: int, j: int) -> None:
        """List the examples behind cell (i, j) of the grid."""
        from tui_lab.ui.widgets.examples_screen import ExamplesScreen

        a = self.analysis
        if a is None:
            return
        r = a.report
        examples = r.cells.get((i, j), [])
        if not examples:
            self.notify("no examples in this cell", timeout=2)
            return
        title = f"{a.split}: {r.grid_rows[i]} → {r.grid_cols[j]}  ({r.counts[i][j]} example(s))"

        def back(text: str | None) -> None:
            if text:
                self.dismiss(text)

        from tui_lab.core.errors import LabError

        try:
            fixes = RowFixes.for_run(self.run_dir, a.split, a.labels, a.task)
        except LabError:
            fixes = None  # said when the screen opened
        self.app.push_screen(ExamplesScreen(title, examples, a.model_dir, fixes), back)

    def action_close(self) -> None:
        """Back to the lab."""
        self.dismiss(None)


def _calibration_line(a: Any) -> Text:
    if a.calibration:
        c = a.calibration
        return Text(
            f"temperature {c['temperature']:.3f} fitted on dev and saved: ECE {c['ece_before']:.4f} → "
            f"{c['ece_after']:.4f}, NLL {c['nll_before']:.4f} → {c['nll_after']:.4f}",
            style="green",
        )
    if a.task == "multilabel":
        return Text("per (text, label) call · the threshold was tuned on dev after training", style="dim")
    from tui_lab.core.tasks import TASKS

    refusal = getattr(TASKS.get(a.task), "temperature_refusal", "")
    if refusal:
        return Text(f"no temperature · {refusal}", style="dim")
    saved = f"saved temperature {a.temperature:.3f} in use" if a.temperature != 1.0 else "no temperature"
    return Text(f"{saved} · t fits one on dev (console and predict use it)", style="dim")


def pick_run(model_dir: str | None, output_dir: str) -> str | None:
    """The run to analyse: the console's, if it is a run folder with best/; else the newest such run."""
    from tui_lab.core.models import checkpoint
    from tui_lab.core.training.runs import is_run_dir, list_runs

    candidates = [model_dir] if model_dir and is_run_dir(model_dir) else []
    candidates += [r.path for r in list_runs(output_dir)]
    return next((c for c in candidates if checkpoint.resolve(Path(c) / "best") is not None), None)
