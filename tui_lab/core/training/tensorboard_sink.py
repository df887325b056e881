"""A sink that writes a run's events for TensorBoard into ``runs/<name>/tb/``.

The tags are those of transformers' ``TensorBoardCallback`` (``train/loss``,
``train/learning_rate``, ``train/grad_norm``, ``train/epoch``, ``eval/<metric>``), so a tui-lab
run sits beside a ``Trainer`` run in one TensorBoard; test metrics go under ``test/<metric>``.
When the run ends, its settings and final metrics are written for the HParams plugin
(``final/dev/<metric>``, ``final/test/<metric>``). Written with
``torch.utils.tensorboard.SummaryWriter``; on only when the ``tensorboard`` package is installed
and ``train.tensorboard`` is on.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from tui_lab.core.training.events import Evaluated, Event, RunFailed, RunFinished, RunStarted, StepLogged

TB_DIR = "tb"


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (which ``SummaryWriter`` needs) is installed."""
    return importlib.util.find_spec("tensorboard") is not None


def make_tensorboard_sink(run_dir: str | Path, config: Any) -> TensorBoardSink | None:
    """The sink for a run folder, or ``None`` when ``train.tensorboard`` is off or it cannot work."""
    if not getattr(config.train, "tensorboard", True) or not tensorboard_available():
        return None
    return TensorBoardSink(Path(run_dir) / TB_DIR)


class TensorBoardSink:
    """Receives a run's events and writes TensorBoard scalars, the config text and HParams."""

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self._writer: Any = None
        self._hparams: dict[str, Any] = {}

    def __call__(self, event: Event) -> None:
        try:
            self._write(event)
        except OSError:  # the folder went away or the disk is full: the run goes on without tb/
            self._writer = None

    def _write(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start(event)
        elif self._writer is None:
            return
        elif isinstance(event, StepLogged):
            self._step(event)
        elif isinstance(event, Evaluated):
            prefix = "eval" if event.split == "dev" else event.split
            for name, value in event.metrics.items():
                self._writer.add_scalar(f"{prefix}/{name}", value, event.step)
            self._writer.flush()
        elif isinstance(event, RunFinished):
            self._finish(event)
        elif isinstance(event, RunFailed):
            self.close()

    def _start(self, event: RunStarted) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.close()
        # a resumed run hides what an earlier attempt wrote after the step it resumes from
        purge = event.start_step + 1 if event.start_step else None
        self._writer = SummaryWriter(str(self.log_dir), purge_step=purge, flush_secs=10)
        _drop_records_on_os_error(self._writer)
        self._hparams = flatten_config(event.config)
        self._writer.add_text(
            "config", "```\n" + json.dumps(event.config, indent=2) + "\n```", event.start_step
        )

    def _step(self, event: StepLogged) -> None:
        w = self._writer
        w.add_scalar("train/loss", event.loss, event.step)
        w.add_scalar("train/learning_rate", event.learning_rate, event.step)
        if event.grad_norm is not None:
            w.add_scalar("train/grad_norm", event.grad_norm, event.step)
        w.add_scalar("train/epoch", event.epoch, event.step)

    def _finish(self, event: RunFinished) -> None:
        from torch.utils.tensorboard.summary import hparams

        metrics = {f"final/dev/{k}": v for k, v in (event.best or {}).items() if "/" not in k}
        metrics.update({f"final/test/{k}": v for k, v in (event.test or {}).items() if "/" not in k})
        if metrics:
            # the same three summaries SummaryWriter.add_hparams writes, into this run's own file
            for summary in hparams(self._hparams, metrics):
                self._writer._get_file_writer().add_summary(summary)
            for tag, value in metrics.items():
                self._writer.add_scalar(tag, value, event.step)
        self.close()

    def close(self) -> None:
        """Flush and close the event file (safe to call twice)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except OSError:
                pass


def _drop_records_on_os_error(writer: Any) -> None:
    """Let the writer's background thread drop a record it cannot write instead of dying loudly.

    ``SummaryWriter`` writes from its own thread, which opens the event file for every record: when
    the run folder is deleted (or the disk fills) that thread dies with a traceback on stderr, over
    the lab's screen. The run notices a deleted folder itself and says so in one line; TensorBoard
    logs are the one thing that may be lost quietly. Reached through tensorboard's private
    attributes, so a version that moves them keeps its own behaviour.
    """
    event_writer = getattr(writer._get_file_writer(), "event_writer", None)
    record_writer = getattr(getattr(event_writer, "_async_writer", None), "_writer", None)
    for name in ("write", "flush"):
        original = getattr(record_writer, name, None)
        if original is None:
            return

        def guarded(*args: Any, _original: Any = original) -> None:
            try:
                _original(*args)
            except OSError:
                pass

        setattr(record_writer, name, guarded)


def flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    """``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}``, values as HParams takes them."""
    flat: dict[str, Any] = {}
    for section, values in config.items():
        for key, value in (values or {}).items():
            if isinstance(value, (bool, int, float, str)):
                flat[f"{section}.{key}"] = value
    return flat
