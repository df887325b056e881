"""Charts of a run (textual-plotext), all drawn from one :class:`RunHistory`.

A chart redraws only when the history changed since its last drawing and only when its pane asks
(a timer a few times a second), and every series is downsampled before plotting, so neither a fast
run nor a 100,000-step run makes the screen stutter or the training thread starve.
"""

from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot

from tui_lab.core.training.history import RunHistory, downsample

MAX_POINTS = 300


class RunChart(PlotextPlot):
    """Base of the run charts: ``draw(plt, history)`` is called only when there is news."""

    DEFAULT_CSS = """
    RunChart { height: 1fr; min-height: 6; }
    """
    title = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: RunHistory | None = None
        self._drawn: Any = None
        self.points = 0  # points plotted in the last drawing

    def on_mount(self) -> None:
        super().on_mount()
        self._empty()

    def _empty(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(self.title)
        plt.xticks([])
        plt.yticks([])
        self.refresh()

    def show(self, history: RunHistory) -> None:
        """Follow another history (a new run, a replay)."""
        self.history, self._drawn = history, None
        self.redraw()

    def data_key(self, h: RunHistory) -> Any:
        """Changes exactly when what this chart draws changes (so other news costs nothing)."""
        return len(h.steps), len(h.evaluated_at_steps)

    def redraw(self) -> bool:
        """Redraw if this chart's data changed; returns whether it did."""
        h = self.history
        if h is None or not self.display:
            return False
        key = (id(h), h.started.time if h.started else None, self.data_key(h))
        if key == self._drawn:
            return False
        self._drawn = key
        self.points = 0
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        self.draw(plt, h)
        self.refresh()
        return True

    def draw(self, plt: Any, history: RunHistory) -> None:
        """Plot the history (subclasses)."""

    def line(self, xs: list[float], ys: list[float], color: str, marker: str = "braille") -> None:
        """Plot one series (and count its points)."""
        self.plt.plot(xs, ys, color=color, marker=marker)
        self.points += len(xs)

    def up_to_date(self) -> bool:
        """Whether the last drawing shows the history's current data."""
        h = self.history
        return h is not None and self._drawn == (
            id(h),
            h.started.time if h.started else None,
            self.data_key(h),
        )


def yticks(
    plt: Any, values: list[float], fmt: str = "{:.2f}", lo: float | None = None, hi: float | None = None
) -> None:
    """Three readable y ticks (plotext's own can run to six decimals and eat the plot's width)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return
    lo = min(vals) if lo is None else lo
    hi = max(vals) if hi is None else hi
    ticks = [lo] if hi == lo else [lo, (lo + hi) / 2, hi]
    plt.yticks(ticks, [fmt.format(t) for t in ticks])


def _count(n: float) -> str:
    return f"{n / 1000:.0f}k" if n >= 10_000 else f"{n:.0f}"


def _finite(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


class LossChart(RunChart):
    """Train loss (raw and smoothed) and dev loss against the step."""

    title = "loss"

    def draw(self, plt: Any, h: RunHistory) -> None:
        if h.steps:
            xs, ys = downsample(h.steps, h.loss, MAX_POINTS)
            self.line(xs, ys, "gray", "braille")
            xs, ys = downsample(h.steps, h.smoothed, MAX_POINTS)
            self.line(xs, ys, "cyan", "braille")
        dx, dy = _finite(h.evaluated_at_steps, h.metric_series("loss"))
        if dx:
            self.line(dx, dy, "orange", "dot")
        yticks(plt, h.loss[-2000:] + dy)
        _step_axis(plt, h)


class MetricsChart(RunChart):
    """Dev accuracy and F1 (macro; a NER run's entity F1) at each evaluation, with the TF-IDF
    baseline's accuracy (grey) and a distilled run's teacher's (cyan); dev perplexity for a task that reports it (masked-LM pretraining)."""

    title = "dev accuracy · macro-F1"
    levels: tuple[tuple[float, str], ...] = ()  # the horizontal lines of the last drawing

    def data_key(self, h: RunHistory) -> Any:
        return len(h.evaluated_at_steps), h.baseline is not None, h.teacher is not None

    def draw(self, plt: Any, h: RunHistory) -> None:
        if "perplexity" in _task_metrics(h):
            self._draw_perplexity(plt, h)
            return
        values: list[float] = []
        for name, color in (("accuracy", "green"), ("f1_macro", "magenta"), ("f1", "magenta")):
            xs, ys = _finite(h.evaluated_at_steps, h.metric_series(name))
            if xs:
                self.line(xs, ys, color, "dot" if len(xs) < 3 else "braille")
                values += ys
        levels = []  # (accuracy, colour) of each horizontal line
        for event, color in ((h.baseline, "gray"), (h.teacher, "cyan")):
            acc = event.dev.get("accuracy") if event is not None else None
            if acc is not None and h.evaluated_at_steps:
                plt.hline(acc, color)
                levels.append((acc, color))
                values.append(acc)
        self.levels = tuple(levels)
        if values:
            lo = max(0.0, min(values) - 0.02)
            plt.ylim(lo, 1.0)
            yticks(plt, values, lo=lo, hi=1.0)
        _step_axis(plt, h)

    def _draw_perplexity(self, plt: Any, h: RunHistory) -> None:
        plt.title("dev perplexity")
        xs, ys = _finite(h.evaluated_at_steps, h.metric_series("perplexity"))
        if xs:
            self.line(xs, ys, "green", "dot" if len(xs) < 3 else "braille")
            yticks(plt, ys, "{:.1f}")
        _step_axis(plt, h)


def _task_metrics(h: RunHistory) -> tuple[str, ...]:
    """The metrics the run's task reports (``metric_names``; classification's when unknown)."""
    from tui_lab.core.tasks import DEFAULT_TASK, TASKS

    name = str(h.started.config.get("model", {}).get("task", "")) if h.started is not None else ""
    return TASKS.get(name, TASKS[DEFAULT_TASK]).metric_names


class StepSeriesChart(RunChart):
    """One per-step series of the history (``series`` names the attribute) against the step."""

    series = ""
    color = "white"
    tick_format = "{:g}"

    def data_key(self, h: RunHistory) -> Any:
        return len(h.steps)

    def draw(self, plt: Any, h: RunHistory) -> None:
        if h.steps:
            xs, ys = downsample(h.steps, getattr(h, self.series), MAX_POINTS)
            self.line(xs, ys, self.color, "braille")
            yticks(plt, ys, self.tick_format, lo=0.0)
        _step_axis(plt, h)


class LearningRateChart(StepSeriesChart):
    """The learning rate schedule as it was applied."""

    title, series, color, tick_format = "learning rate", "learning_rate", "yellow", "{:.0e}"


class ThroughputChart(StepSeriesChart):
    """Training samples per second."""

    title, series, color, tick_format = "samples/s", "throughput", "blue", "{:,.0f}"


class DeviceChart(RunChart):
    """GPU utilisation and memory (NVML), or CPU and RAM (psutil), in percent over time.

    With several local GPUs the chart shows their band: the lowest and highest utilisation of
    any GPU at each reading, and the fullest GPU's memory, so a straggler or a full card shows.
    """

    title = "device"

    def data_key(self, h: RunHistory) -> Any:
        return len(h.device)

    def draw(self, plt: Any, h: RunHistory) -> None:
        samples = h.device
        if not samples:
            return
        t0 = samples[0].time
        xs = [s.time - t0 for s in samples]
        many = len(samples[-1].gpus) > 1
        if many:
            series = [
                ([_gpu_extreme(s, "util", min) for s in samples], "green"),
                ([_gpu_extreme(s, "util", max) for s in samples], "green"),
                ([_gpu_extreme(s, "mem", max) for s in samples], "red"),
            ]
        else:
            series = [
                ([_nan(s.utilization) for s in samples], "green"),
                ([_mem_pct(s) for s in samples], "red"),
            ]
        for ys, color in series:
            fx, fy = _finite(xs, ys)
            if fx:
                fx, fy = downsample(fx, fy, MAX_POINTS)
                self.line(fx, fy, color, "braille")
        plt.title(_gpu_band_title(samples[-1]) if many else _device_title(samples[-1]))
        plt.ylim(0, 100)
        plt.yticks([0, 50, 100], ["0", "50", "100%"])
        plt.xticks([0, xs[-1]], ["0s", f"{xs[-1]:.0f}s"])


def _nan(value: float | None) -> float:
    return value if value is not None else float("nan")


def _mem_pct(s: Any) -> float:
    if s.memory_used_mb and s.memory_total_mb:
        return 100.0 * s.memory_used_mb / s.memory_total_mb
    return float("nan")


def _gpu_values(sample: Any, what: str) -> list[float]:
    """Every local GPU's utilisation (``util``) or memory use in percent (``mem``) in a sample."""
    if what == "util":
        return [g["util"] for g in sample.gpus if g.get("util") is not None]
    return [
        100.0 * g["mem_used"] / g["mem_total"]
        for g in sample.gpus
        if g.get("mem_used") and g.get("mem_total")
    ]


def _gpu_extreme(sample: Any, what: str, pick: Any) -> float:
    values = _gpu_values(sample, what)
    return pick(values) if values else float("nan")


def _device_title(last: Any) -> str:
    name = "GPU" if last.device.startswith("cuda") else "CPU"
    now = f"{last.utilization:.0f}%" if last.utilization is not None else "-"
    extra = f" {last.temperature_c:.0f}°C" if last.temperature_c is not None else ""
    extra += f" {last.power_w:.0f}W" if last.power_w is not None else ""
    return f"{name} {now}{extra}"


def _gpu_band_title(last: Any) -> str:
    util, mem = _gpu_values(last, "util"), _gpu_values(last, "mem")
    temps = [g["temp"] for g in last.gpus if g.get("temp") is not None]
    text = f"{len(last.gpus)} GPUs"
    text += f" {min(util):.0f}-{max(util):.0f}%" if util else " -"
    text += f" mem≤{max(mem):.0f}%" if mem else ""
    return text + (f" ≤{max(temps):.0f}°C" if temps else "")


def gpu_status_line(last: Any) -> str | None:
    """One line with every local GPU's utilisation and the hottest temperature (``None`` for
    one device), for the status box."""
    if last is None or len(last.gpus) < 2:
        return None
    parts = [
        f"{g['index']}:{g['util']:.0f}%" if g.get("util") is not None else f"{g['index']}:-"
        for g in last.gpus
    ]
    temps = [g["temp"] for g in last.gpus if g.get("temp") is not None]
    return "GPUs " + " ".join(parts) + (f" · ≤{max(temps):.0f}°C" if temps else "")


def _step_axis(plt: Any, h: RunHistory) -> None:
    """x from step 0 to the run's last step, with three integer ticks."""
    if h.started is not None and h.started.total_steps:
        total = h.started.total_steps
        plt.xlim(0, total)
        ticks = [0, total // 2, total]
        plt.xticks(ticks, [_count(t) for t in ticks])
