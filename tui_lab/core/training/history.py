"""The one fold of a run's events: its status, progress and the series the charts draw.

A live run, a replayed ``events.jsonl``, a run watched while another process writes it and a row
of ``tui-lab runs`` all go through :meth:`RunHistory.apply`, so they cannot disagree. Series are downsampled for
drawing (:func:`downsample`), so a 100,000-step run costs the same to draw as a short one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tui_lab.core.training.events import (
    BaselineReady,
    CheckpointSaved,
    DeviceSampled,
    Evaluated,
    Event,
    Notice,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStatus,
    StepLogged,
    TeacherReady,
)

__all__ = ["RunHistory", "RunStatus", "downsample", "finish_status"]

SMOOTHING = 0.9  # exponential moving average of the train loss, like TensorBoard's slider


@dataclass
class RunHistory:
    """Everything a chart or a status line needs to know about one run so far."""

    started: RunStarted | None = None
    status: RunStatus = RunStatus.IDLE
    first_started_at: float | None = None  # the first run_started (a resume keeps it)
    step: int = 0  # the furthest optimiser step any event reported
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    throughput: list[float] = field(default_factory=list)
    evaluated_at_steps: list[int] = field(default_factory=list)  # one per dev evaluation
    eval_metrics: list[dict[str, float]] = field(default_factory=list)
    device_times: list[float] = field(default_factory=list)
    device: list[DeviceSampled] = field(default_factory=list)
    last_step: StepLogged | None = None
    last_eval: Evaluated | None = None
    best_eval: Evaluated | None = None
    test_eval: Evaluated | None = None
    baseline: BaselineReady | None = None
    teacher: TeacherReady | None = None
    finished: RunFinished | None = None
    failure: RunFailed | None = None
    notices: list[Notice] = field(default_factory=list)
    best_checkpoint_step: int | None = None
    version: int = 0  # bumped on every change, so a chart knows whether to redraw

    def apply(self, event: Event) -> None:
        """Fold one event into the series."""
        self.version += 1
        step = getattr(event, "step", None)
        if isinstance(step, int):
            self.step = max(self.step, step)
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def extend(self, events: list[Event]) -> None:
        """Fold many events."""
        for event in events:
            self.apply(event)

    # .. handlers ..
    def _started(self, e: RunStarted) -> None:
        if e.start_step:  # a resume replays from its checkpoint: drop what came after it
            self._truncate(e.start_step)
        else:
            self.__init__()  # type: ignore[misc]
            self.version = 1
        self.started, self.status, self.step = e, RunStatus.RUNNING, e.start_step
        self.first_started_at = self.first_started_at or e.time
        self.finished = self.failure = None

    def _truncate(self, step: int) -> None:
        keep = sum(1 for s in self.steps if s <= step)
        for name in ("steps", "loss", "smoothed", "learning_rate", "throughput"):
            del getattr(self, name)[keep:]
        keep = sum(1 for s in self.evaluated_at_steps if s <= step)
        del self.evaluated_at_steps[keep:]
        del self.eval_metrics[keep:]

    def _step(self, e: StepLogged) -> None:
        self.steps.append(e.step)
        self.loss.append(e.loss)
        prev = self.smoothed[-1] if self.smoothed else e.loss
        self.smoothed.append(SMOOTHING * prev + (1 - SMOOTHING) * e.loss)
        self.learning_rate.append(e.learning_rate)
        self.throughput.append(e.samples_per_second)
        self.last_step = e

    def _evaluated(self, e: Evaluated) -> None:
        if e.split != "dev":
            self.test_eval = e
            return
        self.evaluated_at_steps.append(e.step)
        self.eval_metrics.append(e.metrics)
        self.last_eval = e
        if e.is_best:
            self.best_eval = e

    def _device(self, e: DeviceSampled) -> None:
        self.device_times.append(e.time)
        self.device.append(e)

    def _checkpoint(self, e: CheckpointSaved) -> None:
        if e.which == "best":
            self.best_checkpoint_step = e.step

    def _finished(self, e: RunFinished) -> None:
        self.finished, self.status, self.step = e, finish_status(e.status), e.step

    def _failed(self, e: RunFailed) -> None:
        self.failure, self.status = e, RunStatus.FAILED

    def _baseline(self, e: BaselineReady) -> None:
        self.baseline = e

    def _teacher(self, e: TeacherReady) -> None:
        self.teacher = e

    def _notice(self, e: Notice) -> None:
        self.notices.append(e)

    # .. views ..
    @property
    def best_metrics(self) -> dict[str, float]:
        """The best dev metrics: the finish's summary, else the last evaluation marked best."""
        if self.finished is not None and self.finished.best:
            return dict(self.finished.best)
        return dict(self.best_eval.metrics) if self.best_eval is not None else {}

    def metric_series(self, name: str) -> list[float]:
        """One dev metric at every evaluation (``nan`` where it was not reported)."""
        return [m.get(name, float("nan")) for m in self.eval_metrics]

    @property
    def metric_name(self) -> str:
        """The metric that picks best/ (from the run's config)."""
        if self.started is None:
            return "f1_macro"
        return str(self.started.config.get("train", {}).get("metric_for_best_model", "f1_macro"))


_HANDLERS = {
    RunStarted: RunHistory._started,
    StepLogged: RunHistory._step,
    Evaluated: RunHistory._evaluated,
    DeviceSampled: RunHistory._device,
    CheckpointSaved: RunHistory._checkpoint,
    RunFinished: RunHistory._finished,
    RunFailed: RunHistory._failed,
    BaselineReady: RunHistory._baseline,
    TeacherReady: RunHistory._teacher,
    Notice: RunHistory._notice,
}


def finish_status(value: str) -> RunStatus:
    """The status a ``run_finished`` event names; an unknown word (a newer writer) reads as stopped."""
    try:
        return RunStatus(value)
    except ValueError:
        return RunStatus.STOPPED


def downsample(xs: list[float], ys: list[float], max_points: int = 400) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points: the mean of equal buckets (the last point is kept exact)."""
    n = len(xs)
    if n <= max_points:
        return list(xs), list(ys)
    size = n / max_points
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(max_points):
        lo, hi = int(b * size), max(int((b + 1) * size), int(b * size) + 1)
        out_x.append(xs[hi - 1])
        chunk = ys[lo:hi]
        out_y.append(sum(chunk) / len(chunk))
    out_x[-1], out_y[-1] = xs[-1], ys[-1]
    return out_x, out_y
