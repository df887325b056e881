"""The Training pane: status, progress with ETA, live charts and the confusion matrix."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.widgets import ProgressBar, Static

from tui_lab.core.settings import render_settings
from tui_lab.core.training.clock import format_seconds
from tui_lab.core.training.history import RunHistory, RunStatus
from tui_lab.ui.status import status_cell
from tui_lab.ui.widgets.charts import (
    DeviceChart,
    LearningRateChart,
    LossChart,
    MetricsChart,
    RunChart,
    ThroughputChart,
    gpu_status_line,
)


def status_text(h: RunHistory) -> Text:
    """Run state, progress, the best metric and the baseline: six short lines at most.

    Separators end the segment before them (no segment starts with a space), which keeps the
    spacing right in SVG screenshots too.
    """
    text = Text()
    text.append_text(status_cell(h.status, prefix="● "))
    text.append("   ")
    if h.started is not None:
        text.append(h.started.run_name, "bold")
        world = f" · {h.started.world_size} processes" if h.started.world_size > 1 else ""
        text.append(f"\n{h.started.model} · {h.started.device} · {h.started.precision}{world}", "dim")
    elif (
        h.notices and h.finished is None
    ):  # still setting up: what it is doing (e.g. the teacher's pass, its time left)
        text.append(f"\n{h.notices[-1].text}", "dim")
    gpus = gpu_status_line(h.device[-1] if h.device else None)
    if gpus is not None:
        text.append(f"\n{gpus}", "dim")
    s = h.last_step
    if s is not None:
        text.append(f"\nstep {s.step}/{s.total_steps} · epoch {s.epoch:.2f}")
        if h.status == RunStatus.RUNNING:
            text.append(" · ")
            text.append(f"ETA {format_seconds(s.eta_seconds)}", "bold")
        text.append(f"\nloss {s.loss:.4f} · {s.samples_per_second:,.0f} samples/s")
    if h.failure is not None:
        text.append(f"\n{render_settings(h.failure.message, 'label')}", "bold red")
        return text
    if h.best_eval is not None:
        name, m = h.metric_name, h.best_eval.metrics
        text.append("\n")
        if name in m:
            text.append(f"best {name} {m[name]:.4f} @ {h.best_eval.step}", "green")
        if "accuracy" in m and name != "accuracy":
            text.append(f" · acc {m['accuracy']:.4f}", "green")
    extra = []
    if h.baseline is not None:
        extra.append((f"baseline acc {h.baseline.dev.get('accuracy', 0):.4f}", "dim"))
    if h.teacher is not None and h.teacher.dev:
        extra.append((teacher_line(h.teacher.dev), "cyan"))
    if h.test_eval is not None:
        extra.append((f"test acc {h.test_eval.metrics.get('accuracy', 0):.4f}", "cyan"))
    elif h.finished is not None and h.finished.reason:
        extra.append((h.finished.reason, "dim"))
    for i, (part, style) in enumerate(extra):
        text.append("\n" if i == 0 else " · ")
        text.append(part, style)
    return text


def teacher_line(dev: dict[str, float]) -> str:
    """The teacher's dev score for the status: its accuracy (the chart's cyan line), after its
    entity F1 for a NER teacher (the score its students are picked by)."""
    parts = [f"f1 {dev['f1']:.4f}"] if "f1" in dev else []
    parts += [f"acc {dev['accuracy']:.4f}"] if "accuracy" in dev else []
    return "teacher " + " · ".join(parts)


def confusion_table(h: RunHistory) -> Table | Text:
    """The latest dev confusion matrix (rows: true label, columns: predicted)."""
    ev = h.last_eval
    if ev is None:
        return Text("confusion matrix\nafter the first\nevaluation", style="dim")
    if ev.confusion_matrix is None:  # multi-label, NER: the task's per-label or per-entity-type F1
        return per_label_f1(ev.step, ev.labels, ev.metrics)
    short = [label[:5] for label in ev.labels]
    table = Table(
        box=None,
        padding=(0, 0, 0, 1),
        show_edge=False,
        header_style="dim",
        title_style="dim",
        title=f"confusion @ {ev.step}",
        title_justify="left",
    )
    table.add_column("true↓", style="dim", no_wrap=True, max_width=8)
    for label in short:
        table.add_column(label, justify="right", no_wrap=True)
    for i, (label, row) in enumerate(zip(ev.labels, ev.confusion_matrix)):
        cells = [
            Text(str(v), style="bold green" if i == j else ("red" if v else "dim")) for j, v in enumerate(row)
        ]
        table.add_row(label[:8], *cells)
    return table


F1_BAR = 8


def per_label_f1(step: int, labels: list[str], metrics: dict[str, float]) -> Text:
    """A bar and the dev F1 of each ``f1/<name>`` metric the task reports (a label of a multi-label
    run, an entity type of a NER run); without any, one line per label with ``-``."""
    names = [k[3:] for k in metrics if k.startswith("f1/")] or labels
    text = Text(f"F1 by {'label' if set(names) <= set(labels) else 'entity type'} @ {step}", style="dim")
    for name in names:
        value = metrics.get(f"f1/{name}")
        text.append(f"\n{name[:10]:<10} ")
        if value is None:
            text.append("-")
            continue
        filled = round(F1_BAR * value)
        text.append("█" * filled, "green" if value >= 0.8 else "yellow")
        text.append("░" * (F1_BAR - filled), "dim")
        text.append(f" {value:.3f}", "green" if value >= 0.8 else "")
    return text


def chart_legend() -> Text:
    """One line that says what each colour in the charts is."""
    text = Text()
    for label, style in (
        ("━ train ", "grey50"),
        ("━ EMA ", "cyan"),
        ("● dev loss  ", "orange1"),
        ("━ acc ", "green"),
        ("━ F1 ", "magenta"),
        ("─ baseline  ", "grey50"),
        ("━ util ", "green"),
        ("━ mem", "red"),
    ):
        text.append(label, style)
    return text


class TrainingPane(Vertical):
    """Everything about the current run, redrawn at a bounded rate."""

    STATUS_SECONDS = 0.5  # status, progress bar, confusion matrix
    CHART_SECONDS = 1.0  # charts: each redraws only if its own data changed

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = RunHistory()
        self._drawn = -1

    def compose(self) -> ComposeResult:
        with Horizontal(id="train-top"):
            yield Static(status_text(self.history), id="train-status")
            yield Static(confusion_table(self.history), id="confusion")
        yield ProgressBar(total=1, show_eta=False, id="train-progress")
        yield Static(chart_legend(), id="chart-legend")
        with Grid(id="charts"):
            yield LossChart(id="chart-loss", classes="major")
            yield MetricsChart(id="chart-metrics", classes="major")
            yield LearningRateChart(id="chart-lr")
            yield ThroughputChart(id="chart-throughput")
            yield DeviceChart(id="chart-device")

    def on_mount(self) -> None:
        self.border_title = Content("Training  [F4]")
        self.border_subtitle = "ctrl+t train · f7 pause · ctrl+x stop"  # f7 is not in the footer
        self.show_history(self.history)
        self.set_interval(self.STATUS_SECONDS, self.redraw_status)
        self.set_interval(self.CHART_SECONDS, self.redraw_charts)

    def show_history(self, history: RunHistory) -> None:
        """Draw another run (a new live run, a replayed or watched one)."""
        self.history = history
        self._drawn = -1
        for chart in self.query(RunChart):
            chart.show(history)
        self.redraw()

    def redraw(self) -> None:
        """Refresh everything that changed."""
        self.redraw_status()
        self.redraw_charts()

    def redraw_status(self) -> None:
        """Status text, progress bar and confusion matrix, if anything happened."""
        h = self.history
        if h.version == self._drawn:
            return
        self._drawn = h.version
        # fixed-size boxes: an update repaints them without a new layout of the screen
        self.query_one("#train-status", Static).update(status_text(h), layout=False)
        confusion = self.query_one("#confusion", Static)
        labels = len(h.started.labels) if h.started else 0
        width = min(44, 12 + 7 * labels) if labels else 18
        if confusion.styles.width is None or confusion.styles.width.value != width:
            confusion.styles.width = width  # sized once per run, by its number of labels
        confusion.update(confusion_table(h), layout=False)
        bar = self.query_one("#train-progress", ProgressBar)
        if h.last_step is not None:
            bar.update(total=h.last_step.total_steps, progress=h.last_step.step)
        elif h.started is not None:
            bar.update(total=h.started.total_steps, progress=h.started.start_step)

    def redraw_charts(self) -> None:
        """Charts whose data changed."""
        with self.app.batch_update():
            for chart in self.query(RunChart):
                chart.redraw()
