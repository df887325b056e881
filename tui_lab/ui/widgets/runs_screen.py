"""The Runs screen (F6): every run in the output folder; open one, stop one, compare up to eight.

A run is read from its ``events.jsonl`` alone, so runs written by this lab, by a ``tui-lab train``
in another terminal, by a detached process or by a torchrun job all look the same here.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import PlotextPlot

from tui_lab.core.training.events import RunStatus, read_events
from tui_lab.core.training.history import RunHistory, downsample
from tui_lab.core.training.runs import RunInfo, config_diff, list_runs, request_stop, run_config
from tui_lab.ui.status import status_cell, status_label

RUN_COLORS = ("cyan", "orange", "green", "magenta", "blue", "red", "yellow", "white")  # plotext names
LEGEND_COLORS = ("cyan", "orange1", "green", "magenta", "blue", "red", "yellow", "white")  # as rich names
MAX_COMPARED = len(RUN_COLORS)  # one colour a run


def load_history(run_dir: str | Path) -> RunHistory:
    """A run's history replayed from its event log."""
    history = RunHistory()
    history.extend(read_events(Path(run_dir) / "events.jsonl"))
    return history


class RunsScreen(Screen[str | None]):
    """The list of runs. Dismisses with a run folder to open, or ``None``."""

    BINDINGS = [
        Binding("escape,f6", "close", "Back"),
        Binding("enter", "open", "Open"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("s", "stop_run", "Stop run"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, output_dir: str) -> None:
        super().__init__()
        self.output_dir = output_dir
        self.runs: list[RunInfo] = []
        self.marked: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-box", classes="pane"):
            yield Static("", id="runs-hint")
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-box").border_title = Content(f"Runs in {self.output_dir}/  [F6]")
        table = self.query_one(DataTable)
        for name in ("", "run", "status", "model", "started", "step", "accuracy", "macro-F1", "world"):
            table.add_column(name, key=name or "mark")
        self.action_refresh()
        self.set_interval(2.0, self.action_refresh)
        table.focus()

    def action_refresh(self) -> None:
        """Read the folder again (runs written elsewhere appear and move on)."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        self.runs = list_runs(self.output_dir)
        table.clear()
        for r in self.runs:
            started = time.strftime("%m-%d %H:%M", time.localtime(r.started)) if r.started else "-"
            table.add_row(
                "●" if r.path in self.marked else " ",
                r.name,
                status_cell(r.status),
                r.model_label[:24],
                started,
                f"{r.step}/{r.total_steps}",
                f"{r.best['accuracy']:.4f}" if "accuracy" in r.best else "-",
                f"{r.best.get('f1_macro', r.best.get('f1')):.4f}"
                if {"f1_macro", "f1"} & set(r.best)
                else "-",
                str(r.world_size),
                key=r.path,
            )
        if self.runs:
            table.move_cursor(row=min(cursor, len(self.runs) - 1))
        hint = (
            f"enter: open in the Training pane · space: mark · c: compare the marked (up to {MAX_COMPARED}) · "
            "s: stop a running run · escape: back"
        )
        if not self.runs:
            hint = f"no runs in {self.output_dir}/ yet · " + hint
        self.query_one("#runs-hint", Static).update(Text(hint, style="dim"))

    def _selected(self) -> RunInfo | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row < 0:
            return None
        return self.runs[min(table.cursor_row, len(self.runs) - 1)]

    def action_open(self) -> None:
        """Open the run under the cursor (replayed, and followed while it runs)."""
        run = self._selected()
        if run is not None:
            self.dismiss(run.path)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_mark(self) -> None:
        """Mark (or unmark) the run under the cursor for comparison; the last eight count."""
        run = self._selected()
        if run is None:
            return
        if run.path in self.marked:
            self.marked.remove(run.path)
        else:
            self.marked = (self.marked + [run.path])[-MAX_COMPARED:]
        self.action_refresh()

    def action_compare(self) -> None:
        """Compare the marked runs (two to eight)."""
        if len(self.marked) < 2:
            self.notify("Mark two or more runs with space first.", severity="warning")
            return
        self.app.push_screen(CompareScreen(self.marked))

    def action_stop_run(self) -> None:
        """Ask a running run to stop (any process: it polls its STOP file and saves last/)."""
        run = self._selected()
        if run is None or run.status not in (RunStatus.RUNNING, RunStatus.PAUSED):
            self.notify("Select a running run to stop.", severity="warning")
            return
        request_stop(run.path)
        self.notify(f"Asked {run.name} to stop; it saves last/ first.")

    def action_close(self) -> None:
        self.dismiss(None)


class OverlayChart(PlotextPlot):
    """One series of each compared run on the same axes (x in epochs), a colour a run."""

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.points = 0
        self.curves = 0  # series drawn in the last drawing
        self.x_max = 0.0  # the furthest x drawn (an epoch)

    def show(self, series: list[tuple[list[float], list[float]]], fmt: str = "{:.3f}") -> None:
        """Draw one ``(epochs, values)`` series a run (in :data:`RUN_COLORS` order)."""
        from tui_lab.ui.widgets.charts import yticks

        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        values: list[float] = []
        self.points = self.curves = 0
        self.x_max = 0.0
        for (xs, ys), color in zip(series, RUN_COLORS):
            xs, ys = _finite(xs, ys)
            if xs:
                self.x_max = max(self.x_max, max(xs))
                xs, ys = downsample(xs, ys, 300)
                plt.plot(xs, ys, color=color, marker="braille" if len(xs) > 3 else "dot")
                values += ys
                self.points += len(xs)
                self.curves += 1
        yticks(plt, values, fmt)
        self.refresh()


class CompareScreen(Screen[None]):
    """Two to eight runs: overlaid loss and metric curves by epoch, and the settings that differ."""

    BINDINGS = [Binding("escape,q", "close", "Back")]

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = [Path(p) for p in paths[:MAX_COMPARED]]
        self.diff: list[tuple[Any, ...]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-box", classes="pane"):
            yield Static("", id="compare-legend")
            with Horizontal(id="compare-charts"):
                yield OverlayChart("train loss (smoothed) by epoch", id="compare-loss")
                yield OverlayChart("dev metric by epoch", id="compare-metric")
            yield DataTable(id="compare-diff", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        names = [p.name for p in self.paths]
        self.query_one("#compare-box").border_title = "Compare " + " · ".join(names)
        histories = [load_history(p) for p in self.paths]
        self.metric = metric = compared_metric(histories)
        self.query_one("#compare-legend", Static).update(_legend(self.paths, histories, metric))
        self.query_one("#compare-loss", OverlayChart).show(
            [(_epochs(h, h.steps), h.smoothed) for h in histories]
        )
        chart = self.query_one("#compare-metric", OverlayChart)
        chart.title = f"dev {metric} by epoch"
        chart.show([(_epochs(h, h.evaluated_at_steps), h.metric_series(metric)) for h in histories])
        self._fill_diff(names)

    def _fill_diff(self, names: list[str]) -> None:
        table = self.query_one("#compare-diff", DataTable)
        table.add_column("setting", key="key")
        for i, name in enumerate(names):
            table.add_column(Text(name[:24], style=LEGEND_COLORS[i]), key=f"run{i}")
        self.diff = config_diff(*(run_config(p) for p in self.paths))
        for key, *values in self.diff:
            table.add_row(key, *(_show(v) for v in values))
        if not self.diff:
            table.add_row("(no differences in the config)", *([""] * len(names)))

    def action_close(self) -> None:
        self.dismiss(None)


def compared_metric(histories: list[RunHistory]) -> str:
    """The dev metric the compared runs are drawn by: the first run's ``metric_for_best_model``,
    or its task's default when that is empty."""
    from tui_lab.core.tasks import DEFAULT_TASK, TASKS

    for h in histories:
        if h.started is None:
            continue
        task = TASKS.get(h.started.task or str(h.started.config.get("model", {}).get("task", "")))
        return h.metric_name or (task or TASKS[DEFAULT_TASK]).default_metric
    return TASKS[DEFAULT_TASK].default_metric


def _legend(paths: list[Path], histories: list[RunHistory], metric: str) -> Text:
    """A line a run: its colour, name, status and best dev metric."""
    legend = Text()
    for i, (path, h) in enumerate(zip(paths, histories)):
        best = h.best_metrics.get(metric, float("nan"))
        legend.append(("\n" if i else "") + f"━ {path.name}", f"bold {LEGEND_COLORS[i]}")
        legend.append(f"  {status_label(h.status)} · best {metric} {best:.4f}")
    return legend


def _finite(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _epochs(h: RunHistory, steps: list[int]) -> list[float]:
    per_epoch = h.started.steps_per_epoch if h.started and h.started.steps_per_epoch else 1
    return [s / per_epoch for s in steps]


def _show(value: Any) -> str:
    return "-" if value is None else str(value)
