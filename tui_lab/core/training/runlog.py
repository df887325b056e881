"""What a run tells the world: its folder, its event sinks, device readings and the baseline.

The trainer computes; a :class:`RunLog` creates the run folder (rank 0), sends events to the
sinks and to ``events.jsonl``, samples the device now and then, and fits the TF-IDF baseline on
a background thread, handing its result over when it is ready. Only rank 0 emits; a failure on
another rank is still appended to the run's log, with its rank.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tui_lab import __version__
from tui_lab.core.errors import LabError
from tui_lab.core.training import distributed
from tui_lab.core.training.background import Background, IdleProcess
from tui_lab.core.training.device import DeviceMonitor
from tui_lab.core.training.events import (
    BaselineReady,
    Broadcast,
    Event,
    JsonlSink,
    Notice,
    RunFailed,
    RunStarted,
    Sink,
    StepLogged,
)
from tui_lab.core.training.runs import CONFIG_FILE, EVENTS_FILE, STOP_FILE, create_run_dir, default_run_name
from tui_lab.core.training.tensorboard_sink import make_tensorboard_sink

DEVICE_SAMPLE_SECONDS = 1.0


class RunLog:
    """The run folder and the event stream of one run (see the module docstring)."""

    def __init__(self, sinks: Iterable[Sink], dist: distributed.DistInfo) -> None:
        self.emit_all = Broadcast(sinks)
        self.dist = dist
        self.run_dir: Path | None = None
        self._jsonl: JsonlSink | None = None
        self._tb: Any = None  # TensorBoardSink on rank 0 when tensorboard is installed and on
        self._monitor: Any = None  # DeviceMonitor, made on rank 0 at the first reading
        self._last_sample = 0.0
        self._baseline: Background | None = None

    def emit(self, event: Event) -> None:
        """Send an event to every sink (rank 0 only)."""
        if self.dist.is_main:
            self.emit_all(event)

    def open(self, s: Any, resume_dir: Path | None) -> Path | None:
        """Create (or reuse, on resume) the run folder on rank 0 and tell every rank where it is.

        Raises:
            LabError: a rank cannot see the folder (a multi-node run without a shared file system).
        """
        run_dir = resume_dir
        if run_dir is None and self.dist.is_main:
            name = s.config.train.run_name or default_run_name(s.config.model.name)
            run_dir = create_run_dir(s.config.train.output_dir, name)
            s.config.train.run_name = name
            s.config.save(run_dir / CONFIG_FILE, run=run_facts(s))
        shared = distributed.broadcast_object(self.dist, str(run_dir) if run_dir else None)
        self.run_dir = Path(shared) if shared else None
        if not all(distributed.gather_lists(self.dist, [self.run_dir is not None and self.run_dir.is_dir()])):
            raise LabError(  # every rank loads best/ from rank 0's folder: it must be shared
                f"the run folder {self.run_dir} is not visible on every node; put train.output_dir on a "
                f"file system that every node mounts at the same path."
            )
        if self.dist.is_main and self.run_dir is not None:
            self._jsonl = JsonlSink(self.run_dir / EVENTS_FILE)
            self.emit_all.add(self._jsonl)
            self._tb = make_tensorboard_sink(self.run_dir, s.config)
            if self._tb is not None:
                self.emit_all.add(self._tb)
            (self.run_dir / STOP_FILE).unlink(missing_ok=True)
        return self.run_dir

    def started(self, s: Any) -> None:
        """``RunStarted`` and the data's notes."""
        cfg = s.config
        self.emit(
            RunStarted(
                run_dir=str(self.run_dir),
                run_name=cfg.train.run_name,
                model=cfg.model.name,
                labels=s.data.label_names,
                n_train=len(s.data.train),
                n_dev=len(s.data.dev),
                n_test=len(s.data.test) if s.data.test else 0,
                epochs=cfg.train.epochs,
                steps_per_epoch=s.steps_per_epoch,
                total_steps=s.total_steps,
                device=s.device_info.name,
                precision=s.device_info.precision,
                world_size=self.dist.world_size,
                start_step=s.state.step,
                pid=os.getpid(),
                config=cfg.to_dict(),
                task=s.task.name,
            )
        )
        for note in s.notes:  # what the set-up decided for the user (e.g. the task read from the data)
            self.emit(Notice(level="info", text=note))
        for note in s.data.notes:
            self.emit(Notice(level="warning", text=note))
        for event in s.events:  # what a hook learned at set-up (e.g. a teacher's dev metrics)
            self.emit(event)

    def failed(self, message: str, error_type: str, step: int, user_error: bool) -> None:
        """``RunFailed``; on a rank other than 0 appended to the run's log with the rank named."""
        if self.dist.is_main:
            self.emit(RunFailed(message=message, error_type=error_type, step=step, user_error=user_error))
        elif self.run_dir is not None:
            sink = JsonlSink(self.run_dir / EVENTS_FILE)
            sink(RunFailed(f"rank {self.dist.rank}: {message}", error_type, step, user_error))
            sink.close()

    def stop_file_exists(self) -> bool:
        """Whether someone asked the run to stop with a STOP file (rank 0 looks)."""
        return self.dist.is_main and self.run_dir is not None and (self.run_dir / STOP_FILE).exists()

    def step_logged(self, s: Any, clock: Any, loss: float, grad_norm: Any, epoch: float) -> None:
        """``StepLogged`` with the rate, elapsed time and ETA; a device reading at most once a second."""
        rate = clock.lap()
        elapsed = clock.elapsed()
        per_step = elapsed / max(1, s.state.step)
        self.emit(
            StepLogged(
                step=s.state.step,
                total_steps=s.total_steps,
                epoch=round(epoch, 4),
                loss=loss,
                learning_rate=s.scheduler.get_last_lr()[0],
                grad_norm=float(grad_norm) if grad_norm is not None else None,
                samples_per_second=rate,
                elapsed=elapsed,
                eta_seconds=(s.total_steps - s.state.step) * per_step if per_step else None,
            )
        )
        self._sample_device(s.device)

    def _sample_device(self, device: str) -> None:
        if not self.dist.is_main:
            return
        if self._monitor is None:
            self._monitor = DeviceMonitor(device)
        now = time.perf_counter()
        if now - self._last_sample >= DEVICE_SAMPLE_SECONDS:
            self.emit(self._monitor.sample())
            self._last_sample = now

    # .. the baseline ..............................................................................
    def start_baseline(self, target: str, args: tuple[Any, ...], beside: bool) -> None:
        """Fit the baseline while training runs (rank 0).

        Args:
            target: the fitting function as ``"module:function"``, called with ``args``.
            beside: on a thread beside the loop (a GPU trains: the CPU is free); else in a child
                process at idle priority, which only takes the CPU cycles the loop leaves.
        """
        if self.dist.is_main:
            self._baseline = Background(target, args) if beside else IdleProcess(target, args)

    def collect_baseline(self, state: Any, wait: bool = False) -> None:
        """Put the baseline into ``state`` and emit it once its thread is done (``wait``: block)."""
        job = self._baseline
        if job is None or not (wait or job.done()):
            return
        self._baseline = None
        result, error = job.result()
        if error is not None or result is None or "skipped" in result:
            reason = error or (result or {}).get("skipped", "no result")
            state.baseline = {"skipped": reason}
            self.emit(Notice(level="warning", text=f"baseline skipped: {reason}"))
            return
        state.baseline = result
        self.emit(
            BaselineReady(
                dev=result["dev"],
                test=result["test"],
                seconds=result["seconds"],
                train_rows=result.get("train_rows"),
                sampled=bool(result.get("sampled")),
                cached=bool(result.get("cached")),
            )
        )

    def close(self) -> None:
        """Close ``events.jsonl`` and the TensorBoard writer; a baseline not collected is given up."""
        if self._baseline is not None:
            self._baseline.cancel()
            self._baseline = None
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def run_facts(s: Any) -> dict[str, Any]:
    """What a run's config.toml records beside the settings."""
    import platform

    import torch
    import transformers

    facts = {
        "world_size": s.dist.world_size,
        "device": s.device_info.name,
        "precision": s.device_info.precision,
        "learning_rate": s.learning_rate,
        "tui_lab": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    fixes = getattr(s.data, "corrections", None)  # the corrections file the data was read with
    if fixes:
        facts["corrections"] = {k: v for k, v in fixes.items() if k != "relabelled_rows"}
    return facts
