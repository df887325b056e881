"""The headless face of a run: a rich progress bar on a terminal, plain lines otherwise.

Both consume the same core events as the lab's charts; both write to stderr so that
``tui-lab train --json`` keeps stdout for its JSON summary.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from tui_lab.core.training.clock import format_seconds
from tui_lab.core.training.events import (
    BaselineReady,
    CheckpointSaved,
    Evaluated,
    Event,
    Notice,
    RunFailed,
    RunFinished,
    RunStarted,
    StepLogged,
    TeacherReady,
)


def describe_metrics(
    metrics: dict[str, float], keys: tuple[str, ...] = ("accuracy", "f1_micro", "f1_macro", "f1", "loss")
) -> str:
    """``accuracy 0.912  f1_macro 0.910  loss 0.245``."""
    return "  ".join(f"{k} {metrics[k]:.3f}" for k in keys if k in metrics)


def event_line(event: Event) -> str | None:
    """A one-line description of a notable event (``None`` for step and device events)."""
    if isinstance(event, RunStarted):
        resumed = f", resuming at step {event.start_step}" if event.start_step else ""
        task = f"{event.task} with " if event.task else ""
        labels = f", labels {', '.join(event.labels)}" if event.labels else ""
        return (
            f"run {event.run_name}: {task}{event.model} on {event.device} ({event.precision}), "
            f"{event.n_train} train / {event.n_dev} dev / {event.n_test} test{labels}, "
            f"{event.total_steps} steps{resumed}"
        )
    if isinstance(event, BaselineReady):
        sample = (
            f", fitted on a {event.train_rows:,}-row sample" if event.sampled and event.train_rows else ""
        )
        sample += ", read back from the cache" if event.cached else ""
        return (
            f"baseline (TF-IDF + logistic regression{sample}): "
            f"dev {describe_metrics(event.dev, ('accuracy', 'f1_macro'))}"
        )
    if isinstance(event, TeacherReady):
        return (
            f"teacher {event.source} ({event.backend}, {event.rows} texts scored once): "
            f"dev {describe_metrics(event.dev, ('accuracy', 'f1_macro', 'f1_micro', 'f1'))}"
        )
    if isinstance(event, Evaluated):
        best = "  (best)" if event.is_best else ""
        return f"{event.split} at step {event.step} (epoch {event.epoch:.2f}): {describe_metrics(event.metrics)}{best}"
    if isinstance(event, Notice):
        return f"{event.level}: {event.text}"
    if isinstance(event, RunFinished):
        why = f" ({event.reason})" if event.reason else ""
        return f"finished: {event.status}{why} after {event.step} steps, {event.train_samples_per_second:.0f} samples/s"
    if isinstance(event, RunFailed):
        return f"failed at step {event.step}: {event.message}"
    return None


class PlainProgress:
    """Plain lines for logs and pipes: notable events, and a step line every ~10% or 30 s."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last_time = 0.0
        self._last_decile = -1

    def __call__(self, event: Event) -> None:
        if isinstance(event, StepLogged):
            decile = int(10 * event.step / max(event.total_steps, 1))
            now = time.monotonic()
            if decile == self._last_decile and now - self._last_time < 30:
                return
            self._last_decile, self._last_time = decile, now
            self._write(
                f"step {event.step}/{event.total_steps}  epoch {event.epoch:.2f}  loss {event.loss:.4f}  "
                f"lr {event.learning_rate:.2e}  {event.samples_per_second:.0f} samples/s  "
                f"eta {format_seconds(event.eta_seconds)}"
            )
            return
        line = event_line(event)
        if line and not isinstance(event, (CheckpointSaved, RunFailed)):  # the CLI prints the error
            self._write(line)

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Nothing to release."""


class RichProgress:
    """A rich progress bar with ETA, loss and samples/s; notable events print above it."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = Console(file=stream)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epoch {task.fields[epoch]}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]} samples/s"),
            TextColumn("ETA {task.fields[eta]}"),
            console=self.console,
            transient=False,
        )
        self.task: Any = None
        self.progress.start()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.task = self.progress.add_task(
                "training",
                total=event.total_steps,
                completed=event.start_step,
                epoch="-",
                loss="-",
                rate="-",
                eta="-",
            )
        if isinstance(event, StepLogged) and self.task is not None:
            self.progress.update(
                self.task,
                completed=event.step,
                epoch=f"{event.epoch:.2f}",
                loss=f"{event.loss:.4f}",
                rate=f"{event.samples_per_second:.0f}",
                eta=format_seconds(event.eta_seconds),
            )
            return
        line = event_line(event)
        if line and not isinstance(event, (CheckpointSaved, RunFailed)):  # the CLI prints the error
            self.console.print(line, highlight=False, markup=False)

    def close(self) -> None:
        """Stop the live display."""
        self.progress.stop()


def make_progress_sink(stream: TextIO) -> PlainProgress | RichProgress:
    """A rich bar on a terminal, plain lines otherwise."""
    return RichProgress(stream) if stream.isatty() else PlainProgress(stream)
